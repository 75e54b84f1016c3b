"""A database with the demo generator's orders and real imported OCDS, published as the portal
publishes them (workers, bulk and per-batch transactions), for the read-model tests."""

from __future__ import annotations

import pytest
from readmodel_publish import publish


@pytest.fixture
def published(database_url, tmp_path) -> str:
    """A migrated database (SQLite file, then PostgreSQL) holding generated and real OCDS."""
    publish(database_url, tmp_path)
    return database_url
