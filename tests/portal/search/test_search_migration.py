"""Migration 0026 drops PostgreSQL's GIN index of the documents' ``tsvector`` (no query reads
it) and its downgrade makes it again; on SQLite it changes nothing. The statistics of the
column, which the search reads to order a query's words, do not need the index. Migration 0027
stores the postings in blocks, the same postings, and its downgrade one row each again."""

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


def test_0027_stores_the_postings_in_blocks_and_its_downgrade_one_row_each(database_url):
    engine = make_engine(database_url)
    try:
        if engine.dialect.name == "sqlite":  # nothing to do there
            command.downgrade(alembic_config(database_url), "0026")
            upgrade(database_url, "head")
            return
        with engine.begin() as conn:
            for n in range(60):  # ids over several blocks, each document in its own transaction
                doc = Document(f"ocds-t-{n}", f"oc{n} 2013{n}", "papel bond" if n % 3 else f"papel a{n % 7}")
                database.write_documents(conn, [doc.ocid], [doc])
                conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('search_documents', 'id'), max(id) + :gap) "
                        "FROM search_documents"
                    ),
                    {"gap": 97 * (n % 5)},
                )
            postings = set(map(tuple, conn.execute(text(database.PG_POSTINGS_OF))))
            assert set(map(tuple, conn.execute(text(database.PG_STORED_POSTINGS)))) == postings
            assert conn.execute(text("SELECT count(DISTINCT block) FROM search_posting_blocks")).scalar() > 5
        command.downgrade(alembic_config(database_url), "0026")
        with engine.connect() as conn:
            assert (
                set(map(tuple, conn.execute(text("SELECT term, document FROM search_postings")))) == postings
            )
        upgrade(database_url, "head")  # the blocks made again from the documents
        with engine.connect() as conn:
            stored = list(map(tuple, conn.execute(text(database.PG_STORED_POSTINGS))))
            assert sorted(stored) == sorted(postings)
            assert (
                conn.execute(text("SELECT count(*) FROM search_posting_blocks WHERE offsets = '{}'")).scalar()
                == 0
            )
    finally:
        engine.dispose()
