"""What the verification page (``/verify/<ocid>``) reads: an order's versions, its order PDF,
the lookup by number or hash, and the RFC 3161 check the server does for a phone.

The page's own checks run on the visitor's device; the server adds only what a phone cannot
check itself (a CMS signature over ASN.1, against the TSA's CA).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from anchoring.bundle_network import verify_checkpoint_timestamp
from portal.evidence.read import proofs
from portal.evidence.read.trust import tsa_ca_pem
from portal.models import order_pdfs, proformas, records, releases

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Version:
    """One published release of an order, with the SHA-256 of its stored order PDF (if any)."""

    release_id: str
    data: bytes
    data_hash: str
    pdf_sha256: str | None


# Every version of an ocid with its order PDF's hash, oldest first: one query, built once
# (building the expression per request cost as much as running it).
_VERSIONS = (
    select(releases.c.release_id, releases.c.data, releases.c.data_hash,
           order_pdfs.c.sha256.label("pdf_sha256"))
    .select_from(releases.outerjoin(order_pdfs, (order_pdfs.c.ocid == releases.c.ocid)
                                    & (order_pdfs.c.release_id == releases.c.release_id)))
    .where(releases.c.ocid == bindparam("ocid"))
    .order_by(releases.c.date, releases.c.id)
)


def versions(conn: Connection, ocid: str) -> list[Version]:
    """Every published release of ``ocid``, oldest first (empty for an unknown ocid)."""
    return [Version(r.release_id, bytes(r.data), r.data_hash, r.pdf_sha256)
            for r in conn.execute(_VERSIONS, {"ocid": ocid})]


def order_pdf(conn: Connection, ocid: str, release_id: str | None) -> tuple[bytes, str] | None:
    """``(stored bytes, release id)`` of the order PDF of ``ocid``'s latest release (or of
    ``release_id``), or None."""
    query = (select(order_pdfs.c.data, order_pdfs.c.release_id)
             .join(releases, (releases.c.ocid == order_pdfs.c.ocid)
                   & (releases.c.release_id == order_pdfs.c.release_id))
             .where(order_pdfs.c.ocid == ocid))
    if release_id:
        query = query.where(order_pdfs.c.release_id == release_id)
    row = conn.execute(query.order_by(releases.c.date.desc(), releases.c.id.desc()).limit(1)).first()
    return (bytes(row.data), row.release_id) if row is not None else None


def find_order(conn: Connection, q: str) -> tuple[str, str | None] | None:
    """``(ocid, release id or None)`` of what ``q`` names: an order number, an ocid, or a
    SHA-256 (hex) of a release, an order PDF or a proforma; None if nothing matches."""
    if HEX64.match(q.lower()):
        h = q.lower()
        row = conn.execute(select(releases.c.ocid, releases.c.release_id)
                           .where(releases.c.data_hash == h).limit(1)).first() \
            or conn.execute(select(order_pdfs.c.ocid, order_pdfs.c.release_id)
                            .where(order_pdfs.c.sha256 == h).limit(1)).first()
        if row:
            return row.ocid, row.release_id
        row = conn.execute(select(proformas.c.ocid).where(proformas.c.data_hash == h)
                           .limit(1)).first()
        return (row.ocid, None) if row else None
    row = conn.execute(select(records.c.ocid).where(
        (records.c.ocid == q) | (records.c.order_number == q)).limit(1)).first()
    return (row.ocid, None) if row else None


@functools.lru_cache(maxsize=256)
def _checked_token(checkpoint: str, token: str, ca_pem: bytes | None) -> tuple[str, str]:
    # A token and its checkpoint never change once sealed: check each pair once per process.
    step = verify_checkpoint_timestamp(checkpoint, token, ca_pem)
    return step.status, step.detail


def timestamp_check(conn: Connection, config: dict, ocid: str, release_id: str) -> dict | None:
    """``{"status", "detail"}`` of the RFC 3161 token of the checkpoint that proves the
    release, checked against the TSA's CA; None until that checkpoint is timestamped."""
    bundle = proofs.build_bundle(conn, config, ocid, release_id)
    if bundle is None or bundle.status != "complete" or bundle.checkpoint is None:
        return None
    token = next((a for a in bundle.anchors if a.type == "rfc3161" and a.status == "done"), None)
    if token is None:
        return None
    status, detail = _checked_token(bundle.checkpoint, token.get("token") or "", tsa_ca_pem(config))
    return {"status": status, "detail": detail}
