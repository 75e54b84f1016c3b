"""Catalogue orders: the worker step that prepares them and the writer that stores them.

Worker step (:class:`OrderPreparer`, one per worker process): source line → check
(``ocds.catalogue.source``) → map to OCDS (``ocds.catalogue.mapping``) → order PDF listed in
the order release → validate → canonical JSON (RFC 8785) + SHA-256 → browse columns.

Writer (:func:`write_orders`, this process): one transaction per batch, so an order is never
half-written: evidence-log entries, releases, quotes, order PDFs, source-order digests, records.
Releases are never updated: the same order state imported again changes nothing, a new version
of an order is a new release, and a different content under an already published
(order number, version) is rejected.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Dialect, Engine, Table
from sqlalchemy.engine import URL

from anchoring.canonical import canonical_json
from anchoring.log import EvidenceLog
from ocds.catalogue.mapping import map_order
from ocds.catalogue.source import LineReader, check_order
from ocds.summary import browse_columns_of, drawn_facts, read_model_rows_of, row_facts
from ocds.validate import ReleaseValidator
from portal.db import bind_processor, ensure_indexes, insert_driver_params
from portal.documents.publish import attach_order_pdf, catalogue_name, store_order_pdfs
from portal.evidence import log_evidence
from portal.models import proformas, source_orders
from portal.publishing.bulk import bulk_mode, lookup_indexes_deferred
from portal.publishing.pool import WorkerPool, worker_count
from portal.publishing.prepared import (
    PreparedOrder,
    PreparedRelease,
    prepare_proforma,
    prepare_release,
)
from portal.publishing.records import RecordRow, packed_read_model_of, recompile, store_records
from portal.publishing.rejects import Reject, Summary
from portal.publishing.releases import existing_releases, insert_releases, ocids_with_releases
from portal.publishing.wire import orders_from_wire, orders_to_wire
from portal.queries import lookup_pairs
from portal.search import index_records
from portal.search.documents import document_of
from portal.settings import default

#: Agreement states one worker keeps prepared. A catalogue's thousands of orders repeat a
#: handful of agreement states (26 in 20,000 generated orders), each about 27 KB of canonical
#: JSON: 256 keeps every state of a real import at about 7 MB per worker.
AGREEMENT_STATES_KEPT = 256

#: How much larger a bulk load's batches are: fewer, larger transactions while the lookup
#: indexes are down.
BULK_BATCH_FACTOR = 4


@dataclass(frozen=True)
class PreparedBatch:
    """What the worker step makes of a batch of lines: each line is an order or rejects."""

    orders: tuple[PreparedOrder, ...]
    rejects: tuple[Reject, ...]
    lines: int

    def __reduce__(self) -> tuple:
        # Sent from a worker to the writer as tuples: see portal.publishing.wire.
        return (_batch_from_wire, (orders_to_wire(self.orders), self.rejects, self.lines))


def _batch_from_wire(orders: tuple, rejects: tuple[Reject, ...], lines: int) -> PreparedBatch:
    return PreparedBatch(orders_from_wire(orders), rejects, lines)


class AgreementStates:
    """The agreement releases one worker has prepared, by (ocid, release id), the least
    recently used dropped first beyond ``capacity``.

    An agreement's release id carries the digest of its content, and an agreement is repeated
    in every one of its orders: validating and canonicalising each state once per worker
    instead of once per order keeps it out of the worker's time.
    """

    def __init__(self, capacity: int = AGREEMENT_STATES_KEPT) -> None:
        self.capacity = capacity
        self._states: OrderedDict[tuple[str, str], PreparedRelease] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: tuple[str, str]) -> PreparedRelease | None:
        """The prepared state ``key`` (now the most recently used), or None."""
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    def add(self, key: tuple[str, str], state: PreparedRelease) -> None:
        """Keep ``state``, dropping the least recently used beyond the capacity."""
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)


# What an order's agreement block is swapped for while its digest is written: a string no
# source order holds in practice; if one does, the digest is written whole (see order_digest).
_STAND_IN = "\x00veraz: the agreement block\x00"
_STAND_IN_JSON = canonical_json(_STAND_IN)


# How the canonical JSON of an order whose first member is its agreement begins.
_HEAD = b'{"agreement":'
_HEAD_STAND_IN = _HEAD + _STAND_IN_JSON


def agreement_head(agreement_json: bytes) -> Any:
    """SHA-256 of ``{"agreement":`` and ``agreement_json`` so far, for :func:`order_digest`."""
    return hashlib.sha256(_HEAD + agreement_json)


def order_digest(order: dict, agreement_json: bytes | None = None, head: Any = None) -> str:
    """SHA-256 (hex) of ``canonical_json(order)``: the digest that tells a re-imported order
    state from a changed one.

    ``agreement_json``, if given, must be ``canonical_json(order["agreement"])``: the block is
    about two thirds of a line and the same in every order of an agreement, so a worker writes
    it once per agreement and splices it in. RFC 8785 writes an object as its members sorted by
    name, each value written on its own, whatever surrounds it, so the canonical JSON of the
    order is that of the order with its agreement swapped for a stand-in string, the stand-in's
    token replaced by the block's bytes. In canonical JSON a quote inside a string is escaped
    and a closing quote is never followed by a backslash, so the stand-in's bytes occur only as
    a whole string token equal to it (a name or a value): when they occur exactly once, that is
    the agreement's value. Otherwise (the order holds the stand-in text itself) the order is
    written whole. Tested against the whole writing on generated and arbitrary orders.

    ``head``, if given, must be ``agreement_head(agreement_json)``: when the agreement is the
    order's first member (no member name sorts before "agreement" in a catalogue order), the
    spliced bytes are ``{"agreement":``, the block, then the rest of the stand-in writing, so
    the digest goes on from a copy of ``head`` with that rest: the block is hashed once per
    agreement instead of once per order."""
    if agreement_json is not None and "agreement" in order:
        outer = canonical_json({**order, "agreement": _STAND_IN})
        if outer.count(_STAND_IN_JSON) == 1:
            if head is not None and outer.startswith(_HEAD_STAND_IN):
                digest = head.copy()
                digest.update(memoryview(outer)[len(_HEAD_STAND_IN) :])
                return digest.hexdigest()
            return hashlib.sha256(outer.replace(_STAND_IN_JSON, agreement_json)).hexdigest()
    return hashlib.sha256(canonical_json(order)).hexdigest()


class OrderPreparer:
    """The worker step, with what a worker keeps between batches (made once per process).

    ``base_url`` (the public BASE_URL) gives each order release its order PDF, rendered and
    listed before validation, so that hash 1 covers the PDF's hash (hash 2). ``file`` names
    the input in rejects. ``dialect`` names the writer's database dialect (``"sqlite"``,
    ``"postgresql+psycopg"``): the read model's rows are then sent as that driver's parameter
    tuples (:class:`~portal.publishing.records.PackedRows`); without it, as dicts.
    """

    def __init__(
        self,
        ocid_prefix: str,
        base_url: str | None = None,
        file: str = "",
        agreement_capacity: int = AGREEMENT_STATES_KEPT,
        dialect: str | None = None,
    ) -> None:
        self.ocid_prefix = ocid_prefix
        self.base_url = base_url
        self.file = file
        self.validator = ReleaseValidator()
        self.lines = LineReader(agreement_capacity)
        self.agreements = AgreementStates(agreement_capacity)
        # Canonical JSON of the agreement blocks met and its agreement_head, by agreement_key
        # (for order_digest).
        self._agreement_json: OrderedDict[bytes, tuple[bytes, Any]] = OrderedDict()
        self._agreement_json_capacity = agreement_capacity
        # A dialect of the writer's kind, for its bind processors (made here: dialects are
        # not sent between processes).
        self.dialect: Dialect | None = URL.create(dialect).get_dialect()() if dialect else None

    def prepare(self, lines: Sequence[tuple[int, bytes]]) -> PreparedBatch:
        """Check, map, validate and canonicalise ``(line number, raw line)`` pairs."""
        orders: list[PreparedOrder] = []
        rejects: list[Reject] = []
        for number, raw in lines:
            prepared = self._prepare_line(number, raw)
            if isinstance(prepared, PreparedOrder):
                orders.append(prepared)
            else:
                rejects.extend(prepared)
        self.lines.check_unchanged()  # the orders shared their agreement dicts, read only
        return PreparedBatch(tuple(orders), tuple(rejects), len(lines))

    def _agreement_canonical(self, order: dict, key: bytes | None) -> tuple[bytes | None, Any]:
        """``canonical_json(order["agreement"])`` and its ``agreement_head``, kept by ``key``
        (None: not kept, and no head)."""
        if key is None:
            return None, None
        found = self._agreement_json.get(key)
        if found is None:
            # orjson writes NaN and infinities as null: a key with a null may stand for two
            # blocks, so it is never kept (and a kept key, found above, holds no null).
            if b"null" in key:
                return None, None
            block = canonical_json(order["agreement"])
            found = self._agreement_json[key] = (block, agreement_head(block))
            if len(self._agreement_json) > self._agreement_json_capacity:
                self._agreement_json.popitem(last=False)
        return found

    def _reject(self, number: int, record: str, field: str, reason: str) -> Reject:
        return Reject(self.file, str(number), record, field, reason)

    def _prepare_line(self, number: int, raw: bytes) -> PreparedOrder | list[Reject]:
        try:
            # The agreement block parsed once per agreement, and its bytes (agreement_key), the
            # key of both caches below, read off the line instead of serialised again.
            order, key = self.lines.read(raw)
        except orjson.JSONDecodeError as error:
            return [self._reject(number, "", "", f"Line is not valid JSON: {error}.")]
        record = str(order.get("orderNumber", "")) if isinstance(order, dict) else ""
        problems = check_order(order, agreement_key=key)
        if problems:
            return [self._reject(number, record, p.field, p.reason) for p in problems]
        mapped = map_order(order, ocid_prefix=self.ocid_prefix, agreement_key=key)
        quotes = tuple(prepare_proforma(p) for p in mapped.proformas)
        pdf = pdf_sha256 = None
        # A single release compiles to itself (new id and tag, nothing else that these columns
        # read), so the worker takes the record's browse columns from the release. With a PDF,
        # from the facts the PDF was drawn from: read before the PDF is listed, and the columns
        # read no documents.
        # The read-model rows and the search document come from the same facts: the writer,
        # the one serial step, then stores them without reading the order again. Without a PDF,
        # only what those rows read (deliveries, quotes and documents are the PDF's); with one,
        # no documents either (the PDF shows none).
        # A later version of an order: its process already has a release (stored, or earlier in
        # this import), so the writer compiles the record from them all and derives its columns,
        # rows and document from that; those of this release alone would be thrown away.
        alone = int(order["version"]) <= 1
        facts = (
            drawn_facts(mapped.order_release)
            if self.base_url is not None
            else row_facts(mapped.order_release)
            if alone
            else None
        )
        if self.base_url is not None:
            pdf, pdf_sha256 = attach_order_pdf(
                mapped.order_release,
                mapped.proformas,
                base_url=self.base_url,
                catalogue=catalogue_name(mapped.agreement_release),
                facts=facts,
                digests=[bytes.fromhex(q.data_hash) for q in quotes],
            )
        columns = browse_columns_of(facts) if alone and facts is not None else None
        state_key = (mapped.agreement_release["ocid"], str(mapped.agreement_release["id"]))
        agreement = self.agreements.get(state_key)
        todo = [mapped.order_release] + ([] if agreement else [mapped.agreement_release])
        invalid = [
            self._reject(
                number,
                record,
                f"(OCDS {release['ocid']}) {p.field}",
                f"the mapped release does not validate: {p.reason}",
            )
            for release in todo
            for p in self.validator.problems(release)
        ]
        if invalid:
            return invalid
        if agreement is None:
            agreement = prepare_release(mapped.agreement_release)
            self.agreements.add(state_key, agreement)
        return PreparedOrder(
            line=number,
            order_number=str(order["orderNumber"]),
            version=int(order["version"]),
            digest=order_digest(order, *self._agreement_canonical(order, key)),
            order=prepare_release(mapped.order_release, catalogue=True),
            agreement=agreement,
            proformas=quotes,
            summary_alone=columns,
            read_model_alone=(
                None
                if columns is None or facts is None
                else read_model_rows_of(facts)
                if self.dialect is None
                else packed_read_model_of(facts, self.dialect)
            ),
            search_alone=(
                None if columns is None or facts is None else document_of(mapped.order_release["ocid"], facts)
            ),
            pdf=pdf,
            pdf_sha256=pdf_sha256,
        )


def prepare_orders(
    lines: Sequence[tuple[int, bytes]], ocid_prefix: str, base_url: str | None = None, *, file: str = ""
) -> PreparedBatch:
    """The worker step on one batch, with a fresh :class:`OrderPreparer`."""
    return OrderPreparer(ocid_prefix, base_url, file).prepare(lines)


def write_orders(
    engine: Engine | Connection, batch: Sequence[PreparedOrder], file: str, summary: Summary
) -> None:
    """Store one batch of prepared orders in one transaction: its own, or the caller's when
    given a Connection (the intake API then commits the whole request or nothing)."""
    if not batch:
        return
    with engine.begin() if isinstance(engine, Engine) else nullcontext(engine) as conn:
        # The log's lock before the lookups: another import's commit is then wholly visible to
        # them or wholly after this transaction, so two imports never both find a shared
        # agreement state absent and both store (and log) it.
        EvidenceLog().lock(conn)
        known = lookup_pairs(
            conn,
            (source_orders.c.order_number, source_orders.c.version),
            source_orders.c.digest,
            [(p.order_number, p.version) for p in batch],
        )
        release_keys = {(p.agreement.ocid, p.agreement.release_id) for p in batch}
        release_keys |= {(p.order.ocid, p.order.release_id) for p in batch}
        existing = existing_releases(conn, release_keys)
        known_proformas: dict[tuple[str, str], str] = lookup_pairs(
            conn,
            (proformas.c.ocid, proformas.c.proforma_id),
            proformas.c.data_hash,
            {(p.order.ocid, q.proforma_id) for p in batch for q in p.proformas},
        )

        accepted: list[PreparedOrder] = []
        new_releases: list[PreparedRelease] = []
        new_proformas: list[dict] = []
        for p in batch:
            key = (p.order_number, p.version)
            if key in known:
                if known[key] == p.digest:
                    summary.unchanged += 1
                else:
                    summary.rejects.append(
                        Reject(
                            file,
                            str(p.line),
                            p.order_number,
                            "version",
                            f"order {p.order_number} version {p.version} was already published with "
                            "different content; a change must come as a new version",
                        )
                    )
                continue
            conflict = None
            for q in p.proformas:
                if known_proformas.get((p.order.ocid, q.proforma_id), q.data_hash) != q.data_hash:
                    conflict = q
                    break
            if conflict:
                summary.rejects.append(
                    Reject(
                        file,
                        str(p.line),
                        p.order_number,
                        "proformas",
                        f"proforma {conflict.proforma_id} was already received with different "
                        "content; quotes are immutable once received",
                    )
                )
                continue
            known[key] = p.digest
            accepted.append(p)
            for release in (p.agreement, p.order):
                rkey = (release.ocid, release.release_id)
                if rkey in existing:
                    continue  # the same agreement state, already published
                existing[rkey] = release.data_hash
                new_releases.append(release)
            for q in p.proformas:
                if (p.order.ocid, q.proforma_id) not in known_proformas:
                    known_proformas[(p.order.ocid, q.proforma_id)] = q.data_hash
                    new_proformas.append(
                        {
                            "ocid": p.order.ocid,
                            "proforma_id": q.proforma_id,
                            "data": q.data,
                            "data_hash": q.data_hash,
                        }
                    )
        if not accepted:
            return
        touched = {r.ocid for r in new_releases}
        had_before = ocids_with_releases(conn, touched)
        # Logged in this same transaction, then each row is stored with the index of its
        # entry. ``known_proformas`` holds every quote the releases can link: those stored
        # before and those of this batch.
        proforma_leaves, release_leaves = log_evidence(
            conn, new_releases, new_proformas, quotes=known_proformas
        )
        ids = insert_releases(conn, new_releases, "catalogue", release_leaves)
        pk_of = {(r.ocid, r.release_id): pk for r, pk in zip(new_releases, ids, strict=True)}
        now = datetime.now(UTC)  # the time of this batch's transaction, for every row it stores
        _insert_rows(
            conn,
            proformas,
            ("ocid", "proforma_id", "data", "data_hash", "leaf_index"),
            [
                (q["ocid"], q["proforma_id"], q["data"], q["data_hash"], leaf)
                for q, leaf in zip(new_proformas, proforma_leaves, strict=True)
            ],
            {"received_at": now},
        )
        store_order_pdfs(
            conn,
            [
                (p.order, p.pdf, p.pdf_sha256)
                for p in accepted
                if p.pdf is not None and (p.order.ocid, p.order.release_id) in pk_of
            ],
        )
        _insert_rows(
            conn,
            source_orders,
            ("order_number", "version", "digest", "ocid", "release_pk"),
            [
                (
                    p.order_number,
                    p.version,
                    p.digest,
                    p.order.ocid,
                    pk_of.get((p.order.ocid, p.order.release_id)) or 0,
                )
                for p in accepted
            ],
            {"imported_at": now},
        )
        # Records: an ocid seen for the first time with one release uses the worker's columns.
        per_ocid: dict[str, list[PreparedRelease]] = {}
        for r in new_releases:
            per_ocid.setdefault(r.ocid, []).append(r)
        alone = {p.order.ocid: p for p in accepted}
        rows: dict[str, RecordRow] = {}
        slow = []
        for ocid, rels in per_ocid.items():
            only = alone.get(ocid)
            # a later version of an order brings no columns of its own (see OrderPreparer)
            if ocid not in had_before and len(rels) == 1 and only and only.summary_alone is not None:
                rows[ocid] = RecordRow(
                    None,
                    only.summary_alone,
                    1,
                    pk_of[(ocid, rels[0].release_id)],
                    only.read_model_alone,
                    only.search_alone,
                )
            else:
                slow.append(ocid)
        rows.update(recompile(conn, slow))
        # ocids without a release before this transaction have nothing derived to replace
        new = touched - had_before
        store_records(conn, rows, new=new)
        # the search box's documents, in the same transaction
        index_records(conn, rows, {o: r.search for o, r in rows.items() if r.search is not None}, new=new)
        summary.new_orders += len(accepted)
        summary.published_releases += len(new_releases)
        summary.records_updated += len(rows)


def _insert_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple], constants: dict[str, Any]
) -> None:
    """Insert ``rows`` (tuples of the values of ``columns``), each completed with ``constants``
    (the same value in every row), in one driver-level executemany.

    What :func:`portal.db.bulk_insert` sends for the same rows as dicts: every value through its
    column's bind processor, but a constant (the batch's time) processed once instead of once a
    row, and no dict built per row (quotes and source orders: thousands of rows a batch)."""
    if not rows:
        return
    dialect = conn.dialect
    fixed = []
    for name, value in constants.items():
        processor = bind_processor(table.c[name], dialect)
        fixed.append(value if processor is None else processor(value))
    constant_values = tuple(fixed)
    convert = [
        (i, processor)
        for i, name in enumerate(columns)
        if (processor := bind_processor(table.c[name], dialect)) is not None
    ]
    params: list[tuple] = []
    for row in rows:
        if convert:
            values = list(row)
            for i, processor in convert:
                values[i] = processor(values[i])
            row = tuple(values)
        params.append(row + constant_values)
    insert_driver_params(conn, table, (*columns, *constants), params)


def _batches(
    path: Path,
    size: int,
    progress: Callable[[int], None] | None,
    tail: tuple[int, int] | None = None,
) -> Iterator[list[tuple[int, bytes]]]:
    """``(line number, raw line)`` pairs of the non-blank lines of ``path``, ``size`` at a time;
    with ``tail`` = ``(lines, smaller)``, ``smaller`` at a time once about ``lines`` lines are
    left (estimated from the bytes left and the mean length of the lines read so far)."""
    batch: list[tuple[int, bytes]] = []
    left = path.stat().st_size if tail else 0
    read = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if progress:
                progress(len(raw))
            read += len(raw)
            if not raw.strip():
                continue
            batch.append((number, raw))
            if len(batch) >= size:
                yield batch
                batch = []
                if tail and (left - read) * number < tail[0] * read:  # lines left < tail[0]
                    size, tail = min(size, tail[1]), None
    if batch:
        yield batch


#: The youngest generation's threshold while an import writes (Python's default is 700).
YOUNG_COLLECTION_THRESHOLD = 500_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often for the ``with`` block (in this process, and
    in workers forked meanwhile, which inherit the setting).

    Each batch arrives as a few hundred thousand objects (unpickled prepared orders) that stay
    alive until it is written, so with the default threshold the collector ran hundreds of
    times a batch, each time tracing them again, and promoted them into older generations that
    it then traced too: measured a quarter of the writer's CPU. The batches make few reference
    cycles; the collector still runs, once 500,000 more objects are alive than at its last run
    instead of 700. At 50,000 it still ran about four times a bulk batch while the batch was
    being unpickled: 0.70-0.72 s of the writer's CPU for 50,000 orders, against 0.06-0.08 s
    at 500,000, with the same peak memory (the batches' objects are freed as each is written,
    which brings the count down again)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_THRESHOLD), middle, old)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def import_orders(
    engine: Engine,
    path: str | os.PathLike,
    *,
    ocid_prefix: str,
    batch_size: int = default("IMPORT_BATCH_SIZE"),
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    base_url: str | None = None,
    bulk: bool | None = None,
    bulk_min_orders: int = default("BULK_MIN_ORDERS"),
    on_indexes: Callable[[str], None] | None = None,
) -> Summary:
    """Publish every valid order of a source-order JSON Lines file; report the rest.

    ``workers`` processes prepare the orders (0: one per core; 1: this process), over a
    bounded window of batches; this process writes them, one transaction per batch.
    ``base_url`` (BASE_URL) makes each order release list its order PDF.

    ``bulk`` (default: :func:`~portal.publishing.bulk.bulk_mode` with ``bulk_min_orders``
    decides) loads a large file the way databases are bulk-loaded: the secondary lookup
    indexes (:func:`portal.db.deferrable_indexes`) are dropped first and rebuilt at the end,
    and batches are BULK_BATCH_FACTOR times larger. Every order is still stored and logged in
    its own batch's transaction, and unique constraints stay; pages that look rows up by hash
    or browse column are slow until the rebuild ends. ``on_indexes`` is told when that
    happens ("dropped", "rebuilt").
    """
    started = time.perf_counter()
    path = Path(path)
    summary = Summary()
    ensure_indexes(engine)  # an earlier bulk load may have been killed before its rebuild
    if bulk is None:
        bulk = bulk_mode(engine, path, bulk_min_orders)
    if bulk:
        batch_size *= BULK_BATCH_FACTOR
    file = str(path)
    dialect = f"{engine.dialect.name}+{engine.dialect.driver}"
    preparer = functools.partial(OrderPreparer, ocid_prefix, base_url, file, dialect=dialect)
    with (
        lookup_indexes_deferred(engine, on_indexes) if bulk else nullcontext(),
        WorkerPool(preparer, worker_count(workers)) as pool,
        _fewer_collections(),
    ):
        # The last batches of a bulk load at the usual size: the writer writes the last one
        # while the workers have nothing left to do, and a bulk batch took it 0.5 s alone.
        tail = (2 * worker_count(workers) * batch_size, batch_size // BULK_BATCH_FACTOR) if bulk else None
        batches = _batches(path, batch_size, progress, tail)
        for prepared in pool.map(OrderPreparer.prepare, batches):
            summary.read += prepared.lines
            summary.rejects.extend(prepared.rejects)
            write_orders(engine, prepared.orders, file, summary)
    summary.bulk = bulk
    summary.seconds = time.perf_counter() - started
    return summary
