"""Migration 0016 makes exactly the witness tables portal.evidence.tables declares (SQLite and
PostgreSQL), and its downgrade removes them.

Should 0016 ever be moved back to migrations/pending/ (a predecessor renumbered), these tests
skip locally and fail under CI."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from support import need

from portal.db import MIGRATIONS, alembic_config, make_engine
from portal.evidence.tables import cosignatures, metadata, witness_state

TABLES = {"evidence_witnesses", "evidence_cosignatures"}


def need_0016() -> None:
    need(
        any((MIGRATIONS / "versions").glob("0016_*.py")),
        "migration 0016 is still in migrations/pending/ (its predecessor 0015 is not in versions/)",
    )


def test_migrated_database_has_the_declared_witness_tables(database_url):
    need_0016()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
            assert [d for d in diffs if any(t in repr(d) for t in TABLES)] == []
            inspector = inspect(conn)
            for table in (witness_state, cosignatures):
                assert {c["name"] for c in inspector.get_columns(table.name)} == {c.name for c in table.c}
    finally:
        engine.dispose()


def test_downgrade_removes_the_witness_tables(sqlite_url):
    need_0016()
    command.downgrade(alembic_config(sqlite_url), "0015")
    engine = make_engine(sqlite_url)
    try:
        assert TABLES.isdisjoint(inspect(engine).get_table_names())
    finally:
        engine.dispose()
