"""Queries over the read model: the listing with exact facet counts, downloads and profiles.

Each facet's counts apply every filter except that facet's own (as the OCP Data Registry and
Datasette count), so a person sees what choosing another value of it would give. Values of one
facet are alternatives (OR); facets combine (AND). Counts are exact: ``COUNT`` over the read
model, never estimates. Sums are per currency and follow ``portal.queries.SPENDING``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)

from portal.models import item_lines, parties, records
from portal.queries import SPENDING
from portal.readmodel.facets import AMOUNT_RANGES, FACETS, Browse

#: The columns a listing row carries.
ROW_COLUMNS = (
    records.c.ocid,
    records.c.order_number,
    records.c.title,
    records.c.kind,
    records.c.procedure,
    records.c.buyer_id,
    records.c.buyer_name,
    records.c.supplier_id,
    records.c.supplier_name,
    records.c.agreement_ocid,
    records.c.agreement_title,
    records.c.amount,
    records.c.currency,
    records.c.date,
    records.c.status,
    records.c.delivery_region,
)

_YEAR = func.substr(records.c.month, 1, 4)
_AMOUNT_RANGE = case(
    *[
        (
            and_(
                records.c.amount >= low if low is not None else true(),
                records.c.amount < high if high is not None else true(),
            ),
            literal(key),
        )
        for key, (low, high) in AMOUNT_RANGES.items()
    ],
    else_=None,
)


def _column_condition(facet: str, values: tuple[str, ...], counting: bool = False):
    column = {
        "procedure": records.c.procedure,
        "buyer": records.c.buyer_id,
        "region": records.c.delivery_region,
        "month": records.c.month,
        "status": records.c.status,
        "agreement": records.c.agreement_ocid,
    }.get(facet)
    if column is not None:
        return column.in_(values)
    # Year and amount range through expressions no index serves: a page then walks the sort's
    # own index and stops at a page, where SQLite chose the month's or amount's index and sorted
    # every match (a year's page took 0.7 s at a million processes, its download 16,000 rows/s).
    if facet == "year":
        # The date's text of a year's process starts with the year: a range of the date index
        # (redundant, so exact) takes a page straight to it instead of through every later year.
        # One range from the first to the last year (an OR of ranges, SQLite walks whole).
        span = and_(records.c.date >= min(values), records.c.date < str(int(max(values)) + 1))
        return and_(_YEAR.in_(values), span)
    if facet == "amount":
        amount = records.c.amount + 0
        return or_(
            *[
                and_(
                    amount >= low if low is not None else amount.isnot(None),
                    amount < high if high is not None else true(),
                )
                for low, high in (AMOUNT_RANGES[v] for v in values)
            ]
        )
    # A page: correlated EXISTS, so the listing walks its sort index and stops at a page instead
    # of sorting every match (0-1 ms against 15-100 ms at 80,000 processes). Counting: ocid IN
    # (...), which visits only the matches (about 1.7 times faster than EXISTS there).
    if facet in ("segment", "family"):
        level = item_lines.c[facet]
        if counting:
            return records.c.ocid.in_(select(item_lines.c.ocid).where(level.in_(values)))
        return exists().where(item_lines.c.ocid == records.c.ocid, level.in_(values))
    if facet == "supplier":
        if counting:
            return records.c.ocid.in_(
                select(parties.c.ocid).where(parties.c.role == "supplier", parties.c.party_id.in_(values))
            )
        return exists().where(
            parties.c.ocid == records.c.ocid, parties.c.role == "supplier", parties.c.party_id.in_(values)
        )
    raise ValueError(f"unknown facet {facet!r}")


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, any case (its own % and _ taken literally)."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def text_condition(text: str, candidates=None, walk=None):
    """What ``q`` matches: the processes full-text search finds (``candidates``: every one of
    them, as a subquery of ocids, :func:`portal.search.matching`: its words, or an identifier
    starting with it, such as an order number in any case and spelling, or a RUC), a process
    whose ocid is ``text``, and those of a party whose identifier (a RUC) is ``text``.

    One ``ocid IN (... UNION ...)``: each part is read through its own index (the full-text
    index, ``ix_parties_identifier_ocid``), where a LIKE on the order number or a correlated EXISTS
    per process read every process (seconds at a million). An order number's serial alone
    ("000123") is one of its words."""
    if walk is None:
        return records.c.ocid.in_(text_ocids(text, candidates))
    # ``walk``: the full-text part as a condition checked process by process, for a page of a
    # common text (:func:`portal.search.page_matching`), and the RUC's likewise (its parties by
    # the primary key's ocid): read by walking the sort's index, which stops at a page, where
    # an IN is read from its whole list (50,000 rows for a large supplier), then sorted.
    by_party = exists().where(parties.c.ocid == records.c.ocid, parties.c.identifier == text)
    return or_(walk, by_party, records.c.ocid == text)


def text_ocids(text: str, candidates=None):
    """The ocids :func:`text_condition` matches, as one SELECT (duplicates, and ocids
    ``records`` does not have, possible: the facet tally leaves those out), read without
    visiting ``records`` (a third faster for a text a million processes hold)."""
    parts = [select(parties.c.ocid).where(parties.c.identifier == text), select(literal(text))]
    if candidates is not None:
        parts.append(candidates)
    return union_all(*parts)


def identifier_is_common(conn: Connection, text: str, many: int) -> bool:
    """Whether at least ``many`` party rows have ``text`` as their identifier (a large
    supplier's RUC): a listing of them is then found faster by walking its sort's index."""
    rows = select(parties.c.ocid).where(parties.c.identifier == text).limit(many).subquery()
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one()) >= many


def conditions(browse: Browse, candidates=None, *, counting: bool = False) -> dict[str, object]:
    """Every filter of ``browse`` as a SQL condition, by facet (``q`` and amount bounds under
    their own names); ``counting``: in the form that counts fastest, else the form that finds
    a page fastest."""
    out: dict[str, object] = {
        f: _column_condition(f, browse.values(f), counting) for f in FACETS if browse.values(f)
    }
    if browse.q:
        out["q"] = text_condition(browse.q, candidates)
    if browse.amount_min is not None:
        out["amount_min"] = records.c.amount >= browse.amount_min
    if browse.amount_max is not None:
        out["amount_max"] = records.c.amount <= browse.amount_max
    if browse.date_from is not None or browse.date_to is not None:
        out["date"] = date_condition(browse.date_from, browse.date_to)
    return out


def date_condition(low: date | None, high: date | None):
    """Processes whose order date falls on a day from ``low`` to ``high`` (inclusive): the date's
    text from ``low``'s ``YYYY-MM-DD`` to before the next day's after ``high`` (ISO 8601 sorts
    as it reads, and a date-time starts with its day as the publisher wrote it), so the
    listing's ``(date, ocid)`` index finds them. :func:`portal.readmodel.tally._day` compares
    the same way."""
    column = records.c.date
    parts = []
    if low is not None:
        parts.append(column >= low.isoformat())
    if high is not None:
        parts.append(column < (high + timedelta(days=1)).isoformat())
    return and_(*parts)


def _where(conds: dict, without: str | None = None):
    kept = [c for name, c in conds.items() if name != without]
    return and_(true(), *kept)


def facet_counts(
    conn: Connection, browse: Browse, conds: dict, facet: str, *, limit: int = 10, facet_q: str | None = None
) -> list[dict]:
    """``[{"value", "label", "count"}]`` of one facet, largest first (then by value), at most
    ``limit`` of them plus every selected value; ``facet_q`` keeps the values whose value or
    label contains it (any case)."""
    where = _where(conds, without=facet)
    # Every item line and party belongs to a record: without another filter, no join is needed.
    unfiltered = not [name for name in conds if name != facet]
    count = func.count()
    named = None  # the column holding a value's name, when facet_q searches names too
    if facet in ("segment", "family"):
        value: ColumnElement[Any] = item_lines.c[facet]
        count = func.count(item_lines.c.ocid.distinct())
        query = select(value, count).where(value.isnot(None))
        if not unfiltered:
            query = query.where(item_lines.c.ocid.in_(select(records.c.ocid).where(where)))
    elif facet == "supplier":
        value, named = parties.c.party_id, parties.c.name
        count = func.count(parties.c.ocid.distinct())
        query = select(value, count).where(parties.c.role == "supplier", value.isnot(None))
        if not unfiltered:
            query = query.where(parties.c.ocid.in_(select(records.c.ocid).where(where)))
    else:
        value = {
            "procedure": records.c.procedure,
            "buyer": records.c.buyer_id,
            "region": records.c.delivery_region,
            "month": records.c.month,
            "year": _YEAR,
            "status": records.c.status,
            "agreement": records.c.agreement_ocid,
            "amount": _AMOUNT_RANGE,
        }[facet]
        named = {"buyer": records.c.buyer_name, "agreement": records.c.agreement_title}.get(facet)
        query = select(value, count).where(where, value.isnot(None))
    query = query.group_by(value)
    if facet_q:
        needle = _like_pattern(facet_q)
        found: ColumnElement[bool] = func.lower(value).like(needle, escape="\\")
        if named is not None:
            found = or_(found, func.lower(named).like(needle, escape="\\"))
        query = query.where(found)
    ordered = query.order_by(count.desc(), value)
    counts: dict[Any, int] = dict(conn.execute(ordered.limit(limit)).all())
    missing = [v for v in browse.values(facet) if v not in counts]
    if missing:
        counts.update(conn.execute(query.where(value.in_(missing))).all())
        counts.update({v: 0 for v in missing if v not in counts})
    named_as = labels(conn, facet, list(counts))
    return [{"value": v, "label": named_as.get(v), "count": n} for v, n in counts.items()]


def labels(conn: Connection, facet: str, values: list[str]) -> dict[str, str | None]:
    """The name of each value of a facet whose values are identifiers: the name the newest
    process with it publishes (one indexed lookup each, never a scan of every process)."""
    if facet in ("buyer", "agreement"):
        key, name = (
            (records.c.buyer_id, records.c.buyer_name)
            if facet == "buyer"
            else (records.c.agreement_ocid, records.c.agreement_title)
        )
        return {
            v: conn.execute(select(name).where(key == v).order_by(records.c.date.desc()).limit(1)).scalar()
            for v in values
        }
    if facet == "supplier":
        return {
            v: conn.execute(
                select(parties.c.name).where(parties.c.role == "supplier", parties.c.party_id == v).limit(1)
            ).scalar()
            for v in values
        }
    return {}


def value_exists(conn: Connection, facet: str, value: str) -> bool:
    """Whether any process has ``value`` in ``facet`` (an unknown value is a mistake to name,
    not a filter that silently finds nothing)."""
    if facet in ("amount", "year", "month"):
        return True  # checked by their format
    if facet in ("segment", "family"):
        query = select(literal(1)).where(item_lines.c[facet] == value)
    elif facet == "supplier":
        query = select(literal(1)).where(parties.c.role == "supplier", parties.c.party_id == value)
    else:
        query = select(literal(1)).select_from(records).where(_column_condition(facet, (value,)))
    return conn.execute(query.limit(1)).first() is not None


def count(conn: Connection, conds: dict) -> int:
    return int(conn.execute(select(func.count()).select_from(records).where(_where(conds))).scalar_one())


def _sort_parts(sort: str):
    column = records.c.amount if sort.lstrip("-") == "amount" else records.c.date
    return column, sort.startswith("-")


def _nulls_low(conn: Connection) -> bool:
    """Whether the database sorts NULL below every value (SQLite) or above (PostgreSQL).

    Pages follow the database's own order, so that its ``(key, ocid)`` indexes serve both
    directions: on PostgreSQL, an order that puts NULLs elsewhere cannot use them and sorts
    every match instead."""
    return conn.dialect.name != "postgresql"


def _page_query(browse: Browse, conds: dict, limit: int, columns):
    """The first ``limit + 1`` rows in ``browse.sort`` order."""
    column, descending = _sort_parts(browse.sort)
    order = [column.desc(), records.c.ocid.desc()] if descending else [column.asc(), records.c.ocid.asc()]
    return select(*columns).where(_where(conds)).order_by(*order).limit(limit + 1)


def _fetch(
    conn: Connection, browse: Browse, conds: dict, limit: int, after: tuple[str | None, str] | None, columns
) -> list:
    """Up to ``limit + 1`` rows after ``after`` in ``browse.sort`` order.

    The rows after a cursor are those past it among the keyed rows, then (where the database
    sorts NULL keys after every value) every row without a key; asked as one condition with an
    OR, SQLite walked its index from the first row to find the last page (1.8 s against 45 ms
    at a million processes). So each part is its own query: a row-value comparison, which both
    databases answer with a range of the ``(key, ocid)`` index, then the NULL keys if the page
    is not full."""
    column, descending = _sort_parts(browse.sort)
    nulls_after = _nulls_low(conn) == descending
    if after is None:
        return list(conn.execute(_page_query(browse, conds, limit, columns)))
    key, ocid = after
    order = [column.desc(), records.c.ocid.desc()] if descending else [column.asc(), records.c.ocid.asc()]
    later_ocid = records.c.ocid < ocid if descending else records.c.ocid > ocid
    where = _where(conds)
    if key is None:  # among the NULL keys, by ocid; then, if they come first, every keyed row
        nulls = select(*columns).where(where, column.is_(None), later_ocid).order_by(*order[1:])
        rows = list(conn.execute(nulls.limit(limit + 1)))
        if not nulls_after and len(rows) <= limit:
            keyed = select(*columns).where(where, column.isnot(None)).order_by(*order)
            rows += list(conn.execute(keyed.limit(limit + 1 - len(rows))))
        return rows
    value = Decimal(key) if column is records.c.amount else key
    pair, cursor = tuple_(column, records.c.ocid), tuple_(literal(value, column.type), literal(ocid))
    past = pair < cursor if descending else pair > cursor
    rows = list(conn.execute(select(*columns).where(where, past).order_by(*order).limit(limit + 1)))
    if nulls_after and len(rows) <= limit:
        rest = select(*columns).where(where, column.is_(None)).order_by(*order[1:])
        rows += list(conn.execute(rest.limit(limit + 1 - len(rows))))
    return rows


def page(
    conn: Connection, browse: Browse, conds: dict, limit: int, after: tuple[str | None, str] | None = None
) -> tuple[list[dict], bool]:
    """One page of rows in ``browse.sort`` order (keyset: after the cursor's last row), and
    whether more follow."""
    rows = [dict(r._mapping) for r in _fetch(conn, browse, conds, limit, after, ROW_COLUMNS)]
    return rows[:limit], len(rows) > limit


def sort_key(browse: Browse, row: dict) -> str | None:
    """The cursor's sort key of a row."""
    value = row["amount"] if browse.sort.lstrip("-") == "amount" else row["date"]
    return None if value is None else str(value)


def _amount_text(engine: Engine):
    """``records.amount`` as the text ``str(Decimal)`` gives of it: two decimals."""
    text: ColumnElement[Any]
    if engine.dialect.name == "sqlite":  # a REAL there: written as SQLAlchemy's Numeric does
        text = func.printf("%.2f", records.c.amount)
    else:
        text = cast(records.c.amount, Text)
    return case((records.c.amount.is_(None), null()), else_=text).label("amount")


def every_batch(
    engine: Engine, browse: Browse, conds: dict, names: tuple[str, ...], batch: int = 5000
) -> Iterator[list[Any]]:
    """Every row of the result in order, as tuples of the ``records`` columns ``names`` (which
    include ``ocid``, ``date`` and ``amount``), ``batch`` at a time, so that a download holds
    one batch in memory: on SQLite one short query each (keyset, no connection held between
    batches), on PostgreSQL one query read through a server-side cursor.

    ``amount`` comes as the text of its decimal (``1500.50``), written by the database: making
    a ``Decimal`` of each only to write it out again was a third of a CSV download's time."""
    columns = [_amount_text(engine) if name == "amount" else records.c[name] for name in names]
    if engine.dialect.name == "postgresql":
        # PostgreSQL reads the whole result as one query through a server-side cursor, in the
        # same order (the query of the first page without its limit). Asked batch by batch, it
        # sorted every remaining match again for each batch: it estimates a year's condition
        # (an expression, on purpose: see _column_condition) at a few dozen rows, so it chose
        # its bitmap scan and a sort over its (key, ocid) index, 110 ms a batch for a year of
        # 92,754 processes at a million (39,000 rows/s against 90,000 on SQLite).
        column, descending = _sort_parts(browse.sort)
        order = [column.desc(), records.c.ocid.desc()] if descending else [column.asc(), records.c.ocid.asc()]
        query = select(*columns).where(_where(conds)).order_by(*order)
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            try:
                for rows in result.partitions():
                    yield list(rows)
            finally:  # a download stopped halfway (the reader went away) closes its cursor too
                result.close()
        return
    ocid, key = names.index("ocid"), names.index("amount" if browse.sort.lstrip("-") == "amount" else "date")
    after = None
    while True:
        with engine.connect() as conn:
            rows = _fetch(conn, browse, conds, batch, after, columns)
        yield rows[:batch]
        if len(rows) <= batch:
            return
        last = rows[batch - 1]
        after = (None if last[key] is None else str(last[key]), last[ocid])


# --- profiles -------------------------------------------------------------------------------


def profile_condition(kind: str, key: str):
    """The processes of a buyer (``buyer_id``), a supplier (any supplier of the process) or a
    framework agreement (its call-offs)."""
    if kind == "buyer":
        return records.c.buyer_id == key
    if kind == "supplier":
        return records.c.ocid.in_(
            select(parties.c.ocid).where(parties.c.role == "supplier", parties.c.party_id == key)
        )
    return records.c.agreement_ocid == key


def profile(conn: Connection, kind: str, key: str) -> dict | None:
    """What a profile page shows, or None when nothing matches: name, totals per year and
    currency, counterparties with shares, industries, regions, spending per month."""
    where = profile_condition(kind, key)
    orders = int(conn.execute(select(func.count()).select_from(records).where(where)).scalar_one())
    if not orders:
        return None
    if kind == "buyer":
        name = conn.execute(select(func.max(records.c.buyer_name)).where(where)).scalar()
    elif kind == "supplier":
        name = conn.execute(
            select(func.max(parties.c.name)).where(parties.c.role == "supplier", parties.c.party_id == key)
        ).scalar()
    else:
        name = conn.execute(select(func.max(records.c.agreement_title)).where(where)).scalar()
    spent = and_(where, SPENDING)
    years = [
        {"year": y, "currency": c, "orders": n, "amount": a}
        for y, c, n, a in conn.execute(
            select(_YEAR, records.c.currency, func.count(), func.sum(records.c.amount))
            .where(spent)
            .group_by(_YEAR, records.c.currency)
            .order_by(_YEAR, records.c.currency)
        )
    ]
    months = [
        {"month": m, "currency": c, "amount": a, "orders": n}
        for m, c, a, n in conn.execute(
            select(records.c.month, records.c.currency, func.sum(records.c.amount), func.count())
            .where(spent, records.c.month.isnot(None))
            .group_by(records.c.month, records.c.currency)
            .order_by(records.c.month)
        )
    ]
    if kind == "supplier":
        counterparty = (
            select(
                records.c.buyer_id, func.max(records.c.buyer_name), func.count(), func.sum(records.c.amount)
            )
            .where(spent)
            .group_by(records.c.buyer_id)
        )
    else:
        counterparty = (
            select(parties.c.party_id, func.max(parties.c.name), func.count(), func.sum(records.c.amount))
            .join_from(parties, records, parties.c.ocid == records.c.ocid)
            .where(spent, parties.c.role == "supplier")
            .group_by(parties.c.party_id)
        )
    top = [
        {"id": i, "name": n, "orders": c, "amount": a}
        for i, n, c, a in conn.execute(
            counterparty.order_by(func.count().desc(), counterparty.selected_columns[0]).limit(10)
        )
    ]
    for row in top:
        row["share"] = row["orders"] / orders
    industries = [
        {"segment": s, "orders": n}
        for s, n in conn.execute(
            select(item_lines.c.segment, func.count(item_lines.c.ocid.distinct()))
            .where(
                item_lines.c.segment.isnot(None), item_lines.c.ocid.in_(select(records.c.ocid).where(where))
            )
            .group_by(item_lines.c.segment)
            .order_by(func.count(item_lines.c.ocid.distinct()).desc(), item_lines.c.segment)
            .limit(10)
        )
    ]
    regions = [
        {"region": r, "orders": n}
        for r, n in conn.execute(
            select(records.c.delivery_region, func.count())
            .where(where, records.c.delivery_region.isnot(None))
            .group_by(records.c.delivery_region)
            .order_by(func.count().desc(), records.c.delivery_region)
            .limit(10)
        )
    ]
    return {
        "kind": kind,
        "id": key,
        "name": name,
        "orders": orders,
        "years": years,
        "months": months,
        "counterparties": top,
        "industries": industries,
        "regions": regions,
    }
