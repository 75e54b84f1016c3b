"""A second real PostgreSQL following the first by streaming replication: with
DATABASE_REPLICA_URL set, the web portal's reading requests are served by the replica (they
still answer when the primary is stopped), while commands and writes use the primary."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from builders import example_order
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import create_engine, func, select, text
from support import make_app, need

from portal.db import REPLICA_EXTENSION, app_engine, upgrade
from portal.models import releases


def _bindir() -> Path | None:
    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(path, "pg_basebackup").exists():
            return Path(path)
    found = shutil.which("pg_basebackup")
    return Path(found).parent if found else None


class Cluster:
    """A throwaway PostgreSQL cluster on a unix socket of its own."""

    def __init__(self, bindir: Path, root: Path, name: str, port: int, run_as: list[str]) -> None:
        self.bindir, self.data, self.sock, self.port, self.run_as = (
            bindir,
            root / name,
            root / f"{name}-sock",
            port,
            run_as,
        )
        self.log = root / f"{name}.log"
        self.sock.mkdir()
        if run_as:
            shutil.chown(self.sock, "postgres")

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            self.run_as + [str(self.bindir / tool), *args], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        options = f"-c listen_addresses='' -k {self.sock} -p {self.port} -c fsync=off -c hot_standby=on"
        self.run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.log), "-o", options, "start")

    def stop(self) -> None:
        subprocess.run(
            self.run_as + [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://veraz@/{database}?host={self.sock}&port={self.port}"


@pytest.fixture(scope="module")
def replicated():
    """A primary and a hot standby that streams from it; yields both."""
    bindir = _bindir()
    need(bindir is not None, "PostgreSQL server binaries (pg_basebackup, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="veraz-replica-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    base = 30000 + os.getpid() % 10000
    primary = Cluster(bindir, root, "primary", base, run_as)
    replica = Cluster(bindir, root, "replica", base + 1, run_as)
    primary.run("initdb", "-D", str(primary.data), "-U", "veraz", "-A", "trust", "--no-sync", "-E", "UTF8")
    primary.start()
    try:
        # The standby is a copy of the primary that follows it (-R writes primary_conninfo and
        # standby.signal): a second real server, not a second database on the first.
        replica.run(
            "pg_basebackup",
            "-D",
            str(replica.data),
            "-h",
            str(primary.sock),
            "-p",
            str(primary.port),
            "-U",
            "veraz",
            "-R",
            "-X",
            "stream",
        )
        replica.start()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def _caught_up(primary_url: str, replica_url: str, timeout: float = 60.0) -> None:
    primary = create_engine(primary_url)
    replica = create_engine(replica_url)
    try:
        with primary.connect() as conn:
            want = conn.execute(select(func.count()).select_from(releases)).scalar()
        deadline = time.monotonic() + timeout
        while True:
            with replica.connect() as conn:
                if conn.execute(select(func.count()).select_from(releases)).scalar() == want:
                    return
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.2)
    finally:
        primary.dispose()
        replica.dispose()


def test_reading_requests_are_served_by_the_replica(replicated, tmp_path):
    primary, replica = replicated
    admin = create_engine(primary.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "veraz_rep"'))
    admin.dispose()
    primary_url, replica_url = primary.url("veraz_rep"), replica.url("veraz_rep")
    upgrade(primary_url)
    app = make_app(primary_url, tmp_path, DATABASE_REPLICA_URL=replica_url)
    try:
        with app.app_context():
            assert app_engine() is not app.extensions[REPLICA_EXTENSION]  # commands: the primary
        publish_examples(app, tmp_path)  # a command: written on the primary
        _caught_up(primary_url, replica_url)
        standby = create_engine(replica_url)
        with standby.connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
        standby.dispose()

        client = app.test_client()
        ocid = order_ocid(example_order("1-single"))
        addresses = [
            "/contracts",
            "/contracts.json",
            f"/contracts/{ocid}",
            "/api/releases",
            f"/api/records/{ocid}",
        ]
        before = {a: client.get(a).get_data() for a in addresses}
        assert all(client.get(a).status_code == 200 for a in addresses)

        # With the primary stopped, what the replica holds is still served, byte for byte.
        app_engine(app).dispose()
        primary.stop()
        try:
            for address in addresses:
                response = client.get(address)
                assert response.status_code == 200, (address, response.status_code)
                if address.startswith("/api/"):
                    assert response.get_data() == before[address], address
        finally:
            primary.start()
    finally:
        app_engine(app).dispose()
        app.extensions[REPLICA_EXTENSION].dispose()
