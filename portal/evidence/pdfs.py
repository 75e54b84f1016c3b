"""Evidence PDFs: one signed forensic record per sealed checkpoint.

The anchoring process (``veraz anchor [--watch]``, the only one holding the TSA and the
keys) calls :func:`sign_due` after each round of anchoring: every checkpoint whose anchors
are all done and that has no PDF yet gets one, rendered from the database
(``portal.documents.evidence_pdf``, deterministic), signed PAdES B-T (``signing``) and stored
in ``evidence_pdfs``. Stored bytes are served as they are, never re-rendered nor re-signed;
web workers only read them (``portal.evidence.read.evidence_pdfs``).

A failure (TSA down, key file with a wrong mode, signing key missing) is logged and retried at
a later round, after a backoff (EVIDENCE_PDF_RETRY_BASE seconds, doubling up to
EVIDENCE_PDF_RETRY_MAX), and never stops anchoring; ``veraz anchor`` reports it and exits
non-zero (:func:`sign_pending`). Every PDF after the first is signed by the identity that
signed the newest stored one (``signing.document_signer(signed_before=...)``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, Engine, exists, insert, select

from portal.documents.evidence_pdf import EvidenceEntry, EvidenceRecord, render_evidence_pdf
from portal.evidence import store
from portal.evidence.read.anchors import anchor_rows, unfinished_sizes, utc
from portal.evidence.tables import evidence_pdfs
from portal.models import records, releases

log = logging.getLogger(__name__)

# (database URL, checkpoint size) -> (failures so far, monotonic time of the next attempt).
_failures: dict[tuple[str, int], tuple[int, float]] = {}


def _order_numbers(conn: Connection, ocids: set[str], tree_size: int) -> dict[str, str]:
    # Only processes with a release logged below the checkpoint: a quote logged on arrival
    # (intake API) may precede its order, whose number must not appear in this checkpoint's
    # record later, when the PDF is rendered again (by the audit) after the order is published.
    found: dict[str, str] = {}
    ordered = sorted(ocids)
    logged_before = exists().where(releases.c.ocid == records.c.ocid, releases.c.leaf_index < tree_size)
    for i in range(0, len(ordered), 400):
        query = select(records.c.ocid, records.c.order_number).where(
            records.c.ocid.in_(ordered[i : i + 400]), logged_before
        )
        for ocid, number in conn.execute(query):
            if number:
                found[ocid] = number
    return found


def _entry(index: int, data: bytes) -> EvidenceEntry:
    try:
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError
    except ValueError:  # not an entry of a known format: show it as it is
        return EvidenceEntry(index, "?", (("bytes", data.decode("utf-8", "replace")),))
    members = tuple((k, str(v)) for k, v in obj.items() if k not in ("v", "kind"))
    return EvidenceEntry(index, str(obj.get("kind", "?")), members)


def evidence_record(conn: Connection, config: dict, tree_size: int) -> EvidenceRecord | None:
    """What the evidence PDF of checkpoint ``tree_size`` shows, read from the database."""
    history = store.checkpoints(conn)
    sizes = [c.size for c in history]
    if tree_size not in sizes:
        return None
    position = sizes.index(tree_size)
    checkpoint = history[position]
    first = history[position - 1].size if position else 0
    entries = [_entry(first + i, data) for i, data in enumerate(store.entries(conn, first, tree_size))]
    numbers = _order_numbers(conn, {ocid for e in entries if (ocid := e.member("ocid"))}, tree_size)
    entries = [
        EvidenceEntry(e.index, e.kind, e.members, numbers.get(e.member("ocid") or "")) for e in entries
    ]
    return EvidenceRecord(
        tree_size=tree_size,
        first_index=first,
        root_hex=checkpoint.root.hex(),
        note=checkpoint.note,
        sealed_at=utc(checkpoint.sealed_at),
        origin=store.origin(config),
        verifier_key=store.verifier_key(conn, config),  # the key that signed the checkpoints
        base_url=str(config["BASE_URL"]),
        entries=tuple(entries),
        anchors=tuple(anchor_rows(conn, [tree_size]).get(tree_size, [])),
    )


def render(conn: Connection, config: dict, tree_size: int) -> bytes | None:
    """The unsigned evidence PDF of a checkpoint (deterministic), or None if not sealed."""
    record = evidence_record(conn, config, tree_size)
    return render_evidence_pdf(record) if record is not None else None


def due(conn: Connection) -> list[int]:
    """Sizes of sealed checkpoints with every anchor done and no evidence PDF yet."""
    skip = set(conn.execute(select(evidence_pdfs.c.tree_size)).scalars()) | unfinished_sizes(conn)
    return [c.size for c in store.checkpoints(conn) if c.size not in skip]


def generate(engine: Engine, config: dict, backends, tree_size: int) -> bytes:
    """Render, sign and store the evidence PDF of one checkpoint; return the stored bytes."""
    from portal.evidence.signing import document_signer, sign_pdf, signer_certificate, timestamper

    with engine.connect() as conn:
        unsigned = render(conn, config, tree_size)
        newest = conn.execute(
            select(evidence_pdfs.c.data).order_by(evidence_pdfs.c.tree_size.desc()).limit(1)
        ).scalar()
    if unsigned is None:
        raise LookupError(f"no sealed checkpoint of size {tree_size}")
    before = signer_certificate(bytes(newest)) if newest is not None else None
    signed = sign_pdf(
        unsigned,
        document_signer(config, signed_before=before),
        timestamper(config, backends),
        reason=f"Registro de evidencia, checkpoint {tree_size} / evidence record",
        location=str(config["BASE_URL"]),
    )
    with engine.begin() as conn:
        stored = conn.execute(
            select(evidence_pdfs.c.data).where(evidence_pdfs.c.tree_size == tree_size)
        ).scalar()
        if stored is not None:  # made by another run meanwhile: keep the first
            return bytes(stored)
        conn.execute(
            insert(evidence_pdfs).values(
                tree_size=tree_size,
                sha256=hashlib.sha256(signed).hexdigest(),
                byte_length=len(signed),
                data=signed,
                created_at=datetime.now(UTC),
            )
        )
    log.info("signed the evidence PDF of checkpoint %d (%d bytes)", tree_size, len(signed))
    return signed


@dataclass(frozen=True)
class PdfFailure:
    """An evidence PDF that could not be made this round: which, and a sentence saying why."""

    tree_size: int | None  # None: the PDFs due could not even be listed
    message: str


def sign_due(engine: Engine, config: dict, backends) -> list[int]:
    """Make every evidence PDF that is due (see :func:`due`); return the sizes made.

    Never raises: a failure is logged and that checkpoint retried after a backoff.
    """
    return sign_pending(engine, config, backends)[0]


def sign_pending(engine: Engine, config: dict, backends) -> tuple[list[int], list[PdfFailure]]:
    """As :func:`sign_due`, also returning what failed (for ``veraz anchor`` to report)."""
    base = float(config["EVIDENCE_PDF_RETRY_BASE"])
    cap = float(config["EVIDENCE_PDF_RETRY_MAX"])
    made: list[int] = []
    failed: list[PdfFailure] = []
    try:
        with engine.connect() as conn:
            sizes = due(conn)
    except Exception as exc:  # noqa: BLE001 - the anchoring loop must go on
        log.exception("cannot list the evidence PDFs to make")
        return made, [PdfFailure(None, f"the evidence PDFs due could not be listed: {exc}")]
    key = str(engine.url)
    for size in sizes:
        failures, retry_at = _failures.get((key, size), (0, 0.0))
        if time.monotonic() < retry_at:
            continue
        try:
            generate(engine, config, backends, size)
        except Exception as exc:  # noqa: BLE001 - any failure: log, back off, retry later
            failures += 1
            wait = min(cap, base * 2 ** (failures - 1))
            _failures[(key, size)] = (failures, time.monotonic() + wait)
            reason = str(exc) or type(exc).__name__
            log.warning(
                "evidence PDF of checkpoint %d failed (attempt %d, next in %.0f s): %s",
                size,
                failures,
                wait,
                reason,
            )
            failed.append(PdfFailure(size, f"the evidence PDF could not be signed: {reason}"))
            continue
        _failures.pop((key, size), None)
        made.append(size)
    return made, failed
