"""Rebuilding the read model from the published releases (``veraz reindex``).

Every ocid's record is compiled again from its releases, exactly as publishing compiles it,
and stored with :func:`portal.publishing.records.store_records`, so what a rebuild writes is
what the publishing transactions wrote. One transaction per chunk of ocids: memory stays flat
and a rebuild interrupted half-way leaves every record whole (run it again to finish).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, func, select

from portal.db import IN_CLAUSE_CHUNK
from portal.models import releases
from portal.publishing.records import RecordRow, recompile, store_records


@dataclass
class ReindexSummary:
    """What a rebuild did: records stored, and ocids whose releases could not be compiled
    (they have no record, as when they were published)."""

    records: int = 0
    not_compiled: int = 0


def process_count(conn: Connection) -> int:
    """How many contracting processes (distinct ocids) have releases."""
    return int(conn.execute(select(func.count(releases.c.ocid.distinct()))).scalar_one())


def _ocid_chunks(engine: Engine, size: int) -> Iterator[list[str]]:
    after = None
    while True:
        query = select(releases.c.ocid).distinct().order_by(releases.c.ocid).limit(size)
        if after is not None:
            query = query.where(releases.c.ocid > after)
        with engine.connect() as conn:
            ocids = list(conn.execute(query).scalars())
        if not ocids:
            return
        yield ocids
        after = ocids[-1]


def _as_published(conn: Connection, rows: dict[str, RecordRow]) -> dict[str, RecordRow]:
    """``rows`` stored as publishing stores them: a catalogue order's one-release record
    without its compiled release (derived on read, see ``portal.models.records``); agreements
    and imported OCDS keep it, as their publishing stores it."""
    alone = [row.last_release for row in rows.values()
             if row.release_count == 1 and row.columns["kind"] == "order"]
    catalogue = set()
    for i in range(0, len(alone), IN_CLAUSE_CHUNK):
        catalogue.update(conn.execute(select(releases.c.id).where(
            releases.c.id.in_(alone[i:i + IN_CLAUSE_CHUNK]), releases.c.origin == "catalogue")).scalars())
    return {ocid: replace(row, compiled=None) if row.last_release in catalogue else row
            for ocid, row in rows.items()}


def reindex(engine: Engine, *, chunk: int = IN_CLAUSE_CHUNK,
            progress: Callable[[int], None] | None = None) -> ReindexSummary:
    """Compile every record again from its releases and replace it with its read-model rows.

    ``progress`` is told how many ocids each chunk held."""
    summary = ReindexSummary()
    for ocids in _ocid_chunks(engine, chunk):
        with engine.begin() as conn:
            try:
                rows = recompile(conn, ocids)
            except Exception:  # noqa: BLE001 - ocdsmerge refuses some real-world data: one by one
                rows = {}
                for ocid in ocids:
                    try:
                        rows.update(recompile(conn, [ocid]))
                    except Exception:  # noqa: BLE001 - left without a record, as publishing does
                        summary.not_compiled += 1
            store_records(conn, _as_published(conn, rows))
        summary.records += len(rows)
        if progress is not None:
            progress(len(ocids))
    return summary
