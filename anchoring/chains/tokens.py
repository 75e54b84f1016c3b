"""Order tokens on an EVM chain: the VerazOrderToken contract (ERC-721, locked per ERC-5192).

One token per order: ``tokenId = uint256(SHA-256(ocid as UTF-8))`` (:func:`token_id`), minted in
batches by the contract's owner with ``mintBatch(to, ocids, dataHashes)``; the contract checks
the id derivation itself, keeps each token's ocid and data hash, and reverts on an ocid minted
before. ``tokenURI`` is ``baseURI + percent-encoded ocid + ".json"``. See ``docs/tokens.md``.

This module is network code beside ``anchoring.chains.evm`` (same transaction building, same
key files) and never imports the portal. Crash-safe minting (intent recorded before sending)
is the portal's job (``portal.tokens.mint``), built on :meth:`TokenMinter.mint_transaction`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception

from anchoring.chains.evm import _complete, _send
from anchoring.chains.keys import AnchorAccount
from anchoring.chains.token_id import token_id
from anchoring.errors import ChainError

__all__ = [
    "LOCKED_TOPIC",
    "TRANSFER_TOPIC",
    "OnChainToken",
    "TokenMinter",
    "deploy_token_contract",
    "token_artifact",
    "token_id",
]

#: topic0 of the ERC-721 ``Transfer(address,address,uint256)`` event (a mint: from = 0).
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
#: topic0 of the ERC-5192 ``Locked(uint256)`` event.
LOCKED_TOPIC = keccak(text="Locked(uint256)")

#: ERC-165 interface ids the contract declares.
INTERFACES = {
    "ERC-165": bytes.fromhex("01ffc9a7"),
    "ERC-721": bytes.fromhex("80ac58cd"),
    "ERC-721 metadata": bytes.fromhex("5b5e139f"),
    "ERC-5192": bytes.fromhex("b45a3c0e"),
}


@cache
def token_artifact() -> dict[str, Any]:
    """The committed build of VerazOrderToken (``contract/VerazOrderToken.json``)."""
    text = resources.files("anchoring.chains").joinpath("contract/VerazOrderToken.json").read_text()
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def deploy_token_contract(
    w3: Web3,
    account: AnchorAccount,
    base_uri: str,
    *,
    gas_price: int | None = None,
    timeout: float = 120.0,
) -> str:
    """Deploy VerazOrderToken owned by ``account`` with ``base_uri``; return its address.

    Raises :class:`ChainError` if the transaction fails or the code deployed is not the
    committed ``deployedBytecode``.
    """
    artifact = token_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    data = factory.constructor(base_uri).data_in_transaction
    receipt = _send(w3, account, {"data": data}, gas_price, timeout)
    address = to_checksum_address(receipt["contractAddress"])
    if w3.eth.get_code(address) != HexBytes(artifact["deployedBytecode"]):
        raise ChainError(f"the code deployed at {address} is not VerazOrderToken's")
    return address


@dataclass(frozen=True)
class OnChainToken:
    """What the chain says about one token."""

    token_id: int
    ocid: str
    data_hash: str  # 64 lowercase hex digits
    holder: str
    token_uri: str


class TokenMinter:
    """Mints order tokens through one VerazOrderToken contract from its owner's account.

    Arguments as for ``anchoring.chains.evm.EvmAnchorer``: ``gas_price`` (None: EIP-1559 fees
    from the node; 0 on free-gas networks), ``timeout`` for receipts, ``mine_while_waiting``
    for development chains that make blocks only on demand.
    """

    def __init__(
        self,
        w3: Web3,
        contract_address: str,
        account: AnchorAccount,
        *,
        gas_price: int | None = None,
        timeout: float = 120.0,
        confirmations: int = 1,
        poll_interval: float = 1.0,
        mine_while_waiting: bool = False,
    ) -> None:
        self.w3 = w3
        self.contract_address = to_checksum_address(contract_address)
        self.account = account
        self.gas_price = gas_price
        self.timeout = timeout
        self.confirmations = max(1, confirmations)
        self.poll_interval = poll_interval
        self.mine_while_waiting = mine_while_waiting
        self.contract = w3.eth.contract(address=self.contract_address, abi=token_artifact()["abi"])
        # Calls name a funded sender: eth-tester (the embedded chain) charges a call's gas.
        self._caller: Any = {"from": account.address}

    def check_contract(self) -> None:
        """Raise :class:`ChainError` unless the contract's code is VerazOrderToken's and its
        owner is this minter's account."""
        try:
            code = self.w3.eth.get_code(self.contract_address)
            if code != HexBytes(token_artifact()["deployedBytecode"]):
                raise ChainError(f"the code at {self.contract_address} is not VerazOrderToken's")
            owner = to_checksum_address(self.contract.functions.owner().call(self._caller))
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"cannot read the token contract: {exc}") from None
        if owner != self.account.address:
            raise ChainError(
                f"the token contract {self.contract_address} is owned by {owner}, not by the minting "
                f"account {self.account.address} (key file {self.account.key_file})"
            )

    def mint_call(self, to: str, items: list[tuple[str, bytes]]) -> dict[str, Any]:
        """The ``mintBatch(to, ocids, dataHashes)`` call of ``[(ocid, 32-byte data hash)]``."""
        if not items:
            raise ChainError("a mint batch needs at least one order")
        for ocid, digest in items:
            if not isinstance(ocid, str) or not ocid:
                raise ChainError("an ocid to mint must be a non-empty string")
            if not isinstance(digest, bytes) or len(digest) != 32:
                raise ChainError(f"the data hash of {ocid!r} must be exactly 32 bytes")
        data = self.contract.encode_abi(
            "mintBatch", [to_checksum_address(to), [o for o, _ in items], [d for _, d in items]]
        )
        return {"to": self.contract_address, "data": data}

    def mint_transaction(self, to: str, items: list[tuple[str, bytes]]) -> dict[str, Any]:
        """The complete unsigned mint transaction (nonce, chain id, fees and gas filled).

        Raises :class:`ChainError` when the node's gas estimate says the call would revert (an
        ocid minted before, a caller that is not the owner)."""
        call = self.mint_call(to, items)
        try:
            return _complete(self.w3, self.account, call, self.gas_price)
        except ChainError:
            raise
        except Exception as exc:  # noqa: BLE001 - each node library raises its own revert type
            raise ChainError(f"the mint would fail: {exc}") from None

    def mint(self, to: str, items: list[tuple[str, bytes]]) -> Any:
        """Sign, send and wait for one batch (no crash safety: tests and benchmarks); the receipt."""
        tx = self.mint_transaction(to, items)
        return _send(self.w3, self.account, tx, self.gas_price, self.timeout)

    def minted(self, tid: int) -> bool:
        """Whether token ``tid`` exists on chain."""
        return bool(self.contract.functions.minted(tid).call(self._caller))

    def token(self, ocid: str) -> OnChainToken | None:
        """The token of ``ocid`` as the chain holds it, or None if it was not minted."""
        tid = token_id(ocid)
        try:
            if not self.minted(tid):
                return None
            functions = self.contract.functions
            return OnChainToken(
                token_id=tid,
                ocid=str(functions.ocidOf(tid).call(self._caller)),
                data_hash=bytes(functions.dataHash(tid).call(self._caller)).hex(),
                holder=to_checksum_address(functions.ownerOf(tid).call(self._caller)),
                token_uri=str(functions.tokenURI(tid).call(self._caller)),
            )
        except ContractLogicError as exc:
            raise ChainError(f"the token contract refused to describe token {tid}: {exc}") from None

    def mint_transaction_of(self, tid: int, from_block: int = 0) -> str | None:
        """Hash of the transaction that minted token ``tid`` (its ``Transfer`` from 0), or None."""
        topics = [
            HexBytes(TRANSFER_TOPIC).to_0x_hex(),
            HexBytes(bytes(32)).to_0x_hex(),
            None,
            HexBytes(tid.to_bytes(32, "big")).to_0x_hex(),
        ]
        logs = self.w3.eth.get_logs(
            {
                "address": self.contract_address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": topics,
            }
        )
        return HexBytes(logs[0]["transactionHash"]).to_0x_hex() if logs else None

    def pause_between_polls(self, *, mine: bool = True) -> None:
        """As ``EvmAnchorer.pause_between_polls``: mine on development chains, else sleep."""
        if self.mine_while_waiting and mine:
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        else:
            import time

            time.sleep(self.poll_interval)
