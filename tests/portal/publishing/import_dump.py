"""A digest of everything an import wrote, table by table, for comparing two versions of the code.

Every table of the database (SQLite: every table in ``sqlite_master``, the full-text index's
shadow tables included; PostgreSQL: every table of the ``public`` schema) is read whole, each
row's values normalised to text (bytes as hex, so a PDF or a stored bundle counts byte for
byte), the rows sorted, and the table hashed with SHA-256. Columns that hold the time of the
import (``*_at`` timestamps) are left out: they differ between any two runs. Primary keys,
leaf indices, canonical JSON, PDFs, evidence-log bundles and tiles are all kept.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib

from sqlalchemy import Engine, inspect, text

from portal.search.database import PG_STORED_POSTINGS

#: Tables that are not the import's output.
SKIPPED_TABLES = {"alembic_version"}
#: Columns added to a golden table after its digests were recorded: left out of the digest, and
#: each checked by the golden test against what computes it.
LATER_COLUMNS = {
    # migration 0028: portal.exports.splice.splice_flag of each release's stored JSON
    ("releases", "splice"),
}


def _value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bytes | bytearray | memoryview):
        return "b:" + bytes(value).hex()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float | decimal.Decimal):
        return "n:" + repr(float(value))
    return f"{type(value).__name__}:{value}"


def table_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars()
            return sorted(n for n in names if n not in SKIPPED_TABLES and not n.startswith("sqlite_"))
    return sorted(n for n in inspect(engine).get_table_names() if n not in SKIPPED_TABLES)


def table_digests(engine: Engine) -> dict[str, str]:
    """``{table: SHA-256 hex of its sorted, normalised rows}`` over every table."""
    out = {}
    with engine.connect() as conn:
        for name in table_names(engine):
            query = f'SELECT * FROM "{name}"'
            if name == "search_posting_blocks":
                # Digested as the postings it holds, one row per (term, document), under the name
                # of the table of those rows it replaced (migration 0027): the same postings.
                name, query = "search_postings", PG_STORED_POSTINGS
            result = conn.execute(text(query))
            columns = list(result.keys())
            rows = result.all()
            # A column of import times: any value a datetime (or, on SQLite, a column named so).
            timed = {
                i
                for i, c in enumerate(columns)
                if c.endswith("_at")
                or (name, c) in LATER_COLUMNS
                or any(isinstance(r[i], datetime.datetime) for r in rows)
            }
            kept = [c for i, c in enumerate(columns) if i not in timed]
            lines = sorted("\x1f".join(_value(v) for i, v in enumerate(r) if i not in timed) for r in rows)
            h = hashlib.sha256("\x1f".join(kept).encode())
            for line in lines:
                h.update(b"\x1e" + line.encode())
            out[name] = f"{len(rows)}:{h.hexdigest()}"
    return out


#: The small import the golden digests are of: generated orders (several versions of some
#: orders, agreements shared between orders), in batches small enough for later batches to
#: recompile records of earlier ones.
GOLDEN_ORDERS = 120
GOLDEN_SEED = 7
GOLDEN_PREFIX = "ocds-gold01"
GOLDEN_BATCH = 25
#: (order PDFs, bulk mode) of each golden import: the PDF path in normal mode, and the path
#: without PDFs in bulk mode (lookup indexes dropped and rebuilt, larger batches).
GOLDEN_MODES = {"pdf": (True, False), "nopdf-bulk": (False, True)}


def golden_import(url: str, folder, mode: str) -> dict[str, str]:
    """Import the golden orders into the migrated, empty database ``url``; return its digests."""
    from ocds.catalogue.generate import write_orders
    from portal.db import make_engine
    from portal.publishing import import_orders

    pdf, bulk = GOLDEN_MODES[mode]
    source = folder / "golden-orders.jsonl"
    if not source.exists():
        write_orders(source, GOLDEN_ORDERS, GOLDEN_SEED)
    engine = make_engine(url)
    try:
        summary = import_orders(
            engine,
            source,
            ocid_prefix=GOLDEN_PREFIX,
            workers=1,
            batch_size=GOLDEN_BATCH,
            base_url="http://127.0.0.1:8000" if pdf else None,
            bulk=bulk,
        )
        assert summary.rejects == [] and summary.new_orders == GOLDEN_ORDERS
        return table_digests(engine)
    finally:
        engine.dispose()
