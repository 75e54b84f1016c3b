"""The anchors of sealed checkpoints as the public sees them (table ``evidence_anchors``).

A done anchor shows its record (the chain transaction, the RFC 3161 token); any other shows as
``pending`` with its attempts and next attempt. The error text of a failed attempt stays
internal (it may name hosts or files): only the state is public.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, bindparam, literal_column, select

from portal.evidence.tables import DONE, anchors

PUBLISHED_TIME = "%Y-%m-%dT%H:%M:%SZ"


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime.

    SQLite returns naive datetimes for ``DateTime(timezone=True)``: they were written in UTC.
    """
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def published_time(value: datetime) -> str:
    """``value`` as the API writes times: ``2026-01-31T12:00:00Z``."""
    return utc(value).strftime(PUBLISHED_TIME)


def anchor_rows(conn: Connection, sizes: list[int] | None = None) -> dict[int, list[dict]]:
    """``{tree size: [anchor as published]}``: done anchors with their record, others pending."""
    query = select(anchors).order_by(anchors.c.tree_size, anchors.c.type)
    if sizes is not None:
        query = query.where(anchors.c.tree_size.in_(sizes))
    out: dict[int, list[dict]] = {}
    for row in conn.execute(query).mappings():
        item: dict = {"type": row["type"], "status": "done" if row["status"] == DONE else "pending"}
        if row["status"] == DONE:
            item.update(orjson.loads(row["receipt"]))
        else:
            item["attempts"] = row["attempts"]
            item["nextAttemptAt"] = published_time(row["next_attempt_at"])
        out.setdefault(int(row["tree_size"]), []).append(item)
    return out


# Built once: building SQLAlchemy expressions per request was a visible share of a proof's time.
_ANCHORED_AFTER = select(anchors.c.tree_size).distinct().where(anchors.c.tree_size > bindparam("known"))
# Checkpoints with an anchor not yet done: few (the newest ones), read through a partial index
# on status != 'done' (migration 0005); the literal lets the planner match the index.
_NOT_DONE = anchors.c.status != literal_column(f"'{DONE}'")
_UNFINISHED_AFTER = (
    select(anchors.c.tree_size).distinct().where(_NOT_DONE, anchors.c.tree_size > bindparam("index"))
)
_UNFINISHED = select(anchors.c.tree_size).distinct().where(_NOT_DONE)


def sizes_with_anchors_after(conn: Connection, known: int) -> set[int]:
    """Sizes above ``known`` of checkpoints that have anchor rows (made when they were sealed)."""
    return set(conn.execute(_ANCHORED_AFTER, {"known": known}).scalars())


def unfinished_sizes(conn: Connection, above: int = -1) -> set[int]:
    """Sizes above ``above`` of checkpoints with an anchor not yet done."""
    if above < 0:
        return set(conn.execute(_UNFINISHED).scalars())
    return set(conn.execute(_UNFINISHED_AFTER, {"index": above}).scalars())
