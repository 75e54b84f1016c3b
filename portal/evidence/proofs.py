"""Assemble the proof bundle of a published release (``/api/proofs/<ocid>``).

The bundle is proven against the newest checkpoint that contains the entry and whose anchors
are all done; if none is fully anchored yet, against the newest that contains it (its anchors
then show as pending). An entry logged after the last checkpoint gets a ``pending`` bundle.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, select

from anchoring.bundle import AnchorRecord, ProformaRef, ProofBundle
from anchoring.merkle import leaf_hash
from portal.evidence import record, sealing, store
from portal.models import releases


def _release_row(conn: Connection, ocid: str, release_id: str | None):
    query = select(
        releases.c.ocid, releases.c.release_id, releases.c.data, releases.c.data_hash
    ).where(releases.c.ocid == ocid)
    if release_id is not None:
        query = query.where(releases.c.release_id == release_id)
    else:
        query = query.order_by(releases.c.date.desc(), releases.c.id.desc()).limit(1)
    return conn.execute(query).first()


def build_bundle(
    conn: Connection, config: dict, ocid: str, release_id: str | None = None
) -> ProofBundle | None:
    """The bundle of ``ocid``'s latest release (or ``release_id``), None if not logged."""
    row = _release_row(conn, ocid, release_id)
    if row is None:
        return None
    quotes = record.release_quotes(conn, row.ocid, orjson.loads(row.data))
    entry = record.release_entry(row.ocid, row.release_id, row.data_hash, None, quotes)
    leaf = leaf_hash(entry)
    index = store.index_of(conn, leaf)
    if index is None:
        return None
    link = record.link_hex(quotes)
    common = dict(
        ocid=row.ocid,
        release_id=row.release_id,
        hashes={"data": row.data_hash, "document": None, "proformas": link},
        proformas=tuple(ProformaRef(pid, h) for pid, h in quotes),
        entry=entry,
        leaf_index=index,
        leaf_hash=leaf,
    )
    containing = [c for c in store.checkpoints(conn) if c.size > index]
    if not containing:
        return ProofBundle(status="pending", **common)  # type: ignore[arg-type]
    anchors = sealing.anchor_rows(conn, [c.size for c in containing])
    complete = [
        c
        for c in containing
        if anchors.get(c.size) and all(a["status"] == "done" for a in anchors[c.size])
    ]
    checkpoint = (complete or containing)[-1]
    records = tuple(AnchorRecord.from_dict(a) for a in anchors.get(checkpoint.size, []))
    return ProofBundle(
        status="complete",
        tree_size=checkpoint.size,
        inclusion_proof=tuple(store.inclusion_proof(conn, index, checkpoint.size)),
        checkpoint=checkpoint.note,
        key=store.signer(config).verifier_key,
        anchors=records,
        **common,
    )  # type: ignore[arg-type]
