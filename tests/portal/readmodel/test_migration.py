"""Migration 0011 creates exactly the read model that portal.models declares (SQLite and
PostgreSQL), and downgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.db import alembic_config, make_engine, upgrade
from portal.models import item_lines, metadata, parties, records

READ_MODEL = {"item_lines", "parties"}
RECORD_COLUMNS = {"procedure", "agreement_title", "delivery_region", "delivery_district", "month"}


def _mine(diff) -> bool:
    """Whether an autogenerate difference concerns the read model's tables or columns."""
    if isinstance(diff, tuple) and diff[0] in ("remove_table", "remove_index"):
        table = diff[1] if diff[0] == "remove_table" else diff[1].table
        if table.name not in metadata.tables:
            return False  # declared by another package's metadata (the flags' tables have a "month")
    text = repr(diff)
    return any(name in text for name in READ_MODEL | RECORD_COLUMNS) or "ix_records_" in text


def test_migrated_database_has_the_declared_read_model(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diffs if _mine(d)] == []
        inspector = inspect(conn)
        assert {c["name"] for c in inspector.get_columns("item_lines")} == {c.name for c in item_lines.c}
        assert {c["name"] for c in inspector.get_columns("parties")} == {c.name for c in parties.c}
        assert RECORD_COLUMNS <= {c["name"] for c in inspector.get_columns("records")}
    engine.dispose()


def test_downgrade_removes_the_read_model(sqlite_url):
    command.downgrade(alembic_config(sqlite_url), "0010")
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        inspector = inspect(conn)
        assert not READ_MODEL & set(inspector.get_table_names())
        assert not RECORD_COLUMNS & {c["name"] for c in inspector.get_columns("records")}
        assert {c.name for c in records.c} - RECORD_COLUMNS == {
            c["name"] for c in inspector.get_columns("records")
        }
    engine.dispose()
    upgrade(sqlite_url)


def test_records_keep_one_index_by_amount(database_url):
    """Migration 0030 drops ``(amount)``, which ``(amount, ocid)`` serves; a downgrade puts it back."""

    def indexes() -> set[str]:
        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                return {ix["name"] for ix in inspect(conn).get_indexes("records")}
        finally:
            engine.dispose()

    assert "ix_records_amount_ocid" in indexes() and "ix_records_amount" not in indexes()
    command.downgrade(alembic_config(database_url), "0029")
    assert {"ix_records_amount", "ix_records_amount_ocid"} <= indexes()
    upgrade(database_url)
    assert "ix_records_amount_ocid" in indexes() and "ix_records_amount" not in indexes()
