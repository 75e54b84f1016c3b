"""The publishing workers' faster reading of an order gives what the reading it replaced gave.

``reference_summary`` is ``ocds/summary.py`` as it was before the read model and the search
document were made cheaper (facts, browse columns, read-model rows), and the ``_reference_*``
functions below are the search document and the packing of that time. Every function is
compared with its reference on generated orders and agreements, on the same with values
replaced at random paths by any JSON (imported OCDS may hold anything: nulls, wrong types,
huge or non-finite numbers, negative zero), and on arbitrary JSON with OCDS keys; values are
compared with their types (``repr``), so an ``int`` for a ``float`` or ``-0.00`` for ``0.00``
fails.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from functools import lru_cache

import orjson
import reference_summary as reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL
from support import replace_at_paths

from ocds import summary
from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from portal.publishing.records import PackedRows, pack_read_model, packed_read_model_of
from portal.search.documents import MAX_BODY_TERMS, _stems, document_of
from portal.search.text import analyse, compact

DIALECTS = [URL.create(name).get_dialect()() for name in ("sqlite+pysqlite", "postgresql+psycopg")]


# The search document as it was made (portal.search.documents before the change).
def _reference_party_keys(party):
    if not party:
        return []
    identifier = party.get("identifier") or {}
    return [party.get("id") or "", identifier.get("id") or ""]


def _reference_document(ocid, facts):
    framework = facts["framework"] or {}
    parties = [facts["buyer"], *facts["suppliers"]]
    names = [facts["title"], framework.get("title")]
    for item in facts["items"]:
        names += [item["description"], item["classification"]["description"]]
    names += [p["name"] for p in parties if p]
    names.append(facts["order_number"])
    ids = [facts["order_number"], *(k for p in parties for k in _reference_party_keys(p))]
    keys = dict.fromkeys(k for k in (compact(i) for i in [ocid, *ids] if i) if k)
    texts = [n for n in names if n]
    body = [stem for text in texts for stem in _reference_stems(text)][:MAX_BODY_TERMS]
    return (ocid, " ".join(keys), " ".join(body))


@lru_cache(maxsize=4096)
def _reference_stems(text):
    return tuple(analyse(text))


def _document(ocid, facts):
    document = document_of(ocid, facts)
    return (document.ocid, document.identifiers, document.words)


def _shape(value):
    """``value`` with every type and key order spelt out (repr would fail on huge integers)."""
    if isinstance(value, dict):
        return ("dict", [(k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_shape(v) for v in value])
    if isinstance(value, PackedRows):
        return ("PackedRows", _shape(value.columns), _shape(value.params))
    if isinstance(value, float):
        return ("float", value.hex())  # -0.0 and NaN spelt out
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())  # places and sign
    return (type(value).__name__, value)


def _same(new, old):
    assert _shape(new) == _shape(old)


def assert_same_reading(release) -> None:
    """Every reading of ``release`` the workers and pages use equals the reference's."""
    for name in ("process_facts", "row_facts", "drawn_facts", "browse_columns", "read_model_rows"):
        _same(getattr(summary, name)(release), getattr(reference, name)(release))
    facts, old_facts = summary.row_facts(release), reference.row_facts(release)
    _same(summary.browse_columns_of(facts), reference.browse_columns_of(old_facts))
    _same(summary.read_model_rows_of(facts), reference.read_model_rows_of(old_facts))
    for dialect in DIALECTS:
        _same(
            packed_read_model_of(facts, dialect),
            pack_read_model(reference.read_model_rows_of(old_facts), dialect),
        )
    ocid = facts["ocid"] or "ocds-x-1"
    assert _document(ocid, facts) == _reference_document(ocid, old_facts)
    # A facts dict that is not the reading's own: the supplier in two places is two objects.
    if facts["supplier"] is not None:
        assert facts["supplier"] is not facts["suppliers"][0]
        if facts["supplier"]["identifier"] is not None:
            assert facts["supplier"]["identifier"] is not facts["suppliers"][0]["identifier"]


@functools.cache
def _releases() -> tuple[bytes, ...]:
    out = []
    for order in generate_orders(30, 11):
        mapped = map_order(order, ocid_prefix="ocds-x")
        out += [orjson.dumps(mapped.order_release), orjson.dumps(mapped.agreement_release)]
    return tuple(out)


def test_generated_orders_and_agreements_read_as_before():
    for data in _releases():
        assert_same_reading(orjson.loads(data))


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),  # NaN, infinities, -0.0
    st.sampled_from([0, -0.0, 0.0, 10**17, 1e308, 0.005, 0.015, 2.675, "12", "1e400", "NaN"]),
    st.just(None).map(lambda _: 10**5000),  # beyond str()'s digit limit
    st.text(max_size=20),
    st.text(alphabet="ab \t\x00.-ΣσςİıßÁé\u0301", max_size=12),
    st.sampled_from(["", "buyer", "supplier", "framework", "UNSPSC", "unspsc ", "44103105", "43210000"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_KEYS = st.sampled_from(
    [
        "ocid",
        "id",
        "tender",
        "awards",
        "contracts",
        "parties",
        "buyer",
        "relatedProcesses",
        "relationship",
        "identifier",
        "scheme",
        "title",
        "roles",
        "items",
        "classification",
        "unit",
        "value",
        "amount",
        "currency",
        "quantity",
        "name",
        "details",
        "scale",
        "address",
        "region",
        "locality",
        "suppliers",
        "status",
        "date",
        "dateSigned",
        "tenderPeriod",
        "startDate",
        "period",
        "techniques",
        "hasFrameworkAgreement",
        "deliveryAddress",
        "description",
        "mainProcurementCategory",
        "procurementMethod",
    ]  # fmt: skip
)
_OCDS_LIKE = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=6)),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_releases_read_as_before(data):
    release = orjson.loads(data.draw(st.sampled_from(_releases())))
    assert_same_reading(replace_at_paths(data.draw, release, _JSON, max_changes=6))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_OCDS_LIKE)
def test_any_json_with_ocds_keys_reads_as_before(release):
    assert_same_reading(release)


@settings(max_examples=500, deadline=None)
@given(_SCALARS)
def test_amounts_round_as_before(value):
    # What the read model rounds through the cache: a number as _number gives it. Twice: the
    # first call may fill the cache, the second reads it.
    number = summary._number(value)
    for _ in range(2):
        _same(summary._recurring_amount(number), reference._amount(number))
    _same(summary._amount(value), reference._amount(value))


def test_zero_amounts_keep_their_sign():
    # 0.0 and -0.0 are one key of a cache: whichever comes first must not answer for the other.
    for value in (-0.0, 0.0, -0.0, 0, 0.0):
        _same(summary._recurring_amount(value), reference._amount(value))
    negative = summary._recurring_amount(-0.0)
    assert str(negative) == "-0.00" and math.copysign(1, negative) == -1
    assert summary._recurring_amount(1) == summary._recurring_amount(1.0) == Decimal("1.00")


# Whitespace of every kind beside letters whose folding depends on their neighbours (Greek
# sigma), combining marks (alone after a space too), letters NFKD decomposes with a space
# (diaeresis, U+00A8) and letters spelt out.
_WORDY = st.text(
    alphabet="aAbBzZ019 \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u3000\u180e\u200b"
    ".-'’·:/ñÑéΣσςΑ\u0301\u0308\u00a8ßİıæ",
    max_size=30,
)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(_WORDY, st.text(max_size=30)))
def test_cached_stems_are_the_analysis(text):
    # A text is analysed word by word through the cache: the same stems as a whole.
    assert _stems(text) == tuple(analyse(text))
    assert _stems(text) == tuple(analyse(text))


def test_a_title_is_analysed_in_its_new_word_only():
    _stems.cache_clear()
    _stems("Orden de compra OC-2031-000001")
    _stems("OC-2031-000001")
    info = _stems.cache_info()
    # the title, its four words (the order number's among them); the order number met again
    assert (info.misses, info.hits) == (5, 1)
