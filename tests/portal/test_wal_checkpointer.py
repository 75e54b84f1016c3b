"""The background WAL checkpointer of SQLite engines (portal.db.CHECKPOINTER)."""

from __future__ import annotations

import gc
import multiprocessing

from sqlalchemy import create_engine

from portal.db import CHECKPOINTER, WalCheckpointer, checkpoint_in_background, make_engine


def test_commits_reach_the_database_file_without_the_writer_checkpointing(tmp_path):
    path = tmp_path / "portal.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (b BLOB)")
        # 2 MB: 500 pages, far below the writer's own backstop (8,192 pages), so the
        # writer never copies them back itself.
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(2000000))")
        assert CHECKPOINTER.settle()
        assert path.stat().st_size > 2_000_000
        assert CHECKPOINTER.cpu_seconds() > 0
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT length(b) FROM t").scalar() == 2_000_000
        assert str(path.resolve()) in CHECKPOINTER.watching()
    finally:
        engine.dispose()
    assert str(path.resolve()) not in CHECKPOINTER.watching()


def test_a_commit_wakes_the_checkpointer(tmp_path):
    """With an interval of an hour, only the poke after a commit can copy the WAL back."""
    path = tmp_path / "db.sqlite3"
    checkpointer = WalCheckpointer(interval=3600)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("CREATE TABLE t (b BLOB)")
    checkpoint_in_background(engine, str(path), checkpointer)
    try:
        size = path.stat().st_size  # the table, still in the WAL: nothing poked yet
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(1000000))")
        # One pass, woken by the commit alone (settle would poke).
        assert checkpointer.wait_for_passes(1, timeout=30)
        assert path.stat().st_size >= size + 1_000_000
    finally:
        engine.dispose()
    assert checkpointer.watching() == []


def test_a_database_is_watched_while_any_of_its_engines_lives(tmp_path):
    path = str((tmp_path / "db.sqlite3").resolve())
    first, second = make_engine(f"sqlite:///{path}"), make_engine(f"sqlite:///{path}")
    with first.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    first.dispose()
    assert path in CHECKPOINTER.watching()
    del second
    gc.collect()
    assert path not in CHECKPOINTER.watching()
    # The thread closes its connection to a database no longer watched.
    assert CHECKPOINTER.settle()
    assert path not in CHECKPOINTER.connected()


def _child_state(queue) -> None:  # type: ignore[no-untyped-def]
    queue.put((CHECKPOINTER.watching(), len(CHECKPOINTER.connected())))


def test_a_forked_child_inherits_no_checkpointer_state(tmp_path):
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
        assert CHECKPOINTER.settle()
        assert str(path.resolve()) in CHECKPOINTER.connected()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_child_state, args=(queue,))
        child.start()
        assert queue.get(timeout=30) == ([], 0)
        child.join(30)
        assert child.exitcode == 0
    finally:
        engine.dispose()


def test_memory_databases_are_not_watched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = CHECKPOINTER.watching()
    for url in ("sqlite://", "sqlite:///:memory:"):
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert CHECKPOINTER.watching() == before
        engine.dispose()
    assert list(tmp_path.iterdir()) == []  # no directory made from the URL


def test_a_path_that_needs_quoting_in_a_uri(tmp_path):
    folder = tmp_path / "a b#c&d=e"  # URI syntax, unquoted
    path = folder / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (b BLOB)")
            conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(1000000))")
        assert CHECKPOINTER.settle()
        assert path.stat().st_size > 1_000_000
    finally:
        engine.dispose()


def test_a_fork_waits_until_the_checkpointer_is_out_of_sqlite(tmp_path, monkeypatch):
    """A child forked while the thread is inside SQLite could inherit SQLite's mutexes locked
    and hang on its first connection: forks wait for the thread's look to end."""
    import os
    import threading
    import time

    inside, leave = threading.Event(), threading.Event()
    look = CHECKPOINTER._look

    def slow_look(passes):  # as a checkpoint of a long WAL would
        if not leave.is_set():
            inside.set()
            leave.wait(10)
        look(passes)

    monkeypatch.setattr(CHECKPOINTER, "_look", slow_look)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        CHECKPOINTER.poke()
        assert inside.wait(10)
        threading.Timer(0.3, leave.set).start()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        waited = time.monotonic() - started
        os.waitpid(pid, 0)
        assert leave.is_set() and waited >= 0.2
    finally:
        leave.set()
        engine.dispose()
