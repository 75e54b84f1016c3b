"""Reading the flags: what the page, the JSON API, the command and the dashboards show.

Every function takes a connection and returns plain values (JSON-ready: numbers, strings,
None). A flagged thing carries its links: paths relative to the site's root (``links``:
``order``, ``buyer``, ``supplier``, ``agreement``, and ``orders``, the browse listing of the
orders behind it with the same filters).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union,
    union_all,
)

from portal.db import IN_CLAUSE_CHUNK
from portal.flags.compute import AGREEMENT_FLAGS, ORDER_FLAGS, HitChanges, _chunks
from portal.flags.definitions import BY_CODE, FLAGS
from portal.flags.tables import (
    flag_counts,
    flag_facts,
    flag_hits,
    flag_month_firsts,
    flag_state,
    flag_totals,
)
from portal.models import releases

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


def _named_by(filters: Filters) -> list:
    """The hits of the buyer, supplier and agreement ``filters`` name."""
    conds = []
    if filters.buyer is not None:
        conds.append(flag_hits.c.buyer_id == filters.buyer)
    if filters.supplier is not None:
        conds.append(flag_hits.c.supplier_id == filters.supplier)
    if filters.agreement is not None:
        conds.append(flag_hits.c.agreement_ocid == filters.agreement)
    return conds


def _where(filters: Filters):
    conds = _named_by(filters)
    if filters.month_from is not None or filters.month_to is not None:
        orders = []
        if filters.month_from is not None:
            orders.append(flag_hits.c.month >= filters.month_from)
        if filters.month_to is not None:
            orders.append(flag_hits.c.month <= filters.month_to)
        # An entity flag (no month of its own) is kept when an order behind it is in range.
        behind = or_(
            *(
                (flag_hits.c.subject == subject)
                & select(flag_facts.c.ocid).where(_behind(subject), *_month_range(filters)).exists()
                for subject in SUBJECTS
                if subject != "order"
            )
        )
        conds.append(and_(*orders) | (flag_hits.c.month.is_(None) & behind))
    return conds


def _month_range(filters: Filters) -> list:
    out = []
    if filters.month_from is not None:
        out.append(flag_facts.c.month >= filters.month_from)
    if filters.month_to is not None:
        out.append(flag_facts.c.month <= filters.month_to)
    return out


def _behind(subject: str):
    """SQL: the ``flag_facts`` rows that are the orders behind a ``flag_hits`` row of
    ``subject``: the order itself, or the orders (not cancelled) of the flagged buyer, supplier,
    pair or agreement, in the hit's currency when it has one. Equalities on indexed columns
    only, so that each hit finds its orders through an index."""
    keys = {
        "order": [flag_facts.c.ocid == flag_hits.c.ocid],
        "buyer": [flag_facts.c.buyer_id == flag_hits.c.buyer_id],
        "supplier": [flag_facts.c.supplier_id == flag_hits.c.supplier_id],
        "pair": [
            flag_facts.c.buyer_id == flag_hits.c.buyer_id,
            flag_facts.c.supplier_id == flag_hits.c.supplier_id,
        ],
        "agreement": [flag_facts.c.agreement_ocid == flag_hits.c.agreement_ocid],
    }[subject]
    return and_(
        *keys,
        flag_facts.c.live.is_(True),
        flag_facts.c.cancelled.is_(False),
        flag_hits.c.currency.is_(None) | (flag_facts.c.currency == flag_hits.c.currency),
    )


SUBJECTS = ("order", "buyer", "supplier", "pair", "agreement")


def _totals(conn: Connection, filters: Filters, codes: list[str] | None = None) -> dict[str, tuple]:
    """Per flag (of ``codes``, or every flag), its hits and the distinct orders, buyers and
    suppliers they name under ``filters``, counted over ``flag_hits``."""
    conds = _where(filters)
    if codes is not None:
        conds.append(flag_hits.c.flag.in_(codes))
    query = (
        select(
            flag_hits.c.flag,
            func.count(),
            func.count(flag_hits.c.ocid.distinct()),
            func.count(flag_hits.c.buyer_id.distinct()),
            func.count(flag_hits.c.supplier_id.distinct()),
        )
        .where(*conds)
        .group_by(flag_hits.c.flag)
    )
    return {flag: (int(n), int(o), int(b), int(s)) for flag, n, o, b, s in conn.execute(query)}


def _stored_totals(conn: Connection) -> dict[str, tuple]:
    """``flag_totals`` as :func:`_totals` returns it: what the last refresh counted."""
    return {row[0]: tuple(row[1:]) for row in conn.execute(select(flag_totals))}


#: The measures of ``flag_month_firsts``, in the order of :func:`_totals`' counts.
MEASURES = ("hits", "orders", "buyers", "suppliers")


def _stored_range(conn: Connection, filters: Filters) -> dict[str, tuple]:
    """:func:`_totals` under a range of months alone, summed from ``flag_month_firsts``: per
    flag and measure, the things whose first month in the range is the row's month (its
    previous month is before the range, or none). Months are ``YYYY-MM`` (or None), so ""
    precedes every one."""
    t = flag_month_firsts
    conds = []
    if filters.month_from is not None:
        conds += [t.c.month >= filters.month_from, (t.c.previous == "") | (t.c.previous < filters.month_from)]
    else:
        conds.append(t.c.previous == "")
    if filters.month_to is not None:
        conds.append(t.c.month <= filters.month_to)
    query = select(t.c.flag, t.c.measure, func.sum(t.c.n)).where(*conds).group_by(t.c.flag, t.c.measure)
    found: dict[str, dict[str, int]] = {}
    for flag, measure, n in conn.execute(query):
        found.setdefault(flag, {})[measure] = int(n)
    # _totals has no row for a flag without hits in the range; summary reads it as zeros.
    return {flag: tuple(by.get(m, 0) for m in MEASURES) for flag, by in found.items() if by.get("hits", 0)}


def _unfiltered(filters: Filters) -> bool:
    return filters.buyer is None and filters.supplier is None and filters.agreement is None


def summary(conn: Connection, filters: Filters = Filters()) -> list[dict]:
    """Every flag (in :data:`FLAGS` order) with how many things it marks (``count``) and how
    many distinct orders, buyers and suppliers they name.

    Without filters, read from ``flag_totals`` (what the last refresh counted with the same
    query) when it holds every flag; under a range of months alone, from ``flag_month_firsts``
    (:func:`_stored_range`) when that holds every flag too; otherwise counted over the hits."""
    counts = None
    if _unfiltered(filters):
        stored = _stored_totals(conn)
        if all(flag.code in stored for flag in FLAGS):
            counts = stored if filters == Filters() else _stored_range(conn, filters)
    if counts is None:
        counts = _totals(conn, filters)
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
    """The things ``code`` flags, the furthest past its threshold first (then the latest
    computed), each a
    dict of :data:`COLUMNS` with ``detail`` decoded and ``links``."""
    if code not in BY_CODE:
        raise KeyError(code)
    query = (
        select(flag_hits)
        .where(flag_hits.c.flag == code, *_where(filters))
        .order_by(flag_hits.c.value.desc(), flag_hits.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_row(m) for m in conn.execute(query).mappings()]


def counts_by_month(conn: Connection, code: str, filters: Filters = Filters()) -> list[dict]:
    """``[{"month", "orders"}]``: per month, the distinct orders behind the flag's hits (for an
    order flag, the flagged orders; for an entity flag, the orders of the flagged buyer,
    supplier, pair or agreement in the flag's currency), oldest month first.

    Without a buyer, supplier or agreement (months alone select rows), read from
    ``flag_counts`` when the last refresh counted the flag (it has a ``flag_totals`` row); for
    the flags of :data:`MONTHS_IN_HITS`, counted over the hits alone (:func:`_hits_by_month`);
    otherwise counted over the hits and their orders."""
    if code not in BY_CODE:
        raise KeyError(code)
    if _unfiltered(filters):
        counted = conn.execute(select(flag_totals.c.flag).where(flag_totals.c.flag == code)).first()
        if counted is not None:
            months = [flag_counts.c.month >= filters.month_from] if filters.month_from is not None else []
            if filters.month_to is not None:
                months.append(flag_counts.c.month <= filters.month_to)
            query = (
                select(flag_counts.c.month, flag_counts.c.orders)
                .where(flag_counts.c.flag == code, *months)
                .order_by(flag_counts.c.month)
            )
            return [{"month": month, "orders": int(n)} for month, n in conn.execute(query)]
    return _counted_by_month(conn, code, filters)


def _counted_by_month(conn: Connection, code: str, filters: Filters) -> list[dict]:
    """:func:`_by_month`, by the fastest of the equal ways for ``code``."""
    if code in MONTHS_IN_HITS:
        return _hits_by_month(conn, code, filters)
    if BY_CODE[code].subject != "order":
        return _entity_by_month(conn, code, filters)
    return _by_month(conn, code, filters)


#: The columns :func:`_behind` matches between an entity hit and its orders, per subject.
_BEHIND_KEYS = {
    "buyer": ("buyer_id",),
    "supplier": ("supplier_id",),
    "pair": ("buyer_id", "supplier_id"),
    "agreement": ("agreement_ocid",),
}

#: Past this many hits of a pair flag, :func:`_entity_by_month` leaves the count to the join (an
#: ``OR`` of a condition per hit costs the planners more than the join past a few hundred:
#: PostgreSQL took 0.75 s at 500 and 23 s at 1,000).
ENTITY_TERMS = 100


def _entity_by_month(conn: Connection, code: str, filters: Filters) -> list[dict]:
    """:func:`_by_month` for an entity flag, in two steps: the flag's hits under ``filters``
    (a few: one per buyer, supplier, pair or agreement and currency), then the orders behind
    any of them, by month: the same orders :func:`_behind` joins, each counted once. SQLite would
    otherwise start the join from the orders (every order of a busy agreement, each looking for
    a hit) when the flag has few hits or none; PostgreSQL hashed every order to join them with a
    hundred buyers' hits (0.28 s, against 0.07). A buyer, supplier or agreement flag asks for
    its keys as one ``IN`` list per currency of its hits (and one for the hits without one), an
    index range per key; a pair flag as one condition per hit (its keys, its currency when it has
    one) joined by ``OR``, up to :data:`ENTITY_TERMS` hits. Past those (or
    ``IN_CLAUSE_CHUNK`` keys), the join."""
    keys = _BEHIND_KEYS[BY_CODE[code].subject]
    conds = [flag_hits.c.flag == code]
    for name, value in (
        ("buyer_id", filters.buyer),
        ("supplier_id", filters.supplier),
        ("agreement_ocid", filters.agreement),
    ):
        if value is not None:
            conds.append(flag_hits.c[name] == value)
    query = select(*(flag_hits.c[k] for k in keys), flag_hits.c.currency).where(*conds).distinct()
    limit = ENTITY_TERMS if len(keys) > 1 else IN_CLAUSE_CHUNK
    hits = conn.execute(query.limit(limit + 1)).all()
    if len(hits) > limit:
        return _by_month(conn, code, filters)
    terms: list[ColumnElement[bool]] = []
    if len(keys) == 1:
        by_currency: dict[str | None, set[str]] = defaultdict(set)
        for row in hits:
            if row[0] is not None:  # a NULL key equals no order's
                by_currency[row[1]].add(row[0])
        for currency, keyed in sorted(by_currency.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
            term: list[ColumnElement[bool]] = [flag_facts.c[keys[0]].in_(sorted(keyed))]
            if currency is not None:
                term.append(flag_facts.c.currency == currency)
            terms.append(and_(*term))
    for row in hits if len(keys) > 1 else ():
        values, currency = row[:-1], row[-1]
        if any(v is None for v in values):
            continue  # a NULL key equals no order's
        term = [flag_facts.c[k] == v for k, v in zip(keys, values, strict=True)]
        if currency is not None:
            term.append(flag_facts.c.currency == currency)
        terms.append(and_(*term))
    if not terms:
        return []
    query = (
        select(flag_facts.c.month, func.count(flag_facts.c.ocid.distinct()))
        .where(
            or_(*terms),
            flag_facts.c.live.is_(True),
            flag_facts.c.cancelled.is_(False),
            flag_facts.c.month.is_not(None),
            *_month_range(filters),
        )
        .group_by(flag_facts.c.month)
        .order_by(flag_facts.c.month)
    )
    return [{"month": row[0], "orders": int(row[1])} for row in conn.execute(query)]


#: Order flags whose hits are each a live order that is not cancelled, with that order's ocid,
#: month and currency (``compute.order_hits`` skips cancelled orders; ``compute_suppliers``
#: reads live orders not cancelled; ``split`` and ``overprice`` also flag cancelled orders, and
#: ``overprice`` reads its orders' facts whatever they are). For them the orders behind the hits
#: (:func:`_behind`: the fact of the hit's ocid, live, not cancelled, in its currency) are the
#: hits' own ocids in the hits' own months, and the hits alone give :func:`_by_month`'s count.
#: Every refresh keeps that true in its transaction: a process whose facts it reads again has
#: its order flags, and the flags of its supplier before and after, computed again (a stored
#: hit is kept only when every column, month included, equals the new one).
MONTHS_IN_HITS = (*ORDER_FLAGS, "new_supplier")


def _hits_by_month(conn: Connection, code: str, filters: Filters) -> list[dict]:
    """:func:`_by_month` for a flag of :data:`MONTHS_IN_HITS`: per month, the distinct ocids of
    its hits (one range of a ``flag_hits`` index per buyer, supplier or agreement)."""
    conds = [flag_hits.c.flag == code, flag_hits.c.month.is_not(None), *_named_by(filters)]
    if filters.month_from is not None:
        conds.append(flag_hits.c.month >= filters.month_from)
    if filters.month_to is not None:
        conds.append(flag_hits.c.month <= filters.month_to)
    query = (
        select(flag_hits.c.month, func.count(flag_hits.c.ocid.distinct()))
        .where(*conds)
        .group_by(flag_hits.c.month)
        .order_by(flag_hits.c.month)
    )
    return [{"month": month, "orders": int(n)} for month, n in conn.execute(query)]


def _by_month(conn: Connection, code: str, filters: Filters) -> list[dict]:
    """:func:`counts_by_month` counted over ``flag_hits`` and ``flag_facts``."""
    hit_conds = [flag_hits.c.flag == code, *_named_by(filters)]
    query = (
        select(flag_facts.c.month, func.count(flag_facts.c.ocid.distinct()))
        .select_from(flag_hits.join(flag_facts, _behind(BY_CODE[code].subject)))
        .where(*hit_conds, flag_facts.c.month.is_not(None), *_month_range(filters))
        .group_by(flag_facts.c.month)
        .order_by(flag_facts.c.month)
    )
    return [{"month": month, "orders": int(n)} for month, n in conn.execute(query)]


def store_counts(conn: Connection, codes: list[str] | None = None) -> None:
    """Write ``flag_totals`` and ``flag_counts`` for ``codes`` (every flag when None) from the
    hits and facts as they stand in ``conn``'s transaction, with the queries the filtered
    views run (:func:`_totals`, :func:`_counted_by_month`: an order flag's months from its hits
    alone, an entity flag's from its few hits' orders as index ranges): a refresh calls it after
    computing the flags, and the audit after recomputing them. Every flag gets a
    ``flag_totals`` row, zeros included: the row says the flag was counted. Also
    ``flag_month_firsts`` (:func:`_month_firsts`; reading the hits' months once for every
    measure, as a common table, measured slower on both databases: 3.7-4.3 s against 2.6 s on
    PostgreSQL, 2.1 s against 1.6-1.7 s on SQLite, at a million orders)."""
    chosen = [flag.code for flag in FLAGS] if codes is None else [c for c in codes if c in BY_CODE]
    if not chosen:
        return
    conn.execute(delete(flag_totals).where(flag_totals.c.flag.in_(chosen)))
    conn.execute(delete(flag_counts).where(flag_counts.c.flag.in_(chosen)))
    conn.execute(delete(flag_month_firsts).where(flag_month_firsts.c.flag.in_(chosen)))
    for firsts in _month_firsts(None if codes is None else chosen):
        conn.execute(insert(flag_month_firsts).from_select([c.name for c in flag_month_firsts.c], firsts))
    totals = _totals(conn, Filters(), chosen)
    names = ("hits", "orders", "buyers", "suppliers")
    zero = (0, 0, 0, 0)
    rows = [{"flag": code, **dict(zip(names, totals.get(code, zero), strict=True))} for code in chosen]
    conn.execute(insert(flag_totals), rows)
    for code in chosen:
        rows = [{"flag": code, **row} for row in _counted_by_month(conn, code, Filters())]
        if rows:
            conn.execute(insert(flag_counts), rows)


def update_counts(conn: Connection, changes: HitChanges) -> list[str]:
    """After a partial refresh that recorded ``changes``: the stored counts of every flag, as
    :func:`store_counts` would write them, counting again only what can have changed.

    A flag of :data:`MONTHS_IN_HITS` is counted from its hits alone (``flag_totals``,
    ``flag_counts`` and ``flag_month_firsts`` read nothing else of it), so its stored counts
    move only with its inserted and deleted hits: untouched, they stay; touched, each count is
    moved by the difference its touched orders, buyers and suppliers make
    (:func:`_apply_changes`). Counting such a flag again read every one of its hits (the
    single-quote flag marks a quarter of all orders: 1.5 s of a partial refresh on PostgreSQL
    at a million orders, against the few hundred touched things). The other flags are counted
    again whole: their months come from the orders behind them, which a changed order moves
    without any hit changing. A flag never counted, or whose hits were all replaced, is counted
    whole too. Returns the flags whose counts were moved rather than counted whole."""
    counted = set(conn.execute(select(flag_totals.c.flag)).scalars())
    whole = [
        flag.code
        for flag in FLAGS
        if flag.code not in MONTHS_IN_HITS or flag.code in changes.cleared or flag.code not in counted
    ]
    moved = []
    for code in MONTHS_IN_HITS:
        if code in whole or not (changes.inserted.get(code) or changes.deleted.get(code)):
            continue
        if _apply_changes(conn, code, changes.inserted.get(code, []), changes.deleted.get(code, [])):
            moved.append(code)
        else:
            whole.append(code)
    store_counts(conn, whole)
    return moved


# Months as the read model stores them: for these, Python orders them as the database does.
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def _firsts(months: list[str]) -> Iterator[tuple[str, str]]:
    """A thing's ``(month, previous)`` rows of ``flag_month_firsts``, from its sorted months."""
    previous = ""
    for month in months:
        yield month, previous
        previous = month


def _apply_changes(conn: Connection, code: str, inserted: list[tuple], deleted: list[tuple]) -> bool:
    """Move ``code``'s stored counts by its ``inserted`` and ``deleted`` hits (``(ocid,
    buyer_id, supplier_id, month)``; the hits table already holds the inserted and no longer
    the deleted): per touched order, buyer and supplier, its hits per month now are read, and
    before the refresh are those minus the inserted plus the deleted; each count moves by what
    the touched things contribute after minus before. False, with nothing written, when the
    difference cannot be trusted (a month the database may order otherwise than Python, a
    count that would fall below zero): the caller then counts the flag whole."""
    if any(
        row[3] is not None and not _MONTH.fullmatch(row[3]) for rows in (inserted, deleted) for row in rows
    ):
        return False
    totals = [len(inserted) - len(deleted), 0, 0, 0]
    firsts: Counter = Counter()  # (measure, month, previous) -> difference of n
    months: Counter = Counter()  # month -> difference of distinct orders (``flag_counts``)
    for rows, sign in ((inserted, 1), (deleted, -1)):
        for row in rows:
            if row[3] is not None:
                firsts["hits", row[3], ""] += sign  # a dated hit: counted at its month alone
    for index, (measure, key) in enumerate(
        zip(MEASURES[1:], ("ocid", "buyer_id", "supplier_id"), strict=True)
    ):
        moved: dict = defaultdict(Counter)  # thing -> month -> inserted minus deleted hits
        for rows, sign in ((inserted, 1), (deleted, -1)):
            for row in rows:
                if row[index] is not None:
                    moved[row[index]][row[3]] += sign
        column = flag_hits.c[key]
        now: dict = defaultdict(Counter)
        for chunk in _chunks(sorted(moved)):
            query = (
                select(column, flag_hits.c.month, func.count())
                .where(flag_hits.c.flag == code, column.in_(chunk))
                .group_by(column, flag_hits.c.month)
            )
            for thing, month, n in conn.execute(query):
                if month is not None and not _MONTH.fullmatch(month):
                    return False
                now[thing][month] = int(n)
        for thing, difference in moved.items():
            after = now[thing]
            before = Counter(after)
            before.subtract(difference)
            if any(n < 0 for n in before.values()):
                return False
            after_months = sorted(m for m, n in after.items() if n and m is not None)
            before_months = sorted(m for m, n in before.items() if n and m is not None)
            totals[index + 1] += any(after.values()) - any(before.values())
            for row in _firsts(after_months):
                firsts[(measure, *row)] += 1
            for row in _firsts(before_months):
                firsts[(measure, *row)] -= 1
            if measure == "orders":  # ``_hits_by_month``: distinct orders per month
                months.update(after_months)
                months.subtract(before_months)
    return _move_counts(conn, code, totals, firsts, months)


def _move_counts(conn: Connection, code: str, totals: list[int], firsts: Counter, months: Counter) -> bool:
    """Add the differences to ``code``'s stored counts, dropping rows that reach zero (as a
    full count stores none); False, with nothing written, if any would fall below zero."""
    names = ("hits", "orders", "buyers", "suppliers")
    row = conn.execute(select(*(flag_totals.c[n] for n in names)).where(flag_totals.c.flag == code)).first()
    if row is None:
        return False
    new_totals = [int(a) + b for a, b in zip(row, totals, strict=True)]
    f = flag_month_firsts
    stored_firsts = {
        (m, mo, p): int(n)
        for m, mo, p, n in conn.execute(
            select(f.c.measure, f.c.month, f.c.previous, f.c.n).where(
                f.c.flag == code, f.c.month.in_(sorted({k[1] for k in firsts}))
            )
        )
    }
    new_firsts = {k: stored_firsts.get(k, 0) + d for k, d in firsts.items() if d}
    stored_months = {
        m: int(n)
        for m, n in conn.execute(
            select(flag_counts.c.month, flag_counts.c.orders).where(
                flag_counts.c.flag == code, flag_counts.c.month.in_(sorted(months))
            )
        )
    }
    new_months = {m: stored_months.get(m, 0) + d for m, d in months.items() if d}
    if min([*new_totals, *new_firsts.values(), *new_months.values()], default=0) < 0:
        return False
    conn.execute(
        flag_totals.update()
        .where(flag_totals.c.flag == code)
        .values(dict(zip(names, new_totals, strict=True)))
    )
    for (measure, month, previous), n in new_firsts.items():
        key = (f.c.flag == code, f.c.measure == measure, f.c.month == month, f.c.previous == previous)
        if (measure, month, previous) in stored_firsts:
            if n:
                conn.execute(f.update().where(*key).values(n=n))
            else:
                conn.execute(f.delete().where(*key))
        elif n:
            conn.execute(insert(f).values(flag=code, measure=measure, month=month, previous=previous, n=n))
    for month, n in new_months.items():
        at = (flag_counts.c.flag == code, flag_counts.c.month == month)
        if month in stored_months:
            if n:
                conn.execute(flag_counts.update().where(*at).values(orders=n))
            else:
                conn.execute(flag_counts.delete().where(*at))
        elif n:
            conn.execute(insert(flag_counts).values(flag=code, month=month, orders=n))
    return True


def _month_firsts(codes: list[str] | None) -> list:
    """SQL: the rows of ``flag_month_firsts`` for ``codes`` (None: every flag; see
    ``portal.flags.tables``), one statement per measure.

    Each hit in each of its months as :func:`_where` reads a range: its own month; for a hit
    without one (an entity flag), the months of the orders behind it (:func:`_behind`); an order
    hit without a month is in none. Then each thing's distinct months in order, each with the
    one before it (a window; the database orders the months as it compares them in
    :func:`_stored_range`), counted per flag, month and previous month."""
    h = flag_hits
    chosen = [] if codes is None else [h.c.flag.in_(codes)]
    out = []
    # Hits: a hit with a month of its own is in that month alone, first there: counted per
    # flag and month (ix_flag_hits_flag_month_ocid, in order), not sorted by id for a window.
    own = select(h.c.flag, h.c.month, literal("").label("previous"), func.count().label("n"))
    own = own.where(*chosen, h.c.month.is_not(None)).group_by(h.c.flag, h.c.month)
    for measure, key in zip(MEASURES, ("id", "ocid", "buyer_id", "supplier_id"), strict=True):
        thing = h.c[key]
        # Only the flag, the thing and the month: read from a covering index (the buyer,
        # supplier and flag-month ones hold them, the id being the row's) rather than from the
        # table's wide rows.
        parts = []
        if measure != "hits":
            parts.append(
                select(h.c.flag, thing.label("thing"), h.c.month).where(
                    *chosen, thing.is_not(None), h.c.month.is_not(None)
                )
            )
        for subject in SUBJECTS:
            if subject != "order":
                parts.append(
                    select(h.c.flag, thing.label("thing"), flag_facts.c.month)
                    .distinct()  # one row per month, not per order behind the hit
                    .select_from(h.join(flag_facts, _behind(subject)))
                    .where(
                        *chosen,
                        thing.is_not(None),
                        h.c.subject == subject,
                        h.c.month.is_(None),
                        flag_facts.c.month.is_not(None),
                    )
                )
        # Each (flag, thing, month) once, whichever parts name it.
        things = union(*parts).subquery()
        previous = func.lag(things.c.month).over(
            partition_by=(things.c.flag, things.c.thing), order_by=things.c.month
        )
        ordered = select(
            things.c.flag, things.c.month, func.coalesce(previous, "").label("previous")
        ).subquery()
        grouped: Select = select(
            ordered.c.flag, ordered.c.month, ordered.c.previous, func.count().label("n")
        ).group_by(ordered.c.flag, ordered.c.month, ordered.c.previous)
        if measure == "hits":  # the hits of both kinds, added up where they share a row
            both = union_all(own, grouped).subquery()
            grouped = select(both.c.flag, both.c.month, both.c.previous, func.sum(both.c.n).label("n"))
            grouped = grouped.group_by(both.c.flag, both.c.month, both.c.previous)
        counted = grouped.subquery()
        out.append(
            select(
                counted.c.flag,
                literal(measure).label("measure"),
                counted.c.month,
                counted.c.previous,
                counted.c.n,
            )
        )
    return out


def flags_of_order(conn: Connection, ocid: str) -> list[dict]:
    """Every flag that concerns one order: raised on it, or on its buyer, supplier, their pair
    or its framework agreement (for the currency it is in), in :data:`FLAGS` order."""
    queries = [select(flag_hits).where(flag_hits.c.ocid == ocid)]
    order = conn.execute(
        select(
            flag_facts.c.buyer_id,
            flag_facts.c.supplier_id,
            flag_facts.c.agreement_ocid,
            flag_facts.c.currency,
        ).where(flag_facts.c.ocid == ocid)
    ).first()
    if order is not None:
        buyer, supplier, agreement, currency = order
        same_currency = flag_hits.c.currency.is_(None) | (flag_hits.c.currency == currency)
        entity = and_(flag_hits.c.ocid.is_(None), same_currency)
        if buyer is not None:
            # The buyer's own flags, and those of its pair with this order's supplier.
            pair = flag_hits.c.supplier_id.is_(None) | (flag_hits.c.supplier_id == supplier)
            queries.append(select(flag_hits).where(flag_hits.c.buyer_id == buyer, entity, pair))
        if supplier is not None:
            queries.append(
                select(flag_hits).where(
                    flag_hits.c.supplier_id == supplier, flag_hits.c.buyer_id.is_(None), entity
                )
            )
        if agreement is not None:
            # Agreement flags are computed per agreement: their scope is its ocid.
            queries.append(
                select(flag_hits).where(
                    flag_hits.c.flag.in_(AGREEMENT_FLAGS), flag_hits.c.scope == agreement[:600], entity
                )
            )
    rows: dict[int, dict] = {}
    for query in queries:
        for mapping in conn.execute(query).mappings():
            rows.setdefault(mapping["id"], _row(mapping))
    order_index = {f.code: i for i, f in enumerate(FLAGS)}
    return [rows[k] for k in sorted(rows, key=lambda k: (order_index.get(rows[k]["flag"], len(FLAGS)), k))]


def all_rows(conn: Connection, filters: Filters = Filters()) -> Iterator[dict]:
    """Every flagged thing (for ``veraz flags`` and downloads), by flag then id; streamed."""
    order_index = {f.code: i for i, f in enumerate(FLAGS)}
    for code in sorted(order_index, key=order_index.__getitem__):
        query = select(flag_hits).where(flag_hits.c.flag == code, *_where(filters)).order_by(flag_hits.c.id)
        for m in conn.execute(query).mappings():
            yield _row(m)


def freshness(conn: Connection, settings: dict) -> dict:
    """Which data the stored flags were computed from, for the pages to say it: ``release``
    (the last release the last refresh included, None before the first or when ``flag_state``
    cannot be read), ``releasedAt`` (when it was published, ISO 8601), ``newer`` (releases
    published since, which the flags do not include yet) and ``thresholdsChanged`` (the flags
    were computed with other thresholds than ``settings``). Behind: ``newer`` or
    ``thresholdsChanged``."""
    state = {}
    for name, value in conn.execute(
        select(flag_state.c.name, flag_state.c.value).where(
            flag_state.c.name.in_(["last_release", "thresholds"])
        )
    ):
        try:
            state[name] = json.loads(value)
        except ValueError:
            continue
    release = state.get("last_release")
    if not isinstance(release, int) or isinstance(release, bool):
        release = None
    released_at = None
    if release is not None:
        when = conn.execute(select(releases.c.published_at).where(releases.c.id == release)).scalar()
        released_at = when.isoformat() if when is not None else None
    newer = conn.execute(
        select(func.count()).select_from(releases).where(releases.c.id > (release or 0))
    ).scalar_one()
    wanted = json.loads(json.dumps(dict(sorted(settings.items()))))
    return {
        "release": release,
        "releasedAt": released_at,
        "newer": int(newer),
        "thresholdsChanged": release is not None and state.get("thresholds") != wanted,
    }
