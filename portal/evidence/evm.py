"""Anchor a checkpoint on an EVM chain at most once, even if the process is killed mid-way.

``anchoring.chains.evm.EvmAnchorer.anchor`` signs, sends and waits in one call: a process
killed after sending cannot know, on restart, whether its transaction went out. This module
splits the same steps so that the portal records its intent first (the transaction and the
anchor are built by the anchorer, ``anchor_transaction`` and ``anchor_from_receipt``, exactly
as ``anchor`` builds them; only sending and waiting are done here):

1. sign ``anchor(root, size)`` with the next nonce and COMMIT the signed bytes, their hash and
   the chain head (``save_intent``), before anything leaves the process;
2. broadcast those exact bytes; wait for the receipt and the confirmations;
3. build the :class:`EvmAnchor` and check it against the chain (``verify_anchor``).

On restart with an intent: if its transaction is on chain, that is the anchor; otherwise the
SAME signed bytes are broadcast again. The same nonce means at most one of them can ever be
mined, so one checkpoint is never anchored twice. If the nonce was consumed by some other
transaction, the chain is searched from the recorded head for an ``Anchored`` event of this
root and size from our sender before a new intent is made.

Through a LACChain writer node (``anchorer.relay``) two things differ, and the intent records
them: the node answers with the hash of ITS transaction to the RelayHub (recorded over the
signed bytes' hash once known), and the signed bytes expire (``expiration``). On restart the
chain is searched for the anchor's event first; bytes whose expiration the chain has passed
can never be included any more, so a new intent replaces them. The hub's nonce still lets at
most one of two relayed copies through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_utils import ValidationError as EthValidationError
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound, Web3Exception

from anchoring.chains.evm import ANCHORED_TOPIC, EvmAnchor, EvmAnchorer
from anchoring.chains.lacchain import split_relay_suffix
from anchoring.errors import ChainError
from portal.evidence.crash import crash_point


def sign_intent(anchorer: EvmAnchorer, root: bytes, size: int) -> dict[str, Any]:
    """Sign the anchor transaction of ``(root, size)``: the intent recorded before sending."""
    tx = anchorer.anchor_transaction(root, size)
    signed = anchorer.account.sign_transaction(tx)
    intent = {
        "txHash": HexBytes(signed.hash).to_0x_hex(),
        "raw": HexBytes(signed.raw_transaction).to_0x_hex(),
        "nonce": tx["nonce"],
        "fromBlock": int(anchorer.w3.eth.block_number),
    }
    if getattr(anchorer, "relay", None) is not None:
        intent["expiration"] = split_relay_suffix(HexBytes(tx["data"]))[2]
    return intent


def _receipt(anchorer: EvmAnchorer, tx_hash: str) -> Any | None:
    try:
        return anchorer.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    except TransactionNotFound:
        return None


def _find_event(anchorer: EvmAnchorer, root: bytes, size: int, from_block: int) -> str | None:
    """Hash of a transaction from our sender whose ``Anchored`` event has ``root`` and ``size``."""
    # Topics as 0x-hex strings: eth-tester (the embedded chain) ignores bytes topics.
    sender_topic = HexBytes(bytes(12) + HexBytes(anchorer.account.address)).to_0x_hex()
    logs = anchorer.w3.eth.get_logs(
        {
            "address": anchorer.contract_address,
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": [
                HexBytes(ANCHORED_TOPIC).to_0x_hex(),
                HexBytes(root).to_0x_hex(),
                sender_topic,
            ],
        }
    )
    for entry in logs:
        if int.from_bytes(bytes(entry["data"]), "big") == size:
            return HexBytes(entry["transactionHash"]).to_0x_hex()
    return None


NONCE_USED = (
    # geth/anvil/besu: "nonce too low"; py-evm (embedded): "invalid transaction nonce";
    # LACChain's gas-relay-signer: "Incorrect Nonce" / "BAD NONCE" (the RelayHub's nonce).
    "nonce too low",
    "nonce is too low",
    "invalid transaction nonce",
    "incorrect nonce",
    "bad nonce",
)


def broadcast(w3: Any, raw: str | bytes, what: str) -> str | None:
    """Send signed bytes (an anchor's or a mint's: ``what``); the transaction hash the node
    answers (a LACChain writer node answers with its own relay transaction's), or None when the
    node says their nonce is already used."""
    try:
        return HexBytes(w3.eth.send_raw_transaction(HexBytes(raw))).to_0x_hex()
    except (Web3Exception, ValueError, EthValidationError) as exc:
        text = str(exc).lower()
        if any(m in text for m in NONCE_USED):
            return None
        if "already known" in text or "already imported" in text or "known transaction" in text:
            return HexBytes(keccak(HexBytes(raw))).to_0x_hex()
        raise ChainError(f"the node refused the {what} transaction: {exc}") from None


def _wait(anchorer: EvmAnchorer, tx_hash: str) -> Any:
    deadline = time.monotonic() + anchorer.timeout
    while True:
        receipt = _receipt(anchorer, tx_hash)
        if receipt is not None:
            if receipt["status"] != 1:
                raise ChainError(f"anchoring transaction {tx_hash} reverted")
            depth = int(anchorer.w3.eth.block_number) - int(receipt["blockNumber"]) + 1
            if depth >= anchorer.confirmations:
                return receipt
        if time.monotonic() > deadline:
            raise ChainError(
                f"transaction {tx_hash} not confirmed within {anchorer.timeout} s; "
                "it will be looked for (not sent again) on the next attempt"
            )
        # On a development chain, empty blocks are mined only once the transaction has a receipt.
        anchorer.pause_between_polls(mine=receipt is not None)


def _resume_relayed(
    anchorer: EvmAnchorer,
    root: bytes,
    size: int,
    intent: dict,
    save_intent: Callable[[dict], None],
) -> dict | None:
    """The intent to wait for after a restart through a LACChain writer node, or None when a
    new one must be made. The recorded hash may be the signed bytes' (never on chain), so the
    chain is searched for the anchor's event first."""
    found = _find_event(anchorer, root, size, int(intent["fromBlock"]))
    if found is not None:
        return {**intent, "txHash": found}
    if _receipt(anchorer, intent["txHash"]) is not None:
        return None  # the node's transaction was mined without anchoring (refused by the hub)
    head_time = int(anchorer.w3.eth.get_block("latest")["timestamp"])
    if head_time > int(intent.get("expiration", 0)):
        return None  # expired: these bytes can no longer enter a block
    sent = broadcast(anchorer.w3, intent["raw"], "anchoring")
    if sent is None:
        return None
    if sent != intent["txHash"]:
        intent = {**intent, "txHash": sent}
        save_intent(intent)
    return intent


def anchor_once(
    anchorer: EvmAnchorer,
    root: bytes,
    size: int,
    intent: dict | None,
    save_intent: Callable[[dict], None],
) -> EvmAnchor:
    """Anchor ``(root, size)`` exactly once; ``intent`` is what a previous attempt recorded.

    ``save_intent(intent)`` must durably commit the intent before returning. Raises
    :class:`ChainError` (the caller retries later with the intent it saved).
    """
    try:
        relayed = getattr(anchorer, "relay", None) is not None
        if intent is not None and relayed:
            intent = _resume_relayed(anchorer, root, size, intent, save_intent)
        elif intent is not None:
            receipt = _receipt(anchorer, intent["txHash"])
            if receipt is not None and receipt["status"] != 1:
                intent = None  # mined but reverted: nothing anchored, its nonce is spent
            elif receipt is None and broadcast(anchorer.w3, intent["raw"], "anchoring") is None:
                found = _find_event(anchorer, root, size, int(intent["fromBlock"]))
                if found is None:
                    intent = None  # the nonce went to another transaction; nothing anchored
                else:
                    intent = {**intent, "txHash": found}
        if intent is None:
            intent = sign_intent(anchorer, root, size)
            save_intent(intent)
            crash_point("after-intent")
            sent = broadcast(anchorer.w3, intent["raw"], "anchoring")
            if relayed and sent is not None and sent != intent["txHash"]:
                intent = {**intent, "txHash": sent}  # the writer node's relay transaction
                save_intent(intent)
            crash_point("after-send")
        receipt = _wait(anchorer, intent["txHash"])
        return anchorer.anchor_from_receipt(receipt, root, size)
    except (Web3Exception, OSError) as exc:
        raise ChainError(f"the chain could not be reached: {exc}") from None
