"""The import's worker processes: one context each, results in order, none outliving the import."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, func, select

from ocds.catalogue.generate import write_orders
from portal.db import missing_indexes
from portal.models import releases, source_orders
from portal.publishing.pool import WorkerPool

VERAZ = str(Path(sys.executable).parent / "veraz")


class Counter:
    """A context that counts the items its process has handled."""

    def __init__(self) -> None:
        self.handled = 0


def count_and_tell(context: Counter, item: int) -> tuple[int, int, int]:
    context.handled += 1
    return item, os.getpid(), context.handled


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_until_gone(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(processes)


@pytest.mark.parametrize("workers", [1, 2])
def test_each_worker_makes_its_context_once_and_results_keep_the_order_of_items(workers):
    with WorkerPool(Counter, workers) as pool:
        results = list(pool.map(count_and_tell, range(40)))
    assert [item for item, _, _ in results] == list(range(40))
    by_process: dict[int, list[int]] = {}
    for _, pid, handled in results:
        by_process.setdefault(pid, []).append(handled)
    assert 1 <= len(by_process) <= workers
    # One context per process, kept for every item it handled: its count never restarts.
    assert all(counts == list(range(1, len(counts) + 1)) for counts in by_process.values())
    assert (os.getpid() in by_process) == (workers == 1)


def nap(context: Counter, seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def pipe_sizes(context: Counter, item: int) -> list[int]:
    """The buffer sizes of the pipes this process holds (its items' and its results')."""
    sizes = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                sizes.append(fcntl.fcntl(int(name), 1032))  # F_GETPIPE_SZ
        except OSError:  # the descriptor of the listing itself, closed by now
            pass
    return sizes


def test_batches_travel_through_pipes_of_a_mebibyte():
    # A batch is megabytes each way; Linux's default 64 KiB pipes made a worker wait on the
    # importer's busy reader thread once every 64 KiB.
    with WorkerPool(Counter, 2) as pool:
        sizes = next(iter(pool.map(pipe_sizes, [0])))
    assert sizes.count(1 << 20) >= 2, sizes


def test_leaving_the_pool_on_an_error_ends_its_workers_without_waiting_for_their_batches():
    started = time.monotonic()
    with pytest.raises(RuntimeError), WorkerPool(Counter, 2) as pool:
        for pid in pool.map(nap, [0.0] + [60.0] * 10):
            worker = psutil.Process(pid)
            raise RuntimeError("the writer failed")  # while the workers are on 60-second items
    assert time.monotonic() - started < 30
    assert _wait_until_gone([worker], 10) == []


@pytest.mark.parametrize(
    ("sig", "status", "indexes_rebuilt"),
    [(signal.SIGTERM, 128 + signal.SIGTERM, True), (signal.SIGKILL, -signal.SIGKILL, False)],
    ids=["SIGTERM", "SIGKILL"],
)
def test_a_killed_import_leaves_no_worker_running(sqlite_url, tmp_path, sig, status, indexes_rebuilt):
    """SIGKILL: the kernel ends the workers with the importer. SIGTERM: the importer also goes
    through its ``finally`` blocks (a bulk load rebuilds its lookup indexes)."""
    orders = tmp_path / "orders.jsonl"
    write_orders(orders, 4000, 3)
    env = os.environ | {"PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": sqlite_url}
    log_path = tmp_path / "import.log"
    log = log_path.open("wb")
    importer = subprocess.Popen(
        [VERAZ, "import-orders", str(orders), "--workers", "2", "--bulk"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    engine = create_engine(sqlite_url)
    try:
        parent = psutil.Process(importer.pid)
        deadline = time.monotonic() + 120
        while (
            (b"dropped" not in log_path.read_bytes() or len(parent.children()) < 2)
            and importer.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        # Wait until the workers are on their first batches: each has spent CPU time.
        workers = parent.children(recursive=True)
        while (
            any(sum(w.cpu_times()[:2]) < 0.3 for w in _alive(workers))
            and importer.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert importer.poll() is None, log_path.read_text()
        workers = parent.children(recursive=True)
        assert len(workers) >= 2
        importer.send_signal(sig)
        assert importer.wait(timeout=60) == status
        assert _wait_until_gone(workers, 30) == []
        with engine.connect() as conn:
            assert (missing_indexes(conn) == []) == indexes_rebuilt
            # Killed between transactions or inside one: every stored order has its release.
            orphans = conn.execute(
                select(func.count())
                .select_from(source_orders)
                .where(source_orders.c.release_pk.not_in(select(releases.c.id)))
            ).scalar_one()
            assert orphans == 0
            assert conn.execute(select(func.count()).select_from(source_orders)).scalar_one() < 4000
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
        log.close()
        engine.dispose()
