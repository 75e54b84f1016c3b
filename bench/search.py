"""Benchmark: the search box's engines side by side, on the same documents in the same run.

    python bench/search.py --orders 100000
    python bench/search.py --orders 10000 --postgres postgresql+psycopg://user@/db?host=/run/pg

1. Generates N synthetic orders and publishes them into a fresh SQLite database with
   ``portal.publishing.import_orders`` (the publishing transaction writes each process's search
   document and the FTS5 index: the import's rate includes that).
2. Each phase then runs in a fresh process (so its peak RSS is its own), on that database:
   * ``documents``: every process's search document read and analysed from its compiled release
     (``portal.search.documents``), the part of indexing that does not depend on the engine;
   * ``rebuild``: ``portal.search.rebuild`` end to end (documents written again, FTS5 updated);
   * ``fts5 build``: SQLite FTS5 builds its index from the stored documents ('rebuild');
   * ``whoosh build``: Whoosh 2.7.4 builds its index from the same stored documents;
   * ``queries``: a fixed list of 200 Spanish queries (:func:`queries`, drawn from the demo
     generator's vocabulary: product words, catalogues, buyers, places, suppliers, order numbers
     in several spellings, RUC prefixes), each timed 3 times through ``search_ocids`` (limit 20;
     the per-query median is kept), for each engine: median and p95 over the 200, and how many
     found nothing.
   Sizes on disk: FTS5's tables (``dbstat``) and the documents table; Whoosh's folder.
3. With ``--postgres URL`` (an empty database), the same orders are published there too and the
   tsvector engine gets the same rebuild and queries.

At 1,000,000 orders publishing would take an hour here, so ``--documents-only`` measures the
search figures on the documents alone, made exactly as the publishing workers make them:

    python bench/search.py --orders 1000000 --documents-only --dir /work/bench-data/search \
        --postgres postgresql+psycopg://user@/db?host=/run/pg

4. ``--documents-only``: each generated order is mapped to its OCDS release (``map_order``, as
   the publishing worker does), read once (``ocds.summary.process_facts``) and made into its
   document (``portal.search.documents.document_of``), and so is each framework agreement's first
   release, on every core; a later version of an order replaces its process's document and moves
   it to the end (its id follows publication, as when published). The documents are kept in
   ``documents-N-SEED.tsv`` for later runs. They are loaded, in that order, into
   ``search_documents`` with a minimal ``records`` row per process (search joins it), in SQLite
   and (``--postgres``) PostgreSQL, then each engine builds its index from them (FTS5 ``rebuild``;
   PostgreSQL: the documents copied with their generated ``tsvector``, then the postings
   (``search_posting_blocks``, migration 0027) filled in blocks from the ``tsvector`` and
   indexed, all timed as the build, the copy and the fill each in ``--pg-connections`` (2)
   connections at once (the GIN index, which no query reads, was dropped by migration 0026);
   Whoosh, too slow to build a million here, on the first ``--whoosh-subset`` documents, with
   FTS5 on the same subset beside it). Queries as in 2, at limit 20 (the search box) and 1,000
   (what ``/contracts?q=`` asks for before counting its facets over the hits).
   ``--queries-only`` then times the queries again on the databases so built (both engines,
   one after the other), without loading or building anything.

The machine may be shared: the load average and CPU time (user + system) are printed with
each phase.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)

QUERY_COUNT = 200
REPEATS = 3


def queries(source: Path, count: int = QUERY_COUNT, seed: int = 2026) -> list[str]:
    """A fixed list of Spanish queries from the demo generator's vocabulary (same seed, same
    list); the RUCs and order numbers are those of the first orders of ``source`` (the
    generated file: same orders and seed, same ones)."""
    import orjson

    from ocds.catalogue.generate import (
        CATALOGUES,
        MINISTRIES,
        PLACES,
        REGION_BUYER_KINDS,
        SUPPLIER_CORES,
        SUPPLIER_HEADS,
    )
    from ocds.catalogue.source import REGIONS

    rng = random.Random(seed)
    catalogues = [c[1] for c in CATALOGUES]
    products = [p[3] for c in CATALOGUES for p in c[3]]
    classes = [p[2] for c in CATALOGUES for p in c[3]]
    words = sorted(
        {w for text in products + classes + catalogues for w in text.split() if len(w) > 3 and w.isalpha()}
    )
    places = sorted({p for ps in PLACES.values() for p in ps})
    regions = sorted(set(REGIONS.values()))

    def variant(text: str) -> str:  # as people type: lowercase, no accents, or as written
        choice = rng.random()
        if choice < 0.4:
            return text.lower()
        if choice < 0.6:
            from portal.search.text import fold

            return fold(text)
        return text

    made: list[str] = []
    made += [variant(rng.choice(words)) for _ in range(50)]  # one product word
    made += [variant(rng.choice(catalogues)) for _ in range(15)]  # a catalogue
    made += [
        variant(" ".join(rng.choice(products).split()[: rng.randint(2, 4)])) for _ in range(25)
    ]  # the start of a product description
    made += [variant(f"{rng.choice(words)} {rng.choice(places)}") for _ in range(15)]  # thing + place
    made += [variant(rng.choice(places)) for _ in range(15)]  # a place (buyer names)
    made += [
        variant(f"{rng.choice(['municipalidad', 'hospital', 'red de salud', 'ugel'])} {rng.choice(places)}")
        for _ in range(15)
    ]
    made += [variant(rng.choice(REGION_BUYER_KINDS).format(r=rng.choice(regions))) for _ in range(5)]
    made += [variant(rng.choice(MINISTRIES)) for _ in range(10)]
    made += [variant(f"{rng.choice(SUPPLIER_HEADS)} {rng.choice(SUPPLIER_CORES)}") for _ in range(15)]
    made += [variant(rng.choice(SUPPLIER_CORES)) for _ in range(5)]
    numbers, rucs = [], []
    with source.open("rb") as f:
        for _, line in zip(range(2000), f, strict=False):
            order = orjson.loads(line)
            numbers.append(order["orderNumber"])
            rucs += [order["buyer"]["identifier"], order["supplier"]["identifier"]]
    numbers, rucs = sorted(set(numbers)), sorted(set(rucs))
    for _ in range(20):  # order numbers: whole, lowercase, partial, spaced, the serial alone
        number = rng.choice(numbers)
        year, serial = number.split("-")[1:]
        made.append(
            rng.choice(
                [number, number.lower(), number.lower()[: rng.randint(9, 13)], f"oc {year} {serial}", serial]
            )
        )
    made += [rng.choice(rucs) for _ in range(5)]  # RUCs of buyers and suppliers
    made += [rng.choice(rucs)[:7] for _ in range(5)]  # and their first digits
    return made[:count]


def _rss_mb() -> float:
    """This process's peak RSS so far, in MB: VmHWM, since ``ru_maxrss`` survives exec on Linux
    (a spawned process would report its parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu(children: bool = False) -> float:
    """CPU time (user + system) of this process, or of its waited-for children, in seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int | None) -> float:
    """CPU time (user + system) of process ``pid`` (a PostgreSQL backend), in seconds; 0 for None."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- phases (each in its own process) ----------------------------------------------------------


def phase_documents(url: str) -> dict:
    from sqlalchemy import select

    from portal.db import make_engine
    from portal.models import records
    from portal.search.documents import documents

    engine = make_engine(url)
    base = _rss_mb()
    with engine.connect() as conn:
        ocids = list(conn.execute(select(records.c.ocid)).scalars())
        started = time.perf_counter()
        count = 0
        for i in range(0, len(ocids), 2000):
            count += len(documents(conn, ocids[i : i + 2000]))
        seconds = time.perf_counter() - started
    return {"docs": count, "seconds": seconds, "rss": _rss_mb(), "base": base}


def phase_rebuild(url: str) -> dict:
    from portal.db import make_engine
    from portal.search import rebuild

    engine = make_engine(url)
    base = _rss_mb()
    started = time.perf_counter()
    count = rebuild(engine)
    return {"docs": count, "seconds": time.perf_counter() - started, "rss": _rss_mb(), "base": base}


def phase_fts5_build(url: str) -> dict:
    from sqlalchemy import func, select, text

    from portal.db import make_engine
    from portal.search.tables import search_documents

    engine = make_engine(url)
    base = _rss_mb()
    with engine.begin() as conn:
        count = conn.execute(select(func.count()).select_from(search_documents)).scalar_one()
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('delete-all')"))
    started, cpu = time.perf_counter(), _cpu()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    with engine.connect() as conn:
        sizes = dict(
            conn.execute(
                text(
                    "SELECT CASE WHEN name LIKE 'search_fts%' THEN 'fts' ELSE 'documents' END, SUM(pgsize) "
                    "FROM dbstat WHERE name LIKE 'search_%' OR name LIKE 'sqlite_autoindex_search_%' "
                    "GROUP BY 1"
                )
            ).all()
        )
    return {
        "docs": count,
        "seconds": seconds,
        "cpu": cpu,
        "rss": _rss_mb(),
        "base": base,
        "fts_bytes": sizes.get("fts", 0),
        "documents_bytes": sizes.get("documents", 0),
    }


def phase_whoosh_build(url: str, folder: str) -> dict:
    from portal.db import make_engine
    from portal.search.whoosh_index import WhooshIndex

    engine = make_engine(url)
    base = _rss_mb()
    started, cpu = time.perf_counter(), _cpu()
    count = WhooshIndex(folder).rebuild(engine)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    size = sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())
    return {"docs": count, "seconds": seconds, "cpu": cpu, "rss": _rss_mb(), "base": base, "bytes": size}


def phase_queries(url: str, search_engine: str, instance: str, source: str, limit: int = 20) -> dict:
    from portal.db import make_engine
    from portal.search import search_ocids

    engine = make_engine(url)
    base = _rss_mb()
    config = {"SEARCH_ENGINE": search_engine, "INSTANCE_PATH": instance}
    texts = queries(Path(source))
    for q in texts:  # warm: caches, the Whoosh searcher, the database's pages
        search_ocids(engine, config, q, limit=limit)
    backend = None
    if engine.dialect.name == "postgresql":  # the server's CPU time too (one pooled connection)
        from sqlalchemy import text

        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    server = _process_cpu(backend)
    per_query, empty, slowest = [], 0, []
    cpu = _cpu()
    for q in texts:
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            found = search_ocids(engine, config, q, limit=limit)
            times.append(time.perf_counter() - started)
        per_query.append(statistics.median(times))
        slowest.append((statistics.median(times), q))
        empty += not found
    cpu = _cpu() - cpu + _process_cpu(backend) - server
    per_query.sort()
    return {
        "median_ms": statistics.median(per_query) * 1000,
        "p95_ms": per_query[int(len(per_query) * 0.95) - 1] * 1000,
        "max_ms": per_query[-1] * 1000,
        "cpu_ms": cpu / (len(texts) * REPEATS) * 1000,
        "slowest": [q for _, q in sorted(slowest, reverse=True)[:5]],
        "empty": empty,
        "rss": _rss_mb(),
        "base": base,
    }


# --- documents only (--documents-only) --------------------------------------------------------


def _documents_of_lines(lines: list[bytes]) -> list[tuple[str, str, str, str]]:
    """``(kind, ocid, identifiers, words)`` of each order of ``lines`` and of its framework
    agreement (kind ``agreement``; the parent keeps the first), made as the publishing worker
    makes them: the mapped release, ``process_facts`` once, ``document_of``."""
    import orjson

    from ocds.summary import process_facts
    from portal.publishing.orders import map_order
    from portal.search.documents import document_of

    out = []
    for raw in lines:
        mapped = map_order(orjson.loads(raw), ocid_prefix="ocds-vrz0pe")
        for kind, release in (("agreement", mapped.agreement_release), ("order", mapped.order_release)):
            ocid = release["ocid"]
            if kind == "agreement" and ocid in _SEEN_AGREEMENTS:
                continue
            _SEEN_AGREEMENTS.add(ocid) if kind == "agreement" else None
            doc = document_of(ocid, process_facts(release))
            out.append((kind, ocid, doc.identifiers, doc.words))
    return out


_SEEN_AGREEMENTS: set[str] = set()  # per worker process: agreements already made there


def make_documents(source: Path, target: Path, workers: int, chunk: int = 2000) -> dict:
    """Every process's document from the orders of ``source``, in publication order, written
    to ``target`` (``ocid TAB identifiers TAB words`` a line: documents hold only letters,
    digits and spaces)."""
    started, cpu = time.perf_counter(), _cpu()
    docs: dict[str, tuple[str, str]] = {}

    def chunks():
        with source.open("rb") as f:
            while lines := [line for _, line in zip(range(chunk), f, strict=False)]:
                yield lines

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for made in pool.imap(_documents_of_lines, chunks()):
            for kind, ocid, identifiers, words in made:
                if kind == "agreement":
                    docs.setdefault(ocid, (identifiers, words))
                else:  # a new version is written again: a new id, at the end
                    docs.pop(ocid, None)
                    docs[ocid] = (identifiers, words)
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="ascii") as f:
        for ocid, (identifiers, words) in docs.items():
            f.write(f"{ocid}\t{identifiers}\t{words}\n")
    tmp.rename(target)
    return {
        "docs": len(docs),
        "seconds": time.perf_counter() - started,
        "cpu": _cpu() - cpu + _cpu(children=True),
    }


def _read_documents(path: Path, limit: int | None = None):
    with path.open(encoding="ascii") as f:
        for i, line in enumerate(f, 1):
            if limit is not None and i > limit:
                return
            ocid, identifiers, words = line.rstrip("\n").split("\t")
            yield i, ocid, identifiers, words


def load_sqlite(db: Path, documents: Path, limit: int | None = None) -> int:
    """A fresh SQLite database holding the documents (ids in file order) and a minimal
    ``records`` row for each (FTS5 still empty: :func:`phase_fts5_build` builds it)."""
    import sqlite3

    from portal.db import upgrade

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{db}")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    count = 0
    batch: list = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO records (ocid, release_count, last_release, updated_at, kind) "
            "VALUES (?, 1, ?, '2026-01-01 00:00:00', 'order')",
            [(ocid, i) for i, ocid, _, _ in batch],
        )
        conn.executemany(
            "INSERT INTO search_documents (id, ocid, identifiers, words) VALUES (?, ?, ?, ?)", batch
        )
        batch.clear()

    with conn:
        for row in _read_documents(documents, limit):
            batch.append(row)
            count += 1
            if len(batch) == 10_000:
                flush()
        flush()
    conn.execute("ANALYZE")
    conn.close()
    return count


def _server_cpu(backend: int) -> float:
    """CPU time (user + system) of the whole PostgreSQL server of ``backend``, in seconds: the
    postmaster, every process it runs (backends, parallel workers, the WAL writer, the
    checkpointer) and those it has reaped (a parallel index build's workers)."""
    postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _in_parallel(engine, work, parts: list) -> list[float]:
    """``work(cursor, part)`` for each part at once, each on a connection (and transaction) of
    its own, in a thread (the server does the work; psycopg lets the GIL go while it waits);
    each part's seconds."""
    import threading

    seconds = [0.0] * len(parts)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            raw = engine.raw_connection()
            try:
                started = time.perf_counter()
                work(raw.cursor(), parts[i])
                raw.commit()
                seconds[i] = time.perf_counter() - started
            finally:
                raw.close()
        except BaseException as error:  # noqa: BLE001 - raised again in the caller
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return seconds


def load_postgres(url: str, documents: Path, connections: int = 2) -> dict:
    """The documents in PostgreSQL (as :func:`load_sqlite`); the timed build: the documents
    copied in (each row's ``tsvector`` generated), then the postings filled in blocks from the
    ``tsvector`` and indexed (what the search reads; migration 0027), each step but the index
    in ``connections`` connections at once, on as many parts of the documents (the index's sort
    has PostgreSQL's own parallel workers)."""
    from sqlalchemy import text

    from portal.db import make_engine, upgrade
    from portal.search.database import PG_BLOCK_BITS, PG_FILL_BLOCKS

    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE search_documents, records, search_posting_blocks CASCADE"))
        conn.execute(
            text("ALTER TABLE search_posting_blocks DROP CONSTRAINT IF EXISTS pk_search_posting_blocks")
        )
    rows = list(_read_documents(documents))
    last_block = rows[-1][0] >> PG_BLOCK_BITS
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY records (ocid, release_count, last_release, updated_at, kind) FROM STDIN"
        ) as copy:
            for i, ocid, _, _ in rows:
                copy.write_row((ocid, 1, i, "2026-01-01 00:00:00+00", "order"))
        raw.commit()
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
        started, cpu, server = time.perf_counter(), _cpu(), _server_cpu(backend)

        def copy_part(part_cur, part) -> None:
            with part_cur.copy("COPY search_documents (id, ocid, identifiers, words) FROM STDIN") as copy:
                for row in part:
                    copy.write_row(row)

        size = -(-len(rows) // connections)
        copy_parts = _in_parallel(engine, copy_part, [rows[i : i + size] for i in range(0, len(rows), size)])
        copied = time.perf_counter() - started
        copied_cpu = _server_cpu(backend) - server

        # The postings' blocks, each connection a range of blocks.
        def fill_part(part_cur, blocks) -> None:
            part_cur.execute(
                PG_FILL_BLOCKS.replace(":first", "%(first)s").replace(":last", "%(last)s"),
                {"first": blocks[0], "last": blocks[-1]},
            )

        step = -(-(last_block + 1) // connections)
        ranges = [range(i, min(i + step, last_block + 1)) for i in range(0, last_block + 1, step)]
        filled_at = time.perf_counter()
        fill_parts = _in_parallel(engine, fill_part, ranges)
        filled = time.perf_counter() - filled_at
        filled_cpu = _server_cpu(backend) - server - copied_cpu
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute(
            "ALTER TABLE search_posting_blocks "
            "ADD CONSTRAINT pk_search_posting_blocks PRIMARY KEY (term, block)"
        )
        raw.commit()
        indexed = time.perf_counter() - filled_at - filled
        indexed_cpu = _server_cpu(backend) - server - copied_cpu - filled_cpu
        # VACUUM runs outside a transaction: on the driver's connection (the pool's wrapper
        # does not pass autocommit through).
        raw.driver_connection.autocommit = True
        cur.execute("VACUUM ANALYZE search_posting_blocks")
        raw.driver_connection.autocommit = False
        postings_seconds = time.perf_counter() - filled_at
        seconds = time.perf_counter() - started
        server = _server_cpu(backend) - server
        cpu = _cpu() - cpu + server
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('search_documents', 'id'), max(id)) FROM search_documents"
        )
        # Untimed, as autovacuum would soon do: the visibility map of the freshly copied tables
        # (index-only scans of records' key: each search checks its hits' records) and the
        # statistics of the words (the order in which a query's words are merged).
        raw.commit()
        raw.driver_connection.autocommit = True
        cur.execute("VACUUM ANALYZE records, search_documents")
        raw.driver_connection.autocommit = False
        cur.execute("SELECT count(*), pg_total_relation_size('search_documents') FROM search_documents")
        count, table_bytes = cur.fetchone()
        cur.execute(
            "SELECT count(*), sum(cardinality(offsets)), pg_total_relation_size('search_posting_blocks') "
            "FROM search_posting_blocks"
        )
        blocks, postings, postings_bytes = cur.fetchone()
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return {
        "docs": count,
        "seconds": seconds,
        "copy_seconds": copied,
        "copy_parts": copy_parts,
        "copy_cpu": copied_cpu,
        "cpu": cpu,
        "server_cpu": server,
        "table_bytes": table_bytes,
        "filled_seconds": filled,
        "fill_parts": fill_parts,
        "filled_cpu": filled_cpu,
        "indexed_seconds": indexed,
        "indexed_cpu": indexed_cpu,
        "blocks": blocks,
        "postings": postings,
        "postings_seconds": postings_seconds,
        "postings_bytes": postings_bytes,
        "connections": connections,
    }


def run(phase, *args) -> dict:
    """``phase(*args)`` in a fresh process (spawned: its peak RSS is its own)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(phase, args)


def publish(url: str, source: Path) -> dict:
    from portal.db import make_engine, upgrade
    from portal.publishing import import_orders

    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    summary = import_orders(engine, source, ocid_prefix="ocds-vrz0pe", workers=0)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"orders": summary.read, "records": summary.records_updated, "seconds": seconds}


def _row(name: str, build: str, size: float | None, rss: str, q: dict, total: int) -> tuple[str, ...]:
    return (
        name,
        build,
        "" if size is None else f"{size / 1e6:,.1f}",
        rss,
        f"{q['median_ms']:.2f}",
        f"{q['p95_ms']:.2f}",
        f"{q['max_ms']:.1f}",
        f"{q['cpu_ms']:.2f}",
        f"{q['empty']}/{total}",
    )


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)), flush=True)


HEADER = (
    "engine",
    "build docs/s",
    "index MB",
    "build +RSS MB",
    "median ms",
    "p95 ms",
    "max ms",
    "CPU ms/q",
    "no hit",
)


def documents_only(args, work: Path, source: Path) -> None:
    """The search figures on documents made straight from the generated orders (module docstring, 4)."""
    texts = queries(source)
    target = work / f"documents-{args.orders}-{args.seed}.tsv"
    if not target.exists():
        made = make_documents(source, target, workers=os.cpu_count() or 1)
        print(
            f"documents (map_order, process_facts, document_of; {os.cpu_count()} processes): "
            f"{made['docs']:,} in {made['seconds']:.1f} s = {made['docs'] / made['seconds']:,.0f} docs/s, "
            f"CPU {made['cpu'] / made['docs'] * 1e6:,.0f} us/doc; {_load()}",
            flush=True,
        )
    instance = str(work / "instance")
    if args.queries_only:
        queries_only(args, work, source, instance, len(texts))
        return
    for limit in args.limits:
        print(f"--- queries at limit {limit} ---", flush=True)
        sets = [("full", None)] + ([("subset", args.whoosh_subset)] if args.whoosh_subset else [])
        for label, size in sets:
            db = work / (
                f"search-docs-{args.orders}.sqlite3" if size is None else f"search-docs-{size}.sqlite3"
            )
            url = f"sqlite:///{db}"
            key = (label, size)
            if key not in _BUILT:
                count = load_sqlite(db, target, size) if not (args.reuse and db.exists()) else None
                fts = run(phase_fts5_build, url)
                _BUILT[key] = {"fts": fts}
                print(
                    f"[{label}] SQLite FTS5 build: {fts['docs']:,} documents in {fts['seconds']:.1f} s = "
                    f"{fts['docs'] / fts['seconds']:,.0f} docs/s, CPU {fts['cpu']:.1f} s = "
                    f"{fts['docs'] / fts['cpu']:,.0f} docs/CPU s (loaded: {count or 'reused'}); "
                    f"index {fts['fts_bytes'] / 1e6:,.1f} MB, "
                    f"documents table {fts['documents_bytes'] / 1e6:,.1f} MB; "
                    f"{_load()}",
                    flush=True,
                )
                if size is not None:
                    folder = str(work / "instance" / "search-whoosh")
                    whoosh = run(phase_whoosh_build, url, folder)
                    _BUILT[key]["whoosh"] = whoosh
                    print(
                        f"[{label}] Whoosh build: {whoosh['docs']:,} in {whoosh['seconds']:.1f} s, "
                        f"CPU {whoosh['cpu']:.1f} s = {whoosh['docs'] / whoosh['cpu']:,.0f} docs/CPU s, wall "
                        f"{whoosh['docs'] / whoosh['seconds']:,.0f} docs/s, {whoosh['bytes'] / 1e6:,.1f} MB; "
                        f"{_load()}",
                        flush=True,
                    )
            built = _BUILT[key]
            rows = [HEADER]
            fts = built["fts"]
            q = run(phase_queries, url, "database", instance, str(source), limit)
            rows.append(
                _row(
                    f"sqlite-fts5 ({fts['docs']:,})",
                    f"{fts['docs'] / fts['seconds']:,.0f}",
                    fts["fts_bytes"],
                    f"{fts['rss'] - fts['base']:,.0f}",
                    q,
                    len(texts),
                )
            )
            print(f"  slowest: {q['slowest']}; {_load()}", flush=True)
            if "whoosh" in built:
                w = built["whoosh"]
                q = run(phase_queries, url, "whoosh", instance, str(source), limit)
                rows.append(
                    _row(
                        f"whoosh ({w['docs']:,})",
                        f"{w['docs'] / w['seconds']:,.0f}",
                        w["bytes"],
                        f"{w['rss'] - w['base']:,.0f}",
                        q,
                        len(texts),
                    )
                )
                print(f"  slowest: {q['slowest']}; {_load()}", flush=True)
            if args.postgres and size is None:
                if "pg" not in _BUILT:
                    _BUILT["pg"] = pg = (
                        load_postgres(args.postgres, target, args.pg_connections)
                        if not args.reuse_postgres
                        else None
                    )
                    if pg:
                        print(
                            f"[full] PostgreSQL build: {pg['docs']:,} documents in {pg['seconds']:.1f} s, "
                            f"CPU (client + server) {pg['cpu']:.1f} s = "
                            f"{pg['docs'] / pg['cpu']:,.0f} docs/CPU s; wall "
                            f"{pg['docs'] / pg['seconds']:,.0f} docs/s "
                            f"(COPY with tsvector {pg['copy_seconds']:.1f} s, then the postings; "
                            f"{pg['connections']} connections); server CPU {pg['server_cpu']:.1f} s; "
                            f"documents table {pg['table_bytes'] / 1e6:,.1f} MB; {_load()}",
                            flush=True,
                        )
                        print(
                            f"[full] PostgreSQL steps: COPY {pg['copy_seconds']:.1f} s "
                            f"(parts {', '.join(f'{x:.1f}' for x in pg['copy_parts'])}; server CPU "
                            f"{pg['copy_cpu']:.1f} s); postings: {pg['postings']:,} in "
                            f"{pg['blocks']:,} blocks, {pg['postings_seconds']:.1f} s: filled "
                            f"{pg['filled_seconds']:.1f} s "
                            f"(parts {', '.join(f'{x:.1f}' for x in pg['fill_parts'])}; "
                            f"server CPU {pg['filled_cpu']:.1f} s), indexed {pg['indexed_seconds']:.1f} s "
                            f"(server CPU {pg['indexed_cpu']:.1f} s), then VACUUM ANALYZE; table and index "
                            f"{pg['postings_bytes'] / 1e6:,.1f} MB",
                            flush=True,
                        )
                pg = _BUILT["pg"]
                q = run(phase_queries, args.postgres, "database", instance, str(source), limit)
                rows.append(
                    _row(
                        f"postgresql-postings ({pg['docs']:,})" if pg else "postgresql-postings",
                        f"{pg['docs'] / pg['seconds']:,.0f}" if pg else "(reused)",
                        pg["postings_bytes"] if pg else None,
                        "",
                        q,
                        len(texts),
                    )
                )
                print(f"  slowest: {q['slowest']}; {_load()}", flush=True)
            _table(rows)


_BUILT: dict = {}


def queries_only(args, work: Path, source: Path, instance: str, total: int) -> None:
    """``--queries-only``: the queries alone, on the full databases an earlier run of
    ``--documents-only`` loaded and built (SQLite in ``--dir``, and ``--postgres``), each limit
    on both engines one after the other."""
    db = work / f"search-docs-{args.orders}.sqlite3"
    engines = [("sqlite-fts5", f"sqlite:///{db}")] + (
        [("postgresql-postings", args.postgres)] if args.postgres else []
    )
    for limit in args.limits:
        print(f"--- queries at limit {limit} (databases built earlier) ---", flush=True)
        rows = [HEADER]
        for name, url in engines:
            q = run(phase_queries, url, "database", instance, str(source), limit)
            rows.append(_row(name, "", None, "", q, total))
            print(f"  {name} slowest: {q['slowest']}; {_load()}", flush=True)
        _table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temporary)")
    parser.add_argument("--postgres", default=None, help="also bench PostgreSQL (an empty database)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the databases an earlier run published (same --dir, --orders, --seed; "
        "with --postgres, the same database) and bench the engines only",
    )
    parser.add_argument(
        "--documents-only",
        action="store_true",
        help="measure on documents made from the generated orders, without publishing them",
    )
    parser.add_argument(
        "--whoosh-subset",
        type=int,
        default=100_000,
        help="with --documents-only: Whoosh (and FTS5 beside it) on the first this many documents (0: none)",
    )
    parser.add_argument(
        "--limits", type=int, nargs="+", default=[20, 1000], help="with --documents-only: query limits"
    )
    parser.add_argument(
        "--reuse-postgres",
        action="store_true",
        help="with --documents-only: keep the documents an earlier run loaded into --postgres",
    )
    parser.add_argument(
        "--pg-connections",
        type=int,
        default=2,
        help="with --documents-only and --postgres: connections building PostgreSQL's index at once",
    )
    parser.add_argument(
        "--queries-only",
        action="store_true",
        help="with --documents-only: only the queries, on the databases an earlier run built in --dir "
        "(and --postgres)",
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="the generated orders (default: generated in --dir)"
    )
    args = parser.parse_args()
    work = scratch_dir(args.dir, "veraz-bench-search-")
    from ocds.catalogue.generate import write_orders

    source = args.source or work / f"orders-{args.orders}-{args.seed}.jsonl"
    if not source.exists():
        write_orders(source, args.orders, args.seed)
    if args.documents_only:
        print(
            f"search bench (documents only): {args.orders:,} orders, {QUERY_COUNT} queries x {REPEATS}, "
            f"{os.cpu_count()} cores, {_load()}",
            flush=True,
        )
        documents_only(args, work, source)
        return
    db = work / "search.sqlite3"
    if not args.reuse:
        db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    texts = queries(source)
    print(
        f"search bench: {args.orders:,} orders, {len(texts)} queries x {REPEATS}, "
        f"{os.cpu_count()} cores, {_load()}"
    )

    published = publish(url, source) if not (args.reuse and db.exists()) else None
    if published:
        print(
            f"publish (SQLite, with the search documents and FTS5 index): {published['orders']:,} "
            f"orders in {published['seconds']:.1f} s ({published['orders'] / published['seconds']:,.0f}"
            f"/s); {_load()}"
        )

    docs = run(phase_documents, url)
    print(
        f"documents (read compiled releases, analyse): {docs['docs']:,} in {docs['seconds']:.1f} s "
        f"= {docs['docs'] / docs['seconds']:,.0f} docs/s, peak RSS {docs['rss']:,.0f} MB "
        f"({docs['base']:,.0f} after imports); {_load()}"
    )
    rebuilt = run(phase_rebuild, url)
    print(
        f"rebuild (documents + FTS5, end to end): {rebuilt['docs']:,} in {rebuilt['seconds']:.1f} s = "
        f"{rebuilt['docs'] / rebuilt['seconds']:,.0f} docs/s, peak RSS {rebuilt['rss']:,.0f} MB "
        f"({rebuilt['base']:,.0f} after imports); "
        f"{_load()}"
    )

    fts = run(phase_fts5_build, url)
    whoosh_dir = work / "instance" / "search-whoosh"
    whoosh = run(phase_whoosh_build, url, str(whoosh_dir))
    rows = [
        ("engine", "build docs/s", "index MB", "build +RSS MB", "median ms", "p95 ms", "max ms", "no hit")
    ]
    for name, build, size in (("sqlite-fts5", fts, fts["fts_bytes"]), ("whoosh", whoosh, whoosh["bytes"])):
        search_engine = "database" if name == "sqlite-fts5" else "whoosh"
        q = run(phase_queries, url, search_engine, str(work / "instance"), str(source))
        rows.append(
            (
                name,
                f"{build['docs'] / build['seconds']:,.0f}",
                f"{size / 1e6:,.1f}",
                f"{build['rss'] - build['base']:,.0f}",
                f"{q['median_ms']:.2f}",
                f"{q['p95_ms']:.2f}",
                f"{q['max_ms']:.1f}",
                f"{q['empty']}/{len(texts)}",
            )
        )
        print(
            f"{name}: build peak RSS {build['rss']:,.0f} MB ({build['base']:,.0f} after imports), "
            f"queries peak RSS {q['rss']:,.0f} MB ({q['base']:,.0f} after imports); {_load()}"
        )
    print(f"documents table (shared by both engines as their source): {fts['documents_bytes'] / 1e6:,.1f} MB")

    if args.postgres:
        if not args.reuse:
            pg = publish(args.postgres, source)
            print(f"publish (PostgreSQL): {pg['orders']:,} orders in {pg['seconds']:.1f} s; {_load()}")
        pg_rebuilt = run(phase_rebuild, args.postgres)
        q = run(phase_queries, args.postgres, "database", str(work / "instance"), str(source))
        rows.append(
            (
                "postgresql-tsvector",
                f"{pg_rebuilt['docs'] / pg_rebuilt['seconds']:,.0f} (e2e)",
                "",
                f"{pg_rebuilt['rss'] - pg_rebuilt['base']:,.0f}",
                f"{q['median_ms']:.2f}",
                f"{q['p95_ms']:.2f}",
                f"{q['max_ms']:.1f}",
                f"{q['empty']}/{len(texts)}",
            )
        )

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
