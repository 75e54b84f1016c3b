"""Bulk mode: a large load drops the secondary lookup indexes and rebuilds them at the end,
and adds its search documents to SQLite's full-text index at the end too.

The indexes' keys are random or widely spread, so on a large table nearly every inserted row
dirties a page of each (see :func:`portal.db.deferrable_indexes`); rebuilding them once costs
less. The full-text index, written batch by batch, merges its segments again and again
(:func:`portal.search.database.full_text_deferred`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select

from portal.db import drop_deferrable_indexes, ensure_indexes
from portal.models import source_orders
from portal.search.database import full_text_deferred
from portal.settings import default

#: Lines sampled to estimate a file's line count from its size.
_SAMPLED_LINES = 100


def estimated_lines(path: Path) -> int:
    """Lines in ``path``, estimated from its size and the length of its first lines."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = [len(line) for _, line in zip(range(_SAMPLED_LINES), f, strict=False)]
    return int(size / (sum(head) / len(head))) if head else 0


def bulk_mode(engine: Engine, path: Path, min_orders: int = default("BULK_MIN_ORDERS")) -> bool:
    """Whether to load ``path`` in bulk: at least ``min_orders`` orders (BULK_MIN_ORDERS), and
    more than are stored already (rebuilding the lookup indexes then costs less than
    maintaining them)."""
    incoming = estimated_lines(path)
    if incoming < min_orders:
        return False
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(source_orders)).scalar_one()
    return incoming > stored


@contextmanager
def lookup_indexes_deferred(
    engine: Engine, on_indexes: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Drop the deferrable lookup indexes for the ``with`` block and defer the full-text index;
    rebuild and catch them up at its end, however it ends (``veraz db upgrade`` or the next
    import does it if the process is killed). ``on_indexes`` is told "dropped", then
    "rebuilt"."""
    drop_deferrable_indexes(engine)
    if on_indexes:
        on_indexes("dropped")
    try:
        with full_text_deferred(engine):
            yield
    finally:
        ensure_indexes(engine)
        if on_indexes:
            on_indexes("rebuilt")
