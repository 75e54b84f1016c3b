"""Any text a person can type is a valid query, on both engines and both databases: never an
error, and only ocids of stored processes come back."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_corpus import OCIDS
from sqlalchemy import select

from portal.db import app_engine
from portal.models import records
from portal.search import search_ocids

#: What engines' query languages would read as syntax, and other text people paste.
FRAGMENTS = [
    '"',
    "'",
    "*",
    "-",
    "+",
    "^",
    ":",
    "(",
    ")",
    "NEAR(",
    "NEAR/3",
    "OR",
    "AND",
    "NOT",
    "&",
    "|",
    "!",
    "<->",
    ":*",
    "\\",
    "%",
    "_",
    "{",
    "}",
    "[",
    "]",
    "identifiers:",
    "words :",
    "search_fts",
    "🙂",
    "🏳️‍🌈",
    "\x00",
    "\u200b",
    "ñ",
    "Ñ",
    "ﬁ",
    "ß",
    "İ",
    "中文",
    "٣",
    "½",
    "oc-2025-",
    "2013137",
    "computadoras",
    " ",
    "\t",
    "\n",
    ";",
    "--",
    "/*",
    "'; DROP TABLE records; --",
]

texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=30).map("".join),
    st.builds(lambda s, n: s * n, st.sampled_from(FRAGMENTS), st.integers(1, 10_000)),
)


@pytest.fixture(params=["database", "whoosh"])
def search_app(request, corpus_app):
    corpus_app.config["SEARCH_ENGINE"] = request.param
    return corpus_app


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_any_text_is_a_valid_query(search_app, text):
    found = search_ocids(app_engine(search_app), search_app.config, text, limit=10)
    assert isinstance(found, list) and len(found) <= 10
    assert set(found) <= stored_ocids(search_app)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        "computadoras " * 2_000,
        "(" * 10_000,
        '"' * 9_999,
        "🙂" * 10_000,
        "oc-2025-000123" * 700,
        " OR ".join(["limpieza"] * 2_000),
    ],
)
def test_very_long_queries_answer(search_app, text):
    found = search_ocids(app_engine(search_app), search_app.config, text, limit=10)
    assert set(found) <= stored_ocids(search_app)


def test_query_syntax_is_searched_as_words(search_app):
    engine = app_engine(search_app)
    assert search_ocids(engine, search_app.config, '"computadoras" (huamanga*)') == [OCIDS["A"]]
    assert search_ocids(engine, search_app.config, "-limpieza") == [OCIDS["B"]]


def stored_ocids(app) -> set[str]:
    with app_engine(app).connect() as conn:
        return set(conn.execute(select(records.c.ocid)).scalars())
