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
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, migrated database: a real SQLite file, then a real PostgreSQL database."""
    from portal.db import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'veraz.sqlite3'}"
    else:
        url = fresh_postgres_db(request.getfixturevalue("postgres_server"))
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    from portal.db import upgrade

    url = f"sqlite:///{tmp_path / 'veraz.sqlite3'}"
    upgrade(url)
    return url


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
