"""Spending aggregates over ``records`` (what counts as spending: ``portal.queries.SPENDING``).

Each function reads the indexed browse columns, never the compiled releases, so it stays fast
on millions of orders. Amounts are summed per currency: Veraz never adds soles to dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, func, select

from portal.models import records
from portal.queries import SPENDING

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
