"""Migration 0018 makes exactly the order-token tables portal.tokens.tables declares (SQLite and
PostgreSQL), and its downgrade removes them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.db import alembic_config, make_engine
from portal.tokens.tables import metadata, order_tokens, token_batches

TABLES = {"token_batches", "order_tokens"}


def test_migrated_database_has_the_declared_token_tables(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
            assert [d for d in diffs if any(t in repr(d) for t in TABLES)] == []
            inspector = inspect(conn)
            for table in (token_batches, order_tokens):
                assert {c["name"] for c in inspector.get_columns(table.name)} == {c.name for c in table.c}
    finally:
        engine.dispose()


def test_downgrade_removes_the_token_tables(sqlite_url):
    command.downgrade(alembic_config(sqlite_url), "0017")
    engine = make_engine(sqlite_url)
    try:
        assert TABLES.isdisjoint(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_documented_token_id_example():
    """docs/tokens.md's worked example of the token id."""
    from anchoring.chains.token_id import token_id

    text = (Path(__file__).resolve().parents[3] / "docs" / "tokens.md").read_text()
    assert str(token_id("ocds-veraz-000042")) in text
