"""Anchor evidence-log checkpoints on an EVM chain, and verify anchors from the chain itself.

An anchor is one call ``VerazAnchor.anchor(root, treeSize)``; the contract emits
``Anchored(bytes32 indexed root, uint64 treeSize, address indexed sender)``. The
:class:`EvmAnchor` record names the transaction; :func:`verify_anchor` trusts nothing in it
and re-reads the receipt, the block and the contract code from a node.

Backends: :func:`rpc_chain` for any JSON-RPC node (Ethereum, Besu, LACChain, anvil) and
:func:`embedded_chain` (in ``anchoring.chains.embedded``) for an in-process py-evm chain in
a directory, for development and tests.

This module is network code. It never changes what an anchor commits to: the root and tree
size come from the checkpoint (``anchoring.notes``), and the on-chain encoding is fixed by
the committed contract ABI (``contract/VerazAnchor.json``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3Exception
from web3.middleware import ExtraDataToPOAMiddleware

from anchoring.chains.keys import AnchorAccount, load_key, load_or_create_key
from anchoring.errors import ChainError

if TYPE_CHECKING:
    from os import PathLike

    from web3.types import TxParams

    from anchoring.chains.lacchain import LacchainRelay

__all__ = [
    "ANCHORED_TOPIC",
    "EvmAnchor",
    "EvmAnchorer",
    "contract_artifact",
    "deploy_contract",
    "embedded_chain",
    "load_key",
    "load_or_create_key",
    "relayed_anchor_forwarder",
    "rpc_chain",
    "verify_anchor",
]

log = logging.getLogger(__name__)

#: topic0 of ``Anchored(bytes32,uint64,address)``.
ANCHORED_TOPIC = keccak(text="Anchored(bytes32,uint64,address)")
_MAX_TREE_SIZE = 2**64 - 1


#: The relay-aware anchor contract (LACChain): same ABI and event, sender from ``_msgSender()``.
RELAYED_CONTRACT = "VerazRelayedAnchor"


@cache
def contract_artifact(name: str = "VerazAnchor") -> dict[str, Any]:
    """The committed build of VerazAnchor (``contract/VerazAnchor.json``), or of
    ``VerazRelayedAnchor`` (``contract/VerazRelayedAnchor.json``, which also has
    ``immutableReferences``: the byte ranges of its deployed code that hold the relay hub).

    Keys: ``abi``, ``bytecode``, ``deployedBytecode``, ``compiler``, ``settings``.
    """
    if name not in ("VerazAnchor", RELAYED_CONTRACT):
        raise ChainError(f"unknown contract {name!r}")
    text = resources.files("anchoring.chains").joinpath(f"contract/{name}.json").read_text()
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def relayed_anchor_forwarder(code: bytes) -> str | None:
    """The relay hub that deployed ``code`` trusts, if ``code`` is VerazRelayedAnchor's
    (the committed ``deployedBytecode`` with one address in every immutable range); else None.

    An all-zero hub is returned as the zero address: such a contract never asks a hub.
    """
    return immutable_forwarder(code, contract_artifact(RELAYED_CONTRACT))


def immutable_forwarder(code: bytes, artifact: dict[str, Any]) -> str | None:
    """The relay hub a ``RelayRecipient`` contract built as ``artifact`` trusts, if ``code``
    is that build's ``deployedBytecode`` with one address in every immutable range; else None."""
    template = bytes.fromhex(artifact["deployedBytecode"][2:])
    code = bytes(code)
    if len(code) != len(template):
        return None
    ranges = [(int(ref["start"]), int(ref["length"])) for ref in artifact["immutableReferences"]]
    words = {code[start : start + length] for start, length in ranges}
    if len(words) != 1:
        return None
    (word,) = words
    if len(word) != 32 or word[:12] != bytes(12):
        return None
    expected = bytearray(template)
    for start, length in ranges:
        expected[start : start + length] = word
    if bytes(expected) != code:
        return None
    return to_checksum_address(word[12:])


@dataclass(frozen=True)
class EvmAnchor:
    """Where and when a checkpoint was anchored. An immutable value; see :meth:`to_dict`.

    ``root_hex`` is the 32-byte root as 64 lowercase hex digits (no ``0x``); ``tx_hash`` is
    ``0x`` + 64 lowercase hex digits; ``contract`` and ``sender`` are EIP-55 checksummed
    addresses; ``block_time`` is the block's timestamp in Unix seconds (the chain's clock,
    set by the block producer, not by the portal).
    """

    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_time: int
    root_hex: str
    tree_size: int
    sender: str
    explorer_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The anchor as a JSON-ready dict with exactly the dataclass's field names."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvmAnchor:
        """Rebuild an anchor from :meth:`to_dict` output; unknown or missing keys are errors."""
        try:
            return cls(**data)
        except TypeError as exc:
            raise ChainError(f"not an EVM anchor record: {exc}") from None


def _check_root_and_size(root: bytes, tree_size: int) -> None:
    if not isinstance(root, bytes) or len(root) != 32:
        raise ChainError("the root to anchor must be exactly 32 bytes")
    if not isinstance(tree_size, int) or not 0 <= tree_size <= _MAX_TREE_SIZE:
        raise ChainError("the tree size to anchor must be an integer in 0 .. 2**64-1")


def _fee_fields(w3: Web3, gas_price: int | None) -> dict[str, int]:
    """Legacy ``gasPrice`` when one is configured (0 on LACChain/Besu free-gas networks),
    otherwise EIP-1559 fees from the node: tip as suggested, cap at twice the base fee + tip."""
    if gas_price is not None:
        return {"gasPrice": gas_price}
    tip = int(w3.eth.max_priority_fee)
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}


def _complete(
    w3: Web3,
    account: AnchorAccount,
    tx: dict[str, Any],
    gas_price: int | None,
    relay: LacchainRelay | None = None,
) -> dict[str, Any]:
    """``tx`` with sender, nonce (the node's pending count), chain id, fees and gas filled;
    with ``relay``, the LACChain user transaction instead (``LacchainRelay.complete``)."""
    if relay is not None:
        return relay.complete(w3, account, tx)
    tx = {
        **tx,
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(to_checksum_address(account.address), "pending"),
        "chainId": int(w3.eth.chain_id),
        **_fee_fields(w3, gas_price),
    }
    if "gas" not in tx:
        # 20% over the estimate: estimates are exact for this contract, but a node may
        # estimate against a slightly different state than the block that includes it.
        tx["gas"] = int(w3.eth.estimate_gas(cast("TxParams", tx)) * 1.2)
    return tx


def _send(
    w3: Web3,
    account: AnchorAccount,
    tx: dict[str, Any],
    gas_price: int | None,
    timeout: float,
    relay: LacchainRelay | None = None,
) -> Any:
    """Fill nonce, chain id, fees and gas; sign; send; wait for the receipt (status 1).

    The receipt is looked up under the hash the node returns: with a LACChain relay that is
    the writer node's transaction to the RelayHub, not the hash of the signed bytes."""
    signed = account.sign_transaction(_complete(w3, account, tx, gas_price, relay))
    try:
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except (Web3Exception, ValueError) as exc:
        raise ChainError(f"the node refused the transaction: {exc}") from None
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.1)
    except TimeExhausted:
        raise ChainError(
            f"transaction {HexBytes(tx_hash).to_0x_hex()} was not mined within {timeout} s; "
            "it may still be mined: check it before sending again"
        ) from None
    if receipt["status"] != 1:
        raise ChainError(f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted")
    return receipt


def deploy_contract(
    w3: Web3,
    account: AnchorAccount,
    *,
    gas_price: int | None = None,
    timeout: float = 120.0,
    relay_hub: str | None = None,
    relay: LacchainRelay | None = None,
) -> str:
    """Deploy the committed VerazAnchor bytecode from ``account``; return its checksum address.

    With ``relay_hub``, deploy VerazRelayedAnchor trusting that hub instead (the anchor
    contract for LACChain). With ``relay`` too, the deployment itself goes through the LACChain
    writer node (``deployMetaTx``, 1,000,000 gas), and the address is read from the hub's
    ``ContractDeployed`` event. Raises :class:`ChainError` if the transaction fails or the
    deployed code is not the committed ``deployedBytecode``.
    """
    if relay_hub is None:
        artifact = contract_artifact()
        data = artifact["bytecode"]
    else:
        artifact = contract_artifact(RELAYED_CONTRACT)
        data = HexBytes(artifact["bytecode"]) + bytes(12) + HexBytes(to_checksum_address(relay_hub))
    tx: dict[str, Any] = {"data": data}
    if relay is not None:
        if relay_hub is None:
            raise ChainError(
                "a deployment through the LACChain relay is of VerazRelayedAnchor: give relay_hub"
            )
        tx["gas"] = _RELAYED_DEPLOY_GAS
    receipt = _send(w3, account, tx, gas_price, timeout, relay)
    address = _deployed_address(receipt, relay is not None)
    code = bytes(w3.eth.get_code(address))
    if relay_hub is None and code != HexBytes(artifact["deployedBytecode"]):
        raise ChainError(f"the code deployed at {address} is not VerazAnchor's")
    if relay_hub is not None and relayed_anchor_forwarder(code) != to_checksum_address(relay_hub):
        raise ChainError(f"the code deployed at {address} is not VerazRelayedAnchor's for hub {relay_hub}")
    log.info(
        "deployed %s at %s (tx %s)",
        artifact["contractName"],
        address,
        receipt["transactionHash"].to_0x_hex(),
    )
    return address


_RELAYED_DEPLOY_GAS = 1_000_000
#: topic0 of LACChain's RelayHub ``ContractDeployed(address relay, address from, address contractDeployed)``.
CONTRACT_DEPLOYED_TOPIC = keccak(text="ContractDeployed(address,address,address)")


def _deployed_address(receipt: Any, relayed: bool) -> ChecksumAddress:
    """The new contract's address: the receipt's, or for a relayed deployment (the node's
    transaction to the hub, which creates it) the address its ``ContractDeployed`` event names."""
    if not relayed:
        return to_checksum_address(receipt["contractAddress"])
    named = [
        bytes(entry["data"])[-20:]
        for entry in receipt["logs"]
        if entry["topics"] and bytes(entry["topics"][0]) == CONTRACT_DEPLOYED_TOPIC
    ]
    if len(named) != 1:
        raise ChainError(
            f"the relayed deployment {HexBytes(receipt['transactionHash']).to_0x_hex()} "
            "created no contract (no ContractDeployed event from the relay hub)"
        )
    return to_checksum_address(named[0])


class EvmAnchorer:
    """Anchors checkpoints through one contract from one account.

    ``confirmations`` is how many blocks must contain or follow the anchoring transaction's
    block before :meth:`anchor` returns (1: the block itself). ``timeout`` bounds the wait
    for the receipt and for the confirmations; when it runs out, :class:`ChainError`.

    ``mine_while_waiting`` is for development chains that only make blocks on demand
    (the embedded chain, anvil without ``--block-time``): while waiting for confirmations
    the anchorer asks the node to mine empty blocks (``evm_mine``). Never set it for a real
    network. ``gas_price`` set (0 on LACChain and other free-gas Besu networks) sends legacy
    transactions at that price; ``None`` uses EIP-1559 fees suggested by the node.
    ``explorer_template`` is formatted with ``tx_hash``, ``chain_id``, ``block_number`` and
    ``contract``, e.g. ``"https://sepolia.etherscan.io/tx/{tx_hash}"``.

    ``relay`` (an ``anchoring.chains.lacchain.LacchainRelay``) sends every anchor through a
    LACChain writer node and its RelayHub: the contract must then be a VerazRelayedAnchor
    trusting ``relay.relay_hub``, and verification requires that hub.

    One anchorer per key: nonces come from the node's pending count, so two processes
    anchoring with the same key at once may collide (the node then refuses one).
    """

    def __init__(
        self,
        w3: Web3,
        contract_address: str,
        account: AnchorAccount,
        confirmations: int = 1,
        explorer_template: str | None = None,
        *,
        gas_price: int | None = None,
        timeout: float = 120.0,
        poll_interval: float = 1.0,
        mine_while_waiting: bool = False,
        relay: LacchainRelay | None = None,
    ) -> None:
        if confirmations < 1:
            raise ChainError("confirmations must be at least 1")
        self.w3 = w3
        self.contract_address = to_checksum_address(contract_address)
        self.account = account
        self.confirmations = confirmations
        self.explorer_template = explorer_template
        self.gas_price = gas_price
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.mine_while_waiting = mine_while_waiting
        self.relay = relay
        self.relay_hub = relay.relay_hub if relay is not None else None
        self._contract = w3.eth.contract(address=self.contract_address, abi=contract_artifact()["abi"])

    def __repr__(self) -> str:
        return (
            f"EvmAnchorer(contract={self.contract_address!r}, sender={self.account.address!r}, "
            f"confirmations={self.confirmations})"
        )

    def anchor(self, root: bytes, tree_size: int) -> EvmAnchor:
        """Anchor ``(root, tree_size)``; return the anchor once confirmed and verified.

        Sends ``anchor(root, tree_size)``, waits for the receipt and ``confirmations``
        blocks, then checks the result with :func:`verify_anchor` against the chain before
        returning it. Raises :class:`ChainError` on refusal, revert, or timeout (the message
        names the transaction hash, which may still be mined later).
        """
        _check_root_and_size(root, tree_size)
        started = time.monotonic()
        receipt = _send(
            self.w3,
            self.account,
            self._anchor_call(root, tree_size),
            self.gas_price,
            self.timeout,
            self.relay,
        )
        receipt = self._wait_for_confirmations(receipt, started + self.timeout)
        anchor = self.anchor_from_receipt(receipt, root, tree_size)
        log.info(
            "anchored tree size %d root %s in tx %s block %d",
            tree_size,
            anchor.root_hex,
            anchor.tx_hash,
            anchor.block_number,
        )
        return anchor

    def _anchor_call(self, root: bytes, tree_size: int) -> dict[str, Any]:
        data = self._contract.encode_abi("anchor", [root, tree_size])
        return {"to": self.contract_address, "data": data}

    def anchor_transaction(self, root: bytes, tree_size: int) -> dict[str, Any]:
        """The complete, unsigned ``anchor(root, tree_size)`` transaction :meth:`anchor` sends.

        Nonce (the node's pending count), chain id, fees and gas are filled as for
        :meth:`anchor`. For callers that sign and record a transaction before it is sent
        (``account.sign_transaction``), then wait and call :meth:`anchor_from_receipt`.
        """
        return _complete(
            self.w3, self.account, self._anchor_call(root, tree_size), self.gas_price, self.relay
        )

    def anchor_from_receipt(self, receipt: Any, root: bytes, tree_size: int) -> EvmAnchor:
        """The anchor that the confirmed ``receipt`` of an ``anchor(root, tree_size)`` call
        records, checked against the chain (:func:`verify_anchor`, ``confirmations`` deep)."""
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        block_number = int(receipt["blockNumber"])
        chain_id = int(self.w3.eth.chain_id)
        explorer_url = None
        if self.explorer_template:
            explorer_url = self.explorer_template.format(
                tx_hash=tx_hash,
                chain_id=chain_id,
                block_number=block_number,
                contract=self.contract_address,
            )
        anchor = EvmAnchor(
            chain_id=chain_id,
            contract=self.contract_address,
            tx_hash=tx_hash,
            block_number=block_number,
            block_time=int(self.w3.eth.get_block(block_number)["timestamp"]),
            root_hex=root.hex(),
            tree_size=tree_size,
            sender=self.account.address,
            explorer_url=explorer_url,
        )
        verify_anchor(
            self.w3,
            anchor,
            root,
            tree_size,
            confirmations=self.confirmations,
            relay_hub=self.relay_hub,
        )
        return anchor

    def _wait_for_confirmations(self, receipt: Any, deadline: float) -> Any:
        """Wait until ``confirmations`` blocks hold or follow the receipt's block.

        Re-reads the receipt each round, so a reorganisation that moves the transaction to
        another block is followed rather than reported with a stale block number.
        """
        tx_hash = receipt["transactionHash"]
        while True:
            head = self.w3.eth.block_number
            if head - int(receipt["blockNumber"]) + 1 >= self.confirmations:
                try:
                    current = self.w3.eth.get_transaction_receipt(tx_hash)
                except TransactionNotFound:
                    current = None  # reorganised out; wait for it to be mined again
                if current is not None and current["blockHash"] == receipt["blockHash"]:
                    return current
                if current is not None:
                    receipt = current
                    continue
            if time.monotonic() >= deadline:
                raise ChainError(
                    f"transaction {tx_hash.to_0x_hex()} did not reach {self.confirmations} "
                    f"confirmations within {self.timeout} s (head {head}); check it before "
                    "sending again"
                )
            self.pause_between_polls()

    def pause_between_polls(self, *, mine: bool = True) -> None:
        """Let the chain move on before the next poll: with ``mine_while_waiting`` (and
        ``mine``) ask the node to mine an empty block (``evm_mine``), else sleep
        ``poll_interval`` seconds."""
        if self.mine_while_waiting and mine:
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        else:
            time.sleep(self.poll_interval)


def verify_anchor(
    w3: Web3,
    anchor: EvmAnchor,
    root: bytes,
    tree_size: int,
    *,
    sender: str | None = None,
    confirmations: int = 1,
    relay_hub: str | None = None,
) -> None:
    """Check from the chain that ``anchor`` anchored exactly ``(root, tree_size)``.

    Nothing in ``anchor`` is trusted: the node behind ``w3`` must report the same chain id,
    a successful transaction ``anchor.tx_hash`` in block ``anchor.block_number`` with
    timestamp ``anchor.block_time``, at least ``confirmations`` blocks deep, and in its
    receipt an ``Anchored`` event emitted by ``anchor.contract`` whose root, tree size and
    sender equal ``root``, ``tree_size`` and ``anchor.sender``. The code at the contract
    address must be the committed VerazAnchor code, so that the event's sender is the
    real caller. Pass ``sender`` (the portal's published anchoring address) to also
    require that the anchor was sent from it.

    VerazRelayedAnchor code (LACChain) is accepted only with ``relay_hub``, the network's
    RelayHub, equal to the hub built into that code: such a contract records the sender the
    hub names, so an anchor is only as genuine as its hub (a contract deployed with a hub of
    someone's making could name anyone). One built with no hub (zero) acts as VerazAnchor.

    Returns ``None``; raises :class:`ChainError` naming the first mismatch.
    """
    _check_root_and_size(root, tree_size)
    if anchor.root_hex != root.hex():
        raise ChainError(f"root mismatch: anchor record has {anchor.root_hex}, expected {root.hex()}")
    if anchor.tree_size != tree_size:
        raise ChainError(f"tree size mismatch: anchor record has {anchor.tree_size}, expected {tree_size}")
    if sender is not None and to_checksum_address(sender) != anchor.sender:
        raise ChainError(f"sender mismatch: anchor was sent by {anchor.sender}, expected {sender}")
    try:
        _verify_on_chain(w3, anchor, confirmations, relay_hub)
    except (Web3Exception, OSError, ValueError) as exc:
        # ValueError: a malformed field in the record (e.g. a tx hash that is not hex).
        raise ChainError(f"cannot check anchor {anchor.tx_hash} on the node: {exc}") from None


def _check_contract_code(code: bytes, contract: str, relay_hub: str | None) -> None:
    """The code at ``contract`` must be VerazAnchor's, or VerazRelayedAnchor's trusting
    ``relay_hub`` (or no hub at all)."""
    if code == HexBytes(contract_artifact()["deployedBytecode"]):
        return
    forwarder = relayed_anchor_forwarder(code)
    if forwarder is None:
        raise ChainError(f"contract mismatch: the code at {contract} is not VerazAnchor's")
    if int(forwarder, 16) == 0:
        return
    if relay_hub is None:
        raise ChainError(
            f"contract mismatch: {contract} is a VerazRelayedAnchor that takes its senders from "
            f"relay hub {forwarder}; accept it only if that is the network's RelayHub (relay_hub)"
        )
    if to_checksum_address(relay_hub) != forwarder:
        raise ChainError(
            f"contract mismatch: {contract} takes its senders from relay hub {forwarder}, "
            f"not from {to_checksum_address(relay_hub)}"
        )


def _verify_on_chain(w3: Web3, anchor: EvmAnchor, confirmations: int, relay_hub: str | None) -> None:
    chain_id = int(w3.eth.chain_id)
    if chain_id != anchor.chain_id:
        raise ChainError(f"chain id mismatch: node is on {chain_id}, anchor is on {anchor.chain_id}")
    try:
        receipt = w3.eth.get_transaction_receipt(HexBytes(anchor.tx_hash))
    except TransactionNotFound:
        raise ChainError(f"transaction {anchor.tx_hash} not found on chain {chain_id}") from None
    if receipt["status"] != 1:
        raise ChainError(f"transaction {anchor.tx_hash} failed (status {receipt['status']})")
    if int(receipt["blockNumber"]) != anchor.block_number:
        raise ChainError(
            f"block mismatch: transaction {anchor.tx_hash} is in block "
            f"{receipt['blockNumber']}, anchor says {anchor.block_number}"
        )
    block = w3.eth.get_block(anchor.block_number)
    if block["hash"] != receipt["blockHash"]:
        raise ChainError(f"block {anchor.block_number} is not the block holding the transaction")
    if int(block["timestamp"]) != anchor.block_time:
        raise ChainError(
            f"block time mismatch: block {anchor.block_number} has timestamp "
            f"{block['timestamp']}, anchor says {anchor.block_time}"
        )
    depth = int(w3.eth.block_number) - anchor.block_number + 1
    if depth < confirmations:
        raise ChainError(f"anchor {anchor.tx_hash} has {depth} confirmations, {confirmations} required")
    contract = to_checksum_address(anchor.contract)
    _check_contract_code(bytes(w3.eth.get_code(contract)), contract, relay_hub)
    events = [
        entry
        for entry in receipt["logs"]
        if to_checksum_address(entry["address"]) == contract
        and entry["topics"]
        and bytes(entry["topics"][0]) == ANCHORED_TOPIC
    ]
    if not events:
        raise ChainError(
            f"contract mismatch: transaction {anchor.tx_hash} has no Anchored event from {contract}"
        )
    if len(events) != 1:
        raise ChainError(f"transaction {anchor.tx_hash} has {len(events)} Anchored events, not 1")
    event = events[0]
    topics = [bytes(topic) for topic in event["topics"]]
    data = bytes(event["data"])
    if len(topics) != 3 or len(data) != 32:
        raise ChainError(f"the Anchored event in {anchor.tx_hash} is malformed")
    if topics[1].hex() != anchor.root_hex:
        raise ChainError(f"root mismatch: the chain has {topics[1].hex()}, expected {anchor.root_hex}")
    on_chain_size = int.from_bytes(data, "big")
    if on_chain_size != anchor.tree_size:
        raise ChainError(f"tree size mismatch: the chain has {on_chain_size}, expected {anchor.tree_size}")
    on_chain_sender = to_checksum_address(topics[2][-20:])
    if topics[2][:12] != bytes(12) or on_chain_sender != anchor.sender:
        raise ChainError(f"sender mismatch: the chain has {on_chain_sender}, expected {anchor.sender}")


def rpc_chain(url: str, chain_id: int, *, timeout: float = 30.0) -> Web3:
    """Connect to a JSON-RPC node (HTTP) and check it serves chain ``chain_id``.

    Works with Ethereum clients, Hyperledger Besu (LACChain), anvil. Besu's IBFT2/QBFT
    blocks carry more than 32 bytes of ``extraData``, so the proof-of-authority middleware
    is installed (harmless elsewhere). Raises :class:`ChainError` if the node cannot be
    reached or is on another chain.
    """
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    try:
        actual = int(w3.eth.chain_id)
    except (Web3Exception, OSError, ValueError) as exc:
        raise ChainError(f"cannot reach the JSON-RPC node at {url}: {exc}") from None
    if actual != chain_id:
        raise ChainError(f"chain id mismatch: the node at {url} serves {actual}, not {chain_id}")
    return w3


def embedded_chain(directory: str | PathLike[str]) -> Web3:
    """An in-process py-evm chain persisted in ``directory``; see ``anchoring.chains.embedded``.

    Imported lazily so that production code on a real node never loads eth-tester.
    """
    from anchoring.chains.embedded import embedded_chain as _embedded_chain

    return _embedded_chain(directory)
