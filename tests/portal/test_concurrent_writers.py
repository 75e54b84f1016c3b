"""Two writer processes append to one evidence log at once, through the portal's own engine.

Every writer transaction reads the database before it appends (as publishing does: it looks up
what is already stored), which is where a writer whose transaction began late used to read a
stale log size. Each entry must be logged exactly once, at contiguous indices, and the stored
root must be the root recomputed from the entries, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import time

from builders import write_jsonl
from sqlalchemy import func, select
from support import ROOT, fresh_postgres_db

from anchoring.entries import ReleaseEntry, decode_entry
from anchoring.log import EvidenceLog
from anchoring.merkle import leaf_hash, root_from_leaves
from ocds.catalogue.generate import generate_orders
from portal.db import make_engine, upgrade
from portal.models import proformas, releases

BATCHES, PER_BATCH = 60, 4

# One writer: waits for the common start time, then appends BATCHES batches, each in its own
# engine.begin() transaction that first reads the log (size and checkpoints) as a writer does.
WRITER = """
import hashlib, sys, time
from sqlalchemy import func, select
from anchoring.entries import ReleaseEntry
from anchoring.log import EvidenceLog, checkpoints
from anchoring.merkle import EMPTY_ROOT
from ocds.catalogue.generate import generate_orders
from portal.db import make_engine, upgrade
from portal.models import proformas, releases

url, tag, start, batches, per_batch = sys.argv[1], sys.argv[2], float(sys.argv[3]), *map(int, sys.argv[4:])
engine, log = make_engine(url), EvidenceLog()
time.sleep(max(0.0, start - time.time()))
for b in range(batches):
    entries = [ReleaseEntry(f"ocds-{tag}", f"{b}-{i}", hashlib.sha256(f"{tag}{b}{i}".encode()).digest(),
                            EMPTY_ROOT) for i in range(per_batch)]
    with engine.begin() as conn:
        log.size(conn)
        conn.execute(select(func.count()).select_from(checkpoints)).scalar()
        log.append(conn, entries)
engine.dispose()
"""


def _race(url: str) -> None:
    start = time.time() + 3  # both processes import everything first, then start together
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, tag, str(start), str(BATCHES), str(PER_BATCH)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    results = [(w.wait(120), *w.communicate()) for w in writers]
    assert results == [(0, b"", b"")] * 2


def test_two_writer_processes_log_every_entry_once(database_url):
    _race(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            log = EvidenceLog()
            size = log.size(conn)
            entries = log.entries(conn, 0, size)
            root = log.root(conn)
            problems = log.audit(conn)
    finally:
        engine.dispose()
    assert size == len(entries) == 2 * BATCHES * PER_BATCH
    decoded = [decode_entry(e) for e in entries]
    assert all(isinstance(e, ReleaseEntry) for e in decoded)
    logged = sorted((e.ocid, e.release_id) for e in decoded)
    expected = sorted(
        (f"ocds-{tag}", f"{b}-{i}") for tag in "ab" for b in range(BATCHES) for i in range(PER_BATCH)
    )
    assert logged == expected  # each exactly once
    assert root == root_from_leaves([leaf_hash(e) for e in entries])
    assert problems == []
    # Each batch is contiguous: a transaction's entries were never interleaved with the other's.
    for tag in "ab":
        indices = {}
        for index, entry in enumerate(decoded):
            if entry.ocid == f"ocds-{tag}":
                indices.setdefault(entry.release_id.split("-")[0], []).append(index)
        assert all(ix == list(range(ix[0], ix[0] + PER_BATCH)) for ix in indices.values())


def test_sqlite_readers_never_wait_for_a_writer_nor_hold_one_up(sqlite_url):
    """engine.connect() transactions begin deferred: a reader keeps its snapshot while a writer
    appends and commits, and a reader that starts during the write reads at once."""
    entries = [ReleaseEntry("ocds-r", str(i), bytes(32), bytes(32)) for i in range(3)]
    reading, writing = make_engine(sqlite_url), make_engine(sqlite_url)
    log = EvidenceLog()
    try:
        with reading.connect() as reader:
            before = log.size(reader)  # the reader's transaction (and snapshot) is open
            started = time.monotonic()
            with writing.begin() as writer:
                log.append(writer, entries)
                with reading.connect() as second_reader:
                    assert log.size(second_reader) == before  # the write is not committed yet
            assert time.monotonic() - started < 5  # the busy timeout is 30 s: nobody waited
            assert log.size(reader) == before  # still its own snapshot
        with reading.connect() as reader:
            assert log.size(reader) == before + 3
    finally:
        reading.dispose()
        writing.dispose()


# Two `veraz import-orders` at once: each publishing transaction looks up what is stored, then
# logs and stores its batch.
IMPORTER = """
import sys, time
from ocds.catalogue.generate import generate_orders
from portal.db import make_engine, upgrade
from portal.models import proformas, releases
from portal.publishing import import_orders

url, path, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
engine = make_engine(url)
time.sleep(max(0.0, start - time.time()))
summary = import_orders(engine, path, ocid_prefix="ocds-race01", workers=1, batch_size=5, bulk=False)
assert summary.rejects == [], summary.rejects
engine.dispose()
"""


def test_two_imports_at_once_on_sqlite(sqlite_url, tmp_path):
    _two_imports(sqlite_url, tmp_path)


def test_two_imports_at_once_on_postgresql(postgres_server, tmp_path):
    url = fresh_postgres_db(postgres_server)
    upgrade(url)
    _two_imports(url, tmp_path)


def _two_imports(database_url, tmp_path) -> None:
    """Every release and proforma logged once, at the indices its row names, none left out."""
    orders = list(generate_orders(60, 11))
    files = [write_jsonl(tmp_path / f"{half}.jsonl", orders[half::2]) for half in (0, 1)]
    start = time.time() + 3
    importers = [
        subprocess.Popen(
            [sys.executable, "-c", IMPORTER, database_url, str(f), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for f in files
    ]
    results = [(p.wait(300), *p.communicate()) for p in importers]
    assert [r[0] for r in results] == [0, 0], [r[2][-3000:] for r in results]
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            log = EvidenceLog()
            size = log.size(conn)
            indices = sorted(
                [i for (i,) in conn.execute(select(releases.c.leaf_index))]
                + [i for (i,) in conn.execute(select(proformas.c.leaf_index))]
            )
            stored = sum(
                conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (releases, proformas)
            )
            problems = log.audit(conn)
    finally:
        engine.dispose()
    assert stored > len(orders)  # every order's release, and its proformas
    assert indices == list(range(size))  # every row's entry once, no entry without its row
    assert problems == []
