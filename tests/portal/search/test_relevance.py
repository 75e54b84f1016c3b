"""Relevance on a fixed set of Spanish queries with expected hits, for both engines on both
databases: stems, accents, case, buyer and supplier names, RUCs, lowercase and partial order
numbers, ocids. The corpus is in conftest.py: A computers, B cleaning, C tyres, D paper; A and D
bought by Huamanga from Andina; every supplier is also in the framework agreement."""

from __future__ import annotations

import pytest
from search_corpus import AGREEMENT, OCIDS

from portal.db import app_engine
from portal.search import search_ocids

A, B, C, D = (OCIDS[k] for k in "ABCD")

EXPECTED = [
    # Spanish stems, accents and case
    ("computadoras", {A}),
    ("Computadora", {A}),
    ("COMPUTADORES", {A}),
    ("construccion", {B}),
    ("Construcción", {B}),
    ("limpieza", {B}),
    ("LIMPIEZAS", {B}),
    ("neumaticos", {C}),
    ("neumáticos para camionetas", {C}),
    ("papel bond", {D}),
    # every word must be there
    ("computadoras huamanga", {A}),
    ("computadoras ayacucho", set()),
    ("hospital ayacucho", {C}),
    # buyer and supplier names
    ("Huamanga", {A, D}),
    ("municipalidad provincial de huamanga", {A, D}),
    ("Ministerio de Vivienda", {B}),
    ("distribuidora andina", {A, D, AGREEMENT}),
    ("libreria el estudiante", {B, AGREEMENT}),
    # RUCs (buyer, supplier), as typed, partial, with the OCDS party id
    ("20131370998", {A, D}),
    ("2013137", {A, D}),
    ("PE-RUC-20131370998", {A, D}),
    ("20498765432", {B, AGREEMENT}),
    ("201 3137 0998", {A, D}),
    # order numbers: any case, a prefix of the letters and digits
    ("OC-2025-000123", {A}),
    ("oc-2025-000123", {A}),
    ("oc 2025 000123", {A}),
    ("oc2025000123", {A}),
    ("oc-2025-00012", {A, B}),
    ("oc-2025-0012", {D}),
    ("000999", {C}),
    # ocids
    ("ocds-vrz0pe-OC-2024-000999", {C}),
    (AGREEMENT.lower(), {AGREEMENT}),
    # nothing
    ("ambulancia", set()),
    ("", set()),
]


@pytest.fixture(params=["database", "whoosh"])
def search_app(request, corpus_app):
    corpus_app.config["SEARCH_ENGINE"] = request.param
    return corpus_app


@pytest.mark.parametrize(("text", "expected"), EXPECTED, ids=[t or "empty" for t, _ in EXPECTED])
def test_expected_hits(search_app, text, expected):
    found = search_ocids(app_engine(search_app), search_app.config, text, limit=50)
    assert set(found) == expected
    assert len(found) == len(set(found))


def test_limit_is_honoured(search_app):
    engine = app_engine(search_app)
    everything = search_ocids(engine, search_app.config, "acuerdo marco", limit=50)
    assert set(everything) == {A, B, C, D, AGREEMENT}
    assert search_ocids(engine, search_app.config, "acuerdo marco", limit=2) == everything[:2]
