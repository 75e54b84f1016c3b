"""The search tests' fixture: the corpus of ``search_corpus`` published, on a real SQLite file
and a real PostgreSQL."""

from __future__ import annotations

import pytest
from search_corpus import ORDERS, publish


@pytest.fixture
def corpus_app(app, tmp_path):
    """The app (SQLite, then PostgreSQL) with the four orders published."""
    publish(app, tmp_path, list(ORDERS.values()))
    return app
