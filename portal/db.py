"""Engine creation and schema migrations."""

from __future__ import annotations

import functools
import logging
import operator
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Dialect, Engine, Index, LargeBinary, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url

from anchoring.log import sqlite_begin_immediate

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"


log = logging.getLogger(__name__)


class WalCheckpointer:
    """Copies SQLite write-ahead logs back into their databases, off the writers' path.

    In WAL mode a commit appends pages to the ``-wal`` file; a checkpoint later copies them
    into the database file and fsyncs it. By default the committing connection does that
    itself once the WAL passes ``wal_autocheckpoint`` pages, so every few commits one of
    them also pays for copying and syncing everything written since: measured at 0.6 to 1.0 s
    of the 4 s it took to append 1,000,000 entries to the evidence log (``bench/anchor.py``).
    Here one daemon thread per process runs a PASSIVE checkpoint (it never blocks readers or
    writers, and ``sqlite3`` releases the GIL while it runs) of every watched database whose
    WAL was written since its last look: right after an engine's connection goes back to its
    pool (``poke``), and every ``interval`` seconds. Copied back before the next commit, the
    WAL is started over by SQLite instead of growing. The writers' own
    ``wal_autocheckpoint`` stays as the backstop: if this thread falls behind (a reader
    holding an old snapshot) or is gone, the WAL still cannot grow without bound.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._watched: dict[str, int] = {}  # database path -> number of engines watching
        self._connections: dict[str, sqlite3.Connection] = {}
        self._seen: dict[str, int] = {}  # database path -> WAL mtime at its last checkpoint
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._inherited: list[sqlite3.Connection] = []
        self._passes = 0  # passes completed, under _done
        self._done = threading.Condition()
        # Held while the thread is in SQLite, and by a fork (see _before_fork): a process
        # forked while another thread is inside SQLite may inherit SQLite's own mutexes held
        # by no thread of its own, and then hang on its first sqlite3.connect (seen with the
        # export's shards, which open the database again).
        self._gate = threading.Lock()

    def _before_fork(self) -> None:
        self._gate.acquire()

    def _after_fork_in_parent(self) -> None:
        self._gate.release()

    def _after_fork_in_child(self) -> None:
        """A forked child starts with no thread and no state; the parent's connections are
        kept open and unused (closing an inherited SQLite handle is unsafe)."""
        self._inherited += self._connections.values()
        self._lock = threading.Lock()
        self._watched, self._connections, self._seen = {}, {}, {}
        self._wake = threading.Event()
        self._thread = None
        self._passes, self._done = 0, threading.Condition()
        self._gate = threading.Lock()

    def watch(self, path: str) -> None:
        """Checkpoint ``path`` in the background (once per call to ``unwatch``)."""
        with self._lock:
            self._watched[path] = self._watched.get(path, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="veraz-wal-checkpointer", daemon=True)
                self._thread.start()

    def unwatch(self, path: str) -> None:
        with self._lock:
            count = self._watched.get(path, 0) - 1
            if count > 0:
                self._watched[path] = count
                return
            self._watched.pop(path, None)
        self._wake.set()  # the thread closes its connection to ``path``

    def poke(self) -> None:
        """Look at the watched databases now rather than at the next interval."""
        self._wake.set()

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until a whole pass that started after this call is over (False on timeout):
        everything committed before the call has then been checkpointed, unless busy."""
        with self._done:
            target = self._passes + 2  # the pass under way (if any), then a whole one
            deadline = time.monotonic() + timeout
            while self._passes < target and self._thread is not None and self._thread.is_alive():
                self.poke()
                if not self._done.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                    if time.monotonic() >= deadline:
                        return False
            return self._passes >= target

    def cpu_seconds(self) -> float:
        """CPU time used by the checkpointer thread so far (0 when it has not run)."""
        thread = self._thread
        if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
            return 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:  # the thread is gone
            return 0.0

    def watching(self) -> list[str]:
        """The databases being checkpointed."""
        with self._lock:
            return sorted(self._watched)

    def connected(self) -> list[str]:
        """The databases the thread holds a connection to (closed once no longer watched)."""
        return sorted(self._connections.copy())  # one C-level copy: the thread may be changing it

    def wait_for_passes(self, count: int, timeout: float = 30.0) -> bool:
        """Wait, without waking the thread (as ``settle`` does), until it has completed
        ``count`` passes since it started; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._passes >= count, timeout=timeout)

    def _checkpoint(self, path: str) -> bool:
        """One PASSIVE checkpoint of ``path``; False if it could not run (busy, gone)."""
        conn = self._connections.get(path)
        try:
            if conn is None:
                conn = sqlite3.connect(
                    f"file:{quote(path)}?mode=rw",
                    uri=True,
                    timeout=0,
                    isolation_level=None,
                    check_same_thread=False,
                )
                self._connections[path] = conn
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            log.debug("checkpoint of %s: %s", path, error)
            stale = self._connections.pop(path, None)  # reopened at the next look
            if stale is not None:
                stale.close()
            return False
        return True

    def _run(self) -> None:
        passes = 0
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            passes += 1
            try:
                with self._gate:
                    self._look(passes)
            except Exception:  # pragma: no cover - keep checkpointing whatever one look met
                log.exception("WAL checkpointer")
            with self._done:
                self._passes += 1
                self._done.notify_all()

    def _look(self, passes: int) -> None:
        with self._lock:
            watched = list(self._watched)
        for path in list(self._connections):
            if path not in watched:
                self._connections.pop(path).close()
                self._seen.pop(path, None)
        for path in watched:
            try:
                stamp = os.stat(path + "-wal").st_mtime_ns
            except OSError:
                continue
            # Every 20th pass regardless: a write in the same clock tick as the last look
            # leaves the time unchanged.
            if (self._seen.get(path) != stamp or passes % 20 == 0) and self._checkpoint(path):
                self._seen[path] = stamp


CHECKPOINTER = WalCheckpointer()
os.register_at_fork(
    before=CHECKPOINTER._before_fork,
    after_in_parent=CHECKPOINTER._after_fork_in_parent,
    after_in_child=CHECKPOINTER._after_fork_in_child,
)


#: Keys per ``IN (...)`` list when rows are looked up by key. SQLite builds older than 3.32
#: allow 999 bound parameters per statement (PostgreSQL 65,535): 500 stays under that with room
#: for a statement's other parameters, and one statement still covers a default batch
#: (IMPORT_BATCH_SIZE, 500 orders).
IN_CLAUSE_CHUNK = 500

ENGINE_EXTENSION = "veraz.engine"
#: The engine of DATABASE_REPLICA_URL, when one is configured.
REPLICA_EXTENSION = "veraz.replica-engine"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def app_engine(app: Any = None) -> Engine:
    """The engine of ``app`` (default: the current Flask app): the one way views, commands and
    tests reach the database (``create_app`` stores it under ``ENGINE_EXTENSION``).

    Inside a GET or HEAD request of the current app, the replica's engine when
    DATABASE_REPLICA_URL is set: reading requests never write (the web workers only read), so
    they all scale on replicas without any view choosing; everything else (commands, writes,
    tests that pass ``app``) gets the primary.
    """
    if app is None:
        from flask import current_app, has_request_context, request

        app = current_app
        if REPLICA_EXTENSION in app.extensions and has_request_context() and request.method in _READ_METHODS:
            return app.extensions[REPLICA_EXTENSION]
    return app.extensions[ENGINE_EXTENSION]


def make_engine(url: str) -> Engine:
    """An engine tuned for the backend: SQLite gets WAL and a busy timeout for concurrent readers.

    On SQLite, ``engine.begin()`` (every writer's unit of work) starts with BEGIN IMMEDIATE and
    ``engine.connect()`` with a deferred BEGIN (``anchoring.log.sqlite_begin_immediate``): a
    writer takes the one write lock before its first read, so two writers (two imports, an
    import and ``veraz anchor``) queue for up to 30 s instead of both reading the evidence log's
    size and one failing; readers never wait for a writer. Write with ``engine.begin()``; a
    ``connect()`` transaction that writes after another writer committed fails with "database
    is locked" instead of waiting.

    A SQLite database file is also checkpointed by ``CHECKPOINTER`` until the engine is
    disposed (or collected).
    """
    if url.startswith("sqlite"):
        database = make_url(url).database or ""
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        if on_disk:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        sqlite_begin_immediate(engine)
        if on_disk:
            checkpoint_in_background(engine, str(Path(database).resolve()))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
            cur = dbapi_conn.cursor()
            # Pages stay SQLite's 4 KB. With 32 KB pages a release (about 8 KB) is stored in
            # its page instead of a chain of overflow pages, and 100,000 orders published into
            # a new database 6% faster; but 5,000 orders imported into a database of a million
            # wrote 1.0-1.2 MB each instead of 0.17-0.21 (each new key of a lookup index dirties
            # a whole page, and the WAL takes whole pages) and ran at 490-630 orders/s instead
            # of 890-920. Imports into a large database are the everyday case.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Publishing writes a few MB per transaction: with the default checkpoint every
            # 1,000 pages nearly every commit also copied the WAL back (and fsynced).
            # CHECKPOINTER does it in the background; 8,192 pages (32 MB) is the backstop
            # if it falls behind. A 32 MB page cache keeps the indexes' hot pages of large
            # tables in memory (allocated only as used).
            cur.execute("PRAGMA wal_autocheckpoint=8192")
            cur.execute("PRAGMA cache_size=-32768")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def checkpoint_in_background(engine: Engine, path: str, checkpointer: WalCheckpointer | None = None) -> None:
    """Have ``checkpointer`` (default CHECKPOINTER) watch ``path`` while ``engine`` lives
    (until disposed or collected)."""
    checkpointer = checkpointer or CHECKPOINTER
    checkpointer.watch(path)
    done = threading.Event()

    def stop() -> None:
        if not done.is_set():
            done.set()
            checkpointer.unwatch(path)

    weakref.finalize(engine, stop)
    event.listen(engine, "engine_disposed", lambda _engine: stop())
    # A connection back in the pool has committed (or rolled back): look now, while the
    # writer prepares its next transaction, so that the WAL is fully copied back when that
    # one commits and SQLite starts the WAL over from its beginning instead of growing it.
    event.listen(engine.pool, "checkin", lambda _dbapi, _record: checkpointer.poke())


#: The former name, until tests/portal/test_wal_checkpointer.py imports the public one.


def bind_processor(column: Any, dialect: Dialect) -> Any:
    """The bind processor of ``column`` for ``dialect`` (None: values go to the driver as
    they are), as SQLAlchemy applies it, except for binary columns on SQLite.

    SQLAlchemy wraps each binary value for pysqlite in ``sqlite3.Binary`` (a ``memoryview``);
    the driver binds any object with the buffer protocol, ``bytes`` included, as the same
    BLOB (tested: ``tests/portal/test_db_binds.py``). The wrapper is one more object per row
    and value on the publishing writer's path (quotes, order PDFs, compiled records), and a
    tracked one, which made the cyclic collector run more often."""
    if dialect.name == "sqlite" and isinstance(column.type, LargeBinary):
        return None
    return column.type._cached_bind_processor(dialect)


@functools.cache
def in_list(dialect: Dialect, count: int) -> str:
    """``IN (?, ?, ...)`` with ``count`` driver placeholders of ``dialect``.

    For the writer's queries by a list of keys (hundreds a batch): SQLAlchemy's expanding
    ``in_()`` renders and names a parameter per value on every execution, a visible share of
    the writer's time; the driver takes the same values as a plain tuple."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return f"IN ({', '.join([mark] * count)})"


@functools.cache
def _insert_plan(table: Table, columns: tuple[str, ...], dialect: Dialect):
    """(driver-level INSERT text, bind processor of each column) for ``dialect``."""
    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
    quote = dialect.identifier_preparer.quote
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES ({marks})"
    if dialect.paramstyle not in ("qmark", "format", "pyformat"):  # pragma: no cover
        raise NotImplementedError(f"bulk_insert: paramstyle {dialect.paramstyle}")
    return sql, tuple(bind_processor(table.c[c], dialect) for c in columns)


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
        params = [
            tuple(v if p is None else p(v) for p, v in zip(processors, values(row), strict=True))
            for row in rows
        ]
    else:
        params = [values(row) for row in rows]
    conn.exec_driver_sql(sql, params)


def driver_params(
    table: Table, rows: list[dict[str, Any]], dialect: Dialect
) -> tuple[tuple[str, ...], list[tuple]]:
    """``(columns, parameter tuples)`` of ``rows`` (dicts with the same keys) as :func:`bulk_insert`
    sends them to the driver of ``dialect``: each column's bind processor applied.

    For a process that prepares rows for another to insert (the publishing workers): tuples of
    driver values are cheaper to send between processes than dicts of Decimals and datetimes,
    and :func:`insert_driver_params` then inserts them as they are."""
    if not rows:
        return (), []
    columns = tuple(rows[0])
    _, processors = _insert_plan(table, columns, dialect)
    values = operator.itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
    if any(processors):
        return columns, [
            tuple(v if p is None else p(v) for p, v in zip(processors, values(row), strict=True))
            for row in rows
        ]
    return columns, [values(row) for row in rows]


def insert_driver_params(
    conn: Connection, table: Table, columns: tuple[str, ...], params: list[tuple]
) -> None:
    """Insert parameter tuples made by :func:`driver_params` for ``conn``'s dialect, in one
    driver-level executemany (what :func:`bulk_insert` does after making them)."""
    if params:
        conn.exec_driver_sql(_insert_plan(table, columns, conn.dialect)[0], params)


def deferrable_indexes() -> list[Index]:
    """The secondary lookup indexes a bulk load may drop and rebuild (never a unique one).

    Browse columns of ``records`` and the hash and id lookups of releases, quotes and order
    PDFs. Their keys are random (hashes, amounts) or spread over thousands of values (buyers,
    suppliers), so on a large table nearly every row inserted dirties a page of each of them;
    measured at 90,000 orders: 261 KB written per order with them, 78 KB without. Unique
    indexes stay: they are integrity (and the writer's own lookups use them).
    """
    from portal.models import item_lines, order_pdfs, parties, proformas, records, releases

    return [
        ix
        for table in (releases, proformas, records, order_pdfs, item_lines, parties)
        for ix in sorted(table.indexes, key=lambda i: str(i.name))
        if not ix.unique
    ]


def missing_indexes(conn: Connection) -> list[Index]:
    """The deferrable indexes the database lacks (after a bulk load that did not finish)."""
    inspector = inspect(conn)
    present = {
        ix["name"]
        for table in {str(ix.table.name) for ix in deferrable_indexes() if ix.table is not None}
        for ix in inspector.get_indexes(table)
    }
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


#: The SQLite page cache (KiB, as ``PRAGMA cache_size`` takes it negated) while indexes are
#: built. SQLite's sorter keeps up to the page cache in memory before it writes a sorted run:
#: runs of 2 MB (SQLite's default cache) sort within the processor's caches, where with the
#: connections' 32 MB the keys of each index of 100,000 orders were sorted in one run.
#: Measured rebuilding the indexes of 100,000 orders: 3.1-3.3 s of CPU against 4.2-4.6 s
#: (1 MB: the same; 4 MB: 3.5 s).
INDEX_BUILD_CACHE_KIB = 2000

#: Helper threads SQLite's sorter may use while the indexes are built (``PRAGMA threads``):
#: they sort one run while the next is read. A rebuild is the end of a bulk load, when the
#: workers are done and a core is free: measured on the indexes of 100,000 orders, 2.8-3.3 s
#: of wall time (mean 2.9) against 3.0-3.3 s (mean 3.1) without, for 0.3-0.6 s more CPU.
#: (With the connections' 32 MB cache the keys were sorted in one run and they did nothing.)
INDEX_BUILD_THREADS = 2

#: The part of the database file (bytes, ``PRAGMA mmap_size``) SQLite reads through a memory map
#: while the indexes are built: each index's build reads its whole table, and read a page at a
#: time (4 KB ``pread`` calls) the tables of 100,000 orders cost 2.2-2.4 s of system time. Mapped,
#: 0.9-1.0 s, and the rebuild took 2.5-3.1 s of wall time against 3.8-4.2. The pages mapped are
#: the operating system's cache of the file, counted in the writer's resident set while mapped:
#: hence the bound (the rest of a larger file is read as before; SQLite's own limit is just
#: under 2 GiB). 0 turns it off.
INDEX_BUILD_MMAP_BYTES = 2_000_000_000


def ensure_indexes(engine: Engine) -> list[str]:
    """Create every deferrable index that is missing; return their names."""
    with engine.begin() as conn:
        missing = missing_indexes(conn)
        if missing and conn.dialect.name == "sqlite":
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
            threads = conn.exec_driver_sql("PRAGMA threads").scalar_one()
            mmap = conn.exec_driver_sql("PRAGMA mmap_size").scalar_one()
            conn.exec_driver_sql(f"PRAGMA cache_size=-{INDEX_BUILD_CACHE_KIB}")
            conn.exec_driver_sql(f"PRAGMA threads={INDEX_BUILD_THREADS}")
            conn.exec_driver_sql(f"PRAGMA mmap_size={INDEX_BUILD_MMAP_BYTES}")
            try:
                for ix in missing:
                    ix.create(conn)
            finally:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")
                conn.exec_driver_sql(f"PRAGMA threads={int(threads)}")
                conn.exec_driver_sql(f"PRAGMA mmap_size={int(mmap)}")
        else:
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
        from portal.search.tables import catch_up_full_text, documents_pending

        engine = make_engine(url)
        try:
            ensure_indexes(engine)
            with engine.connect() as conn:  # a read first: nothing to do writes nothing
                pending = documents_pending(conn)
            if pending:  # and its search documents out of the full-text index
                with engine.begin() as conn:
                    catch_up_full_text(conn)
        finally:
            engine.dispose()
