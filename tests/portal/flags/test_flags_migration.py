"""Migration 0015 creates exactly the tables portal.flags.tables declares, and drops them
(SQLite and PostgreSQL). Run on a database migrated to the current head, whether the file is
already in the chain (migrations/versions) or waits for its predecessor (migrations/pending)."""

from __future__ import annotations

import importlib.util

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect
from support import ROOT

from portal.db import make_engine
from portal.flags.tables import metadata

TABLES = {"flag_facts", "flag_prices", "flag_hits", "flag_state"}


def _migration():
    for folder in ("versions", "pending"):
        path = ROOT / "migrations" / folder / "0015_flags.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location("migration_0015", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise AssertionError("migration 0015_flags.py is missing")


def _run(engine, step) -> None:
    with engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            step()


def test_migration_creates_the_declared_tables_and_drops_them(database_url):
    migration = _migration()
    assert migration.revision == "0015" and migration.down_revision == "0014"
    engine = make_engine(database_url)
    if not TABLES & set(inspect(engine).get_table_names()):
        _run(engine, migration.upgrade)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diffs if "flag_" in repr(d)] == []
    _run(engine, migration.downgrade)
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()


def test_migration_0025_creates_the_page_counts_as_declared_and_drops_them(database_url):
    path = next(
        p
        for folder in ("versions", "pending")
        if (p := ROOT / "migrations" / folder / "0025_flag_counts.py").exists()
    )
    spec = importlib.util.spec_from_file_location("migration_0025", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.revision == "0025"
    engine = make_engine(database_url)
    counts = {"flag_counts", "flag_totals", "flag_month_firsts"}
    assert counts <= set(inspect(engine).get_table_names())  # the database is at the head
    _run(engine, migration.downgrade)
    assert not counts & set(inspect(engine).get_table_names())
    _run(engine, migration.upgrade)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        # Its tables, and flag_hits' indexes (the plain buyer and supplier ones replaced).
        assert [d for d in diffs if any(name in repr(d) for name in (*counts, "flag_hits"))] == []
    engine.dispose()
