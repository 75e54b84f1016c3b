"""Per-buyer sums for the per-buyer flags (``flag_buyer_pairs``, ``flag_buyer_years``), kept
by each refresh instead of re-added from every order of every buyer a new order touches.

A full refresh sums every fact (:func:`rebuild`); a partial one reads the facts of the changed
processes before and after they are refreshed (:func:`contributions`) and applies the
difference to the rows of the buyers concerned (:func:`apply`). What is summed is what
``compute_buyers`` summed over ``flag_facts`` before: per buyer, supplier and currency the live
orders not cancelled (with a supplier), those priced and their amounts; per buyer, year and
currency the dated, priced ones and those in the year's last ``FLAG_YEAR_END_DAYS`` days.
Sums are exact decimals, so a partial refresh gives the rows a full one gives, digit for digit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, tuple_

from portal.db import IN_CLAUSE_CHUNK
from portal.flags.tables import flag_buyer_pairs, flag_buyer_years, flag_facts

#: (table, key) -> [orders, priced or amount, ...]: the sums a set of facts adds.
Sums = dict[tuple[str, tuple[str, str, str]], list]

_FACT_COLUMNS = (
    flag_facts.c.ocid,
    flag_facts.c.live,
    flag_facts.c.cancelled,
    flag_facts.c.buyer_id,
    flag_facts.c.supplier_id,
    flag_facts.c.currency,
    flag_facts.c.amount,
    flag_facts.c.date,
)


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def add(sums: Sums, row: Any, start: str, sign: int = 1) -> None:
    """Add (``sign`` 1) or take out (-1) what one fact row contributes; ``start`` is
    ``compute.year_end_start`` (``MM-DD``)."""
    if not row.live or row.cancelled or row.buyer_id is None:
        return
    currency = row.currency or ""
    if row.supplier_id is not None:
        cell = sums.setdefault(("pairs", (row.buyer_id, row.supplier_id, currency)), [0, 0, Decimal(0)])
        cell[0] += sign
        if row.amount is not None:
            cell[1] += sign
            cell[2] += sign * _dec(row.amount)
    if row.date is not None and row.amount is not None and row.currency is not None:
        late = row.date >= row.date[:5] + start
        amount = _dec(row.amount)
        cell = sums.setdefault(
            ("years", (row.buyer_id, row.date[:4], currency)), [0, Decimal(0), 0, Decimal(0)]
        )
        cell[0] += sign
        cell[1] += sign * amount
        if late:
            cell[2] += sign
            cell[3] += sign * amount


def _facts(conn: Connection, ocids: list[str] | None) -> Iterator[Any]:
    query = select(*_FACT_COLUMNS)
    if ocids is None:
        yield from conn.execute(query.execution_options(yield_per=10_000))
        return
    for i in range(0, len(ocids), IN_CLAUSE_CHUNK):
        yield from conn.execute(query.where(flag_facts.c.ocid.in_(ocids[i : i + IN_CLAUSE_CHUNK])))


def contributions(
    conn: Connection, ocids: Iterable[str], start: str, sign: int, into: Sums | None = None
) -> Sums:
    """What the facts of ``ocids`` add now (``sign`` 1) or, read before they change, what they
    stop adding (-1), added into ``into``."""
    sums: Sums = {} if into is None else into
    for row in _facts(conn, sorted(set(ocids))):
        add(sums, row, start, sign)
    return sums


_CENT = Decimal("0.01")


def _text(value: Decimal) -> str:
    """A sum as stored: always two decimals (the amounts' scale), zero unsigned. A row a partial
    refresh added to and took from again must read as a full refresh's sum of nothing: Decimal
    keeps the scale of what it added (``0.00``), and ``-0.00`` is a distinct text."""
    cents = value.quantize(_CENT)
    return "0.00" if cents == 0 else format(cents, "f")


def _rows(sums: Sums) -> tuple[list[dict], list[dict]]:
    pairs, years = [], []
    for (table, key), cell in sums.items():
        if cell[0] == 0:
            continue
        if table == "pairs":
            buyer, supplier, currency = key
            pairs.append(
                {
                    "buyer_id": buyer,
                    "supplier_id": supplier,
                    "currency": currency,
                    "orders": cell[0],
                    "priced": cell[1],
                    "amount": _text(cell[2]),
                }
            )
        else:
            buyer, year, currency = key
            years.append(
                {
                    "buyer_id": buyer,
                    "year": year,
                    "currency": currency,
                    "orders": cell[0],
                    "amount": _text(cell[1]),
                    "late_orders": cell[2],
                    "late_amount": _text(cell[3]),
                }
            )
    return pairs, years


def _insert(conn: Connection, sums: Sums) -> None:
    pairs, years = _rows(sums)
    for table, rows in ((flag_buyer_pairs, pairs), (flag_buyer_years, years)):
        for i in range(0, len(rows), 5_000):
            conn.execute(insert(table), rows[i : i + 5_000])


def rebuild(conn: Connection, start: str) -> None:
    """Sum every fact again."""
    conn.execute(delete(flag_buyer_pairs))
    conn.execute(delete(flag_buyer_years))
    sums: Sums = {}
    for row in _facts(conn, None):
        add(sums, row, start)
    _insert(conn, sums)


def apply(conn: Connection, delta: Sums) -> None:
    """Apply ``delta`` (the changed facts' new contributions less their old ones) to the rows
    it concerns, and only those: each is read, changed and written again (dropped when it
    counts no order any more)."""
    changed = {key: cell for key, cell in delta.items() if any(cell)}
    for name, table, columns in (
        ("pairs", flag_buyer_pairs, ("buyer_id", "supplier_id", "currency")),
        ("years", flag_buyer_years, ("buyer_id", "year", "currency")),
    ):
        keys = [key for kind, key in changed if kind == name]
        if not keys:
            continue
        cols = [table.c[c] for c in columns]
        merged: Sums = {}
        for i in range(0, len(keys), IN_CLAUSE_CHUNK // 3):
            chunk = keys[i : i + IN_CLAUSE_CHUNK // 3]
            for r in conn.execute(select(table).where(tuple_(*cols).in_(chunk))):
                key = tuple(getattr(r, c) for c in columns)
                if name == "pairs":
                    merged[(name, key)] = [r.orders, r.priced, Decimal(r.amount)]
                else:
                    merged[(name, key)] = [r.orders, Decimal(r.amount), r.late_orders, Decimal(r.late_amount)]
            conn.execute(delete(table).where(tuple_(*cols).in_(chunk)))
        for key in keys:
            cell = changed[(name, key)]
            had = merged.setdefault(
                (name, key), [0, 0, Decimal(0)] if name == "pairs" else [0, Decimal(0), 0, Decimal(0)]
            )
            for i, value in enumerate(cell):
                had[i] += value
        _insert(conn, merged)


def read(conn: Connection, buyers: list[str] | None) -> tuple[dict, list[tuple]]:
    """The sums of ``buyers`` (None: every buyer) as ``compute_buyers`` reads them: per buyer
    ``{supplier: orders}`` counts and ``{currency: {supplier: (priced, amount)}}``, and rows
    ``(buyer, year, currency, orders, amount, late orders, late amount)``."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    amounts: dict[str, dict[str, dict[str, tuple[int, float]]]] = defaultdict(lambda: defaultdict(dict))
    years: list[tuple] = []
    chunks: list[list[str] | None] = (
        [None]
        if buyers is None
        else [buyers[i : i + IN_CLAUSE_CHUNK] for i in range(0, len(buyers), IN_CLAUSE_CHUNK)]
    )
    p, y = flag_buyer_pairs, flag_buyer_years
    for chunk in chunks:
        pq = select(p.c.buyer_id, p.c.supplier_id, p.c.currency, p.c.orders, p.c.priced, p.c.amount)
        yq = select(
            y.c.buyer_id, y.c.year, y.c.currency, y.c.orders, y.c.amount, y.c.late_orders, y.c.late_amount
        )
        if chunk is not None:
            pq, yq = pq.where(p.c.buyer_id.in_(chunk)), yq.where(y.c.buyer_id.in_(chunk))
        # Plain tuples (tens of thousands of rows per hundred buyers); a decimal's text gives
        # the float its Decimal would.
        for buyer, supplier, currency, orders, priced, amount in conn.execute(pq):
            by_supplier = counts[buyer]
            by_supplier[supplier] = by_supplier.get(supplier, 0) + orders
            if currency and priced:
                amounts[buyer][currency][supplier] = (priced, float(amount))
        for buyer, year, currency, orders, amount, late_orders, late_amount in conn.execute(yq):
            years.append(
                (buyer, year, currency or None, orders, float(amount), late_orders, float(late_amount))
            )
    return {"counts": counts, "amounts": amounts}, years
