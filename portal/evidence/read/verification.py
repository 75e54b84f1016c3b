"""What the verification page (``/verify/<ocid>``) reads: an order's versions, its order PDF,
its quotes, the lookup by number or hash (and of an order PDF by its SHA-256), and the RFC 3161
check the server does for a phone.

The page's own checks run on the visitor's device; the server adds only what a phone cannot
check itself (a CMS signature over ASN.1, against the TSA's CA).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, bindparam, select

from anchoring.bundle_network import verify_checkpoint_timestamp
from ocds.summary import process_facts
from portal.evidence import store
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
    date: str


# Every version of an ocid with its order PDF's hash, oldest first: one query, built once
# (building the expression per request cost as much as running it).
_VERSIONS = (
    select(
        releases.c.release_id,
        releases.c.data,
        releases.c.data_hash,
        order_pdfs.c.sha256.label("pdf_sha256"),
        releases.c.date,
    )
    .select_from(
        releases.outerjoin(
            order_pdfs,
            (order_pdfs.c.ocid == releases.c.ocid) & (order_pdfs.c.release_id == releases.c.release_id),
        )
    )
    .where(releases.c.ocid == bindparam("ocid"))
    .order_by(releases.c.date, releases.c.id)
)


def versions(conn: Connection, ocid: str) -> list[Version]:
    """Every published release of ``ocid``, oldest first (empty for an unknown ocid)."""
    return [
        Version(r.release_id, bytes(r.data), r.data_hash, r.pdf_sha256, r.date)
        for r in conn.execute(_VERSIONS, {"ocid": ocid})
    ]


def version_status(version: Version) -> str | None:
    """The status a version published (contract, else award, else tender)."""
    return process_facts(orjson.loads(version.data))["status"]


def status_since(every: list[Version], statuses: list[str | None]) -> str | None:
    """The date of the version that set the latest status: the first of the run of latest
    versions that publish it (the cancellation's release for a cancelled order)."""
    if not every:
        return None
    i = len(every) - 1
    while i > 0 and statuses[i - 1] == statuses[-1]:
        i -= 1
    return every[i].date


@dataclass(frozen=True)
class Quote:
    """One stored proforma (supplier quote) of an order, as received, and when it was logged."""

    proforma_id: str
    data: bytes
    data_hash: str
    received_at: datetime
    logged: bool


_QUOTES = (
    select(
        proformas.c.proforma_id,
        proformas.c.data,
        proformas.c.data_hash,
        proformas.c.received_at,
        proformas.c.leaf_index,
    )
    .where(proformas.c.ocid == bindparam("ocid"))
    .order_by(proformas.c.proforma_id)
)


def quotes(conn: Connection, ocid: str) -> list[Quote]:
    """Every stored proforma of ``ocid``, by id (a lookup in the unique (ocid, id) index)."""
    return [
        Quote(r.proforma_id, bytes(r.data), r.data_hash, r.received_at, r.leaf_index is not None)
        for r in conn.execute(_QUOTES, {"ocid": ocid})
    ]


_PDF_OWNER = (
    select(order_pdfs.c.ocid, order_pdfs.c.release_id)
    .where(order_pdfs.c.sha256 == bindparam("sha256"))
    .limit(1)
)


def pdf_owner(conn: Connection, sha256: str) -> tuple[str, str, int, list[Version]] | None:
    """``(ocid, release id, version number from 1, every version)`` of the order PDF whose
    SHA-256 (hex) is ``sha256``; None when the portal published no such PDF."""
    row = conn.execute(_PDF_OWNER, {"sha256": sha256.lower()}).first()
    if row is None:
        return None
    every = versions(conn, row.ocid)
    number = next((i for i, v in enumerate(every, 1) if v.release_id == row.release_id), 0)
    return row.ocid, row.release_id, number, every


def order_pdf(conn: Connection, ocid: str, release_id: str | None) -> tuple[bytes, str] | None:
    """``(stored bytes, release id)`` of the order PDF of ``ocid``'s latest release (or of
    ``release_id``), or None."""
    query = (
        select(order_pdfs.c.data, order_pdfs.c.release_id)
        .join(
            releases,
            (releases.c.ocid == order_pdfs.c.ocid) & (releases.c.release_id == order_pdfs.c.release_id),
        )
        .where(order_pdfs.c.ocid == ocid)
    )
    if release_id:
        query = query.where(order_pdfs.c.release_id == release_id)
    row = conn.execute(query.order_by(releases.c.date.desc(), releases.c.id.desc()).limit(1)).first()
    return (bytes(row.data), row.release_id) if row is not None else None


def find_order(conn: Connection, q: str) -> tuple[str, str | None] | None:
    """``(ocid, release id or None)`` of what ``q`` names: an order number, an ocid, or a
    SHA-256 (hex) of a release, an order PDF or a proforma; None if nothing matches."""
    if HEX64.match(q.lower()):
        h = q.lower()
        row = (
            conn.execute(
                select(releases.c.ocid, releases.c.release_id).where(releases.c.data_hash == h).limit(1)
            ).first()
            or conn.execute(
                select(order_pdfs.c.ocid, order_pdfs.c.release_id).where(order_pdfs.c.sha256 == h).limit(1)
            ).first()
        )
        if row:
            return row.ocid, row.release_id
        row = conn.execute(select(proformas.c.ocid).where(proformas.c.data_hash == h).limit(1)).first()
        return (row.ocid, None) if row else None
    row = conn.execute(
        select(records.c.ocid).where((records.c.ocid == q) | (records.c.order_number == q)).limit(1)
    ).first()
    return (row.ocid, None) if row else None


@dataclass(frozen=True)
class WaitingQuote:
    """A logged quote whose order is not published yet (it arrived through the intake API)."""

    ocid: str
    proforma_id: str
    leaf_index: int
    sealed: bool  # under a signed checkpoint already (else pending until the next one)


def quote_before_its_order(conn: Connection, q: str) -> WaitingQuote | None:
    """The quote whose SHA-256 (hex) is ``q`` when no record of its order exists yet; None
    otherwise (no such quote, or its order is published and has its own page)."""
    if not HEX64.match(q.lower()):
        return None
    row = conn.execute(
        select(proformas.c.ocid, proformas.c.proforma_id, proformas.c.leaf_index)
        .where(proformas.c.data_hash == q.lower())
        .limit(1)
    ).first()
    if row is None or row.leaf_index is None:
        return None
    if conn.execute(select(records.c.ocid).where(records.c.ocid == row.ocid)).first():
        return None
    sealed_size = store.newest_checkpoint_size(conn)
    index = int(row.leaf_index)
    return WaitingQuote(row.ocid, row.proforma_id, index, sealed_size is not None and index < sealed_size)


@functools.lru_cache(maxsize=256)
def _checked_token(
    checkpoint: str, token: str, ca_pem: bytes | None, revocation: str | None = None
) -> tuple[str, str]:
    # A token and its checkpoint never change once sealed: check each pair once per process.
    # The revocation evidence (JSON text, to be hashable) is re-checked offline with it.
    evidence = orjson.loads(revocation) if revocation else None
    step = verify_checkpoint_timestamp(checkpoint, token, ca_pem, revocation=evidence)
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
    evidence = token.get("revocation")
    status, detail = _checked_token(
        bundle.checkpoint,
        token.get("token") or "",
        tsa_ca_pem(config),
        orjson.dumps(evidence).decode() if evidence is not None else None,
    )
    return {"status": status, "detail": detail}
