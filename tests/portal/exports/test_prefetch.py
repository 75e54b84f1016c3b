"""The export's reader thread: the same chunks as the cursor's own ``fetchmany``, its errors
raised in the exporting thread, and no thread left behind when the export stops early."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from portal.exports.build import _prefetched


def _cursor(n: int) -> sqlite3.Cursor:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, bytes([i % 256]) * (i % 300)) for i in range(n)])
    cursor = db.cursor()
    cursor.execute("SELECT id, data FROM t ORDER BY id")
    return cursor


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "veraz-export-reader"]


@pytest.mark.parametrize("n, size", [(0, 7), (1, 7), (7, 7), (50, 7), (1000, 64)])
def test_the_same_chunks_as_fetchmany(n, size):
    direct = _cursor(n)
    expected = list(iter(lambda: direct.fetchmany(size), []))
    got = list(_prefetched(_cursor(n), size))
    assert got == expected
    assert sum(len(chunk) for chunk in got) == n
    assert not _readers()


class _Failing:
    """A cursor whose second fetch fails, as a database error would."""

    def __init__(self) -> None:
        self.calls = 0

    def fetchmany(self, size):
        self.calls += 1
        if self.calls == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return [(self.calls,)] * size


def test_a_reader_error_is_raised_in_the_exporting_thread():
    chunks = _prefetched(_Failing(), 3)
    assert next(chunks) == [(1,)] * 3
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        next(chunks)
    assert not _readers()


class _Endless:
    def __init__(self) -> None:
        self.calls = 0

    def fetchmany(self, size):
        self.calls += 1
        return [(self.calls,)] * size


def test_stopping_early_ends_the_reader():
    cursor = _Endless()
    chunks = _prefetched(cursor, 10)
    assert next(chunks) == [(1,)] * 10
    chunks.close()  # the export stopped (an error, a killed batch): the reader must not go on
    assert not _readers()
    calls = cursor.calls
    assert calls <= 2 + 2  # the chunk taken, the ones queued ahead and the one in hand
    assert cursor.calls == calls  # and it fetches no more
