"""Storing releases: immutable rows, each with the index of its evidence-log entry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from portal.db import IN_CLAUSE_CHUNK
from portal.models import releases
from portal.publishing.prepared import PreparedRelease
from portal.queries import lookup_pairs


def insert_releases(
    conn: Connection, rows: list[PreparedRelease], origin: str, leaf_indices: list[int]
) -> list[int]:
    """Insert ``rows``; return their primary keys, in the order of ``rows``.

    RETURNING without ``sort_by_parameter_order``: with it, SQLAlchemy inserts into SQLite one
    row per statement (it cannot prove the order of a multi-row RETURNING), which was a
    sixth of the writer's time; the keys are matched to the rows by (ocid, release id).
    """
    if not rows:
        return []
    now = datetime.now(UTC)
    result = conn.execute(
        insert(releases).returning(releases.c.id, releases.c.ocid, releases.c.release_id),
        [
            {
                "ocid": r.ocid,
                "release_id": r.release_id,
                "date": r.date,
                "tags": r.tags,
                "data": r.data,
                "data_hash": r.data_hash,
                "origin": origin,
                "valid": r.valid,
                "problems": r.problems,
                "published_at": now,
                "leaf_index": leaf,
            }
            for r, leaf in zip(rows, leaf_indices, strict=True)
        ],
    )
    pk = {(ocid, release_id): id_ for id_, ocid, release_id in result}
    return [pk[(r.ocid, r.release_id)] for r in rows]


def existing_releases(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(ocid, release id): data hash}`` of the stored releases among ``keys``."""
    return lookup_pairs(conn, (releases.c.ocid, releases.c.release_id), releases.c.data_hash, keys)


def ocids_with_releases(conn: Connection, ocids: set[str]) -> set[str]:
    """The ocids among ``ocids`` that already have a stored release."""
    found: set[str] = set()
    ocid_list = list(ocids)
    for i in range(0, len(ocid_list), IN_CLAUSE_CHUNK):
        chunk = ocid_list[i : i + IN_CLAUSE_CHUNK]
        found.update(
            conn.execute(select(releases.c.ocid).distinct().where(releases.c.ocid.in_(chunk))).scalars()
        )
    return found
