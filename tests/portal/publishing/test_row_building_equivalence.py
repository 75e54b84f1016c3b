"""The publishing workers' shortcuts in building rows give what the plain definitions give."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from portal.db import driver_params
from portal.models import item_lines
from portal.search.documents import MAX_BODY_TERMS, _document
from portal.search.text import analyse

# Letters whose lower case depends on their neighbours (Greek final sigma), combining marks,
# letters spelt out by folding, spaces and punctuation: what could make a text's stems depend
# on the texts beside it.
_TRICKY = "ΣσςΑαİIıßæŒ\u0301\u0308\u00a8 \t.-'’ÁéÑñ"
texts = st.lists(
    st.one_of(st.text(alphabet=_TRICKY + "abcXYZ019", max_size=12), st.text(max_size=12), st.none()),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_search_words_are_the_stems_of_the_joined_texts(names):
    document = _document("ocds-x-1", list(names), [])
    assert document.words == " ".join(analyse(" ".join(n for n in names if n))[:MAX_BODY_TERMS])


def test_search_words_are_cut_at_the_term_limit():
    names = ["casa mesa silla"] * (MAX_BODY_TERMS // 3 + 5)
    document = _document("ocds-x-1", names, [])
    assert document.words.split() == analyse(" ".join(names))[:MAX_BODY_TERMS]
    assert len(document.words.split()) == MAX_BODY_TERMS


_quantities = st.one_of(
    st.none(), st.decimals(min_value=-(10**15), max_value=10**15, places=2, allow_nan=False)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda ocid, position, quantity: {"ocid": ocid, "position": position, "quantity": quantity},
            st.text(max_size=5),
            st.integers(0, 10),
            _quantities,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_driver_params_are_what_bulk_insert_sends(rows):
    # bulk_insert sends each column through its bind processor; the packed tuples carry the
    # same values, on both dialects (floats on SQLite, Decimals on PostgreSQL).
    for name in ("sqlite+pysqlite", "postgresql+psycopg"):
        dialect = URL.create(name).get_dialect()()
        columns, params = driver_params(item_lines, rows, dialect)
        processor = item_lines.c.quantity.type._cached_bind_processor(dialect) or (lambda v: v)
        assert columns == ("ocid", "position", "quantity")
        assert params == [(r["ocid"], r["position"], processor(r["quantity"])) for r in rows]
        assert all(type(p[2]) is type(processor(r["quantity"])) for p, r in zip(params, rows, strict=True))


def test_driver_params_of_decimals_on_sqlite_are_floats():
    dialect = URL.create("sqlite+pysqlite").get_dialect()()
    _, params = driver_params(item_lines, [{"ocid": "a", "quantity": Decimal("369.00")}], dialect)
    assert params == [("a", 369.0)] and type(params[0][1]) is float
