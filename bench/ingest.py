"""Benchmark: the whole publishing pipeline against the pipeline a user would otherwise script.

    python bench/ingest.py --orders 100000            # both paths: without, then with order PDFs
    python bench/ingest.py --orders 100000 --pdf      # only with order PDFs
    python bench/ingest.py --orders 100000 --no-pdf   # only without
    python bench/ingest.py --worker-step 2000         # only the worker step, in this process

1. Generates N synthetic orders (not timed), then runs ``portal.publishing.import_orders`` into a
   fresh SQLite database: parse, check, map, validate, canonicalise + hash, store, compile
   records, and log every release and quote in the evidence log; on the PDF path also render,
   list and store every order's PDF (what the pipeline does when BASE_URL is set). Each path
   gets its own fresh database. Large inputs are bulk-loaded, as ``veraz import-orders`` does,
   and the index rebuild is timed too. Prints orders/s, releases/s, CPU seconds of the writer
   and of the workers, and peak RSS (largest process: the writer or a worker).
2. In the same run, on releases from the first path's database, the baseline: jsonschema Draft 4
   validation of each release (registry, format checker) plus ocdsmerge compilation of each
   ocid's releases (ocdskit's merge path), and the ratio. The baseline runs on a random sample
   (``--baseline-sample``, default 5,000 releases), because at a few hundred releases/s it would
   otherwise take longer than the pipeline itself; its rate is per release and does not depend
   on the sample size.

The workers run at nice 10: on a machine busy with other work the figures drop, so the load
average is printed with each path. CPU seconds drift too on a shared machine (a process gets
less done per CPU second when others compete for the caches): ``--worker-step N`` times only
the worker step (``OrderPreparer``) on N generated orders in this process, with and without
order PDFs, best of three, which is steadier for comparing two versions of the code.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)
from sqlalchemy import func, select  # noqa: E402

from ocds.catalogue.generate import write_orders  # noqa: E402
from portal.db import make_engine, upgrade  # noqa: E402
from portal.models import order_pdfs, releases  # noqa: E402
from portal.publishing import import_orders  # noqa: E402


class AnonymousPeak:
    """The largest anonymous resident memory (``RssAnon``, Linux) of this process, sampled every
    ``interval`` seconds while running: its peak RSS also counts the database file's pages that
    SQLite maps while the indexes are rebuilt (``portal.db.INDEX_BUILD_MMAP_BYTES``), the
    operating system's cache of the file rather than memory the writer holds."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak_kb = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        except OSError:  # not Linux: no figure
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> AnonymousPeak:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def peak_rss_mb() -> tuple[float, float]:
    """(this process, largest waited-for child) peak RSS in MB (Linux reports KB)."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, children


def baseline(engine, sample: int, seed: int) -> dict:
    import jsonschema
    import ocdsmerge
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    from ocds import schema as ocds_schema

    schema = ocds_schema.release_schema()
    registry = Registry().with_resource(
        schema["id"], Resource.from_contents(schema, default_specification=DRAFT4)
    )
    validator = jsonschema.Draft4Validator(
        schema, registry=registry, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    merger = ocdsmerge.Merger(schema=ocds_schema.release_schema())
    with engine.connect() as conn:
        ids = conn.execute(select(releases.c.id)).scalars().all()
        rng = random.Random(seed)
        chosen = sorted(rng.sample(ids, min(sample, len(ids))))
        docs = []
        for i in range(0, len(chosen), 500):
            rows = conn.execute(select(releases.c.data).where(releases.c.id.in_(chosen[i : i + 500])))
            docs.extend(orjson.loads(r.data) for r in rows)
    started = time.perf_counter()
    invalid = sum(1 for d in docs if not validator.is_valid(d))
    validate_s = time.perf_counter() - started
    by_ocid: dict[str, list] = {}
    for d in docs:
        by_ocid.setdefault(d["ocid"], []).append(d)
    started = time.perf_counter()
    for group in by_ocid.values():
        merger.create_compiled_release(group)
    compile_s = time.perf_counter() - started
    n = len(docs)
    return {
        "releases": n,
        "invalid": invalid,
        "validate_per_s": n / validate_s,
        "compile_per_s": n / compile_s,
        "together_per_s": n / (validate_s + compile_s),
    }


def run_path(work: Path, source: Path, *, pdf: bool, args: argparse.Namespace) -> dict:
    """Publish ``source`` into a fresh database, with or without order PDFs; print the figures."""
    label = "with order PDFs" if pdf else "without order PDFs"
    db = work / ("bench-pdf.sqlite3" if pdf else "bench.sqlite3")
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)  # the portal's own engine (WAL, synchronous=NORMAL), as the CLI uses

    load_before = os.getloadavg()[0]
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    kids_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with AnonymousPeak() as anonymous:
        summary = import_orders(
            engine,
            source,
            ocid_prefix="ocds-bench1",
            batch_size=args.batch_size,
            workers=args.workers,
            base_url="http://127.0.0.1:8000" if pdf else None,
        )
    elapsed = time.perf_counter() - started
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    me, child = peak_rss_mb()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(releases)).scalar_one()
        pdfs = conn.execute(
            select(func.count(), func.coalesce(func.sum(func.length(order_pdfs.c.data)), 0)).select_from(
                order_pdfs
            )
        ).one()
    orders_s = summary.read / elapsed
    releases_s = summary.published_releases / elapsed
    writer_cpu = (own.ru_utime + own.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    worker_cpu = (kids.ru_utime + kids.ru_stime) - (kids_before.ru_utime + kids_before.ru_stime)
    print(
        f"pipeline {label}: {summary.read:,} orders, {summary.published_releases:,} releases "
        f"({stored:,} stored), {summary.rejected:,} rejected, in {elapsed:.1f} s"
    )
    print(
        f"pipeline {label}: {orders_s:,.0f} orders/s, {releases_s:,.0f} releases/s "
        f"(workers: {args.workers or os.cpu_count()}; evidence log entries on; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )
    print(
        f"pipeline {label}: CPU seconds: writer (reads, stores, compiles records) "
        f"{writer_cpu:,.1f}, workers {worker_cpu:,.1f}, wall {elapsed:,.1f}; per order: "
        f"writer {writer_cpu / max(summary.read, 1) * 1e3:.2f} ms, workers "
        f"{worker_cpu / max(summary.read, 1) * 1e3:.2f} ms"
    )
    print(
        f"pipeline {label}: peak RSS so far: writer {me:,.0f} MB, largest worker {child:,.0f} MB; "
        f"the writer's anonymous memory at most {anonymous.peak_kb / 1024:,.0f} MB (its RSS also "
        "counts the database file's pages mapped while the indexes are rebuilt)"
    )
    print(
        f"pipeline {label}: database {db.stat().st_size / 1e6:,.0f} MB"
        + (f"; {pdfs[0]:,} order PDFs, {pdfs[1] / max(pdfs[0], 1) / 1e3:.1f} KB each" if pdf else "")
    )
    if 1_000_000 > summary.read:
        print(f"pipeline {label}: 1,000,000 orders at this rate: {1_000_000 / orders_s / 60:.1f} min")
    return {"engine": engine, "db": db, "orders_s": orders_s, "releases_s": releases_s}


def worker_step(orders: int, seed: int) -> None:
    """Print the worker step's CPU per order, without and with order PDFs (best of three)."""
    from ocds.catalogue.generate import generate_orders
    from portal.publishing.orders import YOUNG_COLLECTION_THRESHOLD, OrderPreparer

    # As in an import's workers: the collector's youngest threshold raised, and the read-model
    # rows packed for the writer's driver.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    lines = [(n, orjson.dumps(o)) for n, o in enumerate(generate_orders(orders, seed), start=1)]
    for base_url in (None, "http://127.0.0.1:8000"):
        preparer = OrderPreparer("ocds-bench1", base_url, dialect="sqlite+pysqlite")
        preparer.prepare(lines[:100])  # agreement states, QR plans, width tables
        best = []
        for _ in range(3):
            started = time.process_time()
            for i in range(0, len(lines), 500):
                preparer.prepare(lines[i : i + 500])
            best.append((time.process_time() - started) / len(lines) * 1e3)
        print(
            f"worker step {'with' if base_url else 'without'} order PDFs: {min(best):.3f} ms CPU per "
            f"order (best of 3 over {len(lines):,} orders; load average {os.getloadavg()[0]:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="0: one per core")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temporary)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--pdf",
        action="store_true",
        help="only the path with order PDFs (rendered and stored, as when BASE_URL is "
        "set). Default: both paths, without then with order PDFs",
    )
    only.add_argument("--no-pdf", action="store_true", help="only the path without order PDFs")
    parser.add_argument(
        "--worker-step",
        type=int,
        default=0,
        metavar="N",
        help="only time the worker step on N generated orders, in this process",
    )
    args = parser.parse_args()
    if args.worker_step:
        worker_step(args.worker_step, args.seed)
        return

    work = scratch_dir(args.dir, "veraz-bench-")
    source = work / f"orders-{args.orders}-{args.seed}.jsonl"
    if not source.exists():
        t = time.perf_counter()
        write_orders(source, args.orders, args.seed)
        print(
            f"generated {args.orders:,} orders ({source.stat().st_size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - t:.1f} s (not part of the figures)"
        )
    paths = [True] if args.pdf else [False] if args.no_pdf else [False, True]
    first = None
    for pdf in paths:
        figures = run_path(work, source, pdf=pdf, args=args)
        if first is None:
            first = figures
        else:  # only the first path's database is read again; free the disk now
            figures["engine"].dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(str(figures["db"]) + suffix).unlink(missing_ok=True)

    if args.baseline_sample <= 0:
        print("baseline: not measured (--baseline-sample 0)")
        return
    base = baseline(first["engine"], args.baseline_sample, args.seed)
    print(
        f"baseline (jsonschema Draft 4 + ocdsmerge, {base['releases']:,} sampled releases, "
        f"{base['invalid']} invalid): validate {base['validate_per_s']:,.0f} releases/s, "
        f"compile {base['compile_per_s']:,.0f} releases/s, together "
        f"{base['together_per_s']:,.0f} releases/s"
    )
    print(
        f"ratio: pipeline releases/s (first path) / baseline releases/s = "
        f"{first['releases_s'] / base['together_per_s']:.1f}x (target >= 5x; the pipeline also "
        f"parses, maps, hashes and stores)"
    )


if __name__ == "__main__":
    main()
