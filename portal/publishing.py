"""The publishing pipeline: source orders or existing OCDS in, immutable releases and records out.

For catalogue orders: parse and check each line, map it to OCDS, validate every release against
the patched 1.1.5 schema, canonicalise it (RFC 8785) and hash it, then store the batch in ONE
transaction (releases, proformas, source-order digests, records), so an order is never
half-written. The CPU-heavy part runs in worker processes over a bounded window of batches, so
memory does not grow with the input; one writer (this process) owns the database.

Releases are never updated: the same order state imported again changes nothing, a new version
of an order is a new release, and a different content under an already published
(order number, version) is rejected.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, select

from anchoring.canonical import canonical_json
from ocds.catalogue.mapping import map_order
from ocds.catalogue.source import check_order
from ocds.compile import compile_release
from ocds.errors import Problem
from ocds.ingest import iter_ocds
from ocds.validate import ReleaseValidator
from portal.db import bulk_insert
from portal.documents.publish import attach_order_pdf, catalogue_name, store_order_pdfs  # issue 4
from portal.evidence import log_evidence
from portal.evidence.record import release_evidence  # issue 3: the evidence log
from portal.models import proformas, records, releases, source_orders
from portal.queries import lookup_pairs


@dataclass(frozen=True)
class Reject:
    """A record that was not published, and why."""

    file: str
    line: str  # "12" for JSON Lines, or a location such as "releases[3]"
    record: str  # order number, or ocid/release id, or "" when unknown
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        who = f" {self.record}" if self.record else ""
        what = f" {self.field}:" if self.field else ""
        return f"{where}{who}:{what} {self.reason}"


@dataclass
class Summary:
    """What an import did; printed at the end of every import command."""

    read: int = 0
    published_releases: int = 0
    new_orders: int = 0
    unchanged: int = 0
    invalid_kept: int = 0
    records_updated: int = 0
    rejects: list[Reject] = field(default_factory=list)
    # Imported releases kept as published although they do not validate, with each problem.
    invalid: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    bulk: bool = False  # loaded in bulk mode (lookup indexes rebuilt at the end)

    @property
    def rejected(self) -> int:
        return len(self.rejects)


@dataclass(frozen=True)
class PreparedRelease:
    ocid: str
    release_id: str
    date: str
    tags: str
    data: bytes  # canonical JSON
    data_hash: str
    valid: bool = True
    problems: str | None = None
    # (bid ids, hash 2) for the evidence log entry, computed by the worker (None: derive later)
    evidence: tuple[list[str], str | None] | None = None


@dataclass(frozen=True)
class PreparedOrder:
    line: int
    order_number: str
    version: int
    digest: str
    order: PreparedRelease
    agreement: PreparedRelease
    proformas: tuple[tuple[str, bytes, str], ...]  # (proforma id, canonical JSON, sha256)
    summary_alone: dict  # the record's browse columns if this is the ocid's only release
    pdf: bytes | None = None  # issue 4: the order PDF listed in the release (hash 2)


def _now() -> datetime:
    return datetime.now(UTC)


def _prepare_release(release: dict, problems: list[Problem] | None = None) -> PreparedRelease:
    data = canonical_json(release)
    return PreparedRelease(
        ocid=release["ocid"],
        release_id=str(release["id"]),
        date=str(release.get("date", "")),
        tags=",".join(release.get("tag") or []),
        data=data,
        data_hash=hashlib.sha256(data).hexdigest(),
        valid=not problems,
        problems=orjson.dumps([[p.field, p.reason] for p in problems]).decode() if problems else None,
        evidence=release_evidence(release),
    )


_validator: ReleaseValidator | None = None
_agreement_cache: dict[tuple[str, str], PreparedRelease] = {}


def _release_validator() -> ReleaseValidator:
    global _validator
    if _validator is None:
        _validator = ReleaseValidator()
    return _validator


def prepare_orders(lines: list[tuple[int, bytes]], ocid_prefix: str,
                   base_url: str | None = None) -> list[PreparedOrder | tuple]:
    """Worker step: check, map, validate, canonicalise. Returns prepared orders or rejects
    as ``(line, record, field, reason)`` tuples (plain values, cheap to send between processes).

    With ``base_url`` (the public BASE_URL), each order release gets its order PDF (issue 4),
    rendered and listed before validation, so hash 1 covers the PDF's hash."""
    out: list[PreparedOrder | tuple] = []
    validator = _release_validator()
    for number, raw in lines:
        try:
            order = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            out.append((number, "", "", f"Line is not valid JSON: {error}."))
            continue
        record = str(order.get("orderNumber", "")) if isinstance(order, dict) else ""
        problems = check_order(order)
        if problems:
            out.extend((number, record, p.field, p.reason) for p in problems)
            continue
        mapped = map_order(order, ocid_prefix=ocid_prefix)
        pdf = None
        if base_url is not None:  # issue 4 hook: the order PDF (portal/documents/publish.py)
            pdf, _ = attach_order_pdf(mapped.order_release, mapped.proformas, base_url=base_url,
                                      catalogue=catalogue_name(mapped.agreement_release))
        # An agreement's release id carries the digest of its content, and an agreement is
        # repeated in every one of its orders: validate and canonicalise each state once.
        agreement_key = (mapped.agreement_release["ocid"], mapped.agreement_release["id"])
        agreement = _agreement_cache.get(agreement_key)
        todo = [mapped.order_release] + ([] if agreement else [mapped.agreement_release])
        bad = False
        for release in todo:
            for p in validator.problems(release):
                bad = True
                out.append((number, record, f"(OCDS {release['ocid']}) {p.field}",
                            f"the mapped release does not validate: {p.reason}"))
        if bad:
            continue
        if agreement is None:
            agreement = _prepare_release(mapped.agreement_release)
            if len(_agreement_cache) > 10_000:
                _agreement_cache.clear()
            _agreement_cache[agreement_key] = agreement
        proforma_rows = []
        for proforma in mapped.proformas:
            data = canonical_json(proforma)
            proforma_rows.append((str(proforma["id"]), data, hashlib.sha256(data).hexdigest()))
        out.append(PreparedOrder(
            line=number,
            order_number=str(order["orderNumber"]),
            version=int(order["version"]),
            digest=hashlib.sha256(canonical_json(order)).hexdigest(),
            order=_prepare_release(mapped.order_release),
            agreement=agreement,
            proformas=tuple(proforma_rows),
            # A single release compiles to itself (new id and tag, nothing else that these
            # columns read), so the worker takes the browse columns from the release.
            summary_alone=record_summary(mapped.order_release),
            pdf=pdf,
        ))
    return out


# --- records -------------------------------------------------------------------------------


def _obj(value: Any) -> dict:
    """``value`` if it is a JSON object, else an empty one (imported data can be malformed)."""
    return value if isinstance(value, dict) else {}


def _objs(value: Any) -> list[dict]:
    """The JSON objects of ``value`` if it is an array (imported data can be malformed)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    return str(value)[:limit]


def _money(value: Any) -> tuple[Decimal | None, str | None]:
    value = _obj(value)
    currency = _text(value.get("currency"), 3)
    amount = value.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None, currency
    try:
        number = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (ArithmeticError, ValueError):
        return None, currency
    return (number if abs(number) < Decimal(10) ** 17 else None), currency


def record_summary(compiled: dict) -> dict:
    """The browse/dashboard columns of ``records``, from a compiled release.

    Defensive throughout: imported OCDS is kept as published, however malformed."""
    tender = _obj(compiled.get("tender"))
    contract = (_objs(compiled.get("contracts")) or [{}])[0]
    award = (_objs(compiled.get("awards")) or [{}])[0]
    framework = next((p for p in _objs(compiled.get("relatedProcesses"))
                      if "framework" in (p.get("relationship") or [])), None)
    techniques = _obj(tender.get("techniques"))
    kind = "order" if framework else "agreement" if techniques.get("hasFrameworkAgreement") is True \
        else "other"
    parties = _objs(compiled.get("parties"))
    buyer = next((p for p in parties if "buyer" in (p.get("roles") or [])), None) \
        or _obj(compiled.get("buyer"))
    supplier = next((p for p in parties if "supplier" in (p.get("roles") or [])), None)
    if supplier is None:
        supplier = (_objs(contract.get("suppliers")) or _objs(award.get("suppliers")) or [{}])[0]
    address = _obj(buyer.get("address"))
    amount, currency = _money(contract.get("value") or award.get("value") or tender.get("value"))
    items = _objs(contract.get("items")) or _objs(award.get("items")) or _objs(tender.get("items"))
    classification = _obj(items[0].get("classification")).get("id") if items else None
    order_number = (contract.get("id") or tender.get("id")) if kind == "order" else None
    date = contract.get("dateSigned") or award.get("date") \
        or _obj(tender.get("tenderPeriod")).get("startDate") or compiled.get("date")
    return {
        "kind": kind,
        "order_number": _text(order_number, 64),
        "title": _text(contract.get("title") or award.get("title") or tender.get("title"), 10_000),
        "status": _text(contract.get("status") or award.get("status") or tender.get("status"), 32),
        "category": _text(tender.get("mainProcurementCategory"), 32),
        "classification": _text(classification, 32),
        "buyer_id": _text(buyer.get("id"), 255),
        "buyer_name": _text(buyer.get("name"), 10_000),
        "region": _text(address.get("region"), 64),
        "supplier_id": _text(supplier.get("id"), 255),
        "supplier_name": _text(supplier.get("name"), 10_000),
        "agreement_ocid": _text(framework.get("identifier"), 255) if framework else None,
        "amount": amount,
        "currency": currency,
        "date": _text(date, 40),
    }


def _store_records(conn: Connection,
                   compiled_by_ocid: dict[str, tuple[bytes | None, dict, int, int]]) -> None:
    """Replace the derived ``records`` rows of the given ocids (records are not evidence).

    ``compiled_by_ocid`` maps an ocid to (compiled release JSON or None for a one-release
    record, its record_summary, number of releases, last release pk)."""
    if not compiled_by_ocid:
        return
    ocids = list(compiled_by_ocid)
    for i in range(0, len(ocids), 500):
        conn.execute(delete(records).where(records.c.ocid.in_(ocids[i:i + 500])))
    now = _now()
    rows = []
    for ocid, (data, summary, count, last) in compiled_by_ocid.items():
        rows.append({"ocid": ocid, "compiled": data, "release_count": count, "last_release": last,
                     "updated_at": now, **summary})
    bulk_insert(conn, records, rows)


def recompile(conn: Connection, ocids: Iterable[str]) -> dict[str, tuple[bytes, dict, int, int]]:
    """Compile the records of ``ocids`` from every stored release (oldest first).

    The releases of up to 500 ocids are read in one query (the writer recompiles hundreds
    of ocids per batch: one query each was a visible share of its time).
    """
    out = {}
    wanted = list(dict.fromkeys(ocids))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        rows = conn.execute(select(releases.c.ocid, releases.c.id, releases.c.data)
                            .where(releases.c.ocid.in_(chunk))
                            .order_by(releases.c.ocid, releases.c.date, releases.c.id)).all()
        by_ocid: dict[str, list] = {}
        for row in rows:
            by_ocid.setdefault(row.ocid, []).append(row)
        for ocid in chunk:
            group = by_ocid.get(ocid)
            if not group:
                continue
            compiled = compile_release([orjson.loads(r.data) for r in group])
            out[ocid] = (orjson.dumps(compiled), record_summary(compiled), len(group),
                         max(r.id for r in group))
    return out


# --- the writer ----------------------------------------------------------------------------


def _insert_releases(conn: Connection, rows: list[PreparedRelease], origin: str,
                     leaf_indices: list[int]) -> list[int]:
    """Insert ``rows``; return their primary keys, in the order of ``rows``.

    RETURNING without ``sort_by_parameter_order``: with it, SQLAlchemy inserts into SQLite one
    row per statement (it cannot prove the order of a multi-row RETURNING), which was a
    sixth of the writer's time; the keys are matched to the rows by (ocid, release id).
    """
    if not rows:
        return []
    now = _now()
    result = conn.execute(
        insert(releases).returning(releases.c.id, releases.c.ocid, releases.c.release_id),
        [{"ocid": r.ocid, "release_id": r.release_id, "date": r.date, "tags": r.tags,
          "data": r.data, "data_hash": r.data_hash, "origin": origin, "valid": r.valid,
          "problems": r.problems, "published_at": now, "leaf_index": leaf}
         for r, leaf in zip(rows, leaf_indices, strict=True)],
    )
    pk = {(ocid, release_id): id_ for id_, ocid, release_id in result}
    return [pk[(r.ocid, r.release_id)] for r in rows]


def _existing_releases(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    return lookup_pairs(conn, (releases.c.ocid, releases.c.release_id), releases.c.data_hash, keys)


def _ocids_with_releases(conn: Connection, ocids: set[str]) -> set[str]:
    found: set[str] = set()
    ocid_list = list(ocids)
    for i in range(0, len(ocid_list), 500):
        found.update(conn.execute(select(releases.c.ocid).distinct()
                                  .where(releases.c.ocid.in_(ocid_list[i:i + 500]))).scalars())
    return found


def write_orders(engine: Engine, batch: list[PreparedOrder], file: str, summary: Summary) -> None:
    """Store one batch of prepared orders in one transaction."""
    if not batch:
        return
    with engine.begin() as conn:
        known = lookup_pairs(conn, (source_orders.c.order_number, source_orders.c.version),
                             source_orders.c.digest, [(p.order_number, p.version) for p in batch])
        release_keys = {(p.agreement.ocid, p.agreement.release_id) for p in batch}
        release_keys |= {(p.order.ocid, p.order.release_id) for p in batch}
        existing = _existing_releases(conn, release_keys)
        known_proformas: dict[tuple[str, str], str] = lookup_pairs(
            conn, (proformas.c.ocid, proformas.c.proforma_id), proformas.c.data_hash,
            {(p.order.ocid, pid) for p in batch for pid, _, _ in p.proformas})

        accepted: list[PreparedOrder] = []
        new_releases: list[PreparedRelease] = []
        new_proformas: list[dict] = []
        for p in batch:
            key = (p.order_number, p.version)
            if key in known:
                if known[key] == p.digest:
                    summary.unchanged += 1
                else:
                    summary.rejects.append(Reject(
                        file, str(p.line), p.order_number, "version",
                        f"order {p.order_number} version {p.version} was already published with "
                        "different content; a change must come as a new version"))
                continue
            conflict = next(((pid, h) for pid, _, h in p.proformas
                             if known_proformas.get((p.order.ocid, pid), h) != h), None)
            if conflict:
                summary.rejects.append(Reject(
                    file, str(p.line), p.order_number, "proformas",
                    f"proforma {conflict[0]} was already received with different content; "
                    "quotes are immutable once received"))
                continue
            known[key] = p.digest
            accepted.append(p)
            for release in (p.agreement, p.order):
                rkey = (release.ocid, release.release_id)
                if rkey in existing:
                    continue  # the same agreement state, already published
                existing[rkey] = release.data_hash
                new_releases.append(release)
            for pid, data, digest in p.proformas:
                if (p.order.ocid, pid) not in known_proformas:
                    known_proformas[(p.order.ocid, pid)] = digest
                    new_proformas.append({"ocid": p.order.ocid, "proforma_id": pid, "data": data,
                                          "data_hash": digest, "received_at": _now()})
        if not accepted:
            return
        touched = {r.ocid for r in new_releases}
        had_before = _ocids_with_releases(conn, touched)
        # issue 3 hook: log the new proformas and releases in this same transaction, then
        # store each row with the index of its entry. ``known_proformas`` holds every quote
        # the releases can link: those stored before and those of this batch.
        proforma_leaves, release_leaves = log_evidence(conn, new_releases, new_proformas,
                                                       quotes=known_proformas)
        ids = _insert_releases(conn, new_releases, "catalogue", release_leaves)
        pk_of = {(r.ocid, r.release_id): pk for r, pk in zip(new_releases, ids, strict=True)}
        if new_proformas:
            for row, leaf in zip(new_proformas, proforma_leaves, strict=True):
                row["leaf_index"] = leaf
            bulk_insert(conn, proformas, new_proformas)
        now = _now()
        store_order_pdfs(conn, [(p.order, p.pdf) for p in accepted  # issue 4 hook
                                if p.pdf is not None and (p.order.ocid, p.order.release_id) in pk_of])
        bulk_insert(conn, source_orders, [
            {"order_number": p.order_number, "version": p.version, "digest": p.digest,
             "ocid": p.order.ocid, "release_pk": pk_of.get((p.order.ocid, p.order.release_id))
             or 0, "imported_at": now} for p in accepted])
        # Records: an ocid seen for the first time with one release uses the worker's compile.
        per_ocid: dict[str, list[PreparedRelease]] = {}
        for r in new_releases:
            per_ocid.setdefault(r.ocid, []).append(r)
        alone = {p.order.ocid: p for p in accepted}
        compiled: dict[str, tuple[bytes | None, dict, int, int]] = {}
        slow = []
        for ocid, rels in per_ocid.items():
            if ocid not in had_before and len(rels) == 1 and ocid in alone:
                # Not stored: the compiled release of a one-release record is derived on read
                # (portal.queries.compiled_release), which halves what publishing writes.
                compiled[ocid] = (None, alone[ocid].summary_alone, 1,
                                  pk_of[(ocid, rels[0].release_id)])
            else:
                slow.append(ocid)
        compiled.update(recompile(conn, slow))
        _store_records(conn, compiled)
        summary.new_orders += len(accepted)
        summary.published_releases += len(new_releases)
        summary.records_updated += len(compiled)


def _batches(path: Path, size: int,
             progress: Callable[[int], None] | None) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if progress:
                progress(len(raw))
            if not raw.strip():
                continue
            batch.append((number, raw))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _lower_priority() -> None:
    try:
        os.nice(10)
    except OSError:  # pragma: no cover - not permitted: run at the same priority
        pass


def _worker_count(setting: int) -> int:
    return setting if setting > 0 else max(1, os.cpu_count() or 1)


BULK_MIN_ORDERS = 50_000


def _estimated_lines(path: Path) -> int:
    """Lines in ``path``, estimated from its size and its first 100 lines."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = [len(line) for _, line in zip(range(100), f, strict=False)]
    return int(size / (sum(head) / len(head))) if head else 0


def bulk_mode(engine: Engine, path: Path) -> bool:
    """Whether to load ``path`` in bulk: at least BULK_MIN_ORDERS orders, and more than are
    stored already (rebuilding the lookup indexes then costs less than maintaining them)."""
    incoming = _estimated_lines(path)
    if incoming < BULK_MIN_ORDERS:
        return False
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(source_orders)).scalar_one()
    return incoming > stored


def import_orders(engine: Engine, path: str | os.PathLike, *, ocid_prefix: str, batch_size: int = 500,
                  workers: int = 0, progress: Callable[[int], None] | None = None,
                  base_url: str | None = None, bulk: bool | None = None,
                  on_indexes: Callable[[str], None] | None = None) -> Summary:
    """Publish every valid order of a source-order JSON Lines file; report the rest.

    ``base_url`` (BASE_URL) makes each order release list its order PDF (issue 4).

    ``bulk`` (default: :func:`bulk_mode` decides) loads a large file the way databases are
    bulk-loaded: the secondary lookup indexes (:func:`portal.db.deferrable_indexes`) are
    dropped first and rebuilt at the end, in a ``finally`` (and by ``veraz db upgrade`` or the
    next import if the process was killed), and batches are four times larger. Every order is
    still stored and logged in its own batch's transaction, and unique constraints stay; pages
    that look rows up by hash or browse column are slow until the rebuild ends. ``on_indexes``
    is told when that happens ("dropped", "rebuilt").
    """
    from portal.db import drop_deferrable_indexes, ensure_indexes

    started = time.perf_counter()
    path = Path(path)
    summary = Summary()
    ensure_indexes(engine)  # an earlier bulk load may have been killed before its rebuild
    if bulk is None:
        bulk = bulk_mode(engine, path)
    if bulk:
        batch_size *= 4
        drop_deferrable_indexes(engine)
        if on_indexes:
            on_indexes("dropped")
    try:
        _import_orders(engine, path, summary, ocid_prefix=ocid_prefix, batch_size=batch_size,
                       workers=workers, progress=progress, base_url=base_url)
    finally:
        if bulk:
            ensure_indexes(engine)
            if on_indexes:
                on_indexes("rebuilt")
    summary.bulk = bulk
    summary.seconds = time.perf_counter() - started
    return summary


def _import_orders(engine: Engine, path: Path, summary: Summary, *, ocid_prefix: str,
                   batch_size: int, workers: int, progress: Callable[[int], None] | None,
                   base_url: str | None) -> None:
    file = str(path)

    def consume(results: list) -> None:
        good = []
        for item in results:
            if isinstance(item, PreparedOrder):
                good.append(item)
                summary.read += 1
            else:
                summary.rejects.append(Reject(file, str(item[0]), item[1], item[2], item[3]))
        summary.read += len({r[0] for r in results if not isinstance(r, PreparedOrder)})
        write_orders(engine, good, file, summary)

    n_workers = _worker_count(workers)
    batches = _batches(path, batch_size, progress)
    if n_workers == 1:
        for batch in batches:
            consume(prepare_orders(batch, ocid_prefix, base_url))
    else:
        # A bounded window of batches in flight: memory does not grow with the file.
        # The writer is the one serial step: workers run at a lower priority so that it gets a
        # core whenever it can run (they otherwise ran ahead and took half its time: measured
        # writer wall time twice its CPU time on 2 cores).
        with ProcessPoolExecutor(max_workers=n_workers, initializer=_lower_priority) as pool:
            window: deque = deque()
            for batch in batches:
                window.append(pool.submit(prepare_orders, batch, ocid_prefix, base_url))
                if len(window) >= 2 * n_workers:
                    consume(window.popleft().result())
            while window:
                consume(window.popleft().result())


# --- existing OCDS -------------------------------------------------------------------------


def import_ocds(engine: Engine, paths: Iterable[str | os.PathLike], *, batch_size: int = 500,
                progress: Callable[[int], None] | None = None) -> Summary:
    """Ingest existing OCDS (packages, records, JSON Lines, gzip; 1.0 upgraded).

    Releases that do not validate are kept as published, flagged invalid with their problems,
    and reported; unreadable ones are rejected. A release id already stored for the same ocid
    with the same content is skipped; with different content it is rejected (immutability).
    """
    started = time.perf_counter()
    summary = Summary()
    validator = _release_validator()
    for path in paths:
        file = str(path)
        pending: list[PreparedRelease] = []
        for item in iter_ocds(path):
            if progress:
                progress(1)
            if item.release is None:
                for p in item.problems or [Problem("", "not an OCDS release")]:
                    summary.rejects.append(Reject(file, item.location, "", p.field, p.reason))
                continue
            summary.read += 1
            release = item.release
            if not release.get("ocid") or not release.get("id"):
                missing = "ocid" if not release.get("ocid") else "id"
                summary.rejects.append(Reject(file, item.location, str(release.get("ocid", "")),
                                              missing, f"a release must have an {missing}"))
                continue
            problems = validator.problems(release)
            if problems:
                summary.invalid_kept += 1
                who = f"{release['ocid']} {release['id']}"
                summary.invalid.extend(Reject(file, item.location, who, p.field, p.reason)
                                       for p in problems)
            pending.append(_prepare_release(release, problems))
            if len(pending) >= batch_size:
                _write_ocds(engine, pending, file, summary)
                pending = []
        _write_ocds(engine, pending, file, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_ocds(engine: Engine, batch: list[PreparedRelease], file: str, summary: Summary) -> None:
    if not batch:
        return
    with engine.begin() as conn:
        existing = _existing_releases(conn, {(r.ocid, r.release_id) for r in batch})
        fresh = []
        for r in batch:
            key = (r.ocid, r.release_id)
            if key in existing:
                if existing[key] == r.data_hash:
                    summary.unchanged += 1
                else:
                    summary.rejects.append(Reject(
                        file, "", f"{r.ocid} {r.release_id}", "id",
                        "a release with this id was already published with different content; "
                        "published releases are immutable"))
                continue
            existing[key] = r.data_hash
            fresh.append(r)
        _, leaves = log_evidence(conn, fresh)  # issue 3 hook: logged in the same transaction
        _insert_releases(conn, fresh, "import", leaves)
        touched = {r.ocid for r in fresh}
        compiled = {}
        for ocid in touched:
            try:
                compiled.update(recompile(conn, [ocid]))
            except Exception as error:  # ocdsmerge on malformed real-world data
                summary.rejects.append(Reject(file, "", ocid, "", f"record not compiled: {error}"))
        _store_records(conn, compiled)
        summary.published_releases += len(fresh)
        summary.records_updated += len(compiled)


def write_rejects(path: str | os.PathLike, rejects: list[Reject]) -> None:
    """Write rejects as JSON Lines: file, line, record, field, reason."""
    with open(path, "wb") as f:
        for r in rejects:
            f.write(orjson.dumps({"file": r.file, "line": r.line, "record": r.record,
                                  "field": r.field, "reason": r.reason}) + b"\n")

