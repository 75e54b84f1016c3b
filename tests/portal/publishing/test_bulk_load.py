"""Bulk loading: lookup indexes dropped and rebuilt, same data, same schema (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from builders import all_examples, write_jsonl
from sqlalchemy import Index, create_engine, inspect, select

from portal.db import (
    INDEX_BUILD_CACHE_KIB,
    INDEX_BUILD_MMAP_BYTES,
    INDEX_BUILD_THREADS,
    deferrable_indexes,
    drop_deferrable_indexes,
    ensure_indexes,
    make_engine,
    upgrade,
)
from portal.models import proformas, records, releases, source_orders
from portal.publishing import bulk_mode, import_orders

PREFIX = "ocds-test01"
PRAGMAS = ("cache_size", "threads", "mmap_size")


def _indexes(engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {
        t: {ix["name"] for ix in inspector.get_indexes(t)}
        for t in ("releases", "proformas", "records", "order_pdfs", "item_lines", "parties")
    }


def _content(engine) -> dict:
    out = {}
    with engine.connect() as conn:
        for table, key in (
            (releases, releases.c.release_id),
            (proformas, proformas.c.proforma_id),
            (records, records.c.ocid),
            (source_orders, source_orders.c.order_number),
        ):
            cols = [
                c
                for c in table.c
                if c.name
                not in (
                    "id",
                    "published_at",
                    "received_at",
                    "imported_at",
                    "updated_at",
                    "last_release",
                    "release_pk",
                )
            ]
            out[table.name] = sorted(tuple(r) for r in conn.execute(select(*cols).order_by(key)))
    return out


def test_bulk_load_stores_the_same_and_rebuilds_every_index(database_url, tmp_path, request):
    path = write_jsonl(tmp_path / "o.jsonl", all_examples())
    normal = create_engine(database_url)
    before = _indexes(normal)
    assert import_orders(normal, path, ocid_prefix=PREFIX, workers=1, bulk=False).rejects == []
    expected = _content(normal)

    other = tmp_path / "bulk.sqlite3"
    url = f"sqlite:///{other}" if database_url.startswith("sqlite") else None
    if url is None:  # a second PostgreSQL database from the same server
        from support import fresh_postgres_db

        url = fresh_postgres_db(request.getfixturevalue("postgres_server"))
    upgrade(url)
    bulk = create_engine(url)
    try:
        events: list[str] = []
        summary = import_orders(
            bulk, path, ocid_prefix=PREFIX, workers=1, bulk=True, on_indexes=events.append
        )
        assert summary.bulk and summary.rejects == [] and events == ["dropped", "rebuilt"]
        assert _content(bulk) == expected
        assert _indexes(bulk) == before
        assert all(ix.name in before[ix.table.name] for ix in deferrable_indexes())
    finally:
        normal.dispose()
        bulk.dispose()


def test_a_killed_bulk_load_gets_its_indexes_back(database_url, tmp_path):
    engine = create_engine(database_url)
    before = _indexes(engine)
    dropped = drop_deferrable_indexes(engine)
    assert len(dropped) == len(deferrable_indexes()) >= 12
    assert _indexes(engine) != before
    upgrade(database_url)  # what `make run` and `veraz db upgrade` do
    assert _indexes(engine) == before
    assert ensure_indexes(engine) == []
    engine.dispose()


def test_an_interrupted_bulk_load_rebuilds_in_finally(database_url, tmp_path):
    engine = create_engine(database_url)
    before = _indexes(engine)
    path = write_jsonl(tmp_path / "o.jsonl", all_examples())
    events: list[str] = []

    def interrupt(_bytes_read: int) -> None:  # as Ctrl-C would, once reading has started
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_orders(
            engine,
            path,
            ocid_prefix=PREFIX,
            workers=1,
            bulk=True,
            progress=interrupt,
            on_indexes=events.append,
        )
    assert events == ["dropped", "rebuilt"]
    assert _indexes(engine) == before
    engine.dispose()


def test_bulk_mode_only_for_large_files(sqlite_url, tmp_path):
    engine = create_engine(sqlite_url)
    small = write_jsonl(tmp_path / "small.jsonl", all_examples())
    assert not bulk_mode(engine, small)
    big = tmp_path / "big.jsonl"
    line = small.read_bytes().splitlines()[0] + b"\n"
    big.write_bytes(line * 60_000)
    assert bulk_mode(engine, big)
    engine.dispose()


def test_bulk_mode_follows_its_threshold_and_what_is_stored(sqlite_url, tmp_path):
    engine = create_engine(sqlite_url)
    path = write_jsonl(tmp_path / "o.jsonl", all_examples())
    assert bulk_mode(engine, path, min_orders=5)
    assert not bulk_mode(engine, path, min_orders=6)
    import_orders(
        engine,
        write_jsonl(tmp_path / "stored.jsonl", all_examples()[:1]),
        ocid_prefix=PREFIX,
        workers=1,
        bulk=False,
    )
    assert bulk_mode(engine, path, min_orders=5)  # 5 incoming, 1 stored
    import_orders(engine, path, ocid_prefix=PREFIX, workers=1, bulk=False)
    assert not bulk_mode(engine, path, min_orders=5)  # 5 incoming, 5 stored
    engine.dispose()


def test_the_rebuild_leaves_the_connection_cache_as_it_was(tmp_path, monkeypatch):
    """SQLite builds the indexes with a smaller page cache (shorter sorted runs), sorter
    threads and a memory map of the file, then gives the pooled connection back with the cache,
    threads and map it had."""
    url = f"sqlite:///{tmp_path / 'cache.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    seen = []
    create = Index.create

    def create_and_look(index, bind, *args, **kwargs):  # the settings while an index is built
        seen.append(tuple(bind.exec_driver_sql(f"PRAGMA {p}").scalar() for p in PRAGMAS))
        return create(index, bind, *args, **kwargs)

    monkeypatch.setattr(Index, "create", create_and_look)
    try:
        with engine.connect() as conn:
            before = tuple(conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in PRAGMAS)
        building = (-INDEX_BUILD_CACHE_KIB, INDEX_BUILD_THREADS, INDEX_BUILD_MMAP_BYTES)
        assert all(b != w for b, w in zip(before, building, strict=True))
        dropped = drop_deferrable_indexes(engine)
        assert sorted(ensure_indexes(engine)) == sorted(dropped)
        assert seen == [building] * len(dropped)
        with engine.connect() as conn:
            assert tuple(conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in PRAGMAS) == before
    finally:
        engine.dispose()


@pytest.mark.parametrize("blank_every", [0, 7])
def test_the_last_lines_of_a_bulk_load_go_in_smaller_batches(tmp_path, blank_every):
    from portal.publishing.orders import _batches

    path = tmp_path / "lines.jsonl"
    lines = []
    for n in range(1, 1001):
        lines.append(b"" if blank_every and n % blank_every == 0 else b'{"n": %d}' % n)
    path.write_bytes(b"\n".join(lines) + b"\n")
    expected = [(n, line + b"\n") for n, line in enumerate(lines, start=1) if line]

    plain = list(_batches(path, 100, None))
    assert [len(b) for b in plain[:-1]] == [100] * (len(plain) - 1)
    tailed = list(_batches(path, 100, None, (250, 20)))
    sizes = [len(b) for b in tailed]
    # every line once, numbered as in the file (blank lines counted, not sent)
    assert [pair for b in tailed for pair in b] == [pair for b in plain for pair in b] == expected
    # large batches until about 250 lines are left, then batches of 20
    small = sizes.index(20)
    assert set(sizes[:small]) == {100} and set(sizes[small:-1]) == {20} and sizes[-1] <= 20
    left = len(expected) - sum(sizes[:small])
    assert 150 <= left <= 250
