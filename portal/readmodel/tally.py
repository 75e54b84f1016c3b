"""Exact facet counts over every process, counted in memory from per-process facet keys.

Counting each facet of a query with SQL visits every matching process once per facet: at
1,000,000 processes that took seconds on SQLite (``bench/browse.py``). Here each process's facet
values are loaded once from the read model (``records``, ``item_lines``, ``parties``) into
integer arrays (numpy): one code per process for the single-valued facets, and (process, code)
pairs for the facets a process can have several values of (industries, suppliers). A query's
filters become boolean masks, and a facet's counts are one ``bincount`` of its codes under the
mask of every *other* filter. Counts stay exact: they are counts of the same rows SQL would
count, never estimates.

The arrays are derived on read from the read model, which ``veraz reindex`` rebuilds and
``veraz audit`` checks. They follow it by the read model's version: the last release's key and
the newest ``records.updated_at`` (both one index lookup). When it changes, the records written
since the version loaded are read again (``records.updated_at`` is indexed) and replace their
processes' keys; when much changed (a reindex), everything is loaded again. Publishing has one
writer (``portal.publishing``), so rows are written in ``updated_at`` order; a recount of the
processes after each refresh catches a process the refresh missed and loads everything again.

Filters the arrays do not hold (``q``: full-text search and order numbers) are evaluated by the
database once per query and become a mask like the others. The full-text part comes as the ids
of the matching search documents (``search_documents.id``, FTS5's rowids), which the tally maps
to its positions (:class:`Documents`): a word in every one of a million processes costs about
0.1 s of CPU so, where reading and hashing its ocids cost 1.6 s. The rest of ``q`` (a RUC's
processes, an ocid) comes as ocids.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, select

from portal.models import item_lines, parties, records, releases
from portal.readmodel.facets import AMOUNT_RANGES, Browse
from portal.search.tables import search_documents

#: Facets with one value per process, and those with several (item lines, suppliers).
SINGLE = ("procedure", "buyer", "region", "month", "year", "status", "agreement", "amount")
MULTI = ("segment", "family", "supplier")

#: Above this share of processes changed since the arrays were loaded, load everything again.
RELOAD_SHARE = 0.05

_COLUMNS = {
    "procedure": "procedure",
    "buyer": "buyer_id",
    "region": "delivery_region",
    "month": "month",
    "status": "status",
    "agreement": "agreement_ocid",
    # not facets: what a profile's spending is (portal.queries.SPENDING) and its currency
    "kind": "kind",
    "currency": "currency",
    # not a facet either: the order's supplier as the browse columns keep it (the dashboards'
    # supplier charts group by it; the supplier facet is every supplier party of the process)
    "order_supplier": "supplier_id",
}
# Positions in a row of _record_rows: ocid, the _COLUMNS, the two names, amount, date, updated_at.
_AT = {facet: i for i, facet in enumerate(_COLUMNS, start=1)}
_NAME_AT = {"buyer": len(_COLUMNS) + 1, "agreement": len(_COLUMNS) + 2}
_AMOUNT_AT, _DATE_AT, _UPDATED_AT = len(_COLUMNS) + 3, len(_COLUMNS) + 4, len(_COLUMNS) + 5
_RANGES = list(AMOUNT_RANGES)


def _rank(char: str) -> str:
    """A character's place, as one hex digit, in an order that keeps every comparison with the
    characters of a ``YYYY-MM-DD`` bound: others are grouped between them (0 is "no character")."""
    if char < "-":
        return "1"
    if char == "-":
        return "2"
    if char < "0":
        return "3"
    if char <= "9":
        return "456789abcd"[ord(char) - 48]
    return "e"


_RANKS = str.maketrans({chr(i): _rank(chr(i)) for i in range(128)})


def _day(date: str | None) -> int:
    """A number that compares with ``_day`` of a ``YYYY-MM-DD`` bound exactly as the text of
    ``date`` compares with the bound's text in the database (``date >= '2024-03-01'``), -1 for
    NULL: the first ten characters, each by its :func:`_rank`, so a date range counts exactly the
    rows :func:`portal.readmodel.queries.date_condition` finds, whatever a publisher wrote."""
    if date is None:
        return -1
    ranked = date[:10].translate(_RANKS)
    if not ranked.isascii():  # characters beyond ASCII sort above every character of a bound
        ranked = "".join(c if c.isascii() else "e" for c in ranked)
    return int(ranked.ljust(10, "0"), 16)


class Vocabulary:
    """Codes of a facet's values: 0 is "none", 1.. the values in the order first seen."""

    def __init__(self) -> None:
        self.values: list[Any] = [None]
        self.codes: dict[Any, int] = {}
        self.names: dict[int, set[str]] = {}  # lower-cased names a value was published with

    def code(self, value: Any) -> int:
        if value is None:
            return 0
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code

    def name(self, code: int, name: str | None) -> None:
        if code and name:
            self.names.setdefault(code, set()).add(name.lower())

    def copy(self) -> Vocabulary:
        other = Vocabulary()
        other.values = list(self.values)
        other.codes = dict(self.codes)
        other.names = {k: set(v) for k, v in self.names.items()}
        return other

    def matching(self, needle: str) -> np.ndarray:
        """Codes whose value or a name contains ``needle`` (any case)."""
        needle = needle.lower()
        found = [
            code
            for code, value in enumerate(self.values)
            if code and (needle in str(value).lower() or any(needle in n for n in self.names.get(code, ())))
        ]
        return np.array(found, dtype=np.int64)

    def rank(self) -> np.ndarray:
        """Each code's place among the values sorted (ties of a count are broken by value)."""
        order = sorted(range(1, len(self.values)), key=lambda c: str(self.values[c]))
        rank = np.zeros(len(self.values), dtype=np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        return rank


@dataclass
class Documents:
    """Which process each search document is of: ``position[id - base]`` is the tally position
    of the process whose document has that id, -1 for none (an id never read, a document of a
    process the read model does not have). A process's document gets a new id each time it is
    written and ids are never reused (``portal.search.tables``), so the documents written since
    are those with an id above ``seen``, and an old id of a rewritten document, still mapped, is
    never found by a search again."""

    base: int
    position: np.ndarray  # int32, one per id from base to seen
    seen: int  # the largest id read

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """The positions of the documents ``ids`` (those of no known process left out)."""
        at = ids - self.base
        at = at[(at >= 0) & (at < len(self.position))]
        found = self.position[at]
        return found[found >= 0]


NO_DOCUMENTS = Documents(base=1, position=np.zeros(0, dtype=np.int32), seen=0)


def _document_rows(conn: Connection, after: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids of the documents above ``after`` and their ocids' hashes."""
    ids, hashes = array("q"), array("q")
    query = select(search_documents.c.id, search_documents.c.ocid).where(search_documents.c.id > after)
    for doc_id, ocid in conn.execute(query.execution_options(stream_results=True, yield_per=20_000)):
        ids.append(doc_id)
        hashes.append(hash(ocid))
    return np.array(ids, dtype=np.int64), np.array(hashes, dtype=np.int64)


def _lookup(keys: np.ndarray, order: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The position of each hash in ``wanted`` (-1 for one no process has)."""
    if not len(keys) or not len(wanted):
        return np.full(len(wanted), -1, dtype=np.int64)
    sorted_keys = keys[order]
    at = np.searchsorted(sorted_keys, wanted).clip(0, len(keys) - 1)
    return np.where(sorted_keys[at] == wanted, order[at], -1)


def _documents(old: Documents | None, ids: np.ndarray, places: np.ndarray) -> Documents:
    """``old`` (None: nothing) with the documents ``ids`` of positions ``places`` added (every
    id above ``old.seen``)."""
    if old is None or not len(old.position):
        base = int(ids.min()) if len(ids) else 1
        before = np.zeros(0, dtype=np.int32)
    else:
        base, before = old.base, old.position
    seen = max(int(ids.max()) if len(ids) else 0, old.seen if old else 0, base - 1)
    position = np.full(seen - base + 1, -1, dtype=np.int32)
    position[: len(before)] = before
    position[ids - base] = places
    return Documents(base=base, position=position, seen=seen)


#: The currency of the item lines summed per segment (the dashboards chart soles only).
LINE_CURRENCY = "PEN"


@dataclass
class LineSums:
    """The item lines in soles of each (process, segment) pair of ``multi["segment"]``, in the
    same order: ``cents``, the sum of their amounts in whole cents (a line without an amount adds
    nothing), and ``present``, whether the pair has such a line at all (a process whose lines of a
    segment are all in another currency has the pair, for the filters, but no line in soles).
    ``magnitude`` bounds the sum of every line's absolute amount in cents (sums stay exact in
    float64 below 2**53), infinite when an amount is not whole cents; ``complete`` is False when
    a line found no pair (written between two reads: callers sum with SQL then)."""

    cents: np.ndarray  # int64
    present: np.ndarray  # bool
    magnitude: float
    complete: bool = True

    def nbytes(self) -> int:
        return self.cents.nbytes + self.present.nbytes

    def merged(self, keep: np.ndarray, new: LineSums, by_position: np.ndarray) -> LineSums:
        """The kept pairs' sums and ``new`` ones, laid out as ``refresh`` lays out the pairs.
        ``magnitude`` only grows (what was taken out is not subtracted): a bound stays a bound."""
        return LineSums(
            cents=np.concatenate([self.cents[keep], new.cents])[by_position],
            present=np.concatenate([self.present[keep], new.present])[by_position],
            magnitude=self.magnitude + new.magnitude,
            complete=self.complete and new.complete,
        )


class _Lines:
    """Item lines in soles as they are read: position, segment code, amount in cents."""

    def __init__(self) -> None:
        self.pos, self.code, self.cents = array("q"), array("q"), array("q")
        self.magnitude = 0.0

    def add(self, at: int, code: int, amount: Any) -> None:
        if amount is None:
            cents = 0
        else:
            scaled = Decimal(amount).scaleb(2)
            whole = scaled.to_integral_value()
            if whole != scaled or abs(whole) >= 2**62:
                self.magnitude = float("inf")  # not whole cents, or beyond 64 bits: sum with SQL
                whole = Decimal(0)
            cents = int(whole)
            self.magnitude += abs(cents)
        self.pos.append(at)
        self.code.append(code)
        self.cents.append(cents)

    def aligned(self, pairs: tuple[np.ndarray, np.ndarray]) -> LineSums:
        """The lines summed per pair of ``pairs`` (positions, codes), in their order."""
        pos, code = pairs
        cents = np.zeros(len(pos), dtype=np.int64)
        present = np.zeros(len(pos), dtype=bool)
        if not len(self.pos):
            return LineSums(cents, present, self.magnitude)
        line_pos = np.frombuffer(self.pos, dtype=np.int64)
        line_code = np.frombuffer(self.code, dtype=np.int64)
        width = int(max(int(code.max()) if len(code) else 0, int(line_code.max()))) + 1
        wanted, inverse = np.unique(line_pos * width + line_code, return_inverse=True)
        sums = np.bincount(inverse, weights=np.frombuffer(self.cents, dtype=np.int64).astype(np.float64))
        if not len(pos):
            return LineSums(cents, present, self.magnitude, complete=False)
        pair_key = pos.astype(np.int64) * width + code
        order = np.argsort(pair_key, kind="stable")
        at = np.searchsorted(pair_key[order], wanted).clip(0, len(pos) - 1)
        found = pair_key[order][at] == wanted
        places = order[at[found]]
        cents[places] = np.rint(sums[found]).astype(np.int64)
        present[places] = True
        return LineSums(cents, present, self.magnitude, complete=bool(found.all()))


@dataclass
class Tally:
    """One loaded state of every process's facet keys (replaced whole, never changed in place
    once published to readers)."""

    version: tuple
    dialect: str
    keys: np.ndarray  # hash of each process's ocid, by position
    order: np.ndarray  # positions sorted by key, for lookups
    single: dict[str, np.ndarray]  # facet -> code per process
    amount: np.ndarray  # per process: the amount as the database compares it
    has_amount: np.ndarray
    day: np.ndarray  # the order date's text as a number (_day), -1 without one
    multi: dict[str, tuple[np.ndarray, np.ndarray]]  # facet -> (positions, codes), deduplicated
    vocab: dict[str, Vocabulary]
    loaded_at: datetime | None  # newest records.updated_at loaded
    seconds: float = 0.0  # what the last (re)load took
    documents: Documents = field(default_factory=lambda: NO_DOCUMENTS)  # search documents' ids -> positions
    ranks: dict[str, np.ndarray] = field(default_factory=dict)
    # Each facet's counts over every process (what a facet without other filters shows): the
    # arrays never change once published, so they are counted once.
    unfiltered: dict[str, np.ndarray] = field(default_factory=dict)
    offsets: dict[str, np.ndarray] = field(default_factory=dict)  # see _offsets
    # Names of values (facet, value) -> name, looked up once per state (they change only with it).
    names: dict[tuple[str, Any], str | None] = field(default_factory=dict)
    # Per (process, segment) pair of multi["segment"], in its order: the process's item lines of
    # that segment in soles, their amounts' sum in cents and whether there is one (see LineSums).
    segment_lines: LineSums | None = None

    @property
    def size(self) -> int:
        return len(self.keys)

    def positions(self, ocids: Iterable[str]) -> np.ndarray:
        """The positions of the given ocids (unknown ones left out)."""
        wanted = np.fromiter((hash(o) for o in ocids), dtype=np.int64)
        if not len(wanted) or not self.size:
            return np.zeros(0, dtype=np.int64)
        sorted_keys = self.keys[self.order]
        at = np.searchsorted(sorted_keys, wanted).clip(0, self.size - 1)
        hit = sorted_keys[at] == wanted
        return self.order[at[hit]]

    def nbytes(self) -> int:
        """Bytes the arrays hold (the vocabularies' Python objects not counted)."""
        arrays = [self.keys, self.order, self.amount, self.has_amount, self.day, *self.single.values()]
        arrays += [a for pair in self.multi.values() for a in pair]
        lines = self.segment_lines.nbytes() if self.segment_lines is not None else 0
        return sum(a.nbytes for a in arrays) + lines

    def rank(self, facet: str) -> np.ndarray:
        if facet not in self.ranks or len(self.ranks[facet]) != len(self.vocab[facet].values):
            self.ranks[facet] = self.vocab[facet].rank()
        return self.ranks[facet]


class Collision(RuntimeError):
    """Two ocids share a hash: the arrays cannot tell them apart (callers count with SQL)."""


def amount_key(dialect: str, value: Any) -> Any:
    """An amount as the database compares it: SQLite keeps NUMERIC as a REAL (a float compares
    as it does), PostgreSQL exactly (whole cents; beyond 64 bits clamped, far above any bound
    a query may give)."""
    if value is None:
        return 0
    if dialect == "sqlite":
        return float(value)
    cents = int(Decimal(value).scaleb(2).to_integral_value())
    return max(min(cents, 2**62), -(2**62))


def _amount_dtype(dialect: str):
    return np.float64 if dialect == "sqlite" else np.int64


def version(conn: Connection) -> tuple:
    """The read model's version: the last release's key, the newest record's write time and
    the newest search document's id (``veraz reindex --search`` writes every document again
    without touching ``records``)."""
    return (
        int(conn.execute(select(func.max(releases.c.id))).scalar() or 0),
        conn.execute(select(func.max(records.c.updated_at))).scalar(),
        int(conn.execute(select(func.max(search_documents.c.id))).scalar() or 0),
    )


def _record_rows(conn: Connection, since: datetime | None):
    columns = [
        records.c.ocid,
        *(records.c[c] for c in _COLUMNS.values()),
        records.c.buyer_name,
        records.c.agreement_title,
        records.c.amount,
        records.c.date,
        records.c.updated_at,
    ]
    query = select(*columns)
    if since is not None:
        query = query.where(records.c.updated_at >= since)
    return conn.execute(query.execution_options(stream_results=True, yield_per=20_000))


def _multi_rows(conn: Connection, facet: str, ocids: list[str] | None):
    if facet == "supplier":
        query = select(parties.c.ocid, parties.c.party_id).where(
            parties.c.role == "supplier", parties.c.party_id.isnot(None)
        )
        column = parties.c.ocid
    elif facet == "segment":
        # and each line's amount and currency: the segments' sums in soles (LineSums)
        query = select(
            item_lines.c.ocid, item_lines.c.segment, item_lines.c.amount, item_lines.c.currency
        ).where(item_lines.c.segment.isnot(None))
        column = item_lines.c.ocid
    else:
        query = select(item_lines.c.ocid, item_lines.c[facet]).where(item_lines.c[facet].isnot(None))
        column = item_lines.c.ocid
    if ocids is None:
        yield from conn.execute(query.execution_options(stream_results=True, yield_per=50_000))
        return
    for i in range(0, len(ocids), 500):
        yield from conn.execute(query.where(column.in_(ocids[i : i + 500])))


def _dedup(positions, codes) -> tuple[np.ndarray, np.ndarray]:
    pos = np.array(positions, dtype=np.int64)
    code = np.array(codes, dtype=np.int64)
    if not len(pos):
        return pos.astype(np.int32), code.astype(np.int32)
    pairs = np.unique(pos * (code.max() + 1) + code)
    # int32: half the memory a count reads through (positions and codes stay far below 2**31)
    return (pairs // (code.max() + 1)).astype(np.int32), (pairs % (code.max() + 1)).astype(np.int32)


def _ranges(amount: np.ndarray, has: np.ndarray, dialect: str) -> np.ndarray:
    """Each process's amount range code (0: none), as ``queries._AMOUNT_RANGE`` decides."""
    out = np.zeros(len(amount), dtype=np.int32)
    for code, (low, high) in reversed(list(enumerate(AMOUNT_RANGES.values(), start=1))):
        inside = has.copy()
        if low is not None:
            inside &= amount >= amount_key(dialect, low)
        if high is not None:
            inside &= amount < amount_key(dialect, high)
        out[inside] = code  # the first range that matches wins, as in a CASE
    return out


def _years(month: Vocabulary, year: Vocabulary) -> np.ndarray:
    return np.array([year.code(m[:4]) if m else 0 for m in month.values], dtype=np.int32)


def load(conn: Connection) -> Tally:
    """Every process's facet keys, read from the read model."""
    started = time.perf_counter()
    dialect = conn.dialect.name
    seen = version(conn)
    # Documents before records: a process published in between then has its record read and
    # its document's id above the ones read, so the next refresh maps it (the other way round,
    # its document would be read before its record and never be mapped).
    doc_ids, doc_hashes = _document_rows(conn, 0)
    vocab = {f: Vocabulary() for f in (*SINGLE, *MULTI, "kind", "currency", "order_supplier")}
    # Compact arrays while reading (a list holds an object per number: several times the memory).
    keys = array("q")
    codes = {f: array("i") for f in _COLUMNS}
    amounts = array("d" if dialect == "sqlite" else "q")
    has, days = bytearray(), array("q")
    index: dict[str, int] = {}
    newest = None
    for row in _record_rows(conn, None):
        index[row[0]] = len(keys)
        keys.append(hash(row[0]))
        for facet in _COLUMNS:
            code = vocab[facet].code(row[_AT[facet]])
            codes[facet].append(code)
            if facet in _NAME_AT:
                vocab[facet].name(code, row[_NAME_AT[facet]])
        amounts.append(amount_key(dialect, row[_AMOUNT_AT]))
        has.append(row[_AMOUNT_AT] is not None)
        days.append(_day(row[_DATE_AT]))
        updated = row[_UPDATED_AT]
        if newest is None or (updated is not None and updated > newest):
            newest = updated
    single = {f: np.frombuffer(v, dtype=np.int32).copy() for f, v in codes.items()}
    single["year"] = _years(vocab["month"], vocab["year"])[single["month"]]
    amount = np.frombuffer(amounts, dtype=_amount_dtype(dialect)).copy()
    has_amount = np.frombuffer(has, dtype=bool).copy()
    single["amount"] = _ranges(amount, has_amount, dialect)
    for code, _key in enumerate(_RANGES, start=1):
        vocab["amount"].code(_key)  # codes 1.. in AMOUNT_RANGES order
        assert vocab["amount"].codes[_key] == code
    multi = {}
    lines = _Lines()
    for facet in MULTI:
        positions, found = array("q"), array("q")
        for row in _multi_rows(conn, facet, None):
            at = index.get(row[0])
            if at is not None:
                code = vocab[facet].code(row[1])
                positions.append(at)
                found.append(code)
                if facet == "segment" and row[3] == LINE_CURRENCY:
                    lines.add(at, code, row[2])
        multi[facet] = _dedup(positions, found)
    key_array = np.frombuffer(keys, dtype=np.int64).copy()
    if len(np.unique(key_array)) != len(key_array):
        raise Collision("two ocids share a hash")
    order = np.argsort(key_array, kind="stable")
    return Tally(
        version=seen,
        dialect=dialect,
        keys=key_array,
        order=order,
        documents=_documents(None, doc_ids, _lookup(key_array, order, doc_hashes)),
        single=single,
        amount=amount,
        has_amount=has_amount,
        day=np.frombuffer(days, dtype=np.int64).copy(),
        multi=multi,
        vocab=vocab,
        loaded_at=newest,
        seconds=time.perf_counter() - started,
        segment_lines=lines.aligned(multi["segment"]),
    )


def refresh(conn: Connection, old: Tally, *, reload: bool = True) -> Tally | None:
    """``old`` brought up to the read model's present version: the records written since it
    was loaded replace their processes' keys; everything is loaded again when much changed or
    when the processes do not add up (or, without ``reload``, None is returned then)."""
    load_again = (lambda: load(conn)) if reload else (lambda: None)
    started = time.perf_counter()
    seen = version(conn)
    if seen == old.version:
        return old
    if old.loaded_at is None:
        return load_again()
    changed = conn.execute(
        select(func.count()).select_from(records).where(records.c.updated_at >= old.loaded_at)
    ).scalar_one()
    if changed > max(RELOAD_SHARE * old.size, 1000):
        return load_again()
    written = conn.execute(
        select(func.count()).select_from(search_documents).where(search_documents.c.id > old.documents.seen)
    ).scalar_one()
    if written > max(RELOAD_SHARE * old.size, 1000):
        return load_again()  # the search documents were written again (veraz reindex --search)
    doc_ids, doc_hashes = _document_rows(conn, old.documents.seen)  # before records: see load
    vocab = {f: v.copy() for f, v in old.vocab.items()}
    single = {f: a.copy() for f, a in old.single.items()}
    amount, has_amount, day = old.amount.copy(), old.has_amount.copy(), old.day.copy()
    keys = old.keys
    rows = list(_record_rows(conn, old.loaded_at))
    wanted = [hash(r.ocid) for r in rows]
    sorted_keys = keys[old.order]
    at = np.searchsorted(sorted_keys, np.array(wanted, dtype=np.int64)).clip(0, max(old.size - 1, 0))
    hits = sorted_keys[at] == np.array(wanted, dtype=np.int64) if old.size else np.zeros(len(rows), bool)
    places: dict[str, int] = {}
    added: list[int] = []
    for row, hit, where in zip(rows, hits, at, strict=True):
        if hit:
            places[row.ocid] = int(old.order[where])
        else:
            places[row.ocid] = old.size + len(added)
            added.append(hash(row.ocid))
    grow = len(added)
    if grow:
        keys = np.concatenate([keys, np.array(added, dtype=np.int64)])
        single = {f: np.concatenate([a, np.zeros(grow, dtype=a.dtype)]) for f, a in single.items()}
        amount = np.concatenate([amount, np.zeros(grow, dtype=amount.dtype)])
        has_amount = np.concatenate([has_amount, np.zeros(grow, dtype=bool)])
        day = np.concatenate([day, np.full(grow, -1, dtype=np.int64)])
    newest = old.loaded_at
    for row in rows:
        p = places[row.ocid]
        for facet in _COLUMNS:
            code = vocab[facet].code(row[_AT[facet]])
            single[facet][p] = code
            if facet in _NAME_AT:
                vocab[facet].name(code, row[_NAME_AT[facet]])
        amount[p] = amount_key(old.dialect, row.amount)
        has_amount[p] = row.amount is not None
        day[p] = _day(row.date)
        if row.updated_at is not None and row.updated_at > newest:
            newest = row.updated_at
    year_of = _years(vocab["month"], vocab["year"])
    touched = np.array(sorted(places.values()), dtype=np.int64)
    if len(touched):
        single["year"][touched] = year_of[single["month"][touched]]
        single["amount"][touched] = _ranges(amount[touched], has_amount[touched], old.dialect)
    multi = {}
    ocids = list(places)
    segment_lines = None
    for facet in MULTI:
        kept_pos, kept_code = old.multi[facet]
        keep = ~np.isin(kept_pos, touched)
        positions, found = [], []
        lines = _Lines()
        for row in _multi_rows(conn, facet, ocids):
            code = vocab[facet].code(row[1])
            positions.append(places[row[0]])
            found.append(code)
            if facet == "segment" and row[3] == LINE_CURRENCY:
                lines.add(places[row[0]], code, row[2])
        new_pos, new_code = _dedup(positions, found)
        all_pos = np.concatenate([kept_pos[keep], new_pos])
        by_position = np.argsort(all_pos, kind="stable")  # counting relies on this order
        multi[facet] = (all_pos[by_position], np.concatenate([kept_code[keep], new_code])[by_position])
        if facet == "segment" and old.segment_lines is not None:
            segment_lines = old.segment_lines.merged(keep, lines.aligned((new_pos, new_code)), by_position)
    order = np.argsort(keys, kind="stable")
    tally = Tally(
        version=seen,
        dialect=old.dialect,
        keys=keys,
        order=order,
        documents=_documents(old.documents, doc_ids, _lookup(keys, order, doc_hashes)),
        single=single,
        amount=amount,
        has_amount=has_amount,
        day=day,
        multi=multi,
        vocab=vocab,
        loaded_at=newest,
        seconds=time.perf_counter() - started,
        segment_lines=segment_lines,
    )
    if len(np.unique(keys)) != len(keys):
        raise Collision("two ocids share a hash")
    total = conn.execute(select(func.count()).select_from(records)).scalar_one()
    return tally if total == tally.size else load_again()


#: Up to this many records, a request that finds no tally loads it itself (well under a second);
#: beyond, a thread loads it while requests count with SQL (a million took 26 s of CPU).
INLINE_LOAD = 100_000


class TallyHolder:
    """One app's :class:`Tally`, brought up to date when the read model's version changes.

    A few changes are applied by the request that sees them (one thread at a time; readers keep
    the state they hold). A first load or a full reload of a large database runs in a thread of
    its own: until it is done, :meth:`get` answers None and callers count with SQL, so counts
    stay exact and no request waits for a load."""

    def __init__(self) -> None:
        self._tally: Tally | None = None
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None
        self.broken = False  # ocids collided: count with SQL instead

    def get(self, conn: Connection) -> Tally | None:
        if self.broken:
            return None
        current = self._tally
        if current is not None and version(conn) == current.version:
            return current
        if self._loading is not None:
            return None  # a full load is under way
        with self._lock:
            try:
                if self._tally is not None:
                    refreshed = refresh(conn, self._tally, reload=False)
                    if refreshed is not None:
                        self._tally = refreshed
                        return refreshed
                elif conn.execute(select(func.count()).select_from(records)).scalar_one() <= INLINE_LOAD:
                    self._tally = load(conn)
                    return self._tally
            except Collision:
                self.broken = True
                self._tally = None
                return None
            self._tally = None
            self._start(conn.engine)
            return None

    def _start(self, engine: Engine) -> None:
        def run() -> None:
            try:
                with engine.connect() as conn:
                    tally = load(conn)
                with self._lock:
                    self._tally = tally
            except Collision:
                self.broken = True
            finally:
                self._loading = None

        self._loading = threading.Thread(target=run, name="facet-tally-load", daemon=True)
        self._loading.start()

    def warm(self, engine: Engine) -> None:
        """Load now, in this thread (at startup, or in a benchmark)."""
        with engine.connect() as conn:
            tally = load(conn)
        with self._lock:
            self._tally = tally


# --- counting -------------------------------------------------------------------------------


def masks(
    tally: Tally, browse: Browse, q_ocids: Iterable[str] | None, q_documents: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Each filter of ``browse`` as a mask over the processes, by facet (``q``, amount bounds
    and dates under their own names, as ``queries.conditions`` names them). ``q`` is the
    processes of ``q_ocids`` and those of the search documents ``q_documents`` (ids)."""
    out: dict[str, np.ndarray] = {}
    for facet, values in browse.selected.items():
        if not values:
            continue
        vocab = tally.vocab[facet]
        # Which codes are wanted, as a table indexed by code: one gather per array, where
        # numpy.isin sorted them (about 5 times slower at a million processes).
        wanted = np.zeros(len(vocab.values), dtype=bool)
        wanted[[vocab.codes[v] for v in values if v in vocab.codes]] = True
        if facet in SINGLE:
            out[facet] = wanted[tally.single[facet]]
        else:
            pos, code = tally.multi[facet]
            mask = np.zeros(tally.size, dtype=bool)
            mask[pos[wanted[code]]] = True
            out[facet] = mask
    if q_ocids is not None or q_documents is not None:
        mask = np.zeros(tally.size, dtype=bool)
        if q_ocids is not None:
            mask[tally.positions(q_ocids)] = True
        if q_documents is not None:
            mask[tally.documents.positions(q_documents)] = True
        out["q"] = mask
    if browse.amount_min is not None:
        out["amount_min"] = tally.has_amount & (tally.amount >= amount_key(tally.dialect, browse.amount_min))
    if browse.amount_max is not None:
        out["amount_max"] = tally.has_amount & (tally.amount <= amount_key(tally.dialect, browse.amount_max))
    if browse.date_from is not None or browse.date_to is not None:
        # The text below the next day's date, as the database compares it.
        after = browse.date_to + timedelta(days=1) if browse.date_to else None
        low = _day(browse.date_from.isoformat()) if browse.date_from else 0
        high = _day(after.isoformat()) if after else 2**62
        out["date"] = (tally.day >= low) & (tally.day < high)
    return out


def _and(tally: Tally, found: dict[str, np.ndarray], without: str | None) -> np.ndarray | None:
    kept = [m for name, m in found.items() if name != without]
    if not kept:
        return None
    mask = kept[0].copy()
    for m in kept[1:]:
        mask &= m
    return mask


#: A mask that keeps fewer than this share of the processes is counted through the positions it
#: keeps (reading only those) rather than by filtering every array whole: measured on a million
#: processes, a filter keeping 30% counted in 59 ms of CPU this way against 96 ms.
SELECTIVE = 0.4


def _bincount(
    tally: Tally, facet: str, mask: np.ndarray | None, kept: np.ndarray | None, rest: np.ndarray | None = None
) -> np.ndarray:
    """Counts of ``facet`` over ``mask``: through ``kept`` (the positions it keeps, when few), or,
    when it leaves out few (``rest``: the positions it leaves out), as the counts over every
    process less those over the rest (exact: integers; a word in nearly every process counted in
    a few ms instead of filtering every array whole)."""
    if facet not in tally.unfiltered:
        tally.unfiltered[facet] = _count(tally, facet, None, None)
    if mask is None:
        return tally.unfiltered[facet].copy()
    if rest is not None:
        return tally.unfiltered[facet] - _count(tally, facet, ~mask, rest)
    return _count(tally, facet, mask, kept)


def _offsets(tally: Tally, facet: str) -> np.ndarray:
    """Where each process's pairs start in a multi-valued facet's arrays (sorted by position)."""
    if facet not in tally.offsets:
        pos = tally.multi[facet][0]
        tally.offsets[facet] = np.searchsorted(pos, np.arange(tally.size + 1)).astype(np.int64)
    return tally.offsets[facet]


def _count(tally: Tally, facet: str, mask: np.ndarray | None, kept: np.ndarray | None) -> np.ndarray:
    """Counts of each code of ``facet`` over the processes of ``mask`` (all when None);
    ``kept``: the positions ``mask`` keeps, when it keeps few."""
    size = len(tally.vocab[facet].values)
    if facet in SINGLE:
        codes = tally.single[facet]
        if mask is None:
            return np.bincount(codes, minlength=size)
        return np.bincount(codes[kept] if kept is not None else codes[mask], minlength=size)
    pos, code = tally.multi[facet]
    if mask is None:
        return np.bincount(code, minlength=size)
    if kept is None:
        return np.bincount(code[mask[pos]], minlength=size)
    offsets = _offsets(tally, facet)
    starts, lengths = offsets[kept], offsets[kept + 1] - offsets[kept]
    total = int(lengths.sum())
    # the entries of every kept process: each run start..start+length, laid end to end
    entries = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
    return np.bincount(code[entries], minlength=size)


def counts(
    tally: Tally,
    browse: Browse,
    q_ocids: Iterable[str] | None,
    facets: dict[str, int],
    facet_q: tuple[str, str] | None = None,
    q_documents: np.ndarray | None = None,
) -> tuple[int, dict[str, list[dict]]]:
    """The number of matching processes and, for each facet in ``facets`` (facet -> how many
    values), ``[{"value", "count"}]`` counted under every filter but the facet's own: largest
    first, then by value, plus every selected value (0 when none matches). ``facet_q`` =
    (facet, text) keeps that facet's values whose value or name contains the text; ``q`` is
    the processes of ``q_ocids`` and of the search documents ``q_documents``."""
    found = masks(tally, browse, q_ocids, q_documents)
    everything = _and(tally, found, None)
    total = tally.size if everything is None else int(everything.sum())
    out = {}
    few = SELECTIVE * tally.size

    def kept_of(mask: np.ndarray | None, count: int | None = None) -> tuple[np.ndarray | None, ...]:
        """The positions ``mask`` keeps when few, and those it leaves out when few."""
        if mask is None:
            return None, None
        count = int(mask.sum()) if count is None else count
        if count < few:
            return np.flatnonzero(mask), None
        if tally.size - count < few:
            return None, np.flatnonzero(~mask)
        return None, None

    kept_everything = kept_of(everything, total)
    for facet, limit in facets.items():
        if facet in found:
            mask = _and(tally, found, facet)
            kept, rest = kept_of(mask)
        else:
            mask, (kept, rest) = everything, kept_everything
        counted = _bincount(tally, facet, mask, kept, rest)
        counted[0] = 0  # no value
        candidates = np.nonzero(counted)[0]
        if facet_q is not None and facet_q[0] == facet:
            candidates = np.intersect1d(candidates, tally.vocab[facet].matching(facet_q[1]))
        rank = tally.rank(facet)
        ordered = candidates[np.lexsort((rank[candidates], -counted[candidates]))][:limit]
        values = tally.vocab[facet].values
        shown = {values[c]: int(counted[c]) for c in ordered}
        for value in browse.values(facet):
            if value not in shown:
                code = tally.vocab[facet].codes.get(value)
                shown[value] = int(counted[code]) if code else 0
        out[facet] = [{"value": v, "count": n} for v, n in shown.items()]
    return total, out


# --- profiles -------------------------------------------------------------------------------


def _cents(tally: Tally) -> np.ndarray:
    """Each process's amount in whole cents (0 without one): sums of them are exact."""
    if tally.dialect == "sqlite":
        return np.rint(tally.amount * 100).astype(np.int64)
    return tally.amount


def _money(cents: float) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _grouped(codes: np.ndarray, size: int, mask: np.ndarray, cents: np.ndarray, has: np.ndarray):
    """Per code under ``mask``: processes, processes with an amount, and the sum of cents."""
    inside = codes[mask]
    n = np.bincount(inside, minlength=size)
    priced = np.bincount(inside, weights=has[mask], minlength=size)
    total = np.bincount(inside, weights=cents[mask] * has[mask], minlength=size)
    return n, priced, total


def _top(counted: np.ndarray, rank: np.ndarray, limit: int) -> np.ndarray:
    """The codes with the largest counts (then by value), code 0 (no value) left out."""
    counted = counted.copy()
    counted[0] = 0
    found = np.nonzero(counted)[0]
    return found[np.lexsort((rank[found], -counted[found]))][:limit]


def profile(tally: Tally, kind: str, key: str) -> dict | None:
    """What ``queries.profile`` computes (orders, totals per year and currency, spending per
    month, top counterparties with shares, industries, regions), from the tally, without
    names (the caller looks them up); None when no process matches. Sums are exact, in cents;
    a counterparty without an identifier is not listed."""
    vocab = tally.vocab[kind]
    code = vocab.codes.get(key)
    if code is None:
        return None
    if kind == "supplier":
        pos, codes = tally.multi["supplier"]
        where = np.zeros(tally.size, dtype=bool)
        where[pos[codes == code]] = True
    else:
        where = tally.single[kind] == code
    orders = int(where.sum())
    if not orders:
        return None
    kinds, statuses = tally.vocab["kind"].codes, tally.vocab["status"].codes
    spent = where & (tally.single["kind"] == kinds.get("order", -1))
    if "cancelled" in statuses:
        spent &= tally.single["status"] != statuses["cancelled"]
    cents, has = _cents(tally), tally.has_amount
    currency = tally.single["currency"]
    currencies = tally.vocab["currency"].values
    width = len(currencies)

    def by_currency(codes: np.ndarray, values: list) -> list[tuple]:
        n, priced, total = _grouped(codes * width + currency, len(values) * width, spent, cents, has)
        out = []
        for combined in np.nonzero(n)[0]:
            value, money = values[combined // width], currencies[combined % width]
            amount = _money(total[combined]) if priced[combined] else None
            out.append((value, money, int(n[combined]), amount))
        return out

    years = sorted(
        by_currency(tally.single["year"], tally.vocab["year"].values),
        key=lambda r: (r[0] is None, r[0] or "", r[1] is None, r[1] or ""),
    )
    months = sorted(
        (r for r in by_currency(tally.single["month"], tally.vocab["month"].values) if r[0] is not None),
        key=lambda r: (r[0], r[1] is None, r[1] or ""),
    )
    if kind == "supplier":
        other = "buyer"
        buyers = len(tally.vocab["buyer"].values)
        n, priced, total = _grouped(tally.single["buyer"], buyers, spent, cents, has)
    else:
        other = "supplier"
        pos, codes = tally.multi["supplier"]
        inside = spent[pos]
        size = len(tally.vocab["supplier"].values)
        n = np.bincount(codes[inside], minlength=size)
        priced = np.bincount(codes[inside], weights=has[pos[inside]], minlength=size)
        total = np.bincount(codes[inside], weights=(cents * has)[pos[inside]], minlength=size)
    values = tally.vocab[other].values
    counterparties = [
        {
            "id": values[c],
            "orders": int(n[c]),
            "amount": _money(total[c]) if priced[c] else None,
            "share": int(n[c]) / orders,
        }
        for c in _top(n, tally.rank(other), 10)
    ]
    kept = np.flatnonzero(where)
    industries = _count(tally, "segment", where, kept)
    regions = np.bincount(tally.single["region"][where], minlength=len(tally.vocab["region"].values))
    return {
        "kind": kind,
        "id": key,
        "orders": orders,
        "years": [{"year": y, "currency": c, "orders": k, "amount": a} for y, c, k, a in years],
        "months": [{"month": m, "currency": c, "amount": a, "orders": k} for m, c, k, a in months],
        "counterparties": counterparties,
        "industries": [
            {"segment": tally.vocab["segment"].values[c], "orders": int(industries[c])}
            for c in _top(industries, tally.rank("segment"), 10)
        ],
        "regions": [
            {"region": tally.vocab["region"].values[c], "orders": int(regions[c])}
            for c in _top(regions, tally.rank("region"), 10)
        ],
    }
