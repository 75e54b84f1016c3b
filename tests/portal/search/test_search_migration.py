"""Migration 0026 drops PostgreSQL's GIN index of the documents' ``tsvector`` (no query reads
it) and its downgrade makes it again; on SQLite it changes nothing. The statistics of the
column, which the search reads to order a query's words, do not need the index."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from portal.db import alembic_config, make_engine, upgrade
from portal.search import database
from portal.search.documents import Document

GIN = "ix_search_documents_tsv"


def _indexes(engine) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes("search_documents")}


def test_0026_drops_the_gin_index_and_its_downgrade_makes_it(database_url):
    engine = make_engine(database_url)
    try:
        before = _indexes(engine)
        assert GIN not in before
        command.downgrade(alembic_config(database_url), "0025")
        if engine.dialect.name == "sqlite":
            assert _indexes(engine) == before
        else:
            assert _indexes(engine) == before | {GIN}
        upgrade(database_url, "head")
        assert _indexes(engine) == before
        if engine.dialect.name == "postgresql":
            docs = [Document(f"ocds-t-{n}", f"oc{n}", "papel bond" if n % 2 else "papel") for n in range(40)]
            with engine.begin() as conn:
                database.write_documents(conn, [d.ocid for d in docs], docs)
                conn.execute(text("ANALYZE search_documents"))
            with engine.connect() as conn:
                shares = database._pg_shares(conn) or {}
            assert shares.get("papel") == 1.0 and shares.get("bond") == 0.5
    finally:
        database._pg_common.clear()
        engine.dispose()
