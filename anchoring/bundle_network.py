"""The proof-bundle checks that need the outside world: the chain and the TSA's CA.

Kept apart from ``anchoring.bundle`` (pure) on purpose: these read a node over JSON-RPC or a
CA certificate the verifier chose. Each returns one :class:`anchoring.bundle.Step` per anchor.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from anchoring.bundle import FAIL, PASS, SKIP, AnchorRecord, ProformaProofBundle, ProofBundle, Step
from anchoring.errors import AnchoringError

__all__ = ["verify_checkpoint_timestamp", "verify_evm_anchors", "verify_timestamps"]

# Both kinds of bundle carry the same checkpoint and anchors.
AnyBundle = ProofBundle | ProformaProofBundle

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


def _checkpoint_root_and_size(bundle: AnyBundle) -> tuple[bytes, int]:
    from anchoring import notes

    assert bundle.checkpoint is not None and bundle.key is not None
    checkpoint = notes.verify_checkpoint(bundle.checkpoint, bundle.key)
    return checkpoint.root, checkpoint.size


def _each_anchor(
    bundle: AnyBundle,
    anchor_type: str,
    step: str,
    check: Callable[[str, AnchorRecord], Step],
    *,
    absent: str,
    pending: str,
) -> list[Step]:
    """One step per ``anchor_type`` anchor of ``bundle``: ``check(name, record)`` for the done
    ones, FAIL with message ``pending`` for the others; with none at all, one step with
    message ``absent`` (FAIL for a complete bundle, SKIP for a pending one).

    Steps are named ``step``, or ``step[i]`` when the bundle has several such anchors.
    """
    records = [a for a in bundle.anchors if a.type == anchor_type]
    if not records:
        return [Step(step, FAIL if bundle.status == "complete" else SKIP, absent)]
    steps = []
    for i, record in enumerate(records):
        name = f"{step}[{i}]" if len(records) > 1 else step
        if record.status != "done":
            steps.append(Step(name, FAIL, pending))
            continue
        steps.append(check(name, record))
    return steps


def verify_evm_anchors(
    bundle: AnyBundle, rpc_url: str | None, *, sender: str | None = None, relay_hub: str | None = None
) -> list[Step]:
    """Read every EVM anchor of ``bundle`` back from the node at ``rpc_url`` and compare.

    The node must serve the anchor's chain; the receipt, block and contract code are read from
    it (``anchoring.chains.evm.verify_anchor``): nothing in the bundle is trusted but the
    checkpoint, whose signature ``verify_bundle`` checks. ``relay_hub`` (LACChain's RelayHub)
    accepts a VerazRelayedAnchor contract that takes its senders from that hub.
    """

    def check(name: str, record: AnchorRecord) -> Step:
        if rpc_url is None:
            return Step(
                name,
                SKIP,
                f"no node given (--rpc): the anchor was not read from chain {record.get('chainId')}",
            )
        try:
            from anchoring.chains.evm import EvmAnchor, rpc_chain, verify_anchor

            anchor = EvmAnchor(**{py: record.get(js) for js, py in _EVM_FIELDS.items()})
            root, size = _checkpoint_root_and_size(bundle)
            w3 = rpc_chain(rpc_url, int(anchor.chain_id))
            verify_anchor(w3, anchor, root, size, sender=sender, relay_hub=relay_hub)
            return Step(
                name,
                PASS,
                f"chain {anchor.chain_id} tx {anchor.tx_hash} block "
                f"{anchor.block_number} anchors root {root.hex()} "
                f"size {size}",
            )
        except (AnchoringError, TypeError, ValueError) as exc:
            return Step(name, FAIL, str(exc))

    return _each_anchor(
        bundle,
        "evm",
        "evm-anchor",
        check,
        absent="the bundle has no EVM anchor",
        pending="the anchor is still pending at the portal: fetch the bundle again later",
    )


def verify_checkpoint_timestamp(
    checkpoint: str,
    token: str,
    ca_pem: bytes | None,
    name: str = "timestamp",
    revocation: Any = None,
) -> Step:
    """Verify one RFC 3161 ``token`` (base64 DER) over the ``checkpoint`` note bytes.

    With ``revocation`` (the evidence a remote TSA's check kept, ``anchoring.tsa_trust``), also
    re-check offline, as of the token's genTime, the TSA certificate's path to ``ca_pem`` and
    the stored OCSP response or CRL. SKIP without ``ca_pem``; FAIL, saying why, for a token that
    is malformed, over other bytes, not issued under ``ca_pem``, or whose evidence does not hold.
    """
    if ca_pem is None:
        return Step(name, SKIP, "no TSA CA given (--tsa-ca): the token was not checked")
    try:
        from anchoring.timestamps import verify_timestamp

        der = base64.b64decode(token, validate=True)
        info = verify_timestamp(der, checkpoint.encode("utf-8"), ca_pem)
        detail = f"the checkpoint existed at {info.gen_time.isoformat()} per {info.tsa_name}"
        if revocation is not None:
            from anchoring.tsa_trust import check_revocation

            try:
                shown = check_revocation(der, revocation, ca_pem)
            except (AnchoringError, ValueError, TypeError) as exc:
                return Step(name, FAIL, f"the TSA certificate's stored revocation evidence fails: {exc}")
            detail += f"; TSA certificate not revoked at that time ({shown}, re-checked offline)"
        return Step(name, PASS, detail)
    except (AnchoringError, binascii.Error, ValueError) as exc:
        return Step(name, FAIL, str(exc))


def verify_timestamps(bundle: AnyBundle, ca_pem: bytes | None) -> list[Step]:
    """Verify every RFC 3161 token of ``bundle`` over the checkpoint note bytes with ``ca_pem``."""

    def check(name: str, record: AnchorRecord) -> Step:
        token = record.get("token") or ""
        return verify_checkpoint_timestamp(
            bundle.checkpoint or "", token, ca_pem, name, record.get("revocation")
        )

    return _each_anchor(
        bundle,
        "rfc3161",
        "timestamp",
        check,
        absent="the bundle has no RFC 3161 timestamp",
        pending="the timestamp is still pending at the portal: fetch the bundle again later",
    )
