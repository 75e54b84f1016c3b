"""The proof-bundle checks that need the outside world: the chain and the TSA's CA.

Kept apart from ``anchoring.bundle`` (pure) on purpose: these read a node over JSON-RPC or a
CA certificate the verifier chose. Each returns one :class:`anchoring.bundle.Step` per anchor.
"""

from __future__ import annotations

import base64
import binascii

from anchoring.bundle import FAIL, PASS, SKIP, ProofBundle, Step
from anchoring.errors import AnchoringError

__all__ = ["verify_evm_anchors", "verify_timestamps"]

_EVM_FIELDS = {
    "chainId": "chain_id",
    "contract": "contract",
    "txHash": "tx_hash",
    "blockNumber": "block_number",
    "blockTime": "block_time",
    "root": "root_hex",
    "treeSize": "tree_size",
    "sender": "sender",
    "explorerUrl": "explorer_url",
}


def _checkpoint_root_and_size(bundle: ProofBundle) -> tuple[bytes, int]:
    from anchoring import notes

    assert bundle.checkpoint is not None and bundle.key is not None
    checkpoint = notes.verify_checkpoint(bundle.checkpoint, bundle.key)
    return checkpoint.root, checkpoint.size


def verify_evm_anchors(
    bundle: ProofBundle, rpc_url: str | None, *, sender: str | None = None
) -> list[Step]:
    """Read every EVM anchor of ``bundle`` back from the node at ``rpc_url`` and compare.

    The node must serve the anchor's chain; the receipt, block and contract code are read from
    it (``anchoring.chains.evm.verify_anchor``): nothing in the bundle is trusted but the
    checkpoint, whose signature ``verify_bundle`` checks.
    """
    evm = [a for a in bundle.anchors if a.type == "evm"]
    if not evm:
        return [
            Step(
                "evm-anchor",
                FAIL if bundle.status == "complete" else SKIP,
                "the bundle has no EVM anchor",
            )
        ]
    steps = []
    for i, record in enumerate(evm):
        name = f"evm-anchor[{i}]" if len(evm) > 1 else "evm-anchor"
        if record.status != "done":
            steps.append(
                Step(
                    name,
                    FAIL,
                    "the anchor is still pending at the portal: fetch the bundle again later",
                )
            )
            continue
        if rpc_url is None:
            steps.append(
                Step(
                    name,
                    SKIP,
                    "no node given (--rpc): the anchor was not read "
                    f"from chain {record.get('chainId')}",
                )
            )
            continue
        try:
            from anchoring.chains.evm import EvmAnchor, rpc_chain, verify_anchor

            anchor = EvmAnchor(**{py: record.get(js) for js, py in _EVM_FIELDS.items()})
            root, size = _checkpoint_root_and_size(bundle)
            w3 = rpc_chain(rpc_url, int(anchor.chain_id))
            verify_anchor(w3, anchor, root, size, sender=sender)
            steps.append(
                Step(
                    name,
                    PASS,
                    f"chain {anchor.chain_id} tx {anchor.tx_hash} block "
                    f"{anchor.block_number} anchors root {root.hex()} "
                    f"size {size}",
                )
            )
        except (AnchoringError, TypeError, ValueError) as exc:
            steps.append(Step(name, FAIL, str(exc)))
    return steps


def verify_timestamps(bundle: ProofBundle, ca_pem: bytes | None) -> list[Step]:
    """Verify every RFC 3161 token of ``bundle`` over the checkpoint note bytes with ``ca_pem``."""
    tokens = [a for a in bundle.anchors if a.type == "rfc3161"]
    if not tokens:
        return [
            Step(
                "timestamp",
                FAIL if bundle.status == "complete" else SKIP,
                "the bundle has no RFC 3161 timestamp",
            )
        ]
    steps = []
    for i, record in enumerate(tokens):
        name = f"timestamp[{i}]" if len(tokens) > 1 else "timestamp"
        if record.status != "done":
            steps.append(
                Step(
                    name,
                    FAIL,
                    "the timestamp is still pending at the portal: fetch the bundle again later",
                )
            )
            continue
        if ca_pem is None:
            steps.append(Step(name, SKIP, "no TSA CA given (--tsa-ca): the token was not checked"))
            continue
        try:
            from anchoring.timestamps import verify_timestamp

            der = base64.b64decode(record.get("token") or "", validate=True)
            assert bundle.checkpoint is not None
            info = verify_timestamp(der, bundle.checkpoint.encode("utf-8"), ca_pem)
            steps.append(
                Step(
                    name,
                    PASS,
                    f"the checkpoint existed at {info.gen_time.isoformat()} per {info.tsa_name}",
                )
            )
        except (AnchoringError, binascii.Error, ValueError) as exc:
            steps.append(Step(name, FAIL, str(exc)))
    return steps
