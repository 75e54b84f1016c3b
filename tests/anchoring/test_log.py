"""anchoring.log on a real SQLite file and on a real PostgreSQL database.

PostgreSQL comes from the shared ``postgres_server`` fixture (``TEST_DATABASE_URL``, or a
throwaway local cluster); without one these tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import create_engine, select, update
from support import fresh_postgres_db

from anchoring.entries import ProformaEntry, decode_entry, encode_entry
from anchoring.errors import EntryError, LogError, ProofError
from anchoring.log import (
    MAX_ENTRY_SIZE,
    EvidenceLog,
    bundle_entries,
    checkpoints,
    log_entry_bundles,
    log_tiles,
    make_bundle,
    metadata,
    sqlite_begin_immediate,
)
from anchoring.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from anchoring.notes import NoteSigner, verify_checkpoint

ORIGIN = "veraz.test/log"
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(32))


def make_entries(start: int, count: int) -> list[ProformaEntry]:
    return [
        ProformaEntry(f"ocds-t-{i // 7}", f"PF-{i}", i.to_bytes(32, "big"))
        for i in range(start, start + count)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'log.sqlite3'}", connect_args={"timeout": 30})
        sqlite_begin_immediate(eng)
    else:
        eng = create_engine(fresh_postgres_db(request.getfixturevalue("postgres_server")))
    metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def log() -> EvidenceLog:
    return EvidenceLog()


def test_empty_log(engine, log):
    with engine.begin() as conn:
        assert log.size(conn) == 0
        assert log.root(conn) == EMPTY_ROOT
        assert log.latest_checkpoint(conn) is None
        assert log.append(conn, []) == []
        with pytest.raises(ProofError):
            log.inclusion_proof(conn, 0, 0)
        assert log.audit(conn) == []


def test_append_proofs_and_roots_across_tiles(engine, log):
    # 66,000 leaves: 257 full level-0 tiles plus a partial one, one full level-1 tile
    # (65,536 leaves) plus a partial one, and a one-hash tile at level 2.
    batches = [1, 254, 1, 1, 300, 65_000, 443]
    data: list[bytes] = []
    with engine.begin() as conn:
        for count in batches:
            entries = make_entries(len(data), count)
            assert log.append(conn, entries) == list(range(len(data), len(data) + count))
            data.extend(encode_entry(e) for e in entries)
    hashes = [leaf_hash(d) for d in data]
    n = len(data)
    assert n == 66_000
    rng = random.Random(9162)
    with engine.connect() as conn:
        assert log.size(conn) == n
        assert log.entries(conn, 250, 260) == data[250:260]
        assert log.leaf_hashes(conn, 0, 3) == hashes[:3]
        tiles = dict(
            ((row.level, row.idx), len(row.hashes) // 32)
            for row in conn.execute(select(log_tiles.c.level, log_tiles.c.idx, log_tiles.c.hashes))
        )
        assert tiles[(0, 257)] == 66_000 - 257 * 256
        assert tiles[(1, 0)] == 256 and tiles[(1, 1)] == 257 - 256
        assert tiles[(2, 0)] == 1
        sizes = [1, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, n] + [
            rng.randint(1, n) for _ in range(10)
        ]
        roots = {s: root_from_leaves(hashes[:s]) for s in sizes}
        for size in sizes:
            assert log.root(conn, size) == roots[size]
            for index in {0, size - 1, rng.randrange(size)}:
                proof = log.inclusion_proof(conn, index, size)
                verify_inclusion(hashes[index], index, size, proof, roots[size])
        for _ in range(40):
            s1, s2 = sorted(rng.sample(sizes, 2))
            if s1 != s2:
                verify_consistency(s1, s2, roots[s1], roots[s2], log.consistency_proof(conn, s1, s2))
        with pytest.raises(LogError):
            log.root(conn, n + 1)
        with pytest.raises(LogError):
            log.inclusion_proof(conn, 0, n + 1)
        with pytest.raises(LogError):  # every node exists except the (absent) leaf itself
            log.inclusion_proof(conn, n, n + 1)
        with pytest.raises(LogError):
            log.consistency_proof(conn, n, n + 1)
        assert log.audit(conn) == []


def test_seal_is_idempotent_and_verifiable(engine, log):
    with engine.begin() as conn:
        log.append(conn, make_entries(0, 10))
        note = log.seal(conn, SIGNER, ORIGIN)
        assert log.seal(conn, SIGNER, ORIGIN) == note
        assert len(log.checkpoints(conn)) == 1
    cp = verify_checkpoint(note, str(SIGNER.verifier()))
    with engine.begin() as conn:
        assert (cp.size, cp.root) == (10, log.root(conn))
        log.append(conn, make_entries(10, 5))
        note2 = log.seal(conn, SIGNER, ORIGIN)
        stored = log.checkpoints(conn)
        assert [c.size for c in stored] == [10, 15]
        assert log.latest_checkpoint(conn).note == note2
        assert stored[0].created_at is not None
        cp2 = verify_checkpoint(note2, SIGNER.verifier())
        verify_consistency(10, 15, cp.root, cp2.root, log.consistency_proof(conn, 10, 15))
        assert log.audit(conn, SIGNER.verifier()) == []


def test_seal_at_a_size_below_the_log(engine, log):
    with engine.begin() as conn:
        log.append(conn, make_entries(0, 10))
        first = verify_checkpoint(log.seal(conn, SIGNER, ORIGIN, 4), SIGNER.verifier())
        assert (first.size, first.root) == (4, log.root(conn, 4))
        for bad in (3, 11, -1):  # below the latest checkpoint, beyond the log, negative
            with pytest.raises(LogError):
                log.seal(conn, SIGNER, ORIGIN, bad)
        assert log.seal(conn, SIGNER, ORIGIN, 4) == log.checkpoints(conn)[0].note
        log.seal(conn, SIGNER, ORIGIN)
        assert [c.size for c in log.checkpoints(conn)] == [4, 10]
        assert log.audit(conn, SIGNER.verifier()) == []


def test_empty_log_can_be_sealed(engine, log):
    with engine.begin() as conn:
        note = log.seal(conn, SIGNER, ORIGIN)
    assert verify_checkpoint(note, SIGNER.verifier()).root == EMPTY_ROOT


def test_rolled_back_batch_leaves_no_trace(engine, log):
    with engine.begin() as conn:
        log.append(conn, make_entries(0, 300))
        root = log.root(conn)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        log.append(conn, make_entries(300, 500))
        assert log.size(conn) == 800
        raise RuntimeError("caller failed after appending: the batch must vanish")
    with engine.begin() as conn:
        assert log.size(conn) == 300
        assert log.root(conn) == root
        assert log.audit(conn) == []
        assert log.append(conn, make_entries(300, 1)) == [300]


def test_append_refuses_invalid_entries(engine, log):
    with engine.begin() as conn:
        with pytest.raises(EntryError):
            log.append(conn, [b'{"kind":"nope","v":1}'])
        with pytest.raises(EntryError):
            log.append(conn, ["not bytes"])
        with pytest.raises(EntryError):
            log.append(conn, [b'{"v":1,"kind":"proforma"}'])  # not canonical, members missing
        assert log.append(conn, [encode_entry(make_entries(0, 1)[0])]) == [0]
        assert decode_entry(log.entries(conn, 0, 1)[0]).kind == "proforma"
        assert log.size(conn) == 1


def test_audit_reports_tampering(engine, log):
    with engine.begin() as conn:
        log.append(conn, make_entries(0, 600))
        log.seal(conn, SIGNER, ORIGIN)
    with engine.begin() as conn:
        bundle = bundle_entries(
            conn.execute(select(log_entry_bundles.c.entries).where(log_entry_bundles.c.idx == 0)).scalar_one()
        )
        bundle[5] = b'{"kind":"x","v":1}'
        conn.execute(
            update(log_entry_bundles).where(log_entry_bundles.c.idx == 0).values(entries=make_bundle(bundle))
        )
        conn.execute(
            update(log_tiles)
            .where(log_tiles.c.level == 0, log_tiles.c.idx == 1)
            .values(hashes=bytes(256 * 32))
        )
        conn.execute(
            update(log_tiles)
            .where(log_tiles.c.level == 0, log_tiles.c.idx == 2)
            .values(inner=bytes(32) + b"x" * (88 * 32 - 32))
        )
        conn.execute(update(checkpoints).values(root=bytes(32)))
        problems = log.audit(conn, SIGNER.verifier())
    kinds = {(p.kind, p.where) for p in problems}
    assert ("leaf-hash", "entry 5") in kinds
    assert ("entry", "entry 5") in kinds
    assert ("tile", "tile 0/1") in kinds
    assert ("tile", "tile 0/2") in kinds  # inner rows of the partial tile
    assert ("checkpoint-root", "checkpoint 600") in kinds
    assert ("checkpoint-note", "checkpoint 600") in kinds


def test_entries_are_stored_as_c2sp_entry_bundles(engine, log):
    entries = [encode_entry(e) for e in make_entries(0, 600)]
    with engine.begin() as conn:
        for chunk in (entries[:3], entries[3:300], entries[300:]):  # partial bundles grow
            log.append(conn, chunk)
        rows = conn.execute(
            select(log_entry_bundles.c.idx, log_entry_bundles.c.entries).order_by(log_entry_bundles.c.idx)
        ).all()
        assert [r.idx for r in rows] == [0, 1, 2]
        # tile/entries/N: each entry as a big-endian uint16 length, then its bytes.
        assert bytes(rows[0].entries) == b"".join(len(e).to_bytes(2, "big") + e for e in entries[:256])
        assert bundle_entries(bytes(rows[2].entries)) == entries[512:]
        assert log.entries(conn, 0, 600) == entries
        assert log.entries(conn, 255, 513) == entries[255:513]
        assert log.entries(conn, 7, 7) == []
        assert log.leaf_hashes(conn, 250, 260) == [leaf_hash(e) for e in entries[250:260]]
        with pytest.raises(LogError):
            log.entries(conn, 590, 601)
        with pytest.raises(LogError):
            log.leaf_hashes(conn, 599, 601)
        assert log.first_appended_at(conn) is not None
        assert log.audit(conn) == []


def test_bundle_parsing_refuses_truncated_bundles():
    assert bundle_entries(b"") == []
    assert bundle_entries(make_bundle([b"ab", b""])) == [b"ab", b""]
    for bad in (b"\x00", b"\x00\x03ab", make_bundle([b"abc"])[:-1]):
        with pytest.raises(LogError):
            bundle_entries(bad)


def test_bundle_prefixes_of_long_entries():
    """Entries of 4 KB and more (past the table of prefixes) get the same uint16 length."""
    for sizes in ([0, 1, 4095], [4096], [3, 4096, 65_535, 7]):
        entries = [bytes([n % 251]) * n for n in sizes]
        expected = b"".join(len(e).to_bytes(2, "big") + e for e in entries)
        assert make_bundle(entries) == expected
        assert bundle_entries(expected) == entries


def test_entry_of_the_largest_size_round_trips(engine, log):
    small = encode_entry(ProformaEntry("x", "PF-1", bytes(32)))
    largest = ProformaEntry("x" * (MAX_ENTRY_SIZE - len(small) + 1), "PF-1", bytes(32))
    data = encode_entry(largest)
    assert len(data) == MAX_ENTRY_SIZE
    with engine.begin() as conn:
        assert log.append(conn, [ProformaEntry("a", "PF-0", bytes(32)), largest, data]) == [0, 1, 2]
        assert log.entries(conn, 1, 3) == [data, data]
        assert log.audit(conn) == []


def test_oversized_entry_is_refused(engine, log):
    big = ProformaEntry("x" * (MAX_ENTRY_SIZE + 1), "PF-1", bytes(32))
    with engine.begin() as conn:
        with pytest.raises(EntryError):
            log.append(conn, [big])
        assert log.size(conn) == 0


def test_audit_reports_broken_bundles(engine, log):
    with engine.begin() as conn:
        log.append(conn, make_entries(0, 600))
        conn.execute(
            update(log_entry_bundles).where(log_entry_bundles.c.idx == 1).values(entries=b"\x00\x05ab")
        )
        problems = {(p.kind, p.where) for p in log.audit(conn)}
        assert ("bundle", "entry bundle 1") in problems
        with pytest.raises(LogError):  # bundle 2 holds 88 of the entries its tile hashes
            conn.execute(log_entry_bundles.delete().where(log_entry_bundles.c.idx == 2))
            log.append(conn, make_entries(600, 1))
    with engine.begin() as conn:
        conn.execute(log_entry_bundles.delete().where(log_entry_bundles.c.idx == 2))
        problems = {(p.kind, p.where) for p in log.audit(conn)}
        assert ("size", "log") in problems


def test_audit_reports_missing_and_extra_tiles(engine, log):
    with engine.begin() as conn:
        log.append(conn, make_entries(0, 300))
        conn.execute(log_tiles.delete().where(log_tiles.c.level == 0, log_tiles.c.idx == 1))
        conn.execute(log_tiles.insert().values(level=3, idx=0, hashes=bytes(32), inner=b""))
        problems = log.audit(conn)
        with pytest.raises(LogError):
            log.append(conn, make_entries(300, 1))
    assert {p.where for p in problems} >= {"tile 0/1", "tile level 0", "tile level 3"}


def test_concurrent_writers_get_distinct_indices(engine, log):
    errors: list[BaseException] = []
    got: list[int] = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        try:
            for batch in range(5):
                with engine.begin() as conn:
                    start = 10_000 * worker + 100 * batch
                    indices = log.append(conn, make_entries(start, 37))
                with lock:
                    got.extend(indices)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(got) == list(range(4 * 5 * 37))
    with engine.connect() as conn:
        assert log.audit(conn) == []
