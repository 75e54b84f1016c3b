"""Computing the red flags (:data:`portal.flags.FLAGS`) from ``flag_facts`` and ``flag_prices``.

The measures are pure functions of rows (``*_hits``), tested at every threshold's boundary; the
rest reads the rows a group needs and stores the hits. Each flag is computed per group (a buyer,
a product, a supplier, a framework agreement, an order): a partial refresh recomputes only the
groups its changed processes belong to, and replaces their rows in ``flag_hits``. Two figures
span every group (the fence of suppliers' industry counts and the quantile that makes an order
"large"); a partial refresh reuses the ones the last full refresh stored in ``flag_state``.

Quartiles and quantiles interpolate linearly between order statistics (as numpy's and pandas'
defaults, and R's type 7, which Cardinal's fences use).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, distinct, func, insert, or_, select

from portal.db import IN_CLAUSE_CHUNK
from portal.flags.tables import flag_facts, flag_hits, flag_prices

#: Flags computed per order, per buyer, per supplier, per product, per framework agreement.
ORDER_FLAGS = ("single_quote", "amendment_raise", "late_delivery", "partial_delivery")
BUYER_FLAGS = ("supplier_share", "buyer_hhi", "one_supplier", "year_end_rush")
PAIR_FLAGS = ("split",)
SUPPLIER_FLAGS = ("new_supplier", "heterogeneous_supplier")
PRICE_FLAGS = ("overprice",)
AGREEMENT_FLAGS = ("catalogue_hhi",)


class Order(NamedTuple):
    """What the flags read of one live process (a row of ``flag_facts``)."""

    ocid: str
    buyer_id: str | None
    supplier_id: str | None
    agreement_ocid: str | None
    amount: float | None
    currency: str | None
    day: date | None
    month: str | None
    quotes: int | None = None
    first_amount: float | None = None
    first_currency: str | None = None
    deliveries_met: int = 0
    deliveries_not_met: int = 0
    days_late: int | None = None
    cancelled: bool = False


_ORDER_COLUMNS = (
    flag_facts.c.ocid,
    flag_facts.c.buyer_id,
    flag_facts.c.supplier_id,
    flag_facts.c.agreement_ocid,
    flag_facts.c.amount,
    flag_facts.c.currency,
    flag_facts.c.date,
    flag_facts.c.month,
    flag_facts.c.quotes,
    flag_facts.c.first_amount,
    flag_facts.c.first_currency,
    flag_facts.c.deliveries_met,
    flag_facts.c.deliveries_not_met,
    flag_facts.c.days_late,
    flag_facts.c.cancelled,
)


def _order(row: Sequence) -> Order:
    day = None
    if row[6]:
        try:
            day = date.fromisoformat(row[6])
        except ValueError:
            day = None
    return Order(
        row[0],
        row[1],
        row[2],
        row[3],
        float(row[4]) if row[4] is not None else None,
        row[5],
        day,
        row[7],
        row[8],
        float(row[9]) if row[9] is not None else None,
        row[10],
        row[11] or 0,
        row[12] or 0,
        row[13],
        bool(row[14]),
    )


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (linear interpolation; R type 7)."""
    if not values:
        raise ValueError("no values")
    position = (len(values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def upper_fence(values: Sequence[float], factor: float) -> tuple[float, float, float, float]:
    """(Q1, median, Q3, Q3 + factor x (Q3 - Q1)) of sorted ``values``."""
    q1, median, q3 = quantile(values, 0.25), quantile(values, 0.5), quantile(values, 0.75)
    return q1, median, q3, q3 + factor * (q3 - q1)


def _hit(
    flag: str, subject: str, scope: str, value: float, threshold: float, detail: dict, **columns
) -> dict:
    row = {
        "flag": flag,
        "subject": subject,
        "scope": scope[:600],
        "ocid": None,
        "buyer_id": None,
        "supplier_id": None,
        "agreement_ocid": None,
        "month": None,
        "amount": None,
        "currency": None,
        "orders": None,
        "value": value,
        "threshold": threshold,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
    }
    row.update(columns)
    return row


def _order_hit(flag: str, scope: str, order: Order, value: float, threshold: float, detail: dict) -> dict:
    return _hit(
        flag,
        "order",
        scope,
        value,
        threshold,
        detail,
        ocid=order.ocid,
        buyer_id=order.buyer_id,
        supplier_id=order.supplier_id,
        agreement_ocid=order.agreement_ocid,
        month=order.month,
        amount=order.amount,
        currency=order.currency,
        orders=1,
    )


# --------------------------------------------------------------------------- per order


def order_hits(orders: Iterable[Order], th: dict) -> list[dict]:
    """``single_quote``, ``amendment_raise``, ``late_delivery``, ``partial_delivery``."""
    out: list[dict] = []
    raise_limit = th["FLAG_AMENDMENT_RAISE"]
    late_days = th["FLAG_LATE_DAYS"]
    for o in orders:
        if o.cancelled:
            continue
        if o.quotes == 1:
            out.append(_order_hit("single_quote", o.ocid, o, 1, 1, {"quotes": 1}))
        if (
            o.amount is not None
            and o.first_amount is not None
            and o.first_amount > 0
            and o.currency is not None
            and o.currency == o.first_currency
        ):
            rise = (o.amount - o.first_amount) / o.first_amount
            if rise > raise_limit:
                detail = {"first": o.first_amount, "current": o.amount}
                out.append(_order_hit("amendment_raise", o.ocid, o, rise, raise_limit, detail))
        if o.days_late is not None and o.days_late > late_days:
            out.append(
                _order_hit("late_delivery", o.ocid, o, o.days_late, late_days, {"daysLate": o.days_late})
            )
        if o.deliveries_met >= 1 and o.deliveries_not_met >= 1:
            detail = {"met": o.deliveries_met, "notMet": o.deliveries_not_met}
            out.append(_order_hit("partial_delivery", o.ocid, o, o.deliveries_not_met, 1, detail))
    return out


# --------------------------------------------------------------------------- per buyer


def split_hits(orders: Sequence[Order], th: dict) -> list[dict]:
    """Orders of one buyer that split a purchase under the threshold (see the flag's method)."""
    threshold, window = th["FLAG_SPLIT_THRESHOLD"], th["FLAG_SPLIT_WINDOW_DAYS"]
    low = th["FLAG_SPLIT_NEAR"] * threshold
    pairs: dict[str | None, list[Order]] = defaultdict(list)
    for o in orders:
        if (
            o.currency == th["FLAG_SPLIT_CURRENCY"]
            and o.amount is not None
            and o.day is not None
            and o.supplier_id is not None
            and low <= o.amount < threshold
        ):
            pairs[o.supplier_id].append(o)
    out = []
    for group in pairs.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda o: (o.day, o.ocid))
        best: dict[int, tuple[float, int, int]] = {}  # index -> (sum, first, end) of its best window
        j, total = 0, 0.0
        for i in range(len(group)):
            if j < i:
                j, total = i, 0.0
            while j < len(group) and (group[j].day - group[i].day).days <= window:  # type: ignore[operator]
                total += group[j].amount  # type: ignore[operator]
                j += 1
            if j - i >= 2 and total > threshold:
                for k in range(i, j):
                    if k not in best or total > best[k][0]:
                        best[k] = (total, i, j)
            total -= group[i].amount  # type: ignore[operator]
        for k, (total, i, j) in sorted(best.items()):
            members = [o.ocid for o in group[i:j]]
            detail = {"sum": round(total, 2), "orders": members[:20], "count": len(members)}
            scope = pair_scope(group[k].buyer_id, group[k].supplier_id)
            out.append(_order_hit("split", scope, group[k], total / threshold, 1.0, detail))
    return out


def pair_scope(buyer: str | None, supplier: str | None) -> str:
    """The scope of a flag computed per buyer-supplier pair (``split``)."""
    return json.dumps([buyer, supplier], ensure_ascii=False)


def concentration_from(
    buyer: str | None, currency: str, sums: dict[str, tuple[int, float]], th: dict
) -> list[dict]:
    """``supplier_share`` and ``buyer_hhi`` of one buyer in one currency, from each supplier's
    (orders, amount)."""
    # In the suppliers' order: a float sum depends on its order, and the rows of the kept sums
    # come in the order the database holds them, which differs after partial refreshes.
    cells = [cell for _, cell in sorted(sums.items())]
    orders = sum(n for n, _ in cells)
    if orders < th["FLAG_MIN_BUYER_ORDERS"]:
        return []
    total = sum(a for _, a in cells)
    if total <= 0:
        return []
    out = []
    hhi = sum((100 * a / total) ** 2 for _, a in cells)
    if hhi > th["FLAG_HHI_THRESHOLD"]:
        detail = {"suppliers": len(sums), "total": round(total, 2)}
        out.append(
            _hit(
                "buyer_hhi",
                "buyer",
                buyer or "",
                hhi,
                th["FLAG_HHI_THRESHOLD"],
                detail,
                buyer_id=buyer,
                currency=currency,
                amount=round(total, 2),
                orders=orders,
            )
        )
    for supplier, (n, amount) in sorted(sums.items()):
        share = amount / total
        if share > th["FLAG_SHARE_THRESHOLD"]:
            detail = {"total": round(total, 2), "buyerOrders": orders}
            out.append(
                _hit(
                    "supplier_share",
                    "pair",
                    buyer or "",
                    share,
                    th["FLAG_SHARE_THRESHOLD"],
                    detail,
                    buyer_id=buyer,
                    supplier_id=supplier,
                    currency=currency,
                    amount=round(amount, 2),
                    orders=n,
                )
            )
    return out


def concentration_hits(orders: Sequence[Order], th: dict) -> list[dict]:
    """``supplier_share`` and ``buyer_hhi`` of one buyer's orders, per currency."""
    sums: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    for o in orders:
        if o.currency is not None and o.amount is not None and o.supplier_id is not None:
            entry = sums[o.currency][o.supplier_id]
            entry[0] += 1
            entry[1] += o.amount
    buyer = orders[0].buyer_id if orders else None
    out = []
    for currency, by_supplier in sums.items():
        out.extend(concentration_from(buyer, currency, {k: (v[0], v[1]) for k, v in by_supplier.items()}, th))
    return out


def one_supplier_from(buyer: str | None, counts: dict[str, int], th: dict) -> list[dict]:
    """``one_supplier`` of one buyer, from its orders per supplier."""
    total = sum(counts.values())
    if not total or total < th["FLAG_MIN_BUYER_ORDERS"]:
        return []
    # Ties are broken by the supplier id, so that the result does not depend on row order.
    supplier, top = min(counts.items(), key=lambda item: (-item[1], item[0]))
    share = top / total
    if share < th["FLAG_ONE_SUPPLIER_SHARE"]:
        return []
    detail = {"buyerOrders": total, "supplierOrders": top}
    return [
        _hit(
            "one_supplier",
            "pair",
            buyer or "",
            share,
            th["FLAG_ONE_SUPPLIER_SHARE"],
            detail,
            buyer_id=buyer,
            supplier_id=supplier,
            orders=top,
        )
    ]


def one_supplier_hits(orders: Sequence[Order], th: dict) -> list[dict]:
    """``one_supplier``: the share of one buyer's orders (by number) its top supplier gets."""
    counts = Counter(o.supplier_id for o in orders if o.supplier_id is not None)
    return one_supplier_from(orders[0].buyer_id if orders else None, dict(counts), th)


def year_end_start(days: int) -> str:
    """``MM-DD`` of the first of the year's last ``days`` days (as in a year of 365 days; up to
    306 days, every year's is the same)."""
    if not 1 <= days <= 306:
        raise ValueError(f"FLAG_YEAR_END_DAYS must be between 1 and 306, not {days}")
    return (date(2001, 12, 31) - timedelta(days=days - 1)).strftime("%m-%d")


def year_end_from(
    buyer: str | None,
    year: int,
    currency: str,
    orders: int,
    total: float,
    late: int,
    late_total: float,
    th: dict,
) -> list[dict]:
    """``year_end_rush`` of one buyer, year and currency: ``orders`` placed for ``total``, of
    which ``late`` for ``late_total`` from :func:`year_end_start`."""
    if orders < th["FLAG_MIN_BUYER_ORDERS"] or total <= 0:
        return []
    share = late_total / total
    if share <= th["FLAG_YEAR_END_SHARE"]:
        return []
    start = f"{year}-{year_end_start(th['FLAG_YEAR_END_DAYS'])}"
    detail = {"year": year, "total": round(total, 2), "from": start, "yearEndOrders": late}
    return [
        _hit(
            "year_end_rush",
            "buyer",
            buyer or "",
            share,
            th["FLAG_YEAR_END_SHARE"],
            detail,
            buyer_id=buyer,
            currency=currency,
            amount=round(total, 2),
            orders=late,
            month=f"{year}-12",
        )
    ]


def year_end_hits(orders: Sequence[Order], th: dict) -> list[dict]:
    """``year_end_rush``: per year and currency, the share of one buyer's spending placed in
    the year's last ``FLAG_YEAR_END_DAYS`` days."""
    start = year_end_start(th["FLAG_YEAR_END_DAYS"])
    groups: dict[tuple[int, str], list] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    for o in orders:
        if o.day is not None and o.amount is not None and o.currency is not None:
            entry = groups[(o.day.year, o.currency)]
            entry[0] += 1
            entry[1] += o.amount
            if o.day.strftime("%m-%d") >= start:
                entry[2] += 1
                entry[3] += o.amount
    buyer = orders[0].buyer_id if orders else None
    out = []
    for (year, currency), (n, total, late, late_total) in sorted(groups.items()):
        out.extend(year_end_from(buyer, year, currency, n, total, late, late_total, th))
    return out


def buyer_hits(orders: Sequence[Order], th: dict) -> list[dict]:
    """Every per-buyer flag of one buyer's orders: ``split`` reads cancelled orders too (issuing
    split orders is the pattern, whatever became of them), the others only what was not
    cancelled (what the buyer spends)."""
    spent = [o for o in orders if not o.cancelled]
    return (
        split_hits(orders, th)
        + concentration_hits(spent, th)
        + one_supplier_hits(spent, th)
        + year_end_hits(spent, th)
    )


# --------------------------------------------------------------------------- per agreement


def catalogue_hits(agreement: str, currency: str, sums: dict[str, tuple[int, float]], th: dict) -> list[dict]:
    """``catalogue_hhi`` of one agreement's orders in one currency (``sums``: supplier ->
    (orders, amount))."""
    # In the suppliers' order, as concentration_from: a float sum depends on its order, and
    # the database gives the rows in another order to a partial refresh than to a full one.
    cells = [cell for _, cell in sorted(sums.items())]
    orders = sum(n for n, _ in cells)
    total = sum(a for _, a in cells)
    if orders < th["FLAG_CATALOGUE_MIN_ORDERS"] or total <= 0:
        return []
    hhi = sum((100 * a / total) ** 2 for _, a in cells)
    if hhi <= th["FLAG_HHI_THRESHOLD"]:
        return []
    top = max(sums.items(), key=lambda item: (item[1][1], item[0]))
    detail = {"suppliers": len(sums), "topSupplier": top[0], "topShare": round(top[1][1] / total, 4)}
    return [
        _hit(
            "catalogue_hhi",
            "agreement",
            agreement,
            hhi,
            th["FLAG_HHI_THRESHOLD"],
            detail,
            agreement_ocid=agreement,
            currency=currency,
            amount=round(total, 2),
            orders=orders,
        )
    ]


# --------------------------------------------------------------------------- per supplier


def heterogeneous_hits(supplier: str, segments: int, fence: float, th: dict) -> list[dict]:
    """``heterogeneous_supplier``: more distinct UNSPSC segments than the fence over suppliers."""
    if segments <= fence:
        return []
    return [
        _hit(
            "heterogeneous_supplier",
            "supplier",
            supplier,
            segments,
            fence,
            {"segments": segments},
            supplier_id=supplier,
        )
    ]


def new_supplier_hits(
    orders: Sequence[Order], first_day: date, data_first_day: date, large: dict[str, float], th: dict
) -> list[dict]:
    """``new_supplier``: one supplier's large orders within ``FLAG_NEW_SUPPLIER_DAYS`` of its
    first order (``first_day``), unless that first order is within as many days of the data's
    first order (``data_first_day``)."""
    days = th["FLAG_NEW_SUPPLIER_DAYS"]
    if (first_day - data_first_day).days < days:
        return []
    out = []
    for o in orders:
        if o.day is None or o.amount is None or o.currency not in large:
            continue
        since = (o.day - first_day).days
        if 0 <= since <= days and o.amount >= large[o.currency]:
            detail = {
                "firstOrder": first_day.isoformat(),
                "daysSinceFirst": since,
                "large": large[o.currency],
            }
            out.append(_order_hit("new_supplier", o.supplier_id or "", o, since, days, detail))
    return out


# --------------------------------------------------------------------------- per product


def price_hits(product: str, currency: str, prices: Sequence[float], th: dict) -> tuple[float, dict] | None:
    """The fence of one product's sorted unit prices, or None with too few lines."""
    if len(prices) < th["FLAG_PRICE_MIN_LINES"]:
        return None
    q1, median, q3, fence = upper_fence(prices, th["FLAG_IQR_FACTOR"])
    return fence, {
        "product": product,
        "q1": q1,
        "median": median,
        "q3": q3,
        "fence": fence,
        "lines": len(prices),
    }


# --------------------------------------------------------------------------- reading and storing


def _chunks(values: Sequence, size: int = IN_CLAUSE_CHUNK) -> Iterator[list]:
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


#: The columns of a stored hit (all but its id), as :func:`_clear` reads them back.
_HIT_COLUMNS = tuple(c for c in flag_hits.c if c.name != "id")

#: A hit as stored, for comparing stored rows with computed ones: the amount as a float (a
#: float equal to NUMERIC(20, 2)'s value stores that value again), the rest as it is.
_Kept = dict[tuple, list[int]]


def _key(values: Sequence) -> tuple:
    return tuple(
        float(v) if name == "amount" and v is not None else v
        for name, v in zip((c.name for c in _HIT_COLUMNS), values, strict=True)
    )


#: Where a connection carries the :class:`HitChanges` of the refresh running on it.
_CHANGES = "veraz.flags.hit_changes"
#: What :class:`HitChanges` keeps of a hit: the things the page's counts count.
_COUNTED = ("ocid", "buyer_id", "supplier_id", "month")
_COUNTED_AT = tuple(next(i for i, c in enumerate(_HIT_COLUMNS) if c.name == n) for n in _COUNTED)
_FLAG_AT = next(i for i, c in enumerate(_HIT_COLUMNS) if c.name == "flag")


@dataclass
class HitChanges:
    """The hits a partial refresh inserted and deleted, per flag, as ``(ocid, buyer_id,
    supplier_id, month)``; ``cleared``: the flags whose every hit was deleted (computed over
    every group). The stored counts of a flag counted from its hits alone follow from these
    (``portal.flags.queries.update_counts``) without counting its other hits again."""

    inserted: dict[str, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    deleted: dict[str, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    cleared: set[str] = field(default_factory=set)


@contextmanager
def recording_changes(conn: Connection) -> Iterator[HitChanges]:
    """Record in the yielded :class:`HitChanges` every hit the computations below store or
    delete on ``conn`` until the block ends."""
    changes = HitChanges()
    conn.info[_CHANGES] = changes
    try:
        yield changes
    finally:
        # ``info`` belongs to the pooled DBAPI connection: it outlives this Connection.
        conn.info.pop(_CHANGES, None)


def _store(conn: Connection, hits: Iterable[dict], kept: _Kept | None = None) -> int:
    """Insert ``hits`` (consumed as they come, a few thousand rows at a time). With ``kept``
    (the rows :func:`_clear` left in place), a hit equal to a kept row keeps that row, the
    others are inserted, and the kept rows no hit matched are deleted: a partial refresh
    rewrites only the flags that changed (most of a touched product's overprice rows do not,
    and each row rewritten costs seven index updates)."""
    changes: HitChanges | None = conn.info.get(_CHANGES)
    count, batch = 0, []
    for hit in hits:
        count += 1
        if kept is not None:
            ids = kept.get(_key([hit[c.name] for c in _HIT_COLUMNS]))
            if ids:
                ids.pop()
                continue
        batch.append(hit)
        if changes is not None:
            changes.inserted[hit["flag"]].append(tuple(hit.get(name) for name in _COUNTED))
        if len(batch) == 5000:
            conn.execute(insert(flag_hits), batch)
            batch = []
    if batch:
        conn.execute(insert(flag_hits), batch)
    if kept is not None:
        stale = sorted(i for ids in kept.values() for i in ids)
        if changes is not None:
            for values, ids in kept.items():
                for _ in ids:
                    changes.deleted[values[_FLAG_AT]].append(tuple(values[i] for i in _COUNTED_AT))
        for chunk in _chunks(stale):
            conn.execute(delete(flag_hits).where(flag_hits.c.id.in_(chunk)))
    return count


def _clear(conn: Connection, flags: Sequence[str], scopes: Iterable[str] | None) -> _Kept | None:
    """Delete every hit of ``flags`` (``scopes`` None); or read the hits of ``flags`` in
    ``scopes``, keyed by their values, for :func:`_store` to keep, replace or delete."""
    if scopes is None:
        conn.execute(delete(flag_hits).where(flag_hits.c.flag.in_(flags)))
        changes: HitChanges | None = conn.info.get(_CHANGES)
        if changes is not None:
            changes.cleared.update(flags)
        return None
    kept: _Kept = defaultdict(list)
    for chunk in _chunks(sorted(set(scopes))):
        query = select(flag_hits.c.id, *_HIT_COLUMNS).where(
            flag_hits.c.flag.in_(flags), flag_hits.c.scope.in_(chunk)
        )
        for row in conn.execute(query):
            kept[_key(row[1:])].append(row[0])
    return kept


def _live_orders(conn: Connection, column, keys: Iterable[str] | None, order_by=None) -> Iterator[Order]:
    query = select(*_ORDER_COLUMNS).where(flag_facts.c.live.is_(True))
    if order_by is not None:
        query = query.order_by(order_by)
    if keys is None:
        for row in conn.execute(query).yield_per(10_000):
            yield _order(row)
        return
    for chunk in _chunks(sorted(set(keys))):
        for row in conn.execute(query.where(column.in_(chunk))):
            yield _order(row)


def compute_orders(conn: Connection, th: dict, ocids: Iterable[str] | None) -> int:
    """Replace the per-order flags of ``ocids`` (None: of every process)."""
    ocids = None if ocids is None else list(ocids)
    kept = _clear(conn, ORDER_FLAGS, ocids)

    def hits() -> Iterator[dict]:
        batch: list[Order] = []
        for o in _live_orders(conn, flag_facts.c.ocid, ocids):
            batch.append(o)
            if len(batch) == 5000:
                yield from order_hits(batch, th)
                batch = []
        yield from order_hits(batch, th)

    return _store(conn, hits(), kept)


def compute_buyers(conn: Connection, th: dict, buyers: Iterable[str] | None) -> int:
    """Replace the per-buyer flags of ``buyers`` (None: of every buyer), from the sums per
    buyer, supplier and currency, and per buyer, year and currency, that ``portal.flags.sums``
    keeps (no order is read)."""
    from portal.flags import sums as buyer_sums

    buyers = None if buyers is None else sorted({b for b in buyers if b is not None})
    kept = _clear(conn, BUYER_FLAGS, buyers)

    def hits() -> Iterator[dict]:
        got, years = buyer_sums.read(conn, buyers)
        counts, amounts = got["counts"], got["amounts"]
        for buyer in sorted(counts):
            for currency, by_supplier in amounts[buyer].items():
                yield from concentration_from(buyer, currency, by_supplier, th)
            yield from one_supplier_from(buyer, dict(counts[buyer]), th)
        for buyer, y, currency, n, total, n_late, late_total in years:
            if y and y.isdigit() and currency is not None:
                yield from year_end_from(buyer, int(y), currency, int(n), total, int(n_late), late_total, th)

    return _store(conn, hits(), kept)


def compute_splits(conn: Connection, th: dict, pairs: Iterable[tuple[str, str]] | None) -> int:
    """Replace the ``split`` flags of buyer-supplier ``pairs`` (None: of every pair), from the
    orders whose amount could belong to a split (cancelled ones too)."""
    pairs = None if pairs is None else sorted({p for p in pairs if p[0] is not None and p[1] is not None})
    kept = _clear(conn, PAIR_FLAGS, None if pairs is None else [pair_scope(*p) for p in pairs])
    threshold = th["FLAG_SPLIT_THRESHOLD"]
    query = (
        select(*_ORDER_COLUMNS)
        .where(
            flag_facts.c.live.is_(True),
            flag_facts.c.currency == th["FLAG_SPLIT_CURRENCY"],
            flag_facts.c.amount >= th["FLAG_SPLIT_NEAR"] * threshold,
            flag_facts.c.amount < threshold,
            flag_facts.c.buyer_id.is_not(None),
            flag_facts.c.supplier_id.is_not(None),
        )
        .order_by(flag_facts.c.buyer_id, flag_facts.c.supplier_id)
    )

    def rows() -> Iterator[Sequence]:
        if pairs is None:
            yield from conn.execute(query)
            return
        # One index range per pair: equality on the buyer, live, cancelled (either) and the
        # supplier. A row-value IN, or "IS NOT NULL" on the buyer, made SQLite walk the whole
        # buyer index once per chunk (a second at a million orders).
        by_pair = select(*_ORDER_COLUMNS).where(
            flag_facts.c.live.is_(True),
            flag_facts.c.cancelled.in_([False, True]),
            flag_facts.c.currency == th["FLAG_SPLIT_CURRENCY"],
            flag_facts.c.amount >= th["FLAG_SPLIT_NEAR"] * threshold,
            flag_facts.c.amount < threshold,
        )
        for chunk in _chunks(pairs, 200):
            yield from conn.execute(
                by_pair.where(
                    or_(*(and_(flag_facts.c.buyer_id == b, flag_facts.c.supplier_id == s) for b, s in chunk))
                ).order_by(flag_facts.c.buyer_id, flag_facts.c.supplier_id)
            )

    def hits() -> Iterator[dict]:
        group: list[Order] = []
        for row in rows():
            order = _order(row)
            if group and (order.buyer_id, order.supplier_id) != (group[0].buyer_id, group[0].supplier_id):
                yield from split_hits(group, th)
                group = []
            group.append(order)
        if group:
            yield from split_hits(group, th)

    return _store(conn, hits(), kept)


def compute_agreements(conn: Connection, th: dict, agreements: Iterable[str] | None) -> int:
    """Replace the per-agreement flags of ``agreements`` (None: of every agreement)."""
    agreements = None if agreements is None else [a for a in agreements if a is not None]
    kept = _clear(conn, AGREEMENT_FLAGS, agreements)
    query = (
        select(
            flag_facts.c.agreement_ocid,
            flag_facts.c.currency,
            flag_facts.c.supplier_id,
            func.count(),
            func.sum(flag_facts.c.amount),
        )
        .where(
            flag_facts.c.live.is_(True),
            flag_facts.c.cancelled.is_(False),
            flag_facts.c.agreement_ocid.is_not(None),
            flag_facts.c.currency.is_not(None),
            flag_facts.c.supplier_id.is_not(None),
            flag_facts.c.amount.is_not(None),
        )
        .group_by(flag_facts.c.agreement_ocid, flag_facts.c.currency, flag_facts.c.supplier_id)
    )
    sums: dict[tuple[str, str], dict[str, tuple[int, float]]] = defaultdict(dict)
    queries = (
        [query]
        if agreements is None
        else [query.where(flag_facts.c.agreement_ocid.in_(c)) for c in _chunks(sorted(set(agreements)))]
    )
    for q in queries:
        for agreement, currency, supplier, n, amount in conn.execute(q):
            sums[(agreement, currency)][supplier] = (int(n), float(amount or 0))
    hits: list[dict] = []
    for (agreement, currency), by_supplier in sums.items():
        hits.extend(catalogue_hits(agreement, currency, by_supplier, th))
    return _store(conn, hits, kept)


def _fences_by_scan(conn: Connection, th: dict, fences: dict) -> None:
    """Every product's fence, from one ordered read of every priced line."""
    query = (
        select(flag_prices.c.product, flag_prices.c.currency, flag_prices.c.unit_price)
        .where(flag_prices.c.currency.is_not(None), flag_prices.c.unit_price.is_not(None))
        .order_by(flag_prices.c.product, flag_prices.c.currency, flag_prices.c.unit_price)
    )
    key: tuple[str, str] | None = None
    prices: list[float] = []
    for product, currency, price in conn.execute(query).yield_per(50_000):
        if (product, currency) != key:
            if key is not None and (found := price_hits(key[0], key[1], prices, th)):
                fences[key] = found
            key, prices = (product, currency), []
        prices.append(float(price))
    if key is not None and (found := price_hits(key[0], key[1], prices, th)):
        fences[key] = found


def _fences_by_offset(conn: Connection, th: dict, product: str, fences: dict) -> None:
    """One product's fences (per currency), from the order statistics its index gives at the
    quartiles' positions: a few index walks instead of reading every line."""
    priced = (flag_prices.c.product == product, flag_prices.c.unit_price.is_not(None))
    counts = conn.execute(
        select(flag_prices.c.currency, func.count())
        .where(*priced, flag_prices.c.currency.is_not(None))
        .group_by(flag_prices.c.currency)
    ).all()
    for currency, n in counts:
        if n < th["FLAG_PRICE_MIN_LINES"]:
            continue
        ordered = (
            select(flag_prices.c.unit_price)
            .where(*priced, flag_prices.c.currency == currency)
            .order_by(flag_prices.c.unit_price)
        )

        def at(q: float, n: int = n, ordered=ordered) -> float:
            position = (n - 1) * q
            low = math.floor(position)
            values = [float(v) for v in conn.execute(ordered.limit(2).offset(low)).scalars()]
            high = values[1] if len(values) > 1 else values[0]
            return values[0] + (high - values[0]) * (position - low)

        q1, median, q3 = at(0.25), at(0.5), at(0.75)
        fence = q3 + th["FLAG_IQR_FACTOR"] * (q3 - q1)
        stats = {"product": product, "q1": q1, "median": median, "q3": q3, "fence": fence, "lines": int(n)}
        fences[(product, currency)] = (fence, stats)


def compute_prices(conn: Connection, th: dict, products: Iterable[str] | None) -> int:
    """Replace the ``overprice`` flags of ``products`` (None: of every product)."""
    products = None if products is None else list(products)
    kept = _clear(conn, PRICE_FLAGS, products)
    fences: dict[tuple[str, str], tuple[float, dict]] = {}
    if products is None:
        _fences_by_scan(conn, th, fences)
    else:
        for product in sorted(set(products)):
            _fences_by_offset(conn, th, product, fences)
    # Flagged lines: per order, the line furthest above its product's median.
    worst: dict[str, tuple[float, dict]] = {}
    for (product, currency), (fence, stats) in fences.items():
        # The fence as the exact decimal value of the float: PostgreSQL compares a NUMERIC
        # column with a float parameter by casting every row's price to float, so it could not
        # start at the fence in the (product, currency, unit_price) index and read each of the
        # product's lines from the table (64 ms against 0.04 for a product of 47,000 lines).
        # What is above it exactly is what is above it as a float (rounding keeps order).
        above = Decimal(fence) if math.isfinite(fence) else fence
        query = select(flag_prices.c.ocid, flag_prices.c.unit_price).where(
            flag_prices.c.product == product,
            flag_prices.c.currency == currency,
            flag_prices.c.unit_price > above,
        )
        for row in conn.execute(query):
            ocid: str = row[0]
            price = row[1]
            # NUMERIC compares exactly; the fence is a float: keep what is above it as a float.
            if float(price) <= fence:
                continue
            ratio = float(price) / stats["median"] if stats["median"] > 0 else math.inf
            if ocid not in worst or ratio > worst[ocid][0]:
                worst[ocid] = (ratio, {**stats, "unitPrice": float(price), "currency": currency})
    hits: list[dict] = []
    for chunk in _chunks(sorted(worst)):
        for facts in conn.execute(select(*_ORDER_COLUMNS).where(flag_facts.c.ocid.in_(chunk))):
            order = _order(facts)
            ratio, detail = worst[order.ocid]
            hits.append(
                _order_hit(
                    "overprice",
                    detail["product"],
                    order,
                    ratio if math.isfinite(ratio) else 0.0,
                    detail["fence"],
                    detail,
                )
            )
    return _store(conn, hits, kept)


class StatisticsInputs(NamedTuple):
    """What the figures that span every supplier are computed from: every supplier's number of
    UNSPSC segments (sorted), the amounts of the orders (live, not cancelled) per currency
    (sorted), and the data's first order day."""

    segment_counts: list[int]
    amounts: dict[str, list[float]]
    first_day: str | None


def statistics_inputs(conn: Connection) -> StatisticsInputs:
    """:class:`StatisticsInputs` of the facts and priced lines as they stand."""
    counts = sorted(
        int(n)
        for _, n in conn.execute(
            select(flag_prices.c.supplier_id, func.count(distinct(flag_prices.c.segment)))
            .where(flag_prices.c.supplier_id.is_not(None), flag_prices.c.segment.is_not(None))
            .group_by(flag_prices.c.supplier_id)
        )
    )
    amounts: dict[str, list[float]] = {}
    query = (
        select(flag_facts.c.currency, flag_facts.c.amount)
        .where(
            flag_facts.c.live.is_(True),
            flag_facts.c.cancelled.is_(False),
            flag_facts.c.currency.is_not(None),
            flag_facts.c.amount.is_not(None),
        )
        .order_by(flag_facts.c.currency, flag_facts.c.amount)
    )
    for cur, amount in conn.execute(query).yield_per(50_000):
        amounts.setdefault(cur, []).append(float(amount))
    first = conn.execute(
        select(func.min(flag_facts.c.date)).where(
            flag_facts.c.live.is_(True), flag_facts.c.cancelled.is_(False)
        )
    ).scalar()
    return StatisticsInputs(counts, amounts, first)


def statistics_of(inputs: StatisticsInputs, th: dict) -> dict[str, Any]:
    """The figures that span every supplier (:func:`supplier_statistics`) from their inputs."""
    counts = inputs.segment_counts
    fence = upper_fence(counts, th["FLAG_IQR_FACTOR"])[3] if counts else math.inf
    large = {cur: quantile(values, th["FLAG_LARGE_QUANTILE"]) for cur, values in inputs.amounts.items()}
    return {"segment_fence": fence, "large": large, "first_day": inputs.first_day}


def supplier_statistics(conn: Connection, th: dict) -> dict[str, Any]:
    """The figures that span every supplier: the fence of suppliers' segment counts, the amount
    from which an order is large (per currency), and the data's first order day."""
    return statistics_of(statistics_inputs(conn), th)


def compute_suppliers(
    conn: Connection, th: dict, suppliers: Iterable[str] | None, stats: dict[str, Any]
) -> int:
    """Replace the per-supplier flags of ``suppliers`` (None: of every supplier), with the
    figures of :func:`supplier_statistics`."""
    suppliers = None if suppliers is None else [s for s in suppliers if s is not None]
    kept = _clear(conn, SUPPLIER_FLAGS, suppliers)
    hits: list[dict] = []
    segments = select(flag_prices.c.supplier_id, func.count(distinct(flag_prices.c.segment))).where(
        flag_prices.c.supplier_id.is_not(None), flag_prices.c.segment.is_not(None)
    )
    first_conds = (
        flag_facts.c.live.is_(True),
        flag_facts.c.cancelled.is_(False),
        flag_facts.c.supplier_id.is_not(None),
        flag_facts.c.date.is_not(None),
    )
    firsts = select(flag_facts.c.supplier_id, func.min(flag_facts.c.date)).where(*first_conds)
    first_of = select(func.min(flag_facts.c.date)).where(*first_conds)
    chunks = [None] if suppliers is None else list(_chunks(sorted(set(suppliers))))
    fence = stats["segment_fence"]
    data_first = date.fromisoformat(stats["first_day"]) if stats.get("first_day") else None
    for chunk in chunks:
        seg_q = segments
        if chunk is not None:
            seg_q = seg_q.where(flag_prices.c.supplier_id.in_(chunk))
        for supplier, n in conn.execute(seg_q.group_by(flag_prices.c.supplier_id)):
            hits.extend(heterogeneous_hits(supplier, int(n), fence, th))
        if data_first is None:
            continue
        eligible = {}
        found: list[tuple[Any, Any]]
        if chunk is None:
            found = [tuple(r) for r in conn.execute(firsts.group_by(flag_facts.c.supplier_id))]
        else:
            # One query per supplier: its first order is the first entry of its index range.
            found = [
                (supplier, conn.execute(first_of.where(flag_facts.c.supplier_id == supplier)).scalar())
                for supplier in chunk
            ]
        for supplier, first in found:
            if first is None:
                continue
            day = date.fromisoformat(first)
            if (day - data_first).days >= th["FLAG_NEW_SUPPLIER_DAYS"]:
                eligible[supplier] = day
        for group in _chunks(sorted(eligible), 200):
            pairs = [
                (s, (eligible[s] + timedelta(days=th["FLAG_NEW_SUPPLIER_DAYS"])).isoformat()) for s in group
            ]
            rows: list = []
            for supplier, until in pairs:
                rows.extend(
                    conn.execute(
                        select(*_ORDER_COLUMNS).where(
                            flag_facts.c.supplier_id == supplier,
                            flag_facts.c.live.is_(True),
                            flag_facts.c.cancelled.is_(False),
                            flag_facts.c.date <= until,
                        )
                    )
                )
            by_supplier: dict[str, list[Order]] = defaultdict(list)
            for row in rows:
                order = _order(row)
                by_supplier[order.supplier_id].append(order)  # type: ignore[index]
            for supplier, orders in by_supplier.items():
                hits.extend(new_supplier_hits(orders, eligible[supplier], data_first, stats["large"], th))
    return _store(conn, hits, kept)
