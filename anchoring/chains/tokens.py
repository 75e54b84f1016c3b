"""Order tokens on an EVM chain: the VerazOrderToken contract (ERC-721, locked per ERC-5192).

One token per order: ``tokenId = uint256(SHA-256(ocid as UTF-8))`` (:func:`token_id`), minted in
batches by the contract's owner with ``mintBatch(to, ocids, dataHashes)``; the contract checks
the id derivation itself, keeps each token's ocid and data hash, and reverts on an ocid minted
before. ``tokenURI`` is ``baseURI + percent-encoded ocid + ".json"``. See ``docs/tokens.md``.

This module is network code beside ``anchoring.chains.evm`` (same transaction building, same
key files) and never imports the portal. Crash-safe minting (intent recorded before sending)
is the portal's job (``portal.tokens.mint``), built on :meth:`TokenMinter.mint_transaction`.

On LACChain (``relay``, an ``anchoring.chains.lacchain.LacchainRelay``) the contract is
VerazRelayedOrderToken, which reads its caller through ``RelayRecipient`` so that the owner is
the portal's account and not the RelayHub; every transaction goes through the writer node (the
suffix, gas price 0), and the contract is accepted only with the network's hub.
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

from anchoring.chains.evm import _complete, _deployed_address, _send, immutable_forwarder
from anchoring.chains.keys import AnchorAccount
from anchoring.chains.lacchain import LacchainRelay
from anchoring.chains.token_id import token_id
from anchoring.errors import ChainError

__all__ = [
    "LOCKED_TOPIC",
    "TRANSFER_TOPIC",
    "RELAYED_TOKEN",
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


#: The relay-aware token contract (LACChain): same ABI, caller from ``RelayRecipient``.
RELAYED_TOKEN = "VerazRelayedOrderToken"
#: Gas of a deployment through the writer node (``deployMetaTx`` runs the init code).
_RELAYED_DEPLOY_GAS = 4_000_000


@cache
def token_artifact(name: str = "VerazOrderToken") -> dict[str, Any]:
    """The committed build of VerazOrderToken (``contract/VerazOrderToken.json``), or of
    VerazRelayedOrderToken (with ``immutableReferences``: where its code holds the relay hub)."""
    if name not in ("VerazOrderToken", RELAYED_TOKEN):
        raise ChainError(f"unknown contract {name!r}")
    text = resources.files("anchoring.chains").joinpath(f"contract/{name}.json").read_text()
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def token_contract_hub(code: bytes, relay_hub: str | None) -> str | None:
    """Check that ``code`` is an order token contract a minter or verifier may trust: the
    committed VerazOrderToken, or VerazRelayedOrderToken trusting exactly ``relay_hub`` (the
    network's RelayHub; a relayed token with hub zero is as plain as VerazOrderToken). Returns
    the hub it trusts (None for the plain contract); :class:`ChainError` otherwise. A relayed
    contract is only as honest as its hub, so without ``relay_hub`` one trusting a hub is
    refused, as ``verify_anchor`` refuses the relayed anchor."""
    code = bytes(code)
    if code == HexBytes(token_artifact()["deployedBytecode"]):
        return None
    forwarder = immutable_forwarder(code, token_artifact(RELAYED_TOKEN))
    if forwarder is None:
        raise ChainError("the code is not VerazOrderToken's nor VerazRelayedOrderToken's")
    if int(forwarder, 16) == 0:
        return None
    if relay_hub is None:
        raise ChainError(
            f"the token contract takes its callers from relay hub {forwarder}; accept it only "
            "with that network's RelayHub (CHAIN_BACKEND lacchain, LACCHAIN_RELAY_HUB)"
        )
    if to_checksum_address(relay_hub) != forwarder:
        raise ChainError(
            f"the token contract takes its callers from relay hub {forwarder}, "
            f"not from {to_checksum_address(relay_hub)}"
        )
    return forwarder


def deploy_token_contract(
    w3: Web3,
    account: AnchorAccount,
    base_uri: str,
    *,
    gas_price: int | None = None,
    timeout: float = 120.0,
    relay_hub: str | None = None,
    relay: LacchainRelay | None = None,
) -> str:
    """Deploy VerazOrderToken owned by ``account`` with ``base_uri``; return its address.

    With ``relay_hub``, VerazRelayedOrderToken trusting that hub instead; with ``relay`` too,
    the deployment goes through the LACChain writer node (``deployMetaTx``), and the contract
    records the original sender (``account``) as its owner. Raises :class:`ChainError` if the
    transaction fails or the code deployed is not the committed ``deployedBytecode``.
    """
    if relay is not None and relay_hub is None:
        relay_hub = relay.relay_hub
    name = "VerazOrderToken" if relay_hub is None else RELAYED_TOKEN
    artifact = token_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    args = [base_uri] if relay_hub is None else [base_uri, to_checksum_address(relay_hub)]
    tx: dict[str, Any] = {"data": factory.constructor(*args).data_in_transaction}
    if relay is not None:
        tx["gas"] = _RELAYED_DEPLOY_GAS
    receipt = _send(w3, account, tx, gas_price, timeout, relay)
    address = _deployed_address(receipt, relay is not None)
    if token_contract_hub(bytes(w3.eth.get_code(address)), relay_hub) != (
        None if relay_hub is None or int(relay_hub, 16) == 0 else to_checksum_address(relay_hub)
    ):
        raise ChainError(f"the code deployed at {address} is not {name}'s")
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
    for development chains that make blocks only on demand; ``relay`` sends every mint through
    a LACChain writer node (the contract must then be VerazRelayedOrderToken trusting
    ``relay.relay_hub``).
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
        relay: LacchainRelay | None = None,
    ) -> None:
        self.w3 = w3
        self.relay = relay
        self.contract_address = to_checksum_address(contract_address)
        self.account = account
        self.gas_price = gas_price
        self.timeout = timeout
        self.confirmations = max(1, confirmations)
        self.poll_interval = poll_interval
        self.mine_while_waiting = mine_while_waiting
        build = token_artifact(RELAYED_TOKEN if relay is not None else "VerazOrderToken")
        self.contract = w3.eth.contract(address=self.contract_address, abi=build["abi"])
        # Calls name a funded sender: eth-tester (the embedded chain) charges a call's gas.
        self._caller: Any = {"from": account.address}

    def check_contract(self) -> None:
        """Raise :class:`ChainError` unless the contract's code is VerazOrderToken's (or, through
        a relay, VerazRelayedOrderToken's trusting the relay's hub) and its owner is this
        minter's account."""
        hub = self.relay.relay_hub if self.relay is not None else None
        try:
            code = bytes(self.w3.eth.get_code(self.contract_address))
            try:
                token_contract_hub(code, hub)
            except ChainError as exc:
                raise ChainError(f"the token contract at {self.contract_address}: {exc}") from None
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
            if self.relay is not None:
                # The writer node's user transaction carries the gas the hub forwards to the
                # call; estimated as a direct call from the owner (what the hub's call does, less
                # asking the hub, hence the margin), which also says whether it would revert.
                estimate = self.w3.eth.estimate_gas({**call, "from": self.account.address})  # type: ignore[typeddict-item]
                call["gas"] = int(estimate * 1.2) + 30_000
            return _complete(self.w3, self.account, call, self.gas_price, self.relay)
        except ChainError:
            raise
        except Exception as exc:  # noqa: BLE001 - each node library raises its own revert type
            raise ChainError(f"the mint would fail: {exc}") from None

    def mint(self, to: str, items: list[tuple[str, bytes]]) -> Any:
        """Sign, send and wait for one batch (no crash safety: tests and benchmarks); the receipt."""
        tx = self.mint_transaction(to, items)
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except (Web3Exception, ValueError) as exc:
            raise ChainError(f"the node refused the mint transaction: {exc}") from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout, poll_latency=0.1)
        if receipt["status"] != 1:
            raise ChainError(f"mint transaction {HexBytes(tx_hash).to_0x_hex()} reverted")
        return receipt

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
