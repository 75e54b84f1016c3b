"""Records: each ocid's compiled release and browse columns, derived from its stored releases.

Records are not evidence: they are replaced whenever an ocid gets a new release, and can always
be recompiled from the releases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, delete, select

from ocds.compile import compile_release
from ocds.summary import browse_columns
from portal.db import IN_CLAUSE_CHUNK, bulk_insert
from portal.models import records, releases


@dataclass(frozen=True)
class RecordRow:
    """One ``records`` row to store."""

    # The compiled release as JSON; None for a one-release record, whose compiled release is
    # derived on read (portal.queries.compiled_release), which halves what publishing writes.
    compiled: bytes | None
    columns: dict  # browse columns (ocds.summary.browse_columns)
    release_count: int
    last_release: int  # primary key of the ocid's newest release


def recompile(conn: Connection, ocids: Iterable[str]) -> dict[str, RecordRow]:
    """Compile the records of ``ocids`` from every stored release (oldest first).

    The releases of up to IN_CLAUSE_CHUNK ocids are read in one query (the writer recompiles
    hundreds of ocids per batch: one query each was a visible share of its time).
    """
    out = {}
    wanted = list(dict.fromkeys(ocids))
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        chunk = wanted[i:i + IN_CLAUSE_CHUNK]
        rows = conn.execute(select(releases.c.ocid, releases.c.id, releases.c.data)
                            .where(releases.c.ocid.in_(chunk))
                            .order_by(releases.c.ocid, releases.c.date, releases.c.id)).all()
        by_ocid: dict[str, list] = {}
        for row in rows:
            by_ocid.setdefault(row.ocid, []).append(row)
        for ocid in chunk:
            group = by_ocid.get(ocid)
            if not group:
                continue
            compiled = compile_release([orjson.loads(r.data) for r in group])
            out[ocid] = RecordRow(orjson.dumps(compiled), browse_columns(compiled), len(group),
                                  max(r.id for r in group))
    return out


def store_records(conn: Connection, rows_by_ocid: dict[str, RecordRow]) -> None:
    """Replace the ``records`` rows of the given ocids."""
    if not rows_by_ocid:
        return
    ocids = list(rows_by_ocid)
    for i in range(0, len(ocids), IN_CLAUSE_CHUNK):
        conn.execute(delete(records).where(records.c.ocid.in_(ocids[i:i + IN_CLAUSE_CHUNK])))
    now = datetime.now(UTC)
    bulk_insert(conn, records, [
        {"ocid": ocid, "compiled": row.compiled, "release_count": row.release_count,
         "last_release": row.last_release, "updated_at": now, **row.columns}
        for ocid, row in rows_by_ocid.items()])
