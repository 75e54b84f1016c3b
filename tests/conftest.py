"""Shared fixtures: a real SQLite file, a real PostgreSQL server, the app, client and runner.

PostgreSQL: ``TEST_DATABASE_URL`` if set; otherwise a throwaway cluster is started with the
machine's ``initdb``/``pg_ctl`` (listening only on a unix socket in a temporary folder). Tests
that need it skip when neither is possible, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from servers import Gunicorn
from support import IN_CI, ROOT, SHARED, fresh_postgres_db, make_app, need  # noqa: F401 - re-exported

from portal.db import app_engine


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    need(SHARED.is_dir(), f"{SHARED} (shared data) is not present")
    return SHARED


def _pg_bin() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        for path in sorted(glob.glob(pattern), reverse=True):
            if Path(path, "initdb").exists():
                return Path(path)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """Base URL (without database) of a PostgreSQL server, and a function to create databases."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    bindir = _pg_bin()
    need(bindir is not None, "PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    tmp = Path(tempfile.mkdtemp(prefix="veraz-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = str(20000 + os.getpid() % 20000)
    subprocess.run(
        run_as
        + [str(bindir / "initdb"), "-D", str(data), "-U", "veraz", "-A", "trust", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        run_as
        + [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(tmp / "log"),
            "-o",
            f"-c listen_addresses='' -k {sock} -p {port} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://veraz@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run(
            run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        # Removed in the background: a test process leaves about 450 databases (120,000 files,
        # 4 GB), and removing them took over two minutes of the suite's end on this disk.
        # (A shell that starts rm and exits at once, so that nothing here waits for rm.)
        subprocess.run(
            ["sh", "-c", 'rm -rf -- "$1" &', "sh", str(tmp)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


# Most tests need a fresh database migrated to the latest schema. Migrating one commits about
# two hundred statements: on SQLite each commit is an fsync (1-2 s a database on this disk, 0.07 s
# on tmpfs), on PostgreSQL 0.7 s. So each test process migrates one database of each kind and
# each test gets a copy: the SQLite file copied, the PostgreSQL database created from it as a
# template (a file copy too). The migrations themselves run on databases of their own in the
# tests that are about them (readmodel/test_migration.py, flags/test_flags_migration.py...).


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite database migrated to head, its WAL checkpointed into the file."""
    import sqlite3

    from portal.db import upgrade

    path = tmp_path_factory.mktemp("migrated") / "veraz.sqlite3"
    upgrade(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()  # the last connection: SQLite removes the empty WAL
    return path


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_server):
    """The name of a PostgreSQL database migrated to head (this test process's own: a database
    used as a template must have no other connection)."""
    from sqlalchemy import create_engine, text

    from portal.db import upgrade

    url = fresh_postgres_db(postgres_server)
    upgrade(url)
    name = url.split("?")[0].rsplit("/", 1)[1]
    yield name
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _sqlite_copy(template: Path, folder: Path) -> str:
    path = folder / "veraz.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, migrated database: a real SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return _sqlite_copy(request.getfixturevalue("migrated_sqlite_file"), tmp_path)
    return fresh_postgres_db(
        request.getfixturevalue("postgres_server"), request.getfixturevalue("migrated_postgres_template")
    )


@pytest.fixture
def sqlite_url(migrated_sqlite_file, tmp_path) -> str:
    return _sqlite_copy(migrated_sqlite_file, tmp_path)


@pytest.fixture
def app(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    yield app
    app_engine(app).dispose()


@pytest.fixture
def sqlite_app(sqlite_url, tmp_path):
    """The app on a real SQLite file only (for tests whose subject does not touch the backend)."""
    app = make_app(sqlite_url, tmp_path)
    yield app
    app_engine(app).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def gunicorn(tmp_path):
    """A gunicorn for the portal (tests/servers.py): ``gunicorn.base_url`` is known at once,
    ``gunicorn.start(database_url, instance_path)`` serves; stopped after the test."""
    server = Gunicorn(tmp_path / "gunicorn.log")
    yield server
    server.stop()
