"""Helpers of the flags' database tests: a database holding generated orders (and real OCDS)
with the flags' tables, whether or not migration 0015 is in the chain yet."""

from __future__ import annotations

from pathlib import Path

from portal.db import make_engine
from portal.flags.tables import metadata
from portal.publishing import import_ocds, import_orders

PREFIX = "ocds-test01"
SEED = 7


def with_flag_tables(url: str):
    """An engine on ``url`` with the flags' tables (created when the migrations did not)."""
    engine = make_engine(url)
    metadata.create_all(engine, checkfirst=True)
    return engine


def publish_lines(engine, lines: list[bytes], tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    summary = import_orders(engine, path, ocid_prefix=PREFIX, workers=1, batch_size=97)
    assert summary.rejected == 0, summary.rejects[:3]


def publish_real(engine, files: list[Path]) -> None:
    import_ocds(engine, files)
