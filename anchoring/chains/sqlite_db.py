"""A py-evm key-value database in one SQLite file, so the embedded dev chain survives restarts.

py-evm stores the whole chain (headers, bodies, receipts, state trie) in an
``AtomicDatabaseAPI`` key-value store. eth-tester builds that store with
``eth.db.get_db_backend()``, which takes no arguments and imports the class named by the
``CHAIN_DB_BACKEND_CLASS`` environment variable (default: an in-memory dict). So the class
cannot be handed a path: :func:`opening` names the file for the duration of one backend
construction, and :class:`SQLiteChainDB` picks it up from there.

Durability: WAL journal with ``synchronous=FULL``; writes outside a batch commit one by one,
and an ``atomic_batch`` is one SQLite savepoint, so py-evm's "all or nothing" batches stay
all or nothing on disk too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

from anchoring.errors import ChainError

__all__ = ["SQLiteChainDB", "opening", "BACKEND_CLASS_PATH"]

#: The value to put in ``CHAIN_DB_BACKEND_CLASS`` (done by :func:`opening`).
BACKEND_CLASS_PATH = "anchoring.chains.sqlite_db.SQLiteChainDB"

_opening_lock = threading.Lock()
_opening_path: Path | None = None


@contextmanager
def opening(path: Path) -> Iterator[None]:
    """Make every py-evm database created inside this block a :class:`SQLiteChainDB` on ``path``.

    Sets ``CHAIN_DB_BACKEND_CLASS`` for the duration only, under a process-wide lock, and
    restores the previous value afterwards.
    """
    global _opening_path
    with _opening_lock:
        previous = os.environ.get("CHAIN_DB_BACKEND_CLASS")
        os.environ["CHAIN_DB_BACKEND_CLASS"] = BACKEND_CLASS_PATH
        _opening_path = path
        try:
            yield
        finally:
            _opening_path = None
            if previous is None:
                del os.environ["CHAIN_DB_BACKEND_CLASS"]
            else:
                os.environ["CHAIN_DB_BACKEND_CLASS"] = previous


class _SQLiteKeyValue(BaseDB):
    """The plain (non-atomic) key-value table; :class:`SQLiteChainDB` adds batches on top."""

    def __init__(self, path: Path) -> None:
        # isolation_level=None: no implicit transactions; each statement outside a
        # savepoint commits on its own. check_same_thread=False with our own lock, because
        # a web server may call the provider from several threads.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")

    def __getitem__(self, key: bytes) -> bytes:
        with self._lock:
            row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def __delitem__(self, key: bytes) -> None:
        with self._lock:
            cursor = self._conn.execute("DELETE FROM kv WHERE k = ?", (key,))
        if cursor.rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone()
        return row is not None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One nestable SQLite savepoint: committed on success, rolled back on error."""
        with self._lock:
            self._depth += 1
            name = f"sp{self._depth}"
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                raise
            else:
                self._conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    def close(self) -> None:
        """Close the SQLite connection; further use raises ``sqlite3.ProgrammingError``."""
        with self._lock:
            self._conn.close()


class SQLiteChainDB(AtomicDB):
    """py-evm's atomic key-value database, stored in the SQLite file given to :func:`opening`."""

    wrapped_db: _SQLiteKeyValue

    def __init__(self, path: Path | None = None) -> None:
        target = path if path is not None else _opening_path
        if target is None:
            raise ChainError(
                "SQLiteChainDB needs a path: create it inside anchoring.chains.sqlite_db.opening()"
            )
        super().__init__(wrapped_db=_SQLiteKeyValue(target))

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        """py-evm's atomic batch, applied to the file inside one savepoint."""
        with self.wrapped_db.savepoint(), super().atomic_batch() as batch:
            yield batch

    def close(self) -> None:
        """Close the underlying SQLite file."""
        self.wrapped_db.close()
