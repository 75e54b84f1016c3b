"""Evidence PDFs (issue 4): one signed forensic record per sealed checkpoint.

The anchoring process (``veraz anchor [--watch]``, the only one holding the TSA and the
keys) calls :func:`sign_due` after each round of anchoring: every checkpoint whose anchors
are all done and that has no PDF yet gets one, rendered from the database
(``portal.documents.evidence_pdf``, deterministic), signed PAdES B-T (``signing``) and stored
in ``evidence_pdfs``. Stored bytes are served as they are, never re-rendered nor re-signed.
Web workers only read (:func:`listing`, :func:`pdf_bytes`).

A failure (TSA down, key file with a wrong mode) is logged and retried at the next round,
after a backoff, and never stops anchoring.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    insert,
    select,
)

from portal.documents.evidence_pdf import EvidenceEntry, EvidenceRecord, render_evidence_pdf
from portal.evidence import sealing, store
from portal.evidence.tables import DONE, anchors, metadata
from portal.models import records

log = logging.getLogger(__name__)

# One signed evidence PDF per sealed checkpoint (migration 0004), on the evidence tables'
# metadata (``migrations/env.py`` imports this module for it).
evidence_pdfs = Table(
    "evidence_pdfs",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("sha256", String(64), nullable=False),
    Column("byte_length", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Seconds to wait before retrying a checkpoint whose PDF failed (doubling, at most 1 hour).
RETRY_BASE, RETRY_MAX = 30.0, 3600.0
_failures: dict[tuple[str, int], tuple[int, float]] = {}


def _order_numbers(conn: Connection, ocids: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ordered = sorted(ocids)
    for i in range(0, len(ordered), 400):
        query = select(records.c.ocid, records.c.order_number).where(
            records.c.ocid.in_(ordered[i : i + 400])
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
    entries = [
        _entry(first + i, data) for i, data in enumerate(store.entries(conn, first, tree_size))
    ]
    numbers = _order_numbers(conn, {e.member("ocid") for e in entries if e.member("ocid")})
    entries = [
        EvidenceEntry(e.index, e.kind, e.members, numbers.get(e.member("ocid") or ""))
        for e in entries
    ]
    return EvidenceRecord(
        tree_size=tree_size,
        first_index=first,
        root_hex=checkpoint.root.hex(),
        note=checkpoint.note,
        sealed_at=sealing._aware(checkpoint.sealed_at),
        origin=store.origin(config),
        verifier_key=store.signer(config).verifier_key,
        base_url=str(config["BASE_URL"]),
        entries=tuple(entries),
        anchors=tuple(sealing.anchor_rows(conn, [tree_size]).get(tree_size, [])),
    )


def render(conn: Connection, config: dict, tree_size: int) -> bytes | None:
    """The unsigned evidence PDF of a checkpoint (deterministic), or None if not sealed."""
    record = evidence_record(conn, config, tree_size)
    return render_evidence_pdf(record) if record is not None else None


def due(conn: Connection) -> list[int]:
    """Sizes of sealed checkpoints with every anchor done and no evidence PDF yet."""
    done = set(conn.execute(select(evidence_pdfs.c.tree_size)).scalars())
    open_ = set(conn.execute(select(anchors.c.tree_size).where(anchors.c.status != DONE)).scalars())
    return [c.size for c in store.checkpoints(conn) if c.size not in done | open_]


def generate(engine: Engine, config: dict, backends, tree_size: int) -> bytes:
    """Render, sign and store the evidence PDF of one checkpoint; return the stored bytes."""
    from portal.evidence.signing import document_signer, sign_pdf, timestamper

    with engine.connect() as conn:
        unsigned = render(conn, config, tree_size)
    if unsigned is None:
        raise LookupError(f"no sealed checkpoint of size {tree_size}")
    signed = sign_pdf(
        unsigned,
        document_signer(config),
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


def sign_due(engine: Engine, config: dict, backends) -> list[int]:
    """Make every evidence PDF that is due (see :func:`due`); return the sizes made.

    Never raises: a failure is logged and that checkpoint retried after a backoff.
    """
    made: list[int] = []
    try:
        with engine.connect() as conn:
            sizes = due(conn)
    except Exception:  # noqa: BLE001 - the anchoring loop must go on
        log.exception("cannot list the evidence PDFs to make")
        return made
    key = str(engine.url)
    for size in sizes:
        failures, retry_at = _failures.get((key, size), (0, 0.0))
        if time.monotonic() < retry_at:
            continue
        try:
            generate(engine, config, backends, size)
        except Exception as exc:  # noqa: BLE001 - any failure: log, back off, retry later
            failures += 1
            wait = min(RETRY_MAX, RETRY_BASE * 2 ** (failures - 1))
            _failures[(key, size)] = (failures, time.monotonic() + wait)
            log.warning(
                "evidence PDF of checkpoint %d failed (attempt %d, next in %.0f s): %s",
                size,
                failures,
                wait,
                str(exc) or type(exc).__name__,
            )
            continue
        _failures.pop((key, size), None)
        made.append(size)
    return made


def listing(conn: Connection) -> list[dict]:
    """Every sealed checkpoint, newest first, with its anchors' state and its evidence PDF."""
    history = store.checkpoints(conn)
    anchor_map = sealing.anchor_rows(conn)
    pdfs = {
        row.tree_size: row
        for row in conn.execute(
            select(
                evidence_pdfs.c.tree_size,
                evidence_pdfs.c.sha256,
                evidence_pdfs.c.byte_length,
                evidence_pdfs.c.created_at,
            )
        )
    }
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
                "sealedAt": sealing._aware(c.sealed_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "anchorStatus": state,
                "anchors": [{"type": a["type"], "status": a["status"]} for a in items],
                "pdf": None
                if pdf is None
                else {
                    "sha256": pdf.sha256,
                    "bytes": int(pdf.byte_length),
                    "signedAt": sealing._aware(pdf.created_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            }
        )
        previous = c.size
    out.reverse()
    return out


def pdf_bytes(conn: Connection, tree_size: int) -> bytes | None:
    """The stored, signed evidence PDF of a checkpoint, or None."""
    data = conn.execute(
        select(evidence_pdfs.c.data).where(evidence_pdfs.c.tree_size == tree_size)
    ).scalar()
    return bytes(data) if data is not None else None
