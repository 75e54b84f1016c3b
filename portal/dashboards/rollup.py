"""Spending summed per group, kept beside the read model so that no chart reads every order.

An unfiltered chart summed every spending order of ``records`` (0.1-0.7 s at a million
orders). ``dash_spending`` (``portal.dashboards.tables``) holds the same sums per group:

* ``("month", "", year, month, segment)``: orders and amount per ``records.month``;
* ``(dimension, key, year, "", segment)`` (and year ``"*"``: every year) for ``buyer``
  (``buyer_id``), ``supplier`` (``supplier_id``), ``region`` (``delivery_region``),
  ``agreement`` (``agreement_ocid``): orders and amount per key and year; a NULL key has no
  row (the charts leave it out);
* ``("segment", K, year, "", segment)``: per UNSPSC segment ``K``, the orders with a line of
  ``K`` in soles and the sum of those lines' amounts.

``year`` is ``records.month``'s year (the dashboards' ``year`` filter): ``""`` without a month,
and ``"~YYYY"`` for an order whose date does not start with its month's year (a date-time whose
local month is in another year than the text): the year filter's date range then decides, so
such rows make a year-filtered chart read ``records`` instead. ``segment`` is ``""`` for every
order, and each UNSPSC segment of any item line of the order (the ``segment`` filter, any
currency) for the orders having one: a chart under one segment reads those rows.

Each summed order is what :func:`order_of` makes of its ``records`` row and item lines; its
contribution is kept in ``dash_orders`` so that :func:`refresh` takes a changed order's old sums
out and puts its new ones in, reading only the records written since the last refresh
(``records.updated_at``, indexed), as ``portal.readmodel.tally`` follows the read model. When
much changed (a reindex) or the number of summed orders disagrees with ``records``, everything
is summed again. Sums are exact: amounts are added as decimals, never as floats.

The charts read these tables only when they follow the read model's newest ``updated_at``
(:func:`current`); otherwise (before the first refresh, or between a write and the refresh after
it) they read ``records`` as before, so a chart is never stale.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, select, update

from portal.dashboards.tables import dash_orders, dash_spending, dash_state
from portal.models import item_lines, records
from portal.queries import SPENDING

#: The currency summed (the dashboards chart soles only).
PEN = "PEN"
#: Dimensions keyed by a records column, then by year.
KEYED = {
    "buyer": records.c.buyer_id,
    "supplier": records.c.supplier_id,
    "region": records.c.delivery_region,
    "agreement": records.c.agreement_ocid,
}
#: Above this share of records changed since the last refresh, sum everything again.
RELOAD_SHARE = 0.05
CHUNK = 2_000
#: The year of the rows summing every year of a key (never a year filter's value).
ALL_YEARS = "*"

Key = tuple[str, str, str, str, str]  # dimension, segment, year, key, month


@dataclass(frozen=True)
class Order:
    """What one spending order adds to the sums."""

    keys: tuple[str | None, ...]  # buyer, supplier, region, agreement (KEYED order)
    year: str
    month: str
    amount: str | None  # decimal text, as stored
    lines: tuple[tuple[str, str | None], ...]  # (segment, sum of its soles lines or None), sorted
    segments: tuple[str, ...]  # every segment of any item line (the segment filter), sorted

    def text(self) -> str:
        return json.dumps(
            [
                list(self.keys),
                self.year,
                self.month,
                self.amount,
                [list(x) for x in self.lines],
                list(self.segments),
            ],
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, text: str) -> Order:
        keys, year, month, amount, lines, segments = json.loads(text)
        return cls(tuple(keys), year, month, amount, tuple((s, a) for s, a in lines), tuple(segments))

    def sums(self) -> Iterator[tuple[Key, Decimal | None]]:
        """Each row this order adds to, with the amount it adds (None: an order, no amount)."""
        amount = None if self.amount is None else Decimal(self.amount)
        for segment in ("", *self.segments):
            yield ("month", segment, self.year, "", self.month), amount
            # Per key, each year's row and the row of every year ("*"), which an unfiltered
            # chart reads alone (one row per key instead of one per key and year).
            for year in (self.year, ALL_YEARS):
                for dimension, key in zip(KEYED, self.keys, strict=True):
                    if key is not None:
                        yield (dimension, segment, year, key, ""), amount
                for line_segment, line_amount in self.lines:
                    yield (
                        ("segment", segment, year, line_segment, ""),
                        None if line_amount is None else Decimal(line_amount),
                    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")


def order_of(row: Any, lines: Iterable[Any]) -> Order:
    """The contribution of a spending order (``row``: ocid, the KEYED columns, month, date,
    amount) with its item lines (segment, currency, amount)."""
    month = row.month or ""
    year = month[:4]
    if month and not (row.date or "").startswith(year):
        year = "~" + year
    by_segment: dict[str, Decimal | None] = {}
    segments = set()
    for segment, currency, amount in lines:
        if segment is None:
            continue
        segments.add(segment)
        if currency == PEN:
            had = by_segment.get(segment)
            if amount is None:
                by_segment.setdefault(segment, None)
            else:
                by_segment[segment] = (had or Decimal(0)) + Decimal(str(amount))
    return Order(
        keys=tuple(getattr(row, c.name) for c in KEYED.values()),
        year=year,
        month=month,
        amount=_text(row.amount),
        lines=tuple(sorted((s, _text(a)) for s, a in by_segment.items())),
        segments=tuple(sorted(segments)),
    )


def _order_rows(conn: Connection, ocids: list[str] | None) -> Iterator[tuple[str, Order]]:
    """``(ocid, Order)`` of every spending order (or of those of ``ocids``), in ocid order."""
    query = (
        select(records.c.ocid, *KEYED.values(), records.c.month, records.c.date, records.c.amount)
        .where(SPENDING, records.c.currency == PEN)
        .order_by(records.c.ocid)
    )
    chunks: Iterable[list[str] | None] = [None] if ocids is None else _chunks(sorted(ocids))
    for chunk in chunks:
        q = query if chunk is None else query.where(records.c.ocid.in_(chunk))
        batch: list[Any] = []
        for row in conn.execute(q.execution_options(yield_per=CHUNK)):
            batch.append(row)
            if len(batch) >= CHUNK:
                yield from _with_lines(conn, batch)
                batch = []
        yield from _with_lines(conn, batch)


def _with_lines(conn: Connection, batch: list[Any]) -> Iterator[tuple[str, Order]]:
    if not batch:
        return
    lines: dict[str, list[tuple]] = defaultdict(list)
    query = select(item_lines.c.ocid, item_lines.c.segment, item_lines.c.currency, item_lines.c.amount).where(
        item_lines.c.ocid.in_([r.ocid for r in batch]), item_lines.c.segment.is_not(None)
    )
    # A second connection would see another snapshot; the batch's rows are held, so reading on
    # the same connection between fetches is safe.
    for ocid, segment, currency, amount in conn.execute(query).all():
        lines[ocid].append((segment, currency, amount))
    for row in batch:
        yield row.ocid, order_of(row, lines.get(row.ocid, ()))


def _chunks(values: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _add(sums: dict[Key, list], order: Order, sign: int) -> None:
    for key, amount in order.sums():
        cell = sums.get(key)
        if cell is None:
            cell = sums[key] = [0, Decimal(0)]
        cell[0] += sign
        if amount is not None:
            cell[1] += sign * amount


def compute(conn: Connection) -> tuple[dict[Key, list], dict[str, str]]:
    """Every sum and every order's contribution, from the read model as it stands."""
    sums: dict[Key, list] = {}
    contributions: dict[str, str] = {}
    for ocid, order in _order_rows(conn, None):
        _add(sums, order, 1)
        contributions[ocid] = order.text()
    return sums, contributions


# --- refreshing -----------------------------------------------------------------------------


@dataclass
class RefreshSummary:
    full: bool
    orders: int = 0  # orders whose contribution was read
    changed: int = 0  # orders whose contribution changed
    rows: int = 0  # dash_spending rows written or deleted
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)


def _state(conn: Connection) -> dict[str, Any]:
    return {
        name: json.loads(value) for name, value in conn.execute(select(dash_state.c.name, dash_state.c.value))
    }


def _newest(conn: Connection) -> datetime | None:
    return conn.execute(select(func.max(records.c.updated_at))).scalar()


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _spending_count(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(records).where(SPENDING, records.c.currency == PEN)
        ).scalar_one()
    )


def refresh(engine: Engine, *, full: bool = False) -> RefreshSummary:
    """Bring the summary tables up to date with ``records`` (module docstring), in one
    transaction."""
    started = time.perf_counter()
    with engine.begin() as conn:
        state = _state(conn)
        newest = _newest(conn)
        summary = RefreshSummary(full=full or "loaded_at" not in state)
        if not summary.full and state["loaded_at"] is not None:
            # Publishing has one writer (portal.publishing), which stamps rows in the order it
            # writes them: what was written since the newest stamp seen is at or after it.
            since = datetime.fromisoformat(state["loaded_at"])
            changed = list(
                conn.execute(select(records.c.ocid).where(records.c.updated_at >= since)).scalars()
            )
            total = int(conn.execute(select(func.count()).select_from(records)).scalar_one())
            if len(changed) > max(CHUNK, RELOAD_SHARE * total):
                summary.full = True
                summary.reasons.append(f"{len(changed):,} of {total:,} records changed")
            else:
                _apply(conn, changed, summary)
                summary.orders = len(changed)
                ledger = int(conn.execute(select(func.count()).select_from(dash_orders)).scalar_one())
                if ledger != _spending_count(conn):
                    summary.full = True
                    summary.reasons.append("the summed orders differ from the read model's")
        elif not summary.full:  # the last refresh saw no record at all
            summary.full = True
        if summary.full:
            _rebuild(conn, summary)
        conn.execute(delete(dash_state))
        conn.execute(insert(dash_state), [{"name": "loaded_at", "value": json.dumps(_stamp(newest))}])
    summary.seconds = time.perf_counter() - started
    return summary


def _rebuild(conn: Connection, summary: RefreshSummary) -> None:
    conn.execute(delete(dash_spending))
    conn.execute(delete(dash_orders))
    sums: dict[Key, list] = {}
    batch: list[dict] = []
    for ocid, order in _order_rows(conn, None):
        _add(sums, order, 1)
        batch.append({"ocid": ocid, "contribution": order.text()})
        summary.orders += 1
        if len(batch) >= CHUNK:
            conn.execute(insert(dash_orders), batch)
            batch = []
    if batch:
        conn.execute(insert(dash_orders), batch)
    summary.changed = summary.orders
    rows = [_row(key, cell) for key, cell in sums.items() if cell[0]]
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(dash_spending), rows[i : i + CHUNK])
    summary.rows = len(rows)


def _row(key: Key, cell: list) -> dict:
    dimension, segment, year, k, month = key
    return {
        "dimension": dimension,
        "segment": segment,
        "year": year,
        "key": k,
        "month": month,
        "orders": cell[0],
        "amount": cell[1],
    }


def _apply(conn: Connection, ocids: list[str], summary: RefreshSummary) -> None:
    """Take the old contributions of ``ocids`` out of the sums and put their new ones in."""
    old: dict[str, str] = {}
    for chunk in _chunks(sorted(ocids)):
        old.update(
            conn.execute(
                select(dash_orders.c.ocid, dash_orders.c.contribution).where(dash_orders.c.ocid.in_(chunk))
            ).all()
        )
    new = {ocid: order.text() for ocid, order in _order_rows(conn, ocids)}
    deltas: dict[Key, list] = {}
    gone, added, replaced = [], [], []
    for ocid in set(old) | set(new):
        before, after = old.get(ocid), new.get(ocid)
        if before == after:
            continue
        summary.changed += 1
        if before is not None:
            _add(deltas, Order.parse(before), -1)
        if after is not None:
            _add(deltas, Order.parse(after), 1)
        if after is None:
            gone.append(ocid)
        elif before is None:
            added.append({"ocid": ocid, "contribution": after})
        else:
            replaced.append({"b_ocid": ocid, "contribution": after})
    for chunk in _chunks(gone):
        conn.execute(delete(dash_orders).where(dash_orders.c.ocid.in_(chunk)))
    if added:
        conn.execute(insert(dash_orders), added)
    if replaced:
        conn.execute(
            update(dash_orders)
            .where(dash_orders.c.ocid == bindparam("b_ocid"))
            .values(contribution=bindparam("contribution")),
            replaced,
        )
    deltas = {k: v for k, v in deltas.items() if v[0] or v[1]}
    if not deltas:
        return
    existing = _existing(conn, list(deltas))
    inserts, updates, deletes = [], [], []
    for key, (n, amount) in deltas.items():
        had = existing.get(key)
        if had is None:
            inserts.append(_row(key, [n, amount]))
            continue
        orders, total = had[0] + n, had[1] + amount
        where = dict(zip(("b_dimension", "b_segment", "b_year", "b_key", "b_month"), key, strict=True))
        if orders == 0:
            deletes.append(where)
        else:
            updates.append({**where, "orders": orders, "amount": total})
    t = dash_spending
    pk = and_(
        t.c.dimension == bindparam("b_dimension"),
        t.c.segment == bindparam("b_segment"),
        t.c.year == bindparam("b_year"),
        t.c.key == bindparam("b_key"),
        t.c.month == bindparam("b_month"),
    )
    if inserts:
        conn.execute(insert(t), inserts)
    if updates:
        conn.execute(
            update(t).where(pk).values(orders=bindparam("orders"), amount=bindparam("amount")), updates
        )
    if deletes:
        conn.execute(delete(t).where(pk), deletes)
    summary.rows = len(inserts) + len(updates) + len(deletes)


def _existing(conn: Connection, keys: list[Key]) -> dict[Key, tuple[int, Decimal]]:
    """The stored rows of ``keys``: read per (dimension, segment) by key, in chunks."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for dimension, segment, _year, key, _month in keys:
        wanted[(dimension, segment)].add(key)
    t = dash_spending
    out: dict[Key, tuple[int, Decimal]] = {}
    for (dimension, segment), names in wanted.items():
        for chunk in _chunks(sorted(names)):
            query = select(
                t.c.dimension, t.c.segment, t.c.year, t.c.key, t.c.month, t.c.orders, t.c.amount
            ).where(t.c.dimension == dimension, t.c.segment == segment, t.c.key.in_(chunk))
            for d, s, y, k, m, n, amount in conn.execute(query):
                out[(d, s, y, k, m)] = (int(n), Decimal(str(amount)))
    return out


# --- reading ---------------------------------------------------------------------------------


def current(conn: Connection) -> bool:
    """Whether the summary tables follow the read model as it stands (two small lookups)."""
    value = conn.execute(select(dash_state.c.value).where(dash_state.c.name == "loaded_at")).scalar()
    if value is None:
        return False
    return json.loads(value) == _stamp(_newest(conn))


def servable(conn: Connection, selected: dict[str, tuple[str, ...]]) -> tuple[str, tuple[str, ...]] | None:
    """``(segment, years)`` when the summary tables can answer under the filters ``selected``
    (years and at most one segment, no other filter), else None."""
    if set(selected) - {"year", "segment"} or len(selected.get("segment", ())) > 1:
        return None
    segment = selected.get("segment", ("",))[0]
    years = tuple(selected.get("year", ()))
    if years:
        t = dash_spending
        odd = conn.execute(
            select(t.c.year)
            .where(t.c.dimension == "month", t.c.segment == "", t.c.year.in_(["~" + y for y in years]))
            .limit(1)
        ).first()
        if odd is not None:
            return None
    return segment, years


def sums(
    conn: Connection,
    by: str,
    segment: str,
    years: tuple[str, ...],
    *,
    limit: int | None = None,
    rank: str = "amount",
) -> list[tuple[str, int, Any]]:
    """``(key, orders, amount)`` per group of ``by`` (``month``, a KEYED dimension, ``segment``,
    or ``total`` for one row of everything) from the summary tables: months oldest first, every
    other largest first (by amount or orders), then by key."""
    t = dash_spending
    orders, amount = func.sum(t.c.orders), func.coalesce(func.sum(t.c.amount), 0)
    where = [t.c.segment == segment]
    if years:
        where.append(t.c.year.in_(years))
    elif by not in ("month", "total"):  # the keyed rows of every year
        where.append(t.c.year == ALL_YEARS)
    if by == "total":
        n, total = conn.execute(select(orders, amount).where(t.c.dimension == "month", *where)).one()
        return [("", int(n or 0), total)]
    if by == "month":
        query = (
            select(t.c.month, orders, amount)
            .where(t.c.dimension == "month", t.c.month != "", *where)
            .group_by(t.c.month)
            .order_by(t.c.month)
        )
    else:
        query = (
            select(t.c.key, orders, amount)
            .where(t.c.dimension == by, *where)
            .group_by(t.c.key)
            .order_by((amount if rank == "amount" else orders).desc(), t.c.key)
        )
    if limit is not None:
        query = query.limit(limit)
    return [(k, int(n), a) for k, n, a in conn.execute(query)]


# --- the audit ---------------------------------------------------------------------------------


def check(conn: Connection, report) -> int:
    """Recompute the summary tables from the read model and compare (``veraz audit``): every
    order's contribution and every sum, ``report(subject, detail)`` for each difference. Only
    once refreshed (a database whose tables were never filled has its charts read ``records``).
    Returns the number of orders compared."""
    if "loaded_at" not in _state(conn) or not current(conn):
        if conn.execute(select(dash_state.c.name).limit(1)).first() is None:
            return 0
        report(
            "summary state",
            "the dashboards' summary tables do not follow the read model (run veraz dashboards refresh)",
        )
    want_sums: dict[Key, list] = {}
    compared = 0
    batch: list[tuple[str, Order]] = []

    def compare() -> None:
        query = select(dash_orders.c.ocid, dash_orders.c.contribution).where(
            dash_orders.c.ocid.in_([ocid for ocid, _ in batch])
        )
        stored = dict(conn.execute(query).all())
        for ocid, order in batch:
            want, have = order.text(), stored.get(ocid)
            if want != have:
                what = "missing" if have is None else f"{have} but the read model gives {want}"
                report(ocid, f"its dashboards contribution is {what}")
        batch.clear()

    for ocid, order in _order_rows(conn, None):
        _add(want_sums, order, 1)
        compared += 1
        batch.append((ocid, order))
        if len(batch) >= CHUNK:
            compare()
    if batch:
        compare()
    spending = select(records.c.ocid).where(SPENDING, records.c.currency == PEN)
    for (ocid,) in conn.execute(select(dash_orders.c.ocid).where(dash_orders.c.ocid.not_in(spending))):
        report(ocid, "its dashboards contribution is extra: it is not a spending order in soles")
    t = dash_spending
    rows = {
        (d, s, y, k, m): (int(n), Decimal(str(a)))
        for d, s, y, k, m, n, a in conn.execute(
            select(t.c.dimension, t.c.segment, t.c.year, t.c.key, t.c.month, t.c.orders, t.c.amount)
        )
    }
    cent = Decimal("0.01")
    for key in sorted(set(rows) | {k for k, v in want_sums.items() if v[0]}):
        want = want_sums.get(key)
        have = rows.get(key)
        subject = "summary " + "/".join(key)
        if want is None or not want[0]:
            report(subject, f"extra summary row ({have[0]} orders, {have[1]})")  # type: ignore[index]
        elif have is None:
            report(subject, f"missing summary row ({want[0]} orders, {want[1]})")
        elif have[0] != want[0] or have[1].quantize(cent) != Decimal(want[1]).quantize(cent):
            report(subject, f"{have[0]} orders, {have[1]} but the read model gives {want[0]}, {want[1]}")
    return compared
