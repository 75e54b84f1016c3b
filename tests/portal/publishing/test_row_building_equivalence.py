"""The publishing workers' shortcuts in building rows give what the plain definitions give."""

from __future__ import annotations

import functools
from decimal import Decimal

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL
from support import replace_at_paths

from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from ocds.summary import browse_columns_of, drawn_facts, process_facts, read_model_rows_of, row_facts
from portal.db import driver_params
from portal.models import item_lines
from portal.search.documents import MAX_BODY_TERMS, _document, document_of
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


# The facts the stored rows read (ocds.summary.row_facts) give what the whole reading gives:
# generated orders
# with values replaced at random paths by any JSON, as imported OCDS may hold.
_ROW_SKIPPED = ("destinations", "bids", "amendments", "documents")
_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(["", "buyer", "supplier", "framework", "UNSPSC", "44103105"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@functools.cache
def _order_releases() -> tuple[bytes, ...]:
    orders = generate_orders(20, 7)
    return tuple(orjson.dumps(map_order(o, ocid_prefix="ocds-x").order_release) for o in orders)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_row_facts_give_the_rows_of_the_whole_reading(data):
    release = orjson.loads(data.draw(st.sampled_from(_order_releases())))
    replace_at_paths(data.draw, release, _JSON, max_changes=5)
    full, rows = process_facts(release), row_facts(release)
    assert {k: v for k, v in full.items() if k not in _ROW_SKIPPED} == {
        k: v for k, v in rows.items() if k not in _ROW_SKIPPED
    }
    # What a worker that draws the PDF reads: everything but the documents.
    drawn = drawn_facts(release)
    assert drawn == {**full, "documents": []}
    assert all(rows[k] == [] for k in _ROW_SKIPPED)
    assert browse_columns_of(rows) == browse_columns_of(full)
    assert read_model_rows_of(rows) == read_model_rows_of(full)
    assert document_of("ocds-x-1", rows) == document_of("ocds-x-1", full)


def test_row_facts_leave_out_what_orders_have():
    # The shortcut must skip something real, or the test above proves nothing.
    full = process_facts(orjson.loads(_order_releases()[0]))
    assert full["destinations"] and full["bids"] and full["documents"]
