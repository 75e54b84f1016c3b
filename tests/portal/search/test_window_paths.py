"""The database engine's ways of finding the newest matches give the same answers as the
plain one: PostgreSQL merging its postings' ranges or looking the commoner words up, and
reading an identifier prefix's terms newest first or its range whole (with and without the
table's statistics), SQLite estimating each term's rarity from a sample of its newest
matches. The corpus is small, so the engine's constants are made small to take those paths."""

from __future__ import annotations

import pytest
from search_corpus import AGREEMENT, OCIDS
from sqlalchemy import text

from portal.db import app_engine
from portal.search import database, search_ocids

QUERIES = [
    "computadoras",
    "Construcción",
    "papel bond",
    "computadoras huamanga",
    "Huamanga",
    "distribuidora andina",
    "acuerdo marco",
    "20131370998",
    "2013137",
    "oc-2025-00012",
    "000999",
    AGREEMENT.lower(),
    "ambulancia",
]


def answers(app, limit: int = 50) -> dict[str, list[str]]:
    return {q: search_ocids(app_engine(app), app.config, q, limit=limit) for q in QUERIES}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the postings are PostgreSQL's
@pytest.mark.parametrize("statistics", [False, True], ids=["no-statistics", "analysed"])
def test_postgres_lookups_and_prefix_ranges_equal_the_merge(corpus_app, monkeypatch, statistics):
    engine = app_engine(corpus_app)
    assert engine.dialect.name == "postgresql"
    if statistics:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE search_documents"))
    database._pg_common.clear()
    expected = answers(corpus_app)
    assert expected["computadoras"] == [OCIDS["A"]]
    # Every word but the rarest looked up, every identifier prefix's range read whole.
    monkeypatch.setattr(database, "PG_MERGE_RATIO", 0)
    monkeypatch.setattr(database, "PG_KEY_TERMS", 0)
    database._pg_common.clear()
    assert answers(corpus_app) == expected
    assert answers(corpus_app, limit=2) == {q: hits[:2] for q, hits in expected.items()}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the estimate is SQLite's
def test_sqlite_estimated_rarity_finds_the_same_processes(corpus_app, monkeypatch):
    engine = app_engine(corpus_app)
    assert engine.dialect.name == "sqlite"
    expected = answers(corpus_app)
    # A sample of one match: every common term's rarity is estimated, not counted.
    monkeypatch.setattr(database, "IDF_SAMPLE", 1)
    found = answers(corpus_app)
    assert {q: set(hits) for q, hits in found.items()} == {q: set(hits) for q, hits in expected.items()}
    assert all(len(hits) == len(set(hits)) for hits in found.values())
    # An identifier match still ranks above processes that only share words with the query.
    assert found["oc-2025-00012"][0] in (OCIDS["A"], OCIDS["B"])
