"""Read-side queries, as plain functions of a SQLAlchemy connection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, func, select

from portal.models import records, releases


@dataclass(frozen=True)
class Totals:
    orders: int
    agreements: int
    buyers: int
    suppliers: int
    amount: float
    releases: int


_totals_cache: dict[tuple[str, int], Totals] = {}


def totals(conn: Connection) -> Totals:
    """Headline figures for the home page (cancelled orders are not spending).

    Cached per database and per last published release: releases are only ever added, so the
    figures change exactly when ``max(releases.id)`` does (one primary-key lookup)."""
    last = conn.execute(select(func.max(releases.c.id))).scalar() or 0
    key = (conn.engine.url.render_as_string(hide_password=True), int(last))
    cached = _totals_cache.get(key)
    if cached is None:
        cached = _compute_totals(conn)
        _totals_cache.clear()
        _totals_cache[key] = cached
    return cached


def _compute_totals(conn: Connection) -> Totals:
    orders = records.c.kind == "order"
    row = conn.execute(
        select(
            func.count().filter(orders),
            func.count().filter(records.c.kind == "agreement"),
            func.count(records.c.buyer_id.distinct()).filter(orders),
            func.count(records.c.supplier_id.distinct()).filter(orders),
            func.coalesce(
                func.sum(records.c.amount).filter(orders, records.c.status != "cancelled",
                                                  records.c.currency == "PEN"), 0),
        )
    ).one()
    n_releases = conn.execute(select(func.count()).select_from(releases)).scalar_one()
    return Totals(row[0], row[1], row[2], row[3], float(row[4] or 0), n_releases)


def latest_orders(conn: Connection, limit: int = 10) -> list[dict]:
    rows = conn.execute(
        select(records.c.ocid, records.c.order_number, records.c.title, records.c.buyer_name,
               records.c.supplier_name, records.c.amount, records.c.currency, records.c.date,
               records.c.status, records.c.region)
        .where(records.c.kind == "order")
        .order_by(records.c.date.desc(), records.c.ocid.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def record_row(conn: Connection, ocid: str) -> dict | None:
    row = conn.execute(select(records).where(records.c.ocid == ocid)).mappings().first()
    return dict(row) if row else None


def compiled_release(conn: Connection, ocid: str, record: dict | None = None) -> dict | None:
    """The record's compiled release: stored, or derived from its only release."""
    from ocds.compile import compile_release

    if record is None:
        record = record_row(conn, ocid)
    if record is None:
        return None
    if record["compiled"] is not None:
        return orjson.loads(record["compiled"])
    data = [r["data"] for r in release_rows(conn, ocid)]
    return compile_release([orjson.loads(d) for d in data]) if data else None


def release_rows(conn: Connection, ocid: str) -> list[dict]:
    """Every release of an ocid, oldest first (by date, then publication order)."""
    rows = conn.execute(
        select(releases.c.id, releases.c.release_id, releases.c.date, releases.c.tags,
               releases.c.data_hash, releases.c.valid, releases.c.published_at, releases.c.data)
        .where(releases.c.ocid == ocid)
        .order_by(releases.c.date, releases.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def releases_page(conn: Connection, after: int, limit: int, ocid: str | None = None) -> list[dict]:
    """Releases in publication order after the cursor ``after`` (a ``releases.id``)."""
    query = (
        select(releases.c.id, releases.c.data, releases.c.published_at)
        .where(releases.c.id > after)
        .order_by(releases.c.id)
        .limit(limit)
    )
    if ocid:
        query = query.where(releases.c.ocid == ocid)
    return [dict(r) for r in conn.execute(query).mappings()]


def releases_by_id(conn: Connection, release_id: str, ocid: str | None = None) -> list[dict]:
    query = select(releases.c.id, releases.c.ocid, releases.c.data, releases.c.published_at).where(
        releases.c.release_id == release_id
    )
    if ocid:
        query = query.where(releases.c.ocid == ocid)
    return [dict(r) for r in conn.execute(query.limit(2)).mappings()]


def find_orders(conn: Connection, text: str, limit: int = 20) -> list[dict]:
    """Look up orders by order number or ocid (exact), as typed by a person."""
    text = text.strip()
    rows = conn.execute(
        select(records.c.ocid, records.c.order_number, records.c.title, records.c.buyer_name,
               records.c.amount, records.c.currency, records.c.date)
        .where((records.c.order_number == text) | (records.c.ocid == text))
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def lookup_pairs(conn: Connection, key_columns: tuple, value_column, keys: Iterable[tuple]) -> dict:
    """``{(a, b): value}`` for the stored rows whose two key columns are among ``keys``.

    Selects by the first column (``a IN (...)``, a prefix of a unique index or primary key)
    and filters the pairs here: SQLite 3.40 answers a row-value ``(a, b) IN (...)`` with a
    scan of the whole table, which made publishing slow down as the tables grew."""
    first, second = key_columns
    wanted = set(keys)
    firsts = sorted({a for a, _ in wanted})
    found: dict = {}
    for i in range(0, len(firsts), 500):
        query = select(first, second, value_column).where(first.in_(firsts[i:i + 500]))
        for a, b, value in conn.execute(query):
            if (a, b) in wanted:
                found[(a, b)] = value
    return found
