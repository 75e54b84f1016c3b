"""Read-side queries, as plain functions of a SQLAlchemy connection.

Pages and the API read the derived ``records`` table (browse columns, see
``ocds.summary.browse_columns``) and the immutable ``releases``; :data:`SPENDING` says once what
counts as spending for the home page and the dashboards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import Column, Connection, func, select

from ocds.compile import compile_release
from ocds.errors import InputError
from portal.db import IN_CLAUSE_CHUNK, bind_processor, in_list
from portal.models import records, releases

#: What counts as spending: an order (a call-off from a framework agreement) that was not
#: cancelled. An order whose status is unknown (NULL: imported OCDS need not publish one) counts:
#: the money was ordered, and nothing says it was withdrawn. Amounts are never added across
#: currencies, so every sum also filters on ``records.currency``. The home page and the
#: dashboards both use this one expression.
SPENDING = (records.c.kind == "order") & (func.coalesce(records.c.status, "") != "cancelled")


@dataclass(frozen=True)
class Totals:
    """Headline figures: orders and framework agreements held, distinct buyers and suppliers of
    orders, the spending (:data:`SPENDING`) in ``currency``, and releases published."""

    orders: int
    agreements: int
    buyers: int
    suppliers: int
    amount: float
    releases: int


def last_release_id(conn: Connection) -> int:
    """The primary key of the last published release (0 when none): releases are only ever
    added, so anything derived from the published data changes exactly when this does."""
    return int(conn.execute(select(func.max(releases.c.id))).scalar() or 0)


def totals(conn: Connection, currency: str = "PEN") -> Totals:
    """Headline figures for the home page; spending is summed in ``currency`` only."""
    orders = records.c.kind == "order"
    row = conn.execute(
        select(
            func.count().filter(orders),
            func.count().filter(records.c.kind == "agreement"),
            func.count(records.c.buyer_id.distinct()).filter(orders),
            func.count(records.c.supplier_id.distinct()).filter(orders),
            func.coalesce(func.sum(records.c.amount).filter(SPENDING, records.c.currency == currency), 0),
        )
    ).one()
    n_releases = conn.execute(select(func.count()).select_from(releases)).scalar_one()
    return Totals(row[0], row[1], row[2], row[3], float(row[4] or 0), n_releases)


class TotalsCache:
    """The last :func:`totals` computed, kept while no release is published after it.

    One per app (``portal.views`` keeps it on the app): the home page then costs one
    primary-key lookup instead of an aggregate over every record."""

    def __init__(self) -> None:
        self._last: tuple[int, Totals] | None = None

    def get(self, conn: Connection) -> Totals:
        """:func:`totals` of ``conn``'s database, recomputed only after a release is published."""
        last = last_release_id(conn)
        cached = self._last
        if cached is not None and cached[0] == last:
            return cached[1]
        fresh = totals(conn)
        self._last = (last, fresh)
        return fresh


def latest_orders(conn: Connection, limit: int = 10) -> list[dict]:
    rows = conn.execute(
        select(
            records.c.ocid,
            records.c.order_number,
            records.c.title,
            records.c.buyer_name,
            records.c.supplier_name,
            records.c.amount,
            records.c.currency,
            records.c.date,
            records.c.status,
            records.c.region,
        )
        .where(records.c.kind == "order")
        .order_by(records.c.date.desc(), records.c.ocid.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def record_row(conn: Connection, ocid: str) -> dict | None:
    row = conn.execute(select(records).where(records.c.ocid == ocid)).mappings().first()
    return dict(row) if row else None


def compiled_release(conn: Connection, ocid: str, record: dict | None = None) -> dict | None:
    """The compiled release of ``ocid``: the one every page, JSON twin and API answer shows.

    Stored in ``records.compiled`` when the process has several releases; a one-release record
    compiles from that release on read (see ``portal.models.records``). None when there is no
    such record, or when its releases cannot be merged (imported OCDS is kept as published,
    and the merge routine refuses some of it: a release without a date, for one).
    ``record`` is the row of :func:`record_row` when the caller already has it.
    """
    if record is None:
        record = record_row(conn, ocid)
    if record is None:
        return None
    if record["compiled"] is not None:
        return orjson.loads(record["compiled"])
    data = [orjson.loads(r["data"]) for r in release_rows(conn, ocid)]
    if not data:
        return None
    try:
        return compile_release(data)
    except InputError:
        return None


def release_rows(conn: Connection, ocid: str) -> list[dict]:
    """Every release of an ocid, oldest first (by date, then publication order)."""
    rows = conn.execute(
        select(
            releases.c.id,
            releases.c.release_id,
            releases.c.date,
            releases.c.tags,
            releases.c.data_hash,
            releases.c.valid,
            releases.c.problems,
            releases.c.published_at,
            releases.c.data,
            releases.c.ocid,
        )
        .where(releases.c.ocid == ocid)
        .order_by(releases.c.date, releases.c.id)
    ).mappings()
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class ReleaseSource:
    """Who published an imported release, as its package said (``release_packages``).

    Veraz republishes others' data: the API serves such a release under its own publisher,
    licence and publication policy, never relabelled as the portal's."""

    publisher: dict
    license: str | None
    publication_policy: str | None
    published_date: str | None
    extensions: tuple[str, ...]
    uri: str | None

    @property
    def who(self) -> tuple:
        """What a package states about its publisher and terms: releases with equal ``who``
        can be served in one package (whatever package each came from)."""
        return (tuple(sorted(self.publisher.items())), self.license, self.publication_policy, self.extensions)


def release_sources(conn: Connection, pks: Iterable[int]) -> dict[int, ReleaseSource]:
    """The source package of each imported release among ``pks`` (catalogue orders have none)."""
    from portal.models import release_packages as rp

    wanted = sorted(set(pks))
    found: dict[int, ReleaseSource] = {}
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        rows = conn.execute(select(rp).where(rp.c.release_pk.in_(wanted[i : i + IN_CLAUSE_CHUNK])))
        for row in rows.mappings():
            publisher = {
                key: row[column]
                for key, column in (
                    ("name", "publisher_name"),
                    ("scheme", "publisher_scheme"),
                    ("uid", "publisher_uid"),
                    ("uri", "publisher_uri"),
                )
                if row[column]
            }
            try:
                extensions = orjson.loads(row["extensions"]) if row["extensions"] else []
            except orjson.JSONDecodeError:
                extensions = []
            found[row["release_pk"]] = ReleaseSource(
                publisher=publisher,
                license=row["license"],
                publication_policy=row["publication_policy"],
                published_date=row["published_date"],
                extensions=tuple(e for e in extensions if isinstance(e, str)),
                uri=row["package_uri"],
            )
    return found


def invalid_releases(rows: Iterable[dict]) -> list[dict]:
    """The releases among ``rows`` kept although they do not validate, each with its problems,
    as a package's ``invalidReleases`` lists them (the local validity extension)."""
    out = []
    for row in rows:
        if row["valid"]:
            continue
        try:
            pairs = orjson.loads(row["problems"]) if row["problems"] else []
        except orjson.JSONDecodeError:
            pairs = []
        problems = [
            {"field": str(pair[0]), "reason": str(pair[1])} if pair[0] else {"reason": str(pair[1])}
            for pair in pairs
            if isinstance(pair, list) and len(pair) == 2
        ]
        out.append(
            {
                "ocid": row["ocid"],
                "id": row["release_id"],
                "problems": problems or [{"reason": "does not validate"}],
            }
        )
    return out


def releases_page(conn: Connection, after: int, limit: int, ocid: str | None = None) -> list[dict]:
    """Releases in publication order after the cursor ``after`` (a ``releases.id``)."""
    query = (
        select(
            releases.c.id,
            releases.c.ocid,
            releases.c.release_id,
            releases.c.data,
            releases.c.published_at,
            releases.c.valid,
            releases.c.problems,
        )
        .where(releases.c.id > after)
        .order_by(releases.c.id)
        .limit(limit)
    )
    if ocid:
        query = query.where(releases.c.ocid == ocid)
    return [dict(r) for r in conn.execute(query).mappings()]


def releases_by_id(conn: Connection, release_id: str, ocid: str | None = None) -> list[dict]:
    query = select(
        releases.c.id,
        releases.c.ocid,
        releases.c.release_id,
        releases.c.data,
        releases.c.published_at,
        releases.c.valid,
        releases.c.problems,
    ).where(releases.c.release_id == release_id)
    if ocid:
        query = query.where(releases.c.ocid == ocid)
    return [dict(r) for r in conn.execute(query.limit(2)).mappings()]


def lookup_pairs(conn: Connection, key_columns: tuple, value_column, keys: Iterable[tuple]) -> dict:
    """``{(a, b): value}`` for the stored rows whose two key columns are among ``keys``.

    Selects by the first column (``a IN (...)``, a prefix of a unique index or primary key)
    and filters the pairs here: SQLite 3.40 answers a row-value ``(a, b) IN (...)`` with a
    scan of the whole table, which made publishing slow down as the tables grew."""
    first, second = key_columns
    wanted = set(keys)
    firsts = sorted({a for a, _ in wanted})
    found: dict = {}
    dialect = conn.dialect
    plain = _plain_columns(dialect, first, second, value_column)
    for i in range(0, len(firsts), IN_CLAUSE_CHUNK):
        chunk = firsts[i : i + IN_CLAUSE_CHUNK]
        if plain:
            # The statement select() renders, sent as text: the publishing writer looks up
            # thousands of keys a batch, and rendering the expanding IN was most of its cost.
            quote = dialect.identifier_preparer.quote
            sql = (
                f"SELECT {quote(first.name)}, {quote(second.name)}, {quote(value_column.name)} "
                f"FROM {quote(first.table.name)} WHERE {quote(first.name)} {in_list(dialect, len(chunk))}"
            )
            rows = conn.exec_driver_sql(sql, tuple(chunk))
        else:
            rows = conn.execute(select(first, second, value_column).where(first.in_(chunk)))
        for a, b, value in rows:
            if (a, b) in wanted:
                found[(a, b)] = value
    return found


def _plain_columns(dialect, *columns) -> bool:
    """Whether ``columns`` are columns of one table whose values the driver takes and gives as
    SQLAlchemy would (no bind or result processing for ``dialect``)."""
    table = getattr(columns[0], "table", None)
    return all(
        isinstance(c, Column)
        and c.table is table
        and bind_processor(c, dialect) is None
        and c.type._cached_result_processor(dialect, None) is None
        for c in columns
    )
