"""Fixtures for the catalogue tests."""

from __future__ import annotations

import pytest
from catalogue_support import assert_source_agrees, load_example

from ocds.catalogue import source


@pytest.fixture
def single() -> dict:
    return load_example("1-single")


@pytest.fixture
def multi() -> dict:
    return load_example("5-multi-destination-partial")


_NOT_DIFFERENTIAL = {"test_catalogue_generate", "test_catalogue_source_differential"}


@pytest.fixture(autouse=True)
def _every_check_is_differential(request, monkeypatch):
    """Make every check_order call of these tests (examples, bad inputs, parse_orders) also a
    differential test: the verdict must be python-jsonschema's and the problems those of the
    old check_order (see catalogue_support.assert_source_agrees).

    Not in test_catalogue_generate.py, whose thousands of generated orders would take minutes
    with jsonschema (test_catalogue_source_differential.py covers generated orders), nor in
    test_catalogue_source_differential.py, which compares by itself.
    """
    if request.module.__name__.rpartition(".")[2] in _NOT_DIFFERENTIAL:
        return
    real = source.check_order

    def check_order(order):
        assert_source_agrees(order)
        return real(order)

    monkeypatch.setattr(source, "check_order", check_order)  # parse_orders calls it from there
    if getattr(request.module, "check_order", None) is real:
        monkeypatch.setattr(request.module, "check_order", check_order)
