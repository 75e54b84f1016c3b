"""The one analysis of text: folding, Spanish stems, identifiers, and queries from any text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.search.text import MAX_QUERY_TERMS, MAX_TOKEN, analyse, compact, fold, parse_query


def test_accents_and_case_fold_away():
    assert fold("Construcción ÚTILES Ñandú") == "construccion utiles nandu"
    assert analyse("Construcción") == analyse("construccion") == analyse("CONSTRUCCION")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("computadora", "Computadoras"),
        ("neumático", "neumaticos"),
        ("limpieza", "Limpiezas"),
        ("impresora", "impresoras"),
        ("vehículo", "Vehiculos"),
    ],
)
def test_singular_and_plural_meet_at_one_stem(one, other):
    assert analyse(one) == analyse(other)


def test_function_words_are_left_out():
    assert analyse("computadoras para la oficina") == analyse("computadora oficina")


def test_identifiers_compact_to_letters_and_digits():
    assert compact("OC-2025-000123") == "oc2025000123"
    assert compact("PE-RUC-20131370998") == "peruc20131370998"
    assert compact(" 201 3137 0998 ") == "20131370998"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("oc-2025-00012", "oc202500012"),
        ("20131370998", "20131370998"),
        ("2024", "2024"),
        ("oc-1", None),  # too short to narrow anything
        ("limpieza", None),  # no digit: words only
    ],
)
def test_a_query_has_an_identifier_prefix_only_with_a_digit_and_four_characters(text, key):
    assert parse_query(text).key == key


@pytest.mark.parametrize(
    "text", ["", "   ", '"', "*", "-", "()", '("*")', "🙂🙂", "de la y", "中文", "\x00", "... --- ..."]
)
def test_text_with_nothing_to_look_for_is_an_empty_query(text):
    assert parse_query(text).empty


def test_engine_syntax_is_plain_words():
    query = parse_query('"limpieza" OR NEAR(papel*, -bond) AND (x)')
    assert query.terms == tuple(analyse("limpieza or near papel bond and x"))


def test_a_long_query_keeps_its_first_distinct_terms():
    words = " ".join(f"palabra{i}" for i in range(5000))
    query = parse_query(words)
    assert len(query.terms) == MAX_QUERY_TERMS
    assert query.terms[0] == analyse("palabra0")[0]


@given(st.text())
def test_any_text_gives_safe_tokens(text):
    query = parse_query(text)
    assert len(query.terms) <= MAX_QUERY_TERMS
    for term in query.terms:
        assert re.fullmatch(r"[a-z0-9]+", term) and len(term) <= MAX_TOKEN
    assert query.key is None or re.fullmatch(r"[a-z0-9]{4,255}", query.key)
