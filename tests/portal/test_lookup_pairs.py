"""``portal.queries.lookup_pairs`` sends plain columns' lookups as text to the driver: the same
pairs as the SQLAlchemy query it stands for (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, insert

import portal.queries
from portal.db import IN_CLAUSE_CHUNK
from portal.models import source_orders
from portal.queries import lookup_pairs


def test_driver_lookup_finds_what_the_sqlalchemy_query_finds(database_url, monkeypatch):
    engine = create_engine(database_url)
    rows = [
        {"order_number": f"N-{n:05d}", "version": v, "digest": f"{n}-{v}", "ocid": f"o-{n}", "release_pk": 0}
        for n in range(IN_CLAUSE_CHUNK + 30)
        for v in (1, 2)
    ]
    wanted = {(f"N-{n:05d}", v) for n in range(0, IN_CLAUSE_CHUNK + 60, 3) for v in (2, 3)}
    columns = (source_orders.c.order_number, source_orders.c.version)
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            now = datetime.now(UTC)
            conn.execute(insert(source_orders), [dict(r, imported_at=now) for r in rows])
            fast = lookup_pairs(conn, columns, source_orders.c.digest, wanted)
            monkeypatch.setattr(portal.queries, "_plain_columns", lambda *_: False)
            slow = lookup_pairs(conn, columns, source_orders.c.digest, wanted)
            transaction.rollback()
        assert fast == slow
        assert fast == {(f"N-{n:05d}", 2): f"{n}-2" for n in range(0, IN_CLAUSE_CHUNK + 30, 3)}
    finally:
        engine.dispose()
