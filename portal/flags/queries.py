"""Reading the flags: what the page, the JSON API, the command and the dashboards show.

Every function takes a connection and returns plain values (JSON-ready: numbers, strings,
None). A flagged thing carries its links: paths relative to the site's root (``links``:
``order``, ``buyer``, ``supplier``, ``agreement``, and ``orders``, the browse listing of the
orders behind it with the same filters).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from sqlalchemy import Connection, and_, func, select

from portal.flags.definitions import BY_CODE, FLAGS
from portal.flags.tables import flag_facts, flag_hits

#: Columns of a flagged thing, in the order ``veraz flags --format csv`` writes them.
COLUMNS = (
    "flag",
    "subject",
    "ocid",
    "buyer_id",
    "supplier_id",
    "agreement_ocid",
    "month",
    "amount",
    "currency",
    "orders",
    "value",
    "threshold",
    "detail",
)


@dataclass(frozen=True)
class Filters:
    """What to read: one buyer, supplier or framework agreement, and a range of months
    (``YYYY-MM``, inclusive). Months filter orders by their month and entity flags by the
    months of the orders behind them (an entity is listed when any falls in the range)."""

    buyer: str | None = None
    supplier: str | None = None
    agreement: str | None = None
    month_from: str | None = None
    month_to: str | None = None


def _seg(value: str) -> str:
    return quote(value, safe="")


def links(row: dict) -> dict[str, str]:
    """Paths of the pages of what a flagged row names, and of the listing of its orders."""
    out: dict[str, str] = {}
    if row.get("ocid"):
        out["order"] = f"/contracts/{_seg(row['ocid'])}"
    if row.get("buyer_id"):
        out["buyer"] = f"/buyers/{_seg(row['buyer_id'])}"
    if row.get("supplier_id"):
        out["supplier"] = f"/suppliers/{_seg(row['supplier_id'])}"
    if row.get("agreement_ocid"):
        out["agreement"] = f"/agreements/{_seg(row['agreement_ocid'])}"
    if not row.get("ocid"):
        args = [
            (name, row[key])
            for name, key in (
                ("buyer", "buyer_id"),
                ("supplier", "supplier_id"),
                ("agreement", "agreement_ocid"),
            )
            if row.get(key)
        ]
        if args:
            out["orders"] = "/contracts?" + urlencode(args)
    return out


def _row(mapping) -> dict:
    row = {name: mapping[name] for name in COLUMNS}
    row["amount"] = float(row["amount"]) if row["amount"] is not None else None
    try:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
    except ValueError:
        row["detail"] = {}
    row["links"] = links(row)
    return row


def _where(filters: Filters):
    conds = []
    if filters.buyer is not None:
        conds.append(flag_hits.c.buyer_id == filters.buyer)
    if filters.supplier is not None:
        conds.append(flag_hits.c.supplier_id == filters.supplier)
    if filters.agreement is not None:
        conds.append(flag_hits.c.agreement_ocid == filters.agreement)
    if filters.month_from is not None or filters.month_to is not None:
        orders = []
        if filters.month_from is not None:
            orders.append(flag_hits.c.month >= filters.month_from)
        if filters.month_to is not None:
            orders.append(flag_hits.c.month <= filters.month_to)
        # An entity flag (no month of its own) is kept when an order behind it is in range.
        behind = select(flag_facts.c.ocid).where(_behind(), *_month_range(filters))
        conds.append(and_(*orders) | (flag_hits.c.month.is_(None) & behind.exists()))
    return conds


def _month_range(filters: Filters) -> list:
    out = []
    if filters.month_from is not None:
        out.append(flag_facts.c.month >= filters.month_from)
    if filters.month_to is not None:
        out.append(flag_facts.c.month <= filters.month_to)
    return out


def _behind():
    """SQL: ``flag_facts`` rows that are orders behind the ``flag_hits`` row (its buyer, its
    supplier, both, or its agreement; for an order hit, the order itself)."""
    same = lambda a, b: (a.is_(None)) | (b == a)  # noqa: E731 - a column that names nothing matches all
    return and_(
        flag_facts.c.live.is_(True),
        flag_facts.c.cancelled.is_(False),
        (flag_hits.c.ocid.is_(None)) | (flag_facts.c.ocid == flag_hits.c.ocid),
        same(flag_hits.c.buyer_id, flag_facts.c.buyer_id),
        same(flag_hits.c.supplier_id, flag_facts.c.supplier_id),
        same(flag_hits.c.agreement_ocid, flag_facts.c.agreement_ocid),
        same(flag_hits.c.currency, flag_facts.c.currency),
    )


def summary(conn: Connection, filters: Filters = Filters()) -> list[dict]:
    """Every flag (in :data:`FLAGS` order) with how many things it marks (``count``) and how
    many distinct orders, buyers and suppliers they name."""
    query = (
        select(
            flag_hits.c.flag,
            func.count(),
            func.count(flag_hits.c.ocid.distinct()),
            func.count(flag_hits.c.buyer_id.distinct()),
            func.count(flag_hits.c.supplier_id.distinct()),
        )
        .where(*_where(filters))
        .group_by(flag_hits.c.flag)
    )
    counts = {flag: (n, o, b, s) for flag, n, o, b, s in conn.execute(query)}
    out = []
    for flag in FLAGS:
        n, orders, buyers, suppliers = counts.get(flag.code, (0, 0, 0, 0))
        out.append(
            {
                "code": flag.code,
                "subject": flag.subject,
                "count": n,
                "orders": orders,
                "buyers": buyers,
                "suppliers": suppliers,
            }
        )
    return out


def flagged(
    conn: Connection, code: str, filters: Filters = Filters(), *, limit: int = 100, offset: int = 0
) -> list[dict]:
    """The things ``code`` flags, the furthest past its threshold first (then by id), each a
    dict of :data:`COLUMNS` with ``detail`` decoded and ``links``."""
    if code not in BY_CODE:
        raise KeyError(code)
    query = (
        select(flag_hits)
        .where(flag_hits.c.flag == code, *_where(filters))
        .order_by(flag_hits.c.value.desc(), flag_hits.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_row(m) for m in conn.execute(query).mappings()]


def counts_by_month(conn: Connection, code: str, filters: Filters = Filters()) -> list[dict]:
    """``[{"month", "orders"}]``: per month, the distinct orders behind the flag's hits (for an
    order flag, the flagged orders; for an entity flag, the orders of the flagged buyer,
    supplier, pair or agreement in the flag's currency), oldest month first."""
    if code not in BY_CODE:
        raise KeyError(code)
    hit_conds = [flag_hits.c.flag == code]
    if filters.buyer is not None:
        hit_conds.append(flag_hits.c.buyer_id == filters.buyer)
    if filters.supplier is not None:
        hit_conds.append(flag_hits.c.supplier_id == filters.supplier)
    if filters.agreement is not None:
        hit_conds.append(flag_hits.c.agreement_ocid == filters.agreement)
    query = (
        select(flag_facts.c.month, func.count(flag_facts.c.ocid.distinct()))
        .select_from(flag_hits.join(flag_facts, _behind()))
        .where(*hit_conds, flag_facts.c.month.is_not(None), *_month_range(filters))
        .group_by(flag_facts.c.month)
        .order_by(flag_facts.c.month)
    )
    return [{"month": month, "orders": int(n)} for month, n in conn.execute(query)]


def flags_of_order(conn: Connection, ocid: str) -> list[dict]:
    """Every flag that concerns one order: raised on it, or on its buyer, supplier, their pair
    or its framework agreement (for the currency it is in)."""
    order = conn.execute(
        select(
            flag_facts.c.buyer_id,
            flag_facts.c.supplier_id,
            flag_facts.c.agreement_ocid,
            flag_facts.c.currency,
        ).where(flag_facts.c.ocid == ocid)
    ).first()
    conds = flag_hits.c.ocid == ocid
    if order is not None:
        buyer, supplier, agreement, currency = order

        def matches(column, value):
            return column.is_(None) | (column == value) if value is not None else column.is_(None)

        entity = and_(
            flag_hits.c.ocid.is_(None),
            matches(flag_hits.c.buyer_id, buyer),
            matches(flag_hits.c.supplier_id, supplier),
            matches(flag_hits.c.agreement_ocid, agreement),
            matches(flag_hits.c.currency, currency),
            # Every entity hit names at least one of them.
            (flag_hits.c.buyer_id.is_not(None))
            | (flag_hits.c.supplier_id.is_not(None))
            | (flag_hits.c.agreement_ocid.is_not(None)),
        )
        conds = conds | entity
    rows = [_row(m) for m in conn.execute(select(flag_hits).where(conds).order_by(flag_hits.c.id)).mappings()]
    order_index = {f.code: i for i, f in enumerate(FLAGS)}
    return sorted(rows, key=lambda r: order_index.get(r["flag"], len(FLAGS)))


def all_rows(conn: Connection, filters: Filters = Filters()) -> Iterator[dict]:
    """Every flagged thing (for ``veraz flags`` and downloads), by flag then id; streamed."""
    order_index = {f.code: i for i, f in enumerate(FLAGS)}
    for code in sorted(order_index, key=order_index.__getitem__):
        query = select(flag_hits).where(flag_hits.c.flag == code, *_where(filters)).order_by(flag_hits.c.id)
        for m in conn.execute(query).mappings():
            yield _row(m)
