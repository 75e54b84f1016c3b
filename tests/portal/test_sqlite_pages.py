"""The page size of the SQLite databases Veraz creates, and of those it finds."""

from __future__ import annotations

import sqlite3

import pytest

from portal.db import SQLITE_PAGE_SIZE, WAL_BACKSTOP_BYTES, create_sqlite_file, make_engine, upgrade


def _pragma(path, name):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_a_database_made_by_upgrade_has_large_pages_and_wal(tmp_path):
    path = tmp_path / "deep" / "new.sqlite3"
    upgrade(f"sqlite:///{path}")
    assert SQLITE_PAGE_SIZE != 4096  # SQLite's own default: the setting must show
    assert _pragma(path, "page_size") == SQLITE_PAGE_SIZE
    assert _pragma(path, "journal_mode") == "wal"


def test_a_database_made_by_an_engine_has_large_pages(tmp_path):
    path = tmp_path / "engine.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == SQLITE_PAGE_SIZE
            backstop = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
            assert backstop == WAL_BACKSTOP_BYTES // SQLITE_PAGE_SIZE
    finally:
        engine.dispose()


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_an_existing_database_keeps_its_page_size_and_its_rows(tmp_path, journal):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=4096")
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE kept (x)")
    conn.execute("INSERT INTO kept VALUES ('a row from before')")
    conn.commit()
    conn.close()

    create_sqlite_file(path)  # never touches a database that is there
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT x FROM kept").scalar_one() == "a row from before"
            assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == 4096
            # the backstop is the same number of bytes whatever the page size
            backstop = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
            assert backstop == WAL_BACKSTOP_BYTES // 4096
    finally:
        engine.dispose()
    assert _pragma(path, "page_size") == 4096


def test_an_empty_file_becomes_a_database_with_large_pages(tmp_path):
    # What a killed first run may leave behind: a zero-byte file is no database yet.
    path = tmp_path / "empty.sqlite3"
    path.touch()
    upgrade(f"sqlite:///{path}")
    assert _pragma(path, "page_size") == SQLITE_PAGE_SIZE
