"""Engine creation and schema migrations."""

from __future__ import annotations

import functools
import operator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Index, Table, create_engine, event, inspect

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"


def make_engine(url: str) -> Engine:
    """An engine tuned for the backend: SQLite gets WAL and a busy timeout for concurrent readers."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Publishing writes a few MB per transaction: with the default checkpoint every
            # 1,000 pages nearly every commit also copied the WAL back (and fsynced);
            # 8,192 pages (32 MB) checkpoints about 8x less often. A 32 MB page cache keeps
            # the indexes' hot pages of large tables in memory (allocated only as used).
            cur.execute("PRAGMA wal_autocheckpoint=8192")
            cur.execute("PRAGMA cache_size=-32768")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@functools.cache
def _insert_plan(table: Table, columns: tuple[str, ...], dialect: Dialect):
    """(driver-level INSERT text, bind processor of each column) for ``dialect``."""
    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({marks})")
    if dialect.paramstyle not in ("qmark", "format", "pyformat"):  # pragma: no cover
        raise NotImplementedError(f"bulk_insert: paramstyle {dialect.paramstyle}")
    return sql, tuple(table.c[c].type._cached_bind_processor(dialect) for c in columns)


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) with one driver-level executemany.

    The same values reach the database as with ``conn.execute(insert(table), rows)``: each
    column's own SQLAlchemy bind processor converts them (dates, decimals, booleans). What is
    skipped is SQLAlchemy's per-row parameter machinery, measured at about a third of the
    publishing writer's time for the tables it fills row by row (quotes, orders, records).
    Server and Python-side column defaults are not applied: give every column a value.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    sql, processors = _insert_plan(table, columns, conn.dialect)
    values = operator.itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
    if any(processors):
        params = [tuple(v if p is None else p(v) for p, v in zip(processors, values(row),
                                                                  strict=True))
                  for row in rows]
    else:
        params = [values(row) for row in rows]
    conn.exec_driver_sql(sql, params)


def deferrable_indexes() -> list[Index]:
    """The secondary lookup indexes a bulk load may drop and rebuild (never a unique one).

    Browse columns of ``records`` and the hash and id lookups of releases, quotes and order
    PDFs. Their keys are random (hashes, amounts) or spread over thousands of values (buyers,
    suppliers), so on a large table nearly every row inserted dirties a page of each of them;
    measured at 90,000 orders: 261 KB written per order with them, 78 KB without. Unique
    indexes stay: they are integrity (and the writer's own lookups use them).
    """
    from portal.models import order_pdfs, proformas, records, releases

    return [ix for table in (releases, proformas, records, order_pdfs)
            for ix in sorted(table.indexes, key=lambda i: str(i.name)) if not ix.unique]


def missing_indexes(conn: Connection) -> list[Index]:
    """The deferrable indexes the database lacks (after a bulk load that did not finish)."""
    inspector = inspect(conn)
    present = {ix["name"] for table in {str(ix.table.name) for ix in deferrable_indexes()}
               for ix in inspector.get_indexes(table)}
    return [ix for ix in deferrable_indexes() if ix.name not in present]


def drop_deferrable_indexes(engine: Engine) -> list[str]:
    """Drop the deferrable indexes (bulk load); return their names."""
    dropped = []
    with engine.begin() as conn:
        missing = {ix.name for ix in missing_indexes(conn)}
        for ix in deferrable_indexes():
            if ix.name not in missing:
                ix.drop(conn)
                dropped.append(str(ix.name))
    return dropped


def ensure_indexes(engine: Engine) -> list[str]:
    """Create every deferrable index that is missing; return their names."""
    with engine.begin() as conn:
        missing = missing_indexes(conn)
        for ix in missing:
            ix.create(conn)
    return [str(ix.name) for ix in missing]


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (``veraz db upgrade``)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
    if revision == "head":  # a bulk load that was killed left its indexes dropped
        engine = make_engine(url)
        try:
            ensure_indexes(engine)
        finally:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_migrated(engine: Engine) -> bool:
    return inspect(engine).has_table("releases")
