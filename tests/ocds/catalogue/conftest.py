"""Fixtures for the catalogue tests."""

from __future__ import annotations

import pytest
from catalogue_support import load_example


@pytest.fixture
def single() -> dict:
    return load_example("1-single")


@pytest.fixture
def multi() -> dict:
    return load_example("5-multi-destination-partial")
