"""``veraz reindex`` rebuilds exactly what the publishing transactions wrote (SQLite, PostgreSQL),
and what is stored is ``ocds.summary.read_model_rows`` of each compiled release."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, select, update
from support import make_app

from ocds.summary import browse_columns, read_model_rows
from portal import queries
from portal.cli import main
from portal.db import app_engine
from portal.models import item_lines, parties, records


def _snapshot(conn) -> dict:
    """Every read-model row, without the time a row was written."""
    kept = [c for c in records.c if c.name != "updated_at"]
    return {
        "records": sorted(tuple(r) for r in conn.execute(select(*kept))),
        "item_lines": sorted(tuple(r) for r in conn.execute(select(item_lines))),
        "parties": sorted(tuple(r) for r in conn.execute(select(parties))),
    }


def test_reindex_rebuilds_what_publishing_wrote(published, tmp_path):
    app = make_app(published, tmp_path)
    engine = app_engine(app)
    with engine.connect() as conn:
        written = _snapshot(conn)
    assert len(written["records"]) > 400  # orders, their agreements and the real processes
    assert len(written["item_lines"]) > len(written["records"])
    with engine.begin() as conn:  # wreck the read model: reindex must not read it
        conn.execute(delete(item_lines))
        conn.execute(delete(parties).where(parties.c.role == "supplier"))
        conn.execute(update(records).values(procedure="wrong", month=None, delivery_region="x"))
    result = app.test_cli_runner().invoke(main, ["reindex"])
    assert result.exit_code == 0, result.output
    assert f"Reindexed {len(written['records']):,} records" in result.output
    with engine.connect() as conn:
        assert _snapshot(conn) == written
    engine.dispose()


def test_stored_rows_are_read_model_rows_of_the_compiled_release(published, tmp_path):
    app = make_app(published, tmp_path)
    engine = app_engine(app)
    with engine.connect() as conn:
        ocids = list(conn.execute(select(records.c.ocid).order_by(records.c.ocid)).scalars())
        for ocid in ocids:
            compiled = queries.compiled_release(conn, ocid)
            expected = read_model_rows(compiled)
            for name, table in (("item_lines", item_lines), ("parties", parties)):
                stored = [
                    dict(r)
                    for r in conn.execute(
                        select(table).where(table.c.ocid == ocid).order_by(table.c.position)
                    ).mappings()
                ]
                assert stored == [_as_stored(row) for row in expected[name]], (ocid, name)
            row = queries.record_row(conn, ocid)
            columns = browse_columns(compiled)
            assert {k: row[k] for k in columns} == columns, ocid
    engine.dispose()


def _as_stored(row: dict) -> dict:
    return {k: (Decimal(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
