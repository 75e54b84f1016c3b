"""PostgreSQL's postings (``search_posting_blocks``) find exactly what the documents' ``tsvector``
finds: the same set for every query (the listing's and the counts' ``matching``), the same
newest window whichever way the engine reads it (words merged or looked up, an identifier
prefix's terms merged or its range read whole), and the postings stay those of the stored
documents when documents are replaced, dropped or the index is rebuilt.

Generated documents (seeded: words of a small vocabulary so that they co-occur, numbers the
PostgreSQL parser might read as something else, identifiers sharing prefixes) and generated
queries (hypothesis: vocabulary words, identifier prefixes, hostile text)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from support import fresh_postgres_db

from portal.db import make_engine, upgrade
from portal.search import database
from portal.search.documents import Document
from portal.search.text import Query, parse_query

#: Common and rare words (by how often the generator picks them), and tokens the
#: PostgreSQL parser has types for (scientific notation, long numbers, letters and digits).
COMMON = ["comput", "oficin", "papel", "limpiez", "salud", "red", "oc", "2024"]
RARE = ["huamang", "punt", "sip", "corpor", "000", "1e5", "2e", "0x1f", "a4", "x" * 64, "9" * 40]
IDENTIFIERS = ["oc2024000", "oc2024001", "oc2025000", "20131370998", "20131371000", "peruc20131370998"]
DOCUMENTS = 400


def _documents(rng: random.Random, start: int) -> list[Document]:
    docs = []
    for n in range(start, start + DOCUMENTS // 4):
        words = [rng.choice(COMMON) for _ in range(rng.randint(0, 8))]
        words += [rng.choice(RARE) for _ in range(rng.randint(0, 2))]
        ids = [f"{rng.choice(IDENTIFIERS)}{rng.randint(0, 99):02d}" for _ in range(rng.randint(1, 3))]
        docs.append(Document(f"ocds-test-{n % (DOCUMENTS // 2)}", " ".join(ids), " ".join(words)))
    return docs


@pytest.fixture(scope="module")
def engine(postgres_server):
    url = fresh_postgres_db(postgres_server)
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(20261205)
    # Four batches; half of the second pair's ocids are already there: their documents are
    # replaced (new ids, the old postings deleted).
    for batch in range(4):
        docs = list({d.ocid: d for d in _documents(rng, batch * DOCUMENTS // 4)}.values())
        with engine.begin() as conn:
            database.write_documents(conn, [d.ocid for d in docs], docs)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE search_documents"))
    yield engine
    engine.dispose()


def _tsv_condition(query: Query) -> tuple[str, dict[str, str]]:
    """The ``tsvector`` condition the postings stand for (the engine's before them)."""
    conds, params = [], {}
    if query.terms:
        conds.append("tsv @@ to_tsquery('simple', :words)")
        params["words"] = " & ".join(f"'{t}':D" for t in query.terms)
    if query.key is not None:
        conds.append("tsv @@ to_tsquery('simple', :key)")
        params["key"] = f"'{query.key}':*A"
    return "(" + " OR ".join(conds) + ")", params


def _expected(conn, query: Query, window: int | None = None) -> list[int]:
    where, params = _tsv_condition(query)
    limit = f" LIMIT {window}" if window else ""
    sql = f"SELECT id FROM search_documents WHERE {where} ORDER BY id DESC{limit}"
    return list(conn.execute(text(sql), params).scalars())


def _window(conn, query: Query, window: int) -> list[int]:
    return database._pg_window(conn, query, window)


def _stored_postings(conn) -> set[tuple[str, int]]:
    rows = list(map(tuple, conn.execute(text(database.PG_STORED_POSTINGS))))
    assert len(rows) == len(set(rows))  # each posting once
    return set(rows)


def _postings_of_documents(conn) -> set[tuple[str, int]]:
    """What the postings should be, from each stored document's words and identifiers as the
    ``tsvector`` splits them (each a word of the text, D, or an identifier, A)."""
    rows = conn.execute(text("SELECT id, identifiers, words FROM search_documents")).all()
    made = set()
    for doc, identifiers, words in rows:
        made |= {("A" + w, doc) for w in identifiers.split()}
        made |= {("D" + w, doc) for w in words.split()}
    return made


QUERY_TEXT = st.one_of(
    st.lists(st.sampled_from(COMMON + RARE), min_size=1, max_size=4).map(" ".join),
    st.builds(lambda i, n: i[:n], st.sampled_from(IDENTIFIERS), st.integers(4, 14)),
    st.builds(lambda w, i: f"{w} {i}", st.sampled_from(COMMON + RARE), st.sampled_from(IDENTIFIERS)),
    st.text(alphabet="oc-2024 01'\"*:&|!()\\", max_size=20),
)


def test_postings_are_the_documents_words(engine):
    with engine.connect() as conn:
        stored = _stored_postings(conn)
        assert stored == _postings_of_documents(conn)
        assert len(stored) > DOCUMENTS
        # Replacing and dropping keep them so; a posting edited behind the engine's back is
        # repaired by the rebuild's first step.
    with engine.connect() as conn:
        conn.execute(text("DELETE FROM search_posting_blocks WHERE term = 'Dcomput'"))
        conn.execute(text("INSERT INTO search_posting_blocks VALUES ('Dnunca', 0, '{1}')"))
        database.reindex_full_text(conn)
        assert _stored_postings(conn) == stored
        database.drop_orphans(conn)  # no record is stored: every document goes, and its postings
        assert _stored_postings(conn) == set()
        # and their blocks, none left empty
        assert conn.execute(text("SELECT count(*) FROM search_posting_blocks")).scalar() == 0
        conn.rollback()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=QUERY_TEXT, window=st.sampled_from([1, 7, 60]))
def test_postings_find_what_the_tsvector_finds(engine, typed, window):
    query = parse_query(typed)
    if query.empty:
        assert database.pg_postings(query) is None
        return
    with engine.connect() as conn:
        everything = _expected(conn, query)
        found = database.matching_ids(conn, query)
        assert sorted(found.tolist(), reverse=True) == everything  # each once
        assert set(conn.execute(database.matching("postgresql", query)).scalars()) == set(
            conn.execute(
                text(f"SELECT ocid FROM search_documents WHERE {_tsv_condition(query)[0]}"),
                _tsv_condition(query)[1],
            ).scalars()
        )
        newest = everything[:window]
        database._pg_common.clear()
        defaults = database.PG_MERGE_RATIO, database.PG_KEY_TERMS
        # As tuned; every word but the rarest looked up and a prefix's range read whole;
        # every word merged and each identifier of a prefix read newest first.
        for ratio, key_terms in (defaults, (0, 0), (10**9, len(IDENTIFIERS) * 100)):
            database.PG_MERGE_RATIO, database.PG_KEY_TERMS = ratio, key_terms
            try:
                assert _window(conn, query, window) == newest, (ratio, key_terms)
            finally:
                database.PG_MERGE_RATIO, database.PG_KEY_TERMS = defaults


#: The postings as first defined (every lexeme of ``unnest(tsv)`` joined with the weights it has):
#: the definition in use must give the same rows.
_UNNEST_POSTINGS = """
SELECT w.weight || u.lexeme AS term, d.id AS document
FROM search_documents AS d CROSS JOIN LATERAL unnest(d.tsv) AS u
JOIN (VALUES ('A'), ('D')) AS w(weight) ON w.weight = ANY(u.weights)"""


def test_postings_definition_equals_unnest_with_weights(engine):
    # A token both an identifier and a word (two postings, A and D), words repeated, a
    # document with no words, tokens the parser has types for.
    docs = [
        Document("ocds-diff-1", "oc2024000 20131370998", "oc 2024 000 papel papel papel 20131370998"),
        Document("ocds-diff-2", "peruc20131370998 20131370998", ""),
        Document("ocds-diff-3", "a4", "a4 1e5 2e 0x1f " + "x" * 64 + " comput comput"),
    ]
    with engine.connect() as conn:
        database.write_documents(conn, [d.ocid for d in docs], docs)
        sql = "SELECT id FROM search_documents WHERE ocid LIKE 'ocds-diff-%'"
        ids = list(conn.execute(text(sql)).scalars())
        where = " WHERE d.id = ANY(:ids)"
        now = list(map(tuple, conn.execute(text(database.PG_POSTINGS_OF + where), {"ids": ids})))
        before = list(map(tuple, conn.execute(text(_UNNEST_POSTINGS + where), {"ids": ids})))
        assert sorted(now) == sorted(before) and len(set(now)) == len(now)
        assert {"A20131370998", "D20131370998", "Aa4", "Da4", "Dpapel"} <= {term for term, _ in now}
        conn.rollback()
