"""``veraz audit``: re-derive the log from the published data and check everything.

Steps, each problem reported with the ocid (or checkpoint) and the step that failed:

* ``data-hash``: every release's and proforma's ``data_hash`` column is the SHA-256 of its
  stored JSON;
* ``columns``: a release's ``date``, ``tags``, validity and ``splice`` columns say what its stored JSON
  says, and releases and proformas were stored in the order their entries were logged;
* ``document-hash``: every stored order PDF hashes to the SHA-256 its release declares;
* ``entry``: every published release and proforma, re-encoded from its stored canonical
  JSON (hashes recomputed, not read from the ``data_hash`` column), must be in the log;
* ``log``: every log entry must belong to a published row (a deleted row leaves an orphan
  entry);
* ``storage``: the stored tree must match its entries (``anchoring.log`` audit, which names
  its own check);
* ``checkpoint``: every checkpoint's signature, and its root recomputed from the entries;
* ``consistency``: every checkpoint is consistent with the next (RFC 9162 proof verified);
* ``anchor``: every checkpoint has its anchor rows, every done anchor commits to its
  checkpoint (EVM root and size; the RFC 3161 token verified over the note against the TSA's
  CA), and is read back from the chain when the chain can be reached;
* ``record``: every ocid's record, recompiled from its (verified) releases with the function
  publishing uses, equals the stored ``records`` row: compiled release and every browse
  column (``portal.evidence.audit_derived``); no row is missing or extra;
* ``search``: every process's search document equals the one its recompiled record gives
  (``portal.search.documents.document_of``), no document is stored for a process without a
  record, and the database's full-text index holds exactly the stored documents (SQLite: FTS5's
  ``integrity-check``, then the documents the index does not find as stored, by ocid;
  PostgreSQL: the postings against each document's ``tsvector``), so that search neither hides
  a process nor finds it by words it does not hold (``portal.evidence.audit_derived``);
* ``source-order``: every ``source_orders`` row points at the release of its order version,
  and every catalogue order release has its row;
* ``evidence-pdf``: every stored evidence PDF is the checkpoint's record as rendered from the
  log, plus a signature; every fully anchored checkpoint has one;
* ``dashboards``: the dashboards' summary tables, once refreshed, equal their recomputation
  from the read model (``portal.dashboards.rollup.check``): each order's contribution (named by
  ocid) and each sum (named ``summary <dimension>/<segment>/<year>/<key>/<month>``);
* ``flags``: the red flags' tables, once refreshed, equal their recomputation from the
  published data (``portal.flags.audit``): facts and priced lines (named by ocid), each flag
  (by ocid, or ``flag <code> <scope>``), and what they were computed from (``flag_state
  <name>``: its thresholds against the settings, its statistics against the published data's);
* ``token``: every order-token row and its mint batch, re-read from the chain when it can be
  opened (``portal.tokens.check``), and every token the contract minted has its row.

Each problem is a :class:`Problem` whose ``check`` says which of these failed; the CLI prints
them. A chain that cannot be opened (owned by the watcher, or unreachable) is not a problem of
the log: the report says so (``chain_unavailable``) and the EVM records are then checked
against their checkpoints only.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, exists, select
from sqlalchemy.exc import InternalError, OperationalError

from anchoring import merkle, notes
from anchoring.entries import encode_entry
from anchoring.errors import AnchoringError, EntryError, KeyFileError, LogError
from portal.dashboards import rollup as dashboards_rollup
from portal.evidence import audit_derived, files, pdfs, record, store
from portal.evidence.backends import Backends, enabled_types
from portal.evidence.read.trust import tsa_ca_pem
from portal.evidence.tables import bulk_files
from portal.exports.splice import splice_flag
from portal.flags import audit as flags_audit
from portal.flags import thresholds as flags_thresholds
from portal.models import order_pdfs, proformas, release_packages, releases
from portal.publishing.prepared import date_column, tags_column
from portal.queries import lookup_pairs

CHUNK = 2_000  # published rows per query; memory stays bounded whatever the size of the log
BUNDLE = 256  # entries per entry bundle (C2SP tlog-tiles)
ENTRY_CHUNK = 20 * BUNDLE  # log entries per read, whole bundles

# A row as the audit sees it: (its leaf_index, the leaf hash re-derived from it, who).
Row = tuple[int | None, bytes, str]


class Check(StrEnum):
    """The step of the audit that found a problem (see the module docstring)."""

    DATA_HASH = "data-hash"
    COLUMNS = "columns"
    DOCUMENT_HASH = "document-hash"
    ENTRY = "entry"
    LOG = "log"
    STORAGE = "storage"  # the log's own tables (``anchoring.log`` audit)
    CHECKPOINT = "checkpoint"
    CONSISTENCY = "consistency"
    ANCHOR = "anchor"
    RECORD = "record"
    SEARCH = "search"  # each process's search document and the full-text index over them
    SOURCE_ORDER = "source-order"
    EVIDENCE_PDF = "evidence-pdf"
    DASHBOARDS = "dashboards"  # the dashboards' summary tables, recomputed from the read model
    FLAGS = "flags"  # the red flags' tables, recomputed from the published data
    TOKEN = "token"  # order tokens against the chain (portal.tokens.check)


@dataclass(frozen=True)
class Problem:
    """One problem: the check that found it, who it is about, and a sentence saying what."""

    check: Check
    subject: str  # "<ocid> release <id>", "<ocid> proforma <id>", "checkpoint 12", "log tile 0/3"
    detail: str
    anchor_type: str | None = None  # for Check.ANCHOR: "evm" or "rfc3161" when the record is

    def __str__(self) -> str:
        if self.check is Check.STORAGE:  # the log names its own check in the detail
            return f"{self.subject}: {self.detail}"
        step = f"{self.check.value} ({self.anchor_type})" if self.anchor_type else self.check.value
        return f"{self.subject}: step {step}: {self.detail}"


@dataclass(frozen=True)
class AuditReport:
    """What ``veraz audit`` found; no problems means the log checks out."""

    problems: list[Problem]
    entries: int
    rows: int
    checkpoints: int
    chain_unavailable: str | None = None  # why the chain could not be read, if it could not
    records: int = 0  # records rows recompiled and compared
    flags_unchecked: str | None = None  # why the red flags could not be recomputed, if not

    @property
    def summary(self) -> str:
        found = f"{len(self.problems):,} problem(s)." if self.problems else "no problem."
        return (
            f"Audited {self.entries:,} log entries, {self.rows:,} published rows, "
            f"{self.records:,} records, {self.checkpoints:,} checkpoints: {found}"
        )


def audit(engine: Engine, config: dict) -> AuditReport:
    """Re-derive the log from the published data and check everything (module docstring).

    Streams: the published rows are read in ``leaf_index`` order, ``CHUNK`` at a time, and
    walked beside the log's entries, so each row meets the entry it points at. What is kept
    in memory is bounded by the number of problems, not by the size of the log.
    """
    problems: list[Problem] = []
    with engine.connect() as conn:
        try:
            verifier: str | None = store.signer(config).verifier_key
        except (store.LogKeyError, KeyFileError) as exc:
            verifier = None
            if store.latest(conn) is not None:  # before the first seal there is no key yet
                problems.append(
                    Problem(
                        Check.CHECKPOINT, "log key", f"{exc}: the checkpoints' signatures were not checked"
                    )
                )
        size = store.size(conn)
        counted = [0]
        rows = heapq.merge(
            _release_rows(conn, problems, counted),
            _proforma_rows(conn, problems, counted),
            _bulk_file_rows(conn, problems, counted),
            key=itemgetter(0),
        )
        current = next(rows, None)
        unclaimed: dict[bytes, list[tuple[int, bytes]]] = {}  # entries no row derives in place
        mismatched: list[Row] = []  # rows whose index holds another entry
        stray: list[Row] = []  # rows whose leaf_index is missing or outside the log
        for start in range(0, size, ENTRY_CHUNK):
            for i, data in _readable_entries(conn, start, min(size, start + ENTRY_CHUNK), problems):
                leaf = merkle.leaf_hash(data)
                claimed = False
                while current is not None and current[0] <= i:  # type: ignore[operator]
                    index, derived, _who = current
                    if index == i and derived == leaf and not claimed:
                        claimed = True
                    else:
                        (mismatched if index == i else stray).append(current)
                    current = next(rows, None)
                if not claimed:
                    unclaimed.setdefault(leaf, []).append((i, data))
        while current is not None:  # leaf_index at or beyond the size of the log
            stray.append(current)
            current = next(rows, None)
        stray += _rows_without_index(conn, problems, counted)
        _document_orphans(conn, problems)

        def claim(derived: bytes) -> bool:
            found = unclaimed.get(derived)
            if not found:
                return False
            found.pop(0)
            return True

        not_logged = "the published row is not in the log (altered after logging, or never logged)"
        for index, derived, who in mismatched:
            problems.append(
                Problem(
                    Check.ENTRY,
                    who,
                    f"its leaf_index {index} points at another log entry" if claim(derived) else not_logged,
                )
            )
        for index, derived, who in stray:
            where = "missing" if index is None else f"{index}, outside the log (size {size})"
            problems.append(
                Problem(
                    Check.ENTRY,
                    who,
                    # logged, but the row does not say where
                    f"its leaf_index is {where}" if claim(derived) else not_logged,
                )
            )
        for entries in unclaimed.values():
            for i, data in entries:
                problems.append(
                    Problem(
                        Check.LOG,
                        store.describe_entry(data),
                        f"log entry {i} matches no published row (row altered or deleted)",
                    )
                )
        problems += [
            Problem(Check.STORAGE, f"log {p.where}", f"{p.kind}: {p.detail}")
            for p in store.audit(conn, verifier)
        ]

        history = store.checkpoints(conn)
        for c in history:
            try:
                if verifier is not None:
                    checked = notes.verify_checkpoint(c.note, verifier)
                    if checked.size != c.size or checked.root != c.root:
                        raise AnchoringError("the note does not match the stored size and root")
                actual = store.root(conn, c.size)
                if actual != c.root:
                    problems.append(
                        Problem(
                            Check.CHECKPOINT,
                            f"checkpoint {c.size}",
                            f"root {c.root.hex()} but the entries give {actual.hex()}",
                        )
                    )
            except AnchoringError as exc:
                problems.append(Problem(Check.CHECKPOINT, f"checkpoint {c.size}", str(exc)))
        for a, b in zip(history, history[1:], strict=False):
            try:
                merkle.verify_consistency(
                    a.size,
                    b.size,
                    a.root,
                    b.root,
                    store.consistency_proof(conn, a.size, b.size) if a.size != b.size else [],
                )
            except AnchoringError as exc:
                problems.append(Problem(Check.CONSISTENCY, f"checkpoint {a.size} -> {b.size}", str(exc)))

        def report(check: str, subject: str, detail: str) -> None:
            problems.append(Problem(Check(check), subject, detail))

        sizes = [c.size for c in history]
        done, unfinished = audit_derived.check_anchor_rows(conn, sizes, enabled_types(config), report)
        chain_unavailable = _audit_anchors(config, history, done, problems)
        compared = audit_derived.check_records(conn, report)
        audit_derived.check_search_index(conn, report)
        audit_derived.check_source_orders(conn, report)
        dashboards_rollup.check(conn, lambda subject, detail: report("dashboards", subject, detail))
        flags_unchecked = _check_flags(engine, report, config)
        audit_derived.check_evidence_pdfs(
            conn, sizes, unfinished, lambda c, s: pdfs.render(c, config, s), report
        )
        from portal.tokens.check import audit_tokens

        chain_unavailable = audit_tokens(conn, config, report) or chain_unavailable
    return AuditReport(problems, size, counted[0], len(history), chain_unavailable, compared, flags_unchecked)


def _check_flags(engine: Engine, report, config: Mapping[str, Any]) -> str | None:
    """The red flags' recomputation, which writes inside a transaction it rolls back; on a
    database this process may not write (a read-only file or replica, another process's lock
    held beyond the busy timeout) it cannot run: why, so the report says it, instead of the
    audit failing as a whole or keeping silent."""
    try:
        flags_audit.check(
            engine, lambda subject, detail: report("flags", subject, detail), flags_thresholds(config)
        )
    except OperationalError as error:
        text = str(error.orig) if error.orig is not None else str(error)
        if "readonly" in text or "read-only" in text or "locked" in text:
            return text
        raise
    except InternalError as error:  # PostgreSQL: a read-only transaction (a hot standby)
        if "read-only" in str(error.orig):
            return str(error.orig)
        raise
    return None


def _readable_entries(
    conn: Connection, start: int, end: int, problems: list[Problem]
) -> Iterator[tuple[int, bytes]]:
    """``(index, entry)`` of the log's entries ``[start, end)`` (whole bundles). A bundle that
    cannot be read (missing, renumbered, or holding fewer entries) is a problem; its entries
    are skipped, so the rows that point at them are named too."""
    try:
        yield from enumerate(store.entries(conn, start, end), start)
        return
    except LogError:
        pass  # find which bundle
    for first in range(start, end, BUNDLE):
        try:
            yield from enumerate(store.entries(conn, first, min(end, first + BUNDLE)), first)
        except LogError as exc:
            problems.append(Problem(Check.STORAGE, f"log entry bundle {first // BUNDLE}", f"bundle: {exc}"))


def _quote_hashes(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(ocid, proforma id): sha256 hex}`` of the stored quotes among ``keys``, recomputed from
    their stored JSON: hash 3 is re-derived, not read from the ``data_hash`` column."""
    return {
        key: hashlib.sha256(data).hexdigest()
        for key, data in lookup_pairs(
            conn, (proformas.c.ocid, proformas.c.proforma_id), proformas.c.data, keys
        ).items()
    }


def _chunks(conn: Connection, query, column) -> Iterator[list]:
    """Rows of ``query`` with a non-null ``column``, by ``column``, CHUNK per query."""
    after = None
    while True:
        q = query.where(column.is_not(None))
        if after is not None:
            q = q.where(column > after)
        chunk = list(conn.execute(q.order_by(column).limit(CHUNK)).all())
        if not chunk:
            return
        yield chunk
        after = chunk[-1].leaf_index


def _release_query():
    pdf = and_(order_pdfs.c.ocid == releases.c.ocid, order_pdfs.c.release_id == releases.c.release_id)
    return select(
        releases.c.id,
        releases.c.ocid,
        releases.c.release_id,
        releases.c.data,
        releases.c.data_hash,
        releases.c.leaf_index,
        releases.c.origin,
        releases.c.date,
        releases.c.tags,
        releases.c.valid,
        releases.c.problems,
        releases.c.splice,
        order_pdfs.c.data.label("pdf"),
        order_pdfs.c.sha256.label("pdf_sha256"),
        release_packages.c.release_pk.label("package_pk"),
        *(release_packages.c[name].label(f"package_{name}") for name in record.STATEMENT_COLUMNS),
    ).select_from(
        releases.outerjoin(order_pdfs, pdf).outerjoin(
            release_packages, release_packages.c.release_pk == releases.c.id
        )
    )


def _release_rows(conn: Connection, problems: list[Problem], counted: list[int]) -> Iterator[Row]:
    previous = None
    for chunk in _chunks(conn, _release_query(), releases.c.leaf_index):
        previous = _publication_order(
            problems, [(r.id, f"{r.ocid} release {r.release_id}") for r in chunk], previous
        )
        yield from _derive_releases(conn, chunk, problems, counted)


def _publication_order(
    problems: list[Problem], rows: list[tuple[int, str]], previous: tuple[int, str] | None
) -> tuple[int, str] | None:
    """Rows are stored in the order their entries are logged, so their ids (the API's cursor,
    the order of a process's history) increase with ``leaf_index``; ``rows`` come in
    ``leaf_index`` order. Both rows of a pair out of order are named: either id was changed."""
    for current in rows:
        if previous is not None and current[0] <= previous[0]:
            for (pk, who), other in ((previous, current), (current, previous)):
                problems.append(
                    Problem(
                        Check.COLUMNS,
                        who,
                        f"its id {pk} and the id {other[0]} of {other[1]} are not in the order "
                        "their entries were logged",
                    )
                )
        previous = current
    return previous


def _derive_releases(conn: Connection, chunk, problems: list[Problem], counted: list[int]) -> list[Row]:
    """Each release re-derived: hash 1 from its stored JSON (the ``data_hash`` column is
    checked, not trusted), hash 2 from the order PDF it declares (checked against the stored
    PDF), hash 3 from the stored JSON of the quotes it links (one lookup per chunk)."""
    # Only what the entry needs is kept of each parsed release: a chunk of parsed releases
    # is a million objects, which the garbage collector would walk over and over.
    derived = [_bids_and_document(row.data, row.splice is not None) for row in chunk]
    keys = {(row.ocid, pid) for row, (ids, *_) in zip(chunk, derived, strict=True) for pid in ids}
    stored = _quote_hashes(conn, keys) if keys else {}
    out: list[Row] = []
    for row, (ids, document, columns) in zip(chunk, derived, strict=True):
        counted[0] += 1
        who = f"{row.ocid} release {row.release_id}"
        data_hash = hashlib.sha256(row.data).hexdigest()
        if data_hash != row.data_hash:
            problems.append(
                Problem(
                    Check.DATA_HASH,
                    who,
                    f"stored data_hash {row.data_hash} is not the SHA-256 of the stored release "
                    f"({data_hash})",
                )
            )
        _check_document(problems, who, document if row.origin == "catalogue" else None, row)
        _check_columns(problems, who, columns, row)
        quotes = [(pid, stored[(row.ocid, pid)]) for pid in ids if (row.ocid, pid) in stored]
        entry = record.release_entry(
            row.ocid, row.release_id, data_hash, document, quotes, _package_hash(row)
        )
        out.append((row.leaf_index, merkle.leaf_hash(entry), who))
    return out


def _package_hash(row: Any) -> str | None:
    """The ``packageHash`` re-derived from the release's stored ``release_packages`` row (none
    for the portal's own releases): an edited, deleted or added row changes the entry."""
    if row.package_pk is None:
        return None
    return record.source_hash({name: getattr(row, f"package_{name}") for name in record.STATEMENT_COLUMNS})


def _bids_and_document(
    data: bytes, splice: bool = False
) -> tuple[list[str], str | None, tuple[str, str, bool | None]]:
    """The quotes and the document a release links, and its columns as publishing derives them
    (``splice`` only when asked: the column is set, a walk over the release)."""
    try:
        release = orjson.loads(data)
    except orjson.JSONDecodeError:
        release = None  # not JSON: its data_hash and entry no longer match, which is reported
    if not isinstance(release, dict):
        return [], None, ("", "", False if splice else None)
    # The columns as publishing derives them (portal.publishing.prepared.prepare_release).
    columns = (
        date_column(release.get("date")),
        tags_column(release.get("tag")),
        splice_flag(release, data) if splice else None,
    )
    return record.bid_ids(release), record.document_hash(release), columns


def _check_columns(problems: list[Problem], who: str, columns: tuple[str, str, bool | None], row) -> None:
    """The release's date, tags, validity and splice columns, which pages show beside it, and
    the export trusts (``splice``: the export writes the compiled release of a flagged
    release alone from its bytes and its ``ocid``, ``date`` and ``release_id`` columns, which
    the log entry and the date check cover). A splice column left NULL is not decided: the
    export tests the bytes itself."""
    if row.splice is not None and bool(row.splice) != columns[2]:
        problems.append(
            Problem(
                Check.COLUMNS,
                who,
                f"column splice is {bool(row.splice)}, the release says {columns[2]} "
                "(portal.exports.splice.splice_flag)",
            )
        )
    for name, want in zip(("date", "tags"), columns[:2], strict=True):
        if getattr(row, name) != want:
            problems.append(
                Problem(
                    Check.COLUMNS, who, f"column {name} is {getattr(row, name)!r}, the release says {want!r}"
                )
            )
    if row.valid != (row.problems is None):
        problems.append(
            Problem(
                Check.COLUMNS,
                who,
                f"valid is {row.valid} but its list of schema problems is "
                f"{'empty' if row.problems is None else 'not empty'}",
            )
        )
    elif row.origin == "catalogue" and not row.valid:
        # A catalogue release that does not validate is rejected, never published.
        problems.append(
            Problem(Check.COLUMNS, who, "a catalogue release marked invalid (only valid ones are published)")
        )


def _check_document(problems: list[Problem], who: str, want: str | None, row) -> None:
    """Hash 2: the stored order PDF is the one its release declares (same bytes, same hash)."""
    if row.pdf is None:
        if want:
            problems.append(
                Problem(Check.DOCUMENT_HASH, who, f"the order PDF declared with SHA-256 {want} is missing")
            )
        return
    got = hashlib.sha256(row.pdf).hexdigest()
    if want != got:
        problems.append(
            Problem(
                Check.DOCUMENT_HASH, who, f"the stored order PDF hashes to {got}, the release declares {want}"
            )
        )
    elif row.pdf_sha256 != got:
        problems.append(
            Problem(
                Check.DOCUMENT_HASH,
                who,
                f"the stored order PDF hashes to {got}, its sha256 column says {row.pdf_sha256}",
            )
        )


def _document_orphans(conn: Connection, problems: list[Problem]) -> None:
    """Order PDFs stored for no published release."""
    has_release = exists().where(
        releases.c.ocid == order_pdfs.c.ocid, releases.c.release_id == order_pdfs.c.release_id
    )
    for row in conn.execute(
        select(order_pdfs.c.ocid, order_pdfs.c.release_id, order_pdfs.c.data).where(~has_release)
    ):
        got = hashlib.sha256(row.data).hexdigest()
        problems.append(
            Problem(
                Check.DOCUMENT_HASH,
                f"{row.ocid} release {row.release_id}",
                f"the stored order PDF hashes to {got}, the release declares None",
            )
        )


def _proforma_query():
    return select(
        proformas.c.id,
        proformas.c.ocid,
        proformas.c.proforma_id,
        proformas.c.data,
        proformas.c.data_hash,
        proformas.c.leaf_index,
    )


def _derive_proformas(chunk, problems: list[Problem], counted: list[int]) -> list[Row]:
    """Each proforma re-derived from its stored JSON; its ``data_hash`` column (which releases
    link as hash 3) is checked, not trusted."""
    out: list[Row] = []
    for row in chunk:
        counted[0] += 1
        who = f"{row.ocid} proforma {row.proforma_id}"
        data_hash = hashlib.sha256(row.data).hexdigest()
        if data_hash != row.data_hash:
            problems.append(
                Problem(
                    Check.DATA_HASH,
                    who,
                    f"stored data_hash {row.data_hash} is not the SHA-256 of the stored proforma "
                    f"({data_hash})",
                )
            )
        entry = record.proforma_entry(row.ocid, row.proforma_id, data_hash)
        out.append((row.leaf_index, merkle.leaf_hash(entry), who))
    return out


def _bulk_file_rows(conn: Connection, problems: list[Problem], counted: list[int]) -> Iterator[Row]:
    """Each logged bulk file's row re-derived into its ``bulk`` entry: a changed name, hash,
    size, count or log size, or a deleted row, leaves its entry unclaimed and is named."""
    query = select(
        bulk_files.c.id,
        bulk_files.c.name,
        bulk_files.c.sha256,
        bulk_files.c.size,
        bulk_files.c.releases,
        bulk_files.c.log_size,
        bulk_files.c.leaf_index,
    )
    previous = None
    for chunk in _chunks(conn, query, bulk_files.c.leaf_index):
        previous = _publication_order(problems, [(r.id, f"file {r.name}") for r in chunk], previous)
        for row in chunk:
            counted[0] += 1
            who = f"file {row.name}"
            try:
                entry = encode_entry(
                    files.bulk_entry(row.name, row.sha256, row.size, row.releases, row.log_size)
                )
            except (EntryError, ValueError) as exc:  # a hash that is not hex, a negative size
                problems.append(Problem(Check.COLUMNS, who, f"the row cannot make a log entry: {exc}"))
                entry = b""
            yield (row.leaf_index, merkle.leaf_hash(entry), who)


def _proforma_rows(conn: Connection, problems: list[Problem], counted: list[int]) -> Iterator[Row]:
    previous = None
    for chunk in _chunks(conn, _proforma_query(), proformas.c.leaf_index):
        previous = _publication_order(
            problems, [(r.id, f"{r.ocid} proforma {r.proforma_id}") for r in chunk], previous
        )
        yield from _derive_proformas(chunk, problems, counted)


def _rows_without_index(conn: Connection, problems: list[Problem], counted: list[int]) -> list[Row]:
    """Published rows with no leaf_index (never logged, or the pointer was erased)."""
    out: list[Row] = []
    release_chunk = conn.execute(_release_query().where(releases.c.leaf_index.is_(None))).all()
    for i in range(0, len(release_chunk), CHUNK):
        out += _derive_releases(conn, release_chunk[i : i + CHUNK], problems, counted)
    proforma_chunk = conn.execute(_proforma_query().where(proformas.c.leaf_index.is_(None))).all()
    out += _derive_proformas(proforma_chunk, problems, counted)
    return out


def _audit_anchors(
    config: dict, history, anchors: dict[int, list[dict]], problems: list[Problem]
) -> str | None:
    """Check every done anchor record (``{size: [record with its "type"]}``) against its
    checkpoint, appending to ``problems``; return why the chain could not be opened, if it
    could not (its records are then checked against their checkpoints only)."""
    ca = tsa_ca_pem(config)
    by_size = {c.size: c for c in history}
    backends = Backends(config)
    anchorer, chain_unavailable = None, None
    try:
        for size, items in anchors.items():
            c = by_size.get(size)
            subject = f"checkpoint {size}"
            if c is None:
                problems.append(
                    Problem(Check.ANCHOR, subject, "anchors for a checkpoint that does not exist")
                )
                continue
            for a in items:
                if a["type"] == "evm":
                    if a.get("root") != c.root.hex() or a.get("treeSize") != c.size:
                        problems.append(
                            Problem(
                                Check.ANCHOR, subject, "the EVM anchor record is for another root or size"
                            )
                        )
                        continue
                    if anchorer is None and chain_unavailable is None:
                        try:
                            anchorer = backends.anchorer()
                        except AnchoringError as exc:
                            chain_unavailable = str(exc)
                    if anchorer is None:
                        continue
                    from anchoring.chains.evm import EvmAnchor, verify_anchor

                    try:
                        verify_anchor(  # a record with missing members fails as a KeyError
                            anchorer.w3,
                            EvmAnchor(
                                chain_id=a["chainId"],
                                contract=a["contract"],
                                tx_hash=a["txHash"],
                                block_number=a["blockNumber"],
                                block_time=a["blockTime"],
                                root_hex=a["root"],
                                tree_size=a["treeSize"],
                                sender=a["sender"],
                                explorer_url=a.get("explorerUrl"),
                            ),
                            c.root,
                            c.size,
                            relay_hub=getattr(anchorer, "relay_hub", None),
                        )
                    except (AnchoringError, KeyError, TypeError, ValueError) as exc:
                        problems.append(Problem(Check.ANCHOR, subject, str(exc), "evm"))
                elif a["type"] == "rfc3161" and ca is not None:
                    try:
                        from anchoring.timestamps import verify_timestamp

                        verify_timestamp(base64.b64decode(a["token"]), c.note.encode(), ca)
                    except (AnchoringError, KeyError, TypeError, ValueError) as exc:
                        problems.append(Problem(Check.ANCHOR, subject, str(exc), "rfc3161"))
    finally:
        backends.close()
    return chain_unavailable
