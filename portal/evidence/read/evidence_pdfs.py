"""The signed evidence PDFs as served: the listing of ``/evidence`` and the stored bytes.

Stored bytes are served as they are, never re-rendered nor re-signed; the anchoring process
makes them (``portal.evidence.pdfs``).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from portal.evidence import store
from portal.evidence.read.anchors import anchor_rows, published_time
from portal.evidence.tables import evidence_pdfs

_LISTED = select(
    evidence_pdfs.c.tree_size,
    evidence_pdfs.c.sha256,
    evidence_pdfs.c.byte_length,
    evidence_pdfs.c.created_at,
)


def listing(conn: Connection) -> list[dict]:
    """Every sealed checkpoint, newest first, with its anchors' state and its evidence PDF."""
    history = store.checkpoints(conn)
    anchor_map = anchor_rows(conn)
    pdfs = {row.tree_size: row for row in conn.execute(_LISTED)}
    out: list[dict] = []
    previous = 0
    for c in history:
        items = anchor_map.get(c.size, [])
        if not items:
            state = "none"
        elif all(a["status"] == "done" for a in items):
            state = "done"
        else:
            state = "pending"
        pdf = pdfs.get(c.size)
        out.append(
            {
                "treeSize": c.size,
                "firstIndex": previous,
                "entries": c.size - previous,
                "sealedAt": published_time(c.sealed_at),
                "anchorStatus": state,
                "anchors": [{"type": a["type"], "status": a["status"]} for a in items],
                "pdf": None
                if pdf is None
                else {
                    "sha256": pdf.sha256,
                    "bytes": int(pdf.byte_length),
                    "signedAt": published_time(pdf.created_at),
                },
            }
        )
        previous = c.size
    out.reverse()
    return out


def pdf_bytes(conn: Connection, tree_size: int) -> bytes | None:
    """The stored, signed evidence PDF of a checkpoint, or None."""
    data = conn.execute(select(evidence_pdfs.c.data).where(evidence_pdfs.c.tree_size == tree_size)).scalar()
    return bytes(data) if data is not None else None
