"""``veraz tokens`` and migration 0017: secrets shown once and stored only as hashes; the
tables the migration makes are the ones ``portal.intake.tables`` declares."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from portal.cli import main
from portal.db import alembic_config, app_engine, make_engine
from portal.intake.cli import parse_expiry
from portal.intake.tables import metadata, tokens


def test_a_token_is_shown_once_and_stored_as_its_hash(app, runner):
    made = runner.invoke(
        main, ["tokens", "create", "--scope", "quotes", "--name", "catálogos", "--expires", "30d"]
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("veraz_quotes_") and len(secret) == len("veraz_quotes_") + 43
    with app_engine(app).connect() as conn:
        (row,) = conn.execute(select(tokens)).all()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(tuple(row))
    if app_engine(app).dialect.name == "sqlite":  # the file holds no copy of the secret
        path = Path(app_engine(app).url.database)
        for file in (path, Path(f"{path}-wal")):
            assert not file.exists() or secret.encode() not in file.read_bytes()
    listed = runner.invoke(main, ["tokens", "list"])
    assert listed.exit_code == 0 and secret not in listed.output
    assert "\tquotes\tactive\t" in listed.output and "catálogos" in listed.output

    assert runner.invoke(main, ["tokens", "revoke", str(row.id)]).exit_code == 0
    assert "\tquotes\trevoked\t" in runner.invoke(main, ["tokens", "list"]).output
    client = app.test_client()
    quote = {"orderNumber": "OC-2025-000001"}
    assert (
        client.post(
            "/api/intake/quotes", json=quote, headers={"Authorization": f"Bearer {secret}"}
        ).status_code
        == 403
    )
    missing = runner.invoke(main, ["tokens", "revoke", "999"])
    assert missing.exit_code != 0 and "no token 999" in missing.output
    past = runner.invoke(main, ["tokens", "create", "--scope", "orders", "--expires", "2020-01-01"])
    assert past.exit_code != 0 and "past" in past.output


def test_expiry_forms():
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("2027-06-30", now) == datetime(2027, 6, 30, tzinfo=UTC)
    assert parse_expiry("2027-06-30T00:00:00-05:00", now) == datetime(2027, 6, 30, 5, tzinfo=UTC)
    for bad in ("soon", "2027-06-30T00:00:00", "0d", "2027-02-30"):
        with pytest.raises(click.BadParameter):
            parse_expiry(bad, now)


def test_migration_0017_makes_the_declared_tables(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
            assert [d for d in diffs if "intake_" in repr(d)] == []
    finally:
        engine.dispose()
    if database_url.startswith("sqlite"):
        command.downgrade(alembic_config(database_url), "0016")
        engine = make_engine(database_url)
        try:
            assert not {"intake_tokens", "intake_refusals"} & set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
