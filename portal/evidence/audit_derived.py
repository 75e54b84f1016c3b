"""The audit of derived state: what pages and listings show that is not itself a log entry.

``records`` (compiled releases and browse columns) and the rest of the read model
(``item_lines``, ``parties``: ``ocds.summary.read_model_rows``), ``source_orders`` (which catalogue order
version each order release is), ``evidence_anchors`` and ``evidence_pdfs`` are derived from
rows the log covers. Each is re-derived here with the functions publishing and anchoring use
(``portal.publishing.records.recompile``, ``portal.evidence.pdfs.render``) and compared with
what is stored, so an edit to a stored record changes no page without ``veraz audit`` naming it.

Every check streams: ocids and rows are read ``CHUNK`` at a time in key order, so memory is
bounded by the chunk and the problems found, not by the size of the tables.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, exists, select, text, tuple_

from ocds.summary import read_model_rows
from portal.db import IN_CLAUSE_CHUNK
from portal.evidence.tables import DONE, EVM, PENDING, RETRYING, RFC3161, anchors, evidence_pdfs
from portal.models import records, releases, source_orders
from portal.publishing.records import READ_MODEL_TABLES, RecordRow, recompile
from portal.search.database import PG_POSTINGS_OF, PG_STORED_POSTINGS
from portal.search.tables import search_documents

CHUNK = IN_CLAUSE_CHUNK  # ocids per query, as publishing recompiles them

#: The anchor types and states sealing and anchoring write (``portal.evidence.tables``).
ANCHOR_TYPES = (EVM, RFC3161)
ANCHOR_STATES = (PENDING, DONE, RETRYING)

# Report(check name, subject, detail): how these checks hand a problem to ``audit``.
Report = Callable[[str, str, str], None]


def _ocid_chunks(conn: Connection) -> Iterator[list[str]]:
    """The distinct ocids of the published releases, in order, CHUNK at a time."""
    after = None
    while True:
        query = select(releases.c.ocid).distinct().order_by(releases.c.ocid).limit(CHUNK)
        if after is not None:
            query = query.where(releases.c.ocid > after)
        ocids = list(conn.execute(query).scalars())
        if not ocids:
            return
        yield ocids
        after = ocids[-1]


def _derived_records(conn: Connection, ocids: list[str]) -> dict[str, RecordRow | Exception]:
    """Each ocid's record compiled from its releases, or why it cannot be compiled."""
    try:
        return dict(recompile(conn, ocids))
    except Exception:  # noqa: BLE001 - one ocid's releases refuse to merge: compile one by one
        out: dict[str, RecordRow | Exception] = {}
        for ocid in ocids:
            try:
                out.update(recompile(conn, [ocid]))
            except Exception as error:  # noqa: BLE001 - reported, or nothing stored as publishing does
                out[ocid] = error
        return out


def _same(stored: object, derived: object) -> bool:
    if isinstance(stored, Decimal | float) or isinstance(derived, Decimal | float):
        if stored is None or derived is None:
            return stored is derived
        cents = Decimal("0.01")
        return Decimal(str(stored)).quantize(cents) == Decimal(str(derived)).quantize(cents)
    return stored == derived


def _read_model(conn: Connection, ocids: list[str]) -> dict[str, dict[str, list]]:
    """``{table name: {ocid: [stored row, by position]}}`` of the read model's other tables."""
    out: dict[str, dict[str, list]] = {}
    for name, table in READ_MODEL_TABLES.items():
        rows: dict[str, list] = {}
        query = select(table).where(table.c.ocid.in_(ocids)).order_by(table.c.ocid, table.c.position)
        for row in conn.execute(query).mappings():
            rows.setdefault(row["ocid"], []).append(dict(row))
        out[name] = rows
    return out


def _read_model_differences(
    stored: dict[str, dict[str, list]], ocid: str, compiled: dict | None
) -> Iterator[str]:
    """How the stored read-model rows of ``ocid`` differ from those of its compiled release."""
    wanted = read_model_rows(compiled) if compiled is not None else {}
    for name in READ_MODEL_TABLES:
        have = {row["position"]: row for row in stored[name].get(ocid, [])}
        want = {row["position"]: row for row in wanted.get(name, [])}
        for position in sorted(have.keys() | want.keys()):
            if position not in have:
                yield f"{name} position {position} is missing (its compiled release has it)"
            elif position not in want:
                yield f"{name} position {position} is not in its compiled release"
            else:
                for column, value in want[position].items():
                    if not _same(have[position].get(column), value):
                        yield (
                            f"{name} position {position}: column {column} is "
                            f"{have[position].get(column)!r}, its compiled release gives {value!r}"
                        )


def check_records(conn: Connection, report: Report) -> int:
    """Recompile every ocid's record from its releases and compare the stored ``records`` row
    (compiled release, release count, newest release, every browse column) and its read-model
    rows (``item_lines``, ``parties``); also report rows for ocids without releases. Returns
    how many records rows were compared."""
    compared = 0
    for ocids in _ocid_chunks(conn):
        stored = {row.ocid: row for row in conn.execute(select(records).where(records.c.ocid.in_(ocids)))}
        model = _read_model(conn, ocids)
        documents = _stored_documents(conn, ocids)
        derived = _derived_records(conn, ocids)
        for ocid in ocids:
            row, want = stored.get(ocid), derived.get(ocid)
            subject = f"{ocid} record"
            for problem in _document_differences(documents.get(ocid), want):
                report("search", f"{ocid} search document", problem)
            if isinstance(want, Exception) or want is None:
                if row is not None:  # publishing stores no row for releases that do not compile
                    report(
                        "record",
                        subject,
                        f"a records row is stored, but the process's releases do not compile ({want})",
                    )
                for problem in _read_model_differences(model, ocid, None):
                    report("record", subject, problem)
                continue
            for problem in _read_model_differences(model, ocid, orjson.loads(want.compiled or b"null")):
                report("record", subject, problem)
            if row is None:
                report(
                    "record",
                    subject,
                    "no records row: the process is missing from listings, totals and dashboards",
                )
                continue
            compared += 1
            for problem in _record_differences(row, want):
                report("record", subject, problem)
    orphans = (
        select(records.c.ocid)
        .select_from(records.outerjoin(releases, releases.c.ocid == records.c.ocid))
        .where(releases.c.ocid.is_(None))
    )
    for ocid in conn.execute(orphans).scalars():
        report("record", f"{ocid} record", "a records row for a process with no published release")
    stray_documents = (
        select(search_documents.c.ocid)
        .where(~exists().where(releases.c.ocid == search_documents.c.ocid))
        .order_by(search_documents.c.ocid)
    )
    for ocid in conn.execute(stray_documents).scalars():
        report(
            "search", f"{ocid} search document", "a search document for a process with no published release"
        )
    for name, table in READ_MODEL_TABLES.items():
        stray = (
            select(table.c.ocid, table.c.position)
            .where(~exists().where(releases.c.ocid == table.c.ocid))
            .order_by(table.c.ocid, table.c.position)
        )
        for ocid, position in conn.execute(stray):
            report(
                "record",
                f"{ocid} record",
                f"{name} position {position} is for a process with no published release",
            )
    return compared


def _stored_documents(conn: Connection, ocids: list[str]) -> dict[str, Any]:
    columns = (search_documents.c.ocid, search_documents.c.identifiers, search_documents.c.words)
    return {row.ocid: row for row in conn.execute(select(*columns).where(search_documents.c.ocid.in_(ocids)))}


def _document_differences(stored, want: RecordRow | Exception | None) -> Iterator[str]:
    """How a process's stored search document differs from the one its record gives."""
    document = want.search if isinstance(want, RecordRow) else None
    if document is None:
        if stored is not None:  # publishing writes no document for releases that do not compile
            yield "a search document is stored, but the process's releases do not compile"
        return
    if stored is None:
        yield "no search document: search cannot find the process"
        return
    for column in ("identifiers", "words"):
        have, wanted = getattr(stored, column), getattr(document, column)
        if have != wanted:
            yield f"{column} are {have!r}, its compiled release gives {wanted!r}"


def check_search_index(conn: Connection, report: Report) -> None:
    """The database's full-text index holds exactly the stored search documents: what search
    finds is what the documents (checked against the records by :func:`check_records`) say.

    SQLite: FTS5's own ``integrity-check`` of its index against the documents (external
    content); when it fails, each document is looked up in the index by its row id and first
    word or identifier, so the report names the processes the index does not find as stored.
    PostgreSQL: the postings (``search_posting_blocks``) against each document's ``tsvector`` (the
    engine reads the postings; the ``tsvector`` is a generated column of the stored text)."""
    if conn.dialect.name == "sqlite":
        _check_fts5(conn, report)
    else:
        _check_postings(conn, report)


def _check_fts5(conn: Connection, report: Report) -> None:
    failure = _fts5_integrity(conn)
    if failure == "":
        return
    found = False
    after: int | None = None  # ids are any integer a row holds, negative ones too
    while True:
        query = select(
            search_documents.c.id,
            search_documents.c.ocid,
            search_documents.c.identifiers,
            search_documents.c.words,
        )
        if after is not None:
            query = query.where(search_documents.c.id > after)
        rows = conn.execute(query.order_by(search_documents.c.id).limit(CHUNK)).all()
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            column, tokens = (
                ("identifiers", row.identifiers.split())
                if row.identifiers.strip()
                else ("words", row.words.split())
            )
            if not tokens:
                continue
            hit = conn.exec_driver_sql(
                "SELECT 1 FROM search_fts WHERE search_fts MATCH ? AND rowid = ?",
                # An FTS5 string: its quotes doubled (a stored document may hold anything).
                (f'{column} : "{tokens[0].replace(chr(34), chr(34) * 2)}"', row.id),
            ).first()
            if hit is None:
                found = True
                report(
                    "search",
                    f"{row.ocid} search document",
                    f"the full-text index does not find document {row.id} by its {column} as stored",
                )
    if not found and failure is not None:
        report(
            "search", "search index", f"FTS5's integrity check fails ({failure}); veraz search-index rebuild"
        )


def _fts5_integrity(conn: Connection) -> str | None:
    """FTS5's integrity check of ``search_fts``: "" when it passes, the failure when it fails,
    None when it cannot run (a read-only file, or the write lock held by another process).

    The check is an INSERT command, so SQLite takes the write lock for it: it runs on a
    connection of its own, rolled back at once, waiting at most a second for the lock (the
    audit only reads otherwise, and must work beside a writer or on a read-only copy; on the
    audit's own connection the lock also kept the red flags' check from running). When it
    cannot run, :func:`_check_fts5` still looks every document up in the index."""
    raw = conn.engine.raw_connection()
    try:
        cursor = raw.cursor()
        timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        cursor.execute("PRAGMA busy_timeout = 1000")
        try:
            cursor.execute("INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)")
            return ""
        except sqlite3.Error as error:
            name = getattr(error, "sqlite_errorname", "")
            if name.startswith(("SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED")):
                return None
            return str(error)
        finally:
            raw.rollback()
            cursor.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    finally:
        raw.close()


def _check_postings(conn: Connection, report: Report) -> None:
    missing = text(
        f"SELECT DISTINCT d.ocid, m.document FROM ({PG_POSTINGS_OF} EXCEPT {PG_STORED_POSTINGS}) AS m "
        "JOIN search_documents AS d ON d.id = m.document ORDER BY d.ocid"
    )
    for ocid, document in conn.execute(missing):
        report(
            "search",
            f"{ocid} search document",
            f"postings of document {document} are missing: search misses it",
        )
    extra = text(
        f"SELECT DISTINCT m.document, d.ocid FROM ({PG_STORED_POSTINGS} EXCEPT {PG_POSTINGS_OF}) AS m "
        "LEFT JOIN search_documents AS d ON d.id = m.document ORDER BY m.document"
    )
    for document, ocid in conn.execute(extra):
        subject = f"{ocid} search document" if ocid is not None else "search index"
        report("search", subject, f"postings of document {document} hold words its document does not")


def _record_differences(row, want: RecordRow) -> Iterator[str]:
    if row.compiled is None:
        # A one-release record derives its compiled release on read; several are stored.
        if want.release_count > 1:
            yield (f"the compiled release of its {want.release_count} releases is missing (stored NULL)")
    else:
        try:
            compiled = orjson.loads(row.compiled)
        except orjson.JSONDecodeError:
            compiled = None
        if compiled != orjson.loads(want.compiled or b"null"):
            yield "the stored compiled release is not the one its logged releases compile to"
    if row.release_count != want.release_count:
        yield f"release_count is {row.release_count}, its releases number {want.release_count}"
    if row.last_release != want.last_release:
        yield f"last_release is {row.last_release}, its newest release is {want.last_release}"
    for column, value in want.columns.items():
        if not _same(getattr(row, column), value):
            yield (f"column {column} is {getattr(row, column)!r}, its compiled release gives {value!r}")


def check_source_orders(conn: Connection, report: Report) -> int:
    """Each ``source_orders`` row points at the order release of its (order number, version),
    and every catalogue order release has its row. Returns how many rows were read.

    The digest of the source line is not checked: the line itself is not kept, and the digest
    only makes importing the same version again a no-op (it is published nowhere).
    """
    joined = (
        select(
            source_orders.c.order_number,
            source_orders.c.version,
            source_orders.c.ocid,
            source_orders.c.release_pk,
            releases.c.ocid.label("release_ocid"),
            releases.c.release_id,
        )
        .select_from(source_orders.outerjoin(releases, releases.c.id == source_orders.c.release_pk))
        .order_by(source_orders.c.order_number, source_orders.c.version)
    )
    read, after = 0, None
    key = tuple_(source_orders.c.order_number, source_orders.c.version)
    while True:
        query = joined.where(key > tuple_(*after)) if after is not None else joined
        chunk = conn.execute(query.limit(CHUNK)).all()
        if not chunk:
            break
        after = (chunk[-1].order_number, chunk[-1].version)
        for row in chunk:
            read += 1
            subject = f"{row.ocid} source order {row.order_number} version {row.version}"
            if row.release_ocid is None:
                report("source-order", subject, f"its release_pk {row.release_pk} is no published release")
            elif (row.release_ocid, row.release_id) != (row.ocid, f"{row.ocid}-v{row.version}"):
                report(
                    "source-order",
                    subject,
                    f"its release_pk {row.release_pk} is release {row.release_id} of "
                    f"{row.release_ocid}, not version {row.version} of {row.ocid}",
                )
            if not row.ocid.endswith(f"-{row.order_number}"):
                report(
                    "source-order", subject, f"its ocid {row.ocid} is not that of order {row.order_number}"
                )
    without = (
        select(releases.c.ocid, releases.c.release_id)
        .select_from(releases.outerjoin(source_orders, source_orders.c.release_pk == releases.c.id))
        .where(releases.c.origin == "catalogue", source_orders.c.release_pk.is_(None))
    )
    for ocid, release_id in conn.execute(without):
        if re.fullmatch(re.escape(ocid) + r"-v[0-9]+", release_id):  # an order, not an agreement
            report(
                "source-order",
                f"{ocid} release {release_id}",
                "the catalogue order release has no source_orders row",
            )
    return read


def check_anchor_rows(
    conn: Connection, sizes: list[int], types: list[str], report: Report
) -> tuple[dict[int, list[dict]], set[int]]:
    """Every checkpoint has one anchor row per enabled type, with a known type and state, and a
    record exactly when done. Returns the done records by checkpoint size (``{size: [record
    with its "type"]}``), for the audit to check against their checkpoints, and the sizes with
    an anchor not done (whose evidence PDF is not due yet)."""
    done: dict[int, list[dict]] = {}
    seen: dict[int, set[str]] = {}
    unfinished: set[int] = set()
    query = select(anchors.c.tree_size, anchors.c.type, anchors.c.status, anchors.c.receipt)
    for row in conn.execute(query.order_by(anchors.c.tree_size, anchors.c.type)):
        size, subject = int(row.tree_size), f"checkpoint {row.tree_size}"
        seen.setdefault(size, set()).add(row.type)
        if row.status != DONE:
            unfinished.add(size)
        if row.type not in ANCHOR_TYPES:
            report("anchor", subject, f"an anchor row of unknown type {row.type!r}")
            continue
        if row.status not in ANCHOR_STATES:
            report("anchor", subject, f"its {row.type} anchor has unknown status {row.status!r}")
            continue
        if (row.status == DONE) != (row.receipt is not None):
            report(
                "anchor",
                subject,
                f"its {row.type} anchor is {row.status!r} "
                + (
                    "without an anchor record"
                    if row.receipt is None
                    else "although it holds an anchor record"
                ),
            )
            continue
        if row.receipt is None:
            continue
        try:
            record = orjson.loads(row.receipt)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            report("anchor", subject, f"its {row.type} anchor record is not readable ({error})")
            continue
        done.setdefault(size, []).append({**record, "type": row.type})
    for size in sizes:
        for kind in types:
            if kind not in seen.get(size, set()):
                report(
                    "anchor",
                    f"checkpoint {size}",
                    f"no {kind} anchor row (sealing makes one per enabled type)",
                )
    return done, unfinished


def check_evidence_pdfs(
    conn: Connection,
    sizes: list[int],
    unfinished: set[int],
    render: Callable[[Connection, int], bytes | None],
    report: Report,
) -> int:
    """Each stored evidence PDF hashes as its columns say and begins with the unsigned PDF its
    checkpoint renders to (signing only appends); every fully anchored checkpoint has one.
    Returns how many PDFs were checked."""
    checked, stored = 0, set()
    # One PDF at a time (up to tens of MB each): a client-side cursor would hold them all.
    for pdf_size in list(
        conn.execute(select(evidence_pdfs.c.tree_size).order_by(evidence_pdfs.c.tree_size)).scalars()
    ):
        row = conn.execute(select(evidence_pdfs).where(evidence_pdfs.c.tree_size == pdf_size)).one()
        size, subject = int(row.tree_size), f"checkpoint {row.tree_size}"
        stored.add(size)
        checked += 1
        data = bytes(row.data)
        digest = hashlib.sha256(data).hexdigest()
        if row.sha256 != digest:
            report(
                "evidence-pdf",
                subject,
                f"its evidence PDF hashes to {digest}, its sha256 column says {row.sha256}",
            )
        if row.byte_length != len(data):
            report(
                "evidence-pdf",
                subject,
                f"its evidence PDF is {len(data)} bytes, its byte_length column says {row.byte_length}",
            )
        try:
            unsigned = render(conn, size) if size in sizes else None
        except Exception as error:  # noqa: BLE001 - the data it renders from is damaged
            report(
                "evidence-pdf",
                subject,
                f"its record cannot be rendered from the log "
                f"({type(error).__name__}: {error}) to compare with the stored PDF",
            )
            continue
        if unsigned is None:
            report("evidence-pdf", subject, "an evidence PDF for a checkpoint that does not exist")
        elif not data.startswith(unsigned):
            report(
                "evidence-pdf",
                subject,
                "the stored evidence PDF is not the checkpoint's "
                "record as rendered from the log (altered, or made from other data)",
            )
    for size in sizes:
        if size not in stored and size not in unfinished:
            report(
                "evidence-pdf",
                f"checkpoint {size}",
                "every anchor is done but it has no "
                "evidence PDF (`veraz anchor` makes it; see its log if it failed)",
            )
    return checked
