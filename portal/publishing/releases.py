"""Storing releases: immutable rows, each with the index of its evidence-log entry."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect

from portal.db import IN_CLAUSE_CHUNK, in_list
from portal.models import releases
from portal.publishing.prepared import PreparedRelease
from portal.queries import lookup_pairs

#: The ``releases`` columns an insert gives, in the order of its parameters.
_COLUMNS = (
    "ocid",
    "release_id",
    "date",
    "tags",
    "data",
    "data_hash",
    "origin",
    "valid",
    "problems",
    "published_at",
    "leaf_index",
    "splice",
)

#: Rows per INSERT statement: 12 parameters each, within SQLite's 32,766 and PostgreSQL's 65,535.
_ROWS_PER_STATEMENT = 1000


@functools.cache
def _insert_sql(dialect: Dialect, rows: int) -> str:
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    values = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    return (
        f"INSERT INTO {quote(releases.name)} ({', '.join(quote(c) for c in _COLUMNS)}) "
        f"VALUES {', '.join([values] * rows)} RETURNING {quote('id')}, {quote('ocid')}, {quote('release_id')}"
    )


def insert_releases(
    conn: Connection, rows: list[PreparedRelease], origin: str, leaf_indices: list[int]
) -> list[int]:
    """Insert ``rows``; return their primary keys, in the order of ``rows``.

    One multi-row ``INSERT ... VALUES ... RETURNING`` per thousand rows, with the values each
    column's bind processor makes (what ``conn.execute(insert(releases).returning(...), rows)``
    sends, as SQLAlchemy's "insertmanyvalues" also inserts rows in their order), built here
    without SQLAlchemy's per-row parameter processing: the time is the same for every row
    (processed once), and that processing was a visible share of the writer's time. The keys
    are matched to the rows by (ocid, release id).
    """
    if not rows:
        return []
    dialect = conn.dialect
    published = releases.c.published_at.type._cached_bind_processor(dialect)
    valid = releases.c.valid.type._cached_bind_processor(dialect)
    now: Any = datetime.now(UTC)
    if published is not None:
        now = published(now)
    pk = {}
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        params: list[Any] = []
        for r, leaf in zip(chunk, leaf_indices[start : start + len(chunk)], strict=True):
            params += (
                r.ocid,
                r.release_id,
                r.date,
                r.tags,
                r.data,
                r.data_hash,
                origin,
                r.valid if valid is None else valid(r.valid),
                r.problems,
                now,
                leaf,
                r.splice if r.splice is None or valid is None else valid(r.splice),
            )
        result = conn.exec_driver_sql(_insert_sql(dialect, len(chunk)), tuple(params))
        pk.update({(ocid, release_id): id_ for id_, ocid, release_id in result})
    return [pk[(r.ocid, r.release_id)] for r in rows]


def existing_releases(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(ocid, release id): data hash}`` of the stored releases among ``keys``."""
    return lookup_pairs(conn, (releases.c.ocid, releases.c.release_id), releases.c.data_hash, keys)


def ocids_with_releases(conn: Connection, ocids: set[str]) -> set[str]:
    """The ocids among ``ocids`` that already have a stored release."""
    found: set[str] = set()
    ocid_list = list(ocids)
    quote = conn.dialect.identifier_preparer.quote
    for i in range(0, len(ocid_list), IN_CLAUSE_CHUNK):
        chunk = tuple(ocid_list[i : i + IN_CLAUSE_CHUNK])
        sql = (
            f"SELECT DISTINCT {quote('ocid')} FROM {quote(releases.name)} "
            f"WHERE {quote('ocid')} {in_list(conn.dialect, len(chunk))}"
        )
        found.update(ocid for (ocid,) in conn.exec_driver_sql(sql, chunk))
    return found
