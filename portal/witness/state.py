"""The witness's own SQLite database: the latest cosigned checkpoint of each log.

tlog-witness asks that checking the old size against the stored checkpoint and storing the new
one be atomic (else two requests could roll a log back). Every update runs in one
``BEGIN IMMEDIATE`` transaction, which SQLite serialises across threads and processes, and
commits before the cosignature leaves the process. Requests refused for a bad proof or a
conflicting root are kept too (``refusals``): they may be evidence of a log that forked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint this witness cosigned for one origin."""

    size: int
    root: bytes
    note: str
    cosigned_at: int


class WitnessState:
    """One SQLite file; a connection per call (safe across threads and processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a cosignature given is never rolled back
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def latest(self, origin: str, conn: sqlite3.Connection | None = None) -> Latest | None:
        """The latest cosigned checkpoint of ``origin``, or None if never cosigned."""
        if conn is None:
            with self.transaction() as own:
                return self.latest(origin, own)
        row = conn.execute(
            "SELECT size, root, note, cosigned_at FROM checkpoints WHERE origin = ?", (origin,)
        ).fetchone()
        return Latest(int(row[0]), bytes(row[1]), row[2], int(row[3])) if row else None

    @staticmethod
    def store(conn: sqlite3.Connection, origin: str, size: int, root: bytes, note: str, at: int) -> None:
        conn.execute(
            "INSERT INTO checkpoints (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note, cosigned_at = excluded.cosigned_at",
            (origin, size, root, note, at),
        )

    @staticmethod
    def refuse(
        conn: sqlite3.Connection, origin: str, at: int, status: int, reason: str, request: str
    ) -> None:
        conn.execute(
            "INSERT INTO refusals (origin, received_at, status, reason, request) VALUES (?, ?, ?, ?, ?)",
            (origin, at, status, reason, request),
        )

    def refusals(self, origin: str | None = None) -> list[dict]:
        """Every refused request kept (for the operator and tests), oldest first."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT origin, received_at, status, reason, request FROM refusals "
                "WHERE ? IS NULL OR origin = ? ORDER BY id",
                (origin, origin),
            ).fetchall()
        finally:
            conn.close()
        keys = ("origin", "receivedAt", "status", "reason", "request")
        return [dict(zip(keys, row, strict=True)) for row in rows]
