"""Benchmark: the read model and the browse page (/contracts, facets, pages, profiles, downloads).

    python bench/browse.py --orders 100000                      # SQLite, in a temporary folder
    python bench/browse.py --orders 1000000 --dir /big/folder   # keep the database
    python bench/browse.py --orders 100000 --database-url postgresql+psycopg://user@/db?host=...

1. Generates N synthetic orders (``ocds.catalogue.generate``, not timed) and publishes them with
   ``portal.publishing.import_orders`` (what ``veraz import-orders`` runs; bulk-loaded from
   50,000 orders; without order PDFs, which the browse page never reads), not timed either.
2. Runs ``veraz reindex`` in a child process: the read model's build time and its peak RSS.
3. In this process, the portal (Flask test client, no HTTP): ``/contracts`` with every facet's
   counts, unfiltered and with 1, 2 and 3 filters (p50/p95 of ``--repeat`` requests each, cold:
   the facet cache emptied before each request, and warm: counts kept, as when paging), the
   last page (keyset cursor) against the first, a buyer's profile, and the whole-result CSV
   download (rows/s, and this process's peak RSS before and after: flat memory means no growth).

Targets at 1,000,000 orders: listing with facets p95 < 150 ms, profile p95 < 100 ms,
CSV >= 50,000 rows/s with flat memory. The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)
from sqlalchemy import func, select  # noqa: E402

from ocds.catalogue.generate import write_orders  # noqa: E402
from portal.db import make_engine, upgrade  # noqa: E402
from portal.models import item_lines, records  # noqa: E402
from portal.publishing import import_orders  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(client, url: str, repeat: int, cold: bool) -> tuple[float, float]:
    """p50 and p95 in ms of ``repeat`` GETs of ``url`` (after one warm-up); ``cold``: with the
    facet cache emptied before each, so every request counts every facet again."""
    from portal.readmodel.cache import FacetCache
    from portal.views.browse import FACET_CACHE

    assert client.get(url).status_code == 200, url
    times = []
    for _ in range(repeat):
        if cold:
            client.application.extensions[FACET_CACHE] = FacetCache()
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def build(url: str, work: Path, n: int, seed: int) -> None:
    source = work / f"orders-{n}-{seed}.jsonl"
    if not source.exists():
        print(f"generating {n:,} orders ...", flush=True)
        write_orders(source, n, seed)
    engine = make_engine(url)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(records)).scalar_one()
    if have:
        print(f"database already holds {have:,} records: not importing", flush=True)
        return
    print(f"publishing {n:,} orders (not timed) ...", flush=True)
    started = time.perf_counter()
    summary = import_orders(engine, source, ocid_prefix="ocds-bench1", workers=0)
    print(f"  published {summary.new_orders:,} orders in {time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()


def reindex(url: str, work: Path) -> None:
    env = dict(os.environ, DATABASE_URL=url, PORTAL_INSTANCE_PATH=str(work / "instance"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from portal.cli import main; main()", "reindex"],
        env=env,
        check=True,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"veraz reindex: {seconds:.1f} s, peak RSS {max(peak, before) / 1024:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20, help="requests per measured query")
    parser.add_argument("--dir", type=Path, default=None, help="keep the scratch folder here")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite in --dir)")
    args = parser.parse_args()

    work = scratch_dir(args.dir, "veraz-bench-browse-")
    url = args.database_url or f"sqlite:///{work / 'browse.sqlite3'}"
    upgrade(url)
    build(url, work, args.orders, args.seed)
    reindex(url, work)

    from portal.app import create_app
    from portal.readmodel import queries
    from portal.readmodel.facets import Browse, encode_cursor

    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(work / "instance")})
    client = app.test_client()
    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(records)).scalar_one()
        segment = conn.execute(
            select(item_lines.c.segment).group_by(item_lines.c.segment).order_by(func.count().desc()).limit(1)
        ).scalar_one()
        buyer = conn.execute(
            select(records.c.buyer_id)
            .where(records.c.kind == "order")
            .group_by(records.c.buyer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        year = conn.execute(select(func.max(records.c.month))).scalar_one()[:4]
        browse = Browse()
        last = conn.execute(
            select(records.c.date, records.c.ocid)
            .order_by(records.c.date.desc(), records.c.ocid.desc())
            .offset(max(total - 51, 0))
            .limit(1)
        ).one()
        key = queries.sort_key(browse, {"date": last.date, "amount": None})
        cursor = encode_cursor(browse, key, last.ocid)
    print(f"{total:,} records; load average {os.getloadavg()[0]:.1f} (2 cores, shared machine)", flush=True)

    cases = [
        ("listing, no filter", "/contracts"),
        ("listing, 1 filter (industry)", f"/contracts?segment={segment}"),
        ("listing, 2 filters (+ year)", f"/contracts?segment={segment}&year={year}"),
        ("listing, 3 filters (+ agency)", f"/contracts?segment={segment}&year={year}&buyer={buyer}"),
        ("listing, sorted by amount", "/contracts?sort=-amount"),
        ("first page (JSON)", "/contracts.json"),
        ("last page (JSON, keyset cursor)", f"/contracts.json?cursor={cursor}"),
        ("buyer profile", f"/buyers/{buyer}"),
    ]
    print(f"{'':36s} {'cold (counted again)':>26s} {'warm (counts kept)':>26s}")
    for label, path in cases:
        cold = timed(client, path, args.repeat, cold=True)
        warm = timed(client, path, args.repeat, cold=False)
        print(
            f"{label:36s} p50 {cold[0]:7.1f} p95 {cold[1]:7.1f} ms   "
            f"p50 {warm[0]:7.1f} p95 {warm[1]:7.1f} ms",
            flush=True,
        )

    for label, path, header in (("CSV", "/contracts.csv", 1), ("JSON Lines", "/contracts.jsonl", 0)):
        rss_before = rss_mb()
        started = time.perf_counter()
        rows = -header
        response = client.get(path, buffered=False)
        for chunk in response.response:
            rows += chunk.count("\n") if isinstance(chunk, str) else chunk.count(b"\n")
        seconds = time.perf_counter() - started
        print(
            f"{label} download: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s; "
            f"peak RSS {rss_before:.0f} MB before, {rss_mb():.0f} MB after",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
