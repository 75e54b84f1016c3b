"""Spending aggregates over ``records`` (what counts as spending: ``portal.queries.SPENDING``).

Each function reads the indexed browse columns, never the compiled releases, so it stays fast
on millions of orders. Amounts are summed per currency: Veraz never adds soles to dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Column, ColumnElement, Connection, and_, func, select

from portal.models import item_lines, records
from portal.queries import SPENDING
from portal.readmodel.tally import Tally

#: The dimensions a dashboard can group spending by, and the columns that name a group.
DIMENSIONS = {
    "buyer": (records.c.buyer_id, records.c.buyer_name),
    "supplier": (records.c.supplier_id, records.c.supplier_name),
    "region": (records.c.region, records.c.region),
    "category": (records.c.category, records.c.category),
    "classification": (records.c.classification, records.c.classification),
    "agreement": (records.c.agreement_ocid, records.c.agreement_ocid),
}


@dataclass(frozen=True)
class Group:
    key: str | None
    label: str | None
    orders: int
    amount: Decimal
    currency: str | None


def spending_by(
    conn: Connection,
    dimension: str,
    *,
    currency: str = "PEN",
    limit: int = 20,
    since: str | None = None,
    until: str | None = None,
) -> list[Group]:
    """The ``limit`` largest groups of ``dimension`` by amount ordered in ``currency``.

    ``since``/``until`` bound the order date (ISO 8601 strings, ``until`` exclusive)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; one of {', '.join(DIMENSIONS)}")
    key, label = DIMENSIONS[dimension]
    amount = func.coalesce(func.sum(records.c.amount), 0)
    query = (
        select(key, func.max(label), func.count(), amount)
        .where(SPENDING, records.c.currency == currency)
        .group_by(key)
        .order_by(amount.desc(), key)
        .limit(limit)
    )
    if since:
        query = query.where(records.c.date >= since)
    if until:
        query = query.where(records.c.date < until)
    return [Group(k, lbl, n, Decimal(str(total)), currency) for k, lbl, n, total in conn.execute(query)]


def spending_by_month(conn: Connection, *, currency: str = "PEN") -> list[Group]:
    """Orders and amount per calendar month of the order date (``YYYY-MM``), oldest first."""
    month = func.substr(records.c.date, 1, 7)
    amount = func.coalesce(func.sum(records.c.amount), 0)
    query = (
        select(month, func.count(), amount)
        .where(SPENDING, records.c.currency == currency, records.c.date.is_not(None))
        .group_by(month)
        .order_by(month)
    )
    return [Group(m, m, n, Decimal(str(total)), currency) for m, n, total in conn.execute(query)]


def supplier_share_of_buyer(
    conn: Connection, buyer_id: str, *, currency: str = "PEN", limit: int = 10
) -> list[tuple[Group, float]]:
    """A buyer's suppliers with their share of its spending (to spot one supplier dominating)."""
    amount = func.coalesce(func.sum(records.c.amount), 0)
    rows = conn.execute(
        select(records.c.supplier_id, func.max(records.c.supplier_name), func.count(), amount)
        .where(SPENDING, records.c.currency == currency, records.c.buyer_id == buyer_id)
        .group_by(records.c.supplier_id)
        .order_by(amount.desc(), records.c.supplier_id)
    ).all()
    total = sum((Decimal(str(r[3])) for r in rows), Decimal(0))
    out = []
    for sid, name, n, value in rows[:limit]:
        value = Decimal(str(value))
        out.append((Group(sid, name, n, value, currency), float(value / total) if total else 0.0))
    return out


# --- the charts' aggregates under the shared filters -----------------------------------------

#: What a chart can break spending down by: time, or a ranked dimension.
BREAKDOWNS = ("month", "year", "buyer", "supplier", "region", "segment", "agreement")


def _where(conds: list) -> ColumnElement[bool]:
    return and_(SPENDING, records.c.currency == PEN, *conds)


#: The currency the dashboards chart (sums are never across currencies).
PEN = "PEN"


def breakdown(
    conn: Connection, by: str, conds: list, *, limit: int | None = None, rank: str = "amount"
) -> list[Group]:
    """Orders and amount spent in soles per group of ``by`` under the filters ``conds``
    (``portal.dashboards.filters.conditions``): months and years oldest first, every other
    breakdown largest first (by amount, or by orders when ``rank`` is ``"orders"``), then by
    key, at most ``limit`` groups.

    ``region`` is the delivery region (the listing's region filter); ``segment`` sums the item
    lines of each UNSPSC segment (an order of two segments counts in both, with each line's
    amount); ``supplier`` is the order's supplier as the browse columns keep it."""
    if rank not in ("amount", "orders"):
        raise ValueError(f"unknown rank {rank!r}; amount or orders")
    if by == "year":
        # Years are folded from months: grouping by the month column itself reads an index in
        # its order (``month``), where grouping by a substring of it sorts every order.
        years: dict[str, Group] = {}
        for g in breakdown(conn, "month", conds):
            year = str(g.key)[:4]
            had = years.get(year, Group(year, year, 0, Decimal(0), PEN))
            years[year] = Group(year, year, had.orders + g.orders, had.amount + g.amount, PEN)
        return list(years.values())[:limit] if limit is not None else list(years.values())
    where = _where(conds)
    amount: ColumnElement
    if by == "month":
        key = records.c.month
        amount = func.coalesce(func.sum(records.c.amount), 0)
        query = (
            select(key, key, func.count(), amount)
            .where(where, records.c.month.is_not(None))
            .group_by(key)
            .order_by(key)
        )
    elif by == "segment":
        key = item_lines.c.segment
        amount = func.coalesce(func.sum(item_lines.c.amount), 0)
        query = (
            select(key, key, func.count(item_lines.c.ocid.distinct()), amount)
            .join_from(item_lines, records, item_lines.c.ocid == records.c.ocid)
            .where(where, key.is_not(None), item_lines.c.currency == PEN)
            .group_by(key)
            .order_by((amount if rank == "amount" else func.count(item_lines.c.ocid.distinct())).desc(), key)
        )
    elif by in _NAMED:
        # Grouped by the key alone (the columns an index can cover); the names of the few groups
        # shown are looked up after, one indexed lookup each.
        key = _NAMED[by][0]
        amount = func.coalesce(func.sum(records.c.amount), 0)
        query = (
            select(key, key, func.count(), amount)
            .where(where, key.is_not(None))
            .group_by(key)
            .order_by((amount if rank == "amount" else func.count()).desc(), key)
        )
    else:
        raise ValueError(f"unknown breakdown {by!r}; one of {', '.join(BREAKDOWNS)}")
    if limit is not None:
        query = query.limit(limit)
    groups = [Group(k, lbl, int(n), _cents(total), PEN) for k, lbl, n, total in conn.execute(query)]
    return _named(conn, by, groups)


def _named(conn: Connection, by: str, groups: list[Group]) -> list[Group]:
    """Groups of a ranked breakdown named by their newest order's name (one lookup each)."""
    named, name = _NAMED.get(by, (None, None))
    if named is not None and name is not None:
        groups = [
            Group(
                g.key,
                conn.execute(
                    select(name).where(named == g.key).order_by(records.c.date.desc()).limit(1)
                ).scalar(),
                g.orders,
                g.amount,
                g.currency,
            )
            for g in groups
        ]
    return groups


#: Ranked breakdowns: the key column and the column naming a key (the newest order's name).
_NAMED: dict[str, tuple[Column, Column | None]] = {
    "buyer": (records.c.buyer_id, records.c.buyer_name),
    "supplier": (records.c.supplier_id, records.c.supplier_name),
    "region": (records.c.delivery_region, None),
    "agreement": (records.c.agreement_ocid, records.c.agreement_title),
}


CENTS = Decimal("0.01")


def _cents(total: object) -> Decimal:
    """A sum in cents (SQLite sums floats: 0.1 + 0.2 comes back as 0.30000000000000004);
    a sum too large to round is kept as the database gave it."""
    value = Decimal(str(total))
    try:
        return value.quantize(CENTS)
    except ArithmeticError:
        return value


def totals(conn: Connection, conds: list) -> Group:
    """Every order and its amount in soles under the filters."""
    n, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(records.c.amount), 0)).where(_where(conds))
    ).one()
    return Group(None, None, int(n), _cents(total), PEN)


def summarised(
    conn: Connection,
    by: str,
    selected: dict[str, tuple[str, ...]],
    *,
    limit: int | None = None,
    rank: str = "amount",
) -> list[Group] | None:
    """:func:`breakdown` (``by`` one of :data:`BREAKDOWNS`, or ``"total"`` for :func:`totals`)
    read from the summary tables (``portal.dashboards.rollup``), the same groups in the same
    order; None when they cannot answer: not refreshed since the last write, or filters other
    than years and one industry."""
    from portal.dashboards import rollup

    if rank not in ("amount", "orders"):
        raise ValueError(f"unknown rank {rank!r}; amount or orders")
    if by not in (*BREAKDOWNS, "total"):
        raise ValueError(f"unknown breakdown {by!r}; one of {', '.join(BREAKDOWNS)}")
    if not rollup.current(conn):
        return None
    scope = rollup.servable(conn, selected)
    if scope is None:
        return None
    segment, years = scope
    if by == "year":
        folded: dict[str, Group] = {}
        for g in summarised(conn, "month", selected) or []:
            year = str(g.key)[:4]
            had = folded.get(year, Group(year, year, 0, Decimal(0), PEN))
            folded[year] = Group(year, year, had.orders + g.orders, had.amount + g.amount, PEN)
        return list(folded.values())[:limit] if limit is not None else list(folded.values())
    rows = rollup.sums(conn, by, segment, years, limit=limit, rank=rank)
    if by == "total":
        return [Group(None, None, n, _cents(total), PEN) for _k, n, total in rows]
    return _named(conn, by, [Group(k, k, n, _cents(total), PEN) for k, n, total in rows])


def tallied(
    conn: Connection,
    tally: Tally,
    by: str,
    selected: dict[str, tuple[str, ...]],
    *,
    limit: int | None = None,
    rank: str = "amount",
) -> list[Group] | None:
    """:func:`breakdown` (``by`` one of :data:`BREAKDOWNS`, or ``"total"`` for :func:`totals`)
    counted from the facet tally (``portal.dashboards.tallied``), the same groups in the same
    order, named as :func:`_named` names them; None when the tally cannot sum them exactly."""
    from portal.dashboards import tallied as counted

    if by not in (*BREAKDOWNS, "total"):
        raise ValueError(f"unknown breakdown {by!r}; one of {', '.join(BREAKDOWNS)}")
    found = counted.breakdown(tally, by, selected, limit=limit, rank=rank)
    if found is None:
        return None
    if by == "total":
        return [Group(None, None, g.orders, g.amount, PEN) for g in found]
    return _named(conn, by, [Group(g.key, g.key, g.orders, g.amount, PEN) for g in found])
