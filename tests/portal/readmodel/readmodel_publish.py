"""Publishing a database with the demo generator's orders and real imported OCDS, as the portal
publishes them (workers, bulk and per-batch transactions), for the read-model tests."""

from __future__ import annotations

from pathlib import Path

from support import SHARED, need

from ocds.catalogue.generate import write_orders
from portal.db import make_engine
from portal.publishing import import_ocds, import_orders

PREFIX = "ocds-test01"
REAL_FILES = sorted((SHARED / "real-ocds").glob("*/releases.jsonl"))


def publish(url: str, tmp_path: Path, orders: int = 400, *, real: bool = True) -> None:
    """Publish ``orders`` generated orders (several versions of some) and the real OCDS."""
    path = tmp_path / "orders.jsonl"
    write_orders(path, orders, 7)
    engine = make_engine(url)
    try:
        summary = import_orders(engine, path, ocid_prefix=PREFIX, workers=1, batch_size=97)
        assert summary.rejected == 0, summary.rejects[:3]
        if real:
            need(bool(REAL_FILES), f"{SHARED}/real-ocds is not present")
            import_ocds(engine, REAL_FILES)
    finally:
        engine.dispose()
