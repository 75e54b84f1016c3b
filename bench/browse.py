"""Benchmark: the read model and the browse page (/contracts, facets, pages, profiles, downloads).

    python bench/browse.py --orders 100000                      # SQLite, in a temporary folder
    python bench/browse.py --orders 1000000 --dir /big/folder   # keep the database
    python bench/browse.py --orders 100000 --database-url postgresql+psycopg://user@/db?host=...

1. Generates N synthetic orders (``ocds.catalogue.generate``, not timed) and publishes them with
   ``portal.publishing.import_orders`` (what ``veraz import-orders`` runs; bulk-loaded from
   50,000 orders; without order PDFs, which the browse page never reads), not timed either.
2. Runs ``veraz reindex`` in a child process: the read model's build time and its peak RSS.
3. In this process, the portal (Flask test client, no HTTP): ``/contracts`` with every facet's
   counts, unfiltered and with 1, 2 and 3 filters, and with ``q`` (full-text search, a RUC;
   combined with facets; every match counted) (p50/p95 of ``--repeat`` requests each, cold:
   the facet cache emptied before each request, and warm: counts kept, as when paging), the
   last page (keyset cursor) against the first, a buyer's profile, and the whole-result CSV
   download (rows/s, and this process's peak RSS before and after: flat memory means no growth).

``--direct`` writes the read model straight from the orders' releases instead of publishing
them (no reindex then). ``--replicate K`` (for 1,000,000 on a machine where publishing a
million orders takes hours): publishes (or writes) N/K orders, runs the timed reindex over
them, then copies their read-model rows
(``records``, ``item_lines``, ``parties``) K-1 times under new ocids, each copy's dates moved
back by 0-3 years, so the read side is measured over N processes with the catalogue's own
mix of agencies, suppliers and industries. The copies have no releases: a later reindex leaves
them alone, and full-text search does not find them.

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
from sqlalchemy import Integer, String, cast, func, insert, literal, select  # noqa: E402

from ocds.catalogue.generate import write_orders  # noqa: E402
from portal.db import make_engine, upgrade  # noqa: E402
from portal.models import item_lines, parties, records  # noqa: E402
from portal.publishing import import_orders  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident memory now (Linux), unlike ``rss_mb``, which is the peak so far."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(client, url: str, repeat: int, cold: bool) -> tuple[float, float, float]:
    """p50 and p95 in ms of ``repeat`` GETs of ``url`` (after one warm-up), and the median CPU
    time (user + system of this process) in ms, which a loaded machine inflates far less;
    ``cold``: with the facet cache emptied before each, so every request counts every facet
    again (from the facet tally, which stays loaded: its load is timed apart)."""
    from portal.readmodel.cache import FacetCache
    from portal.views.browse import FACET_CACHE

    assert client.get(url).status_code == 200, url
    times, cpus = [], []
    for _ in range(repeat):
        if cold:
            client.application.extensions[FACET_CACHE] = FacetCache()
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, int(len(times) * 0.95))],
        statistics.median(cpus),
    )


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


def direct(url: str, n: int, seed: int) -> None:
    """The read model of ``n`` generated orders written straight from their releases, without
    publishing them (no releases, evidence log, PDFs or search documents stored): for a machine
    where publishing is too slow to measure the read side. Each order state's release (the
    mapping publishing uses) replaces the previous one of its ocid, and each agreement's release
    its own; a record's columns then come from its latest release rather than the compiled one."""
    from datetime import UTC, datetime

    from ocds.catalogue.generate import generate_orders
    from ocds.catalogue.mapping import map_order
    from ocds.summary import browse_columns, read_model_rows
    from portal.db import bulk_insert

    engine = make_engine(url)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(records)).scalar_one():
            print("database already holds records: not writing the read model", flush=True)
            return
    started = time.perf_counter()
    latest: dict[str, dict] = {}
    for order in generate_orders(n, seed):
        mapped = map_order(order, ocid_prefix="ocds-bench1")
        latest[mapped.order_ocid] = mapped.order_release
        latest.setdefault(mapped.agreement_ocid, mapped.agreement_release)
    now = datetime.now(UTC)
    rows, lines, people = [], [], []
    for i, (ocid, release) in enumerate(latest.items(), start=1):
        rows.append(
            {"ocid": ocid, "compiled": None, "release_count": 1, "last_release": i, "updated_at": now}
            | browse_columns(release)
        )
        derived = read_model_rows(release)
        lines += derived["item_lines"]
        people += derived["parties"]
    with engine.begin() as conn:
        bulk_insert(conn, records, rows)
        bulk_insert(conn, item_lines, lines)
        bulk_insert(conn, parties, people)
    print(
        f"  read model of {n:,} order states ({len(rows):,} processes) written in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    engine.dispose()


def _shifted(column, years: int):
    """An ISO date or month text moved back ``years`` years (NULL stays NULL)."""
    if not years:
        return column
    year = cast(cast(func.substr(column, 1, 4), Integer) - years, String)
    return year.concat(func.substr(column, 5))


def replicate(url: str, copies: int) -> None:
    """Copy the published processes' read-model rows ``copies`` times under new ocids."""
    engine = make_engine(url)
    with engine.connect() as conn:
        base = conn.execute(
            select(func.count()).select_from(records).where(~records.c.ocid.like("%-copy%"))
        ).scalar_one()
        have = conn.execute(select(func.count()).select_from(records)).scalar_one()
    done = have // base - 1 if base else 0  # copies already made (each in its own transaction)
    if done >= copies:
        print(f"database already holds {have:,} records ({done} copies of {base:,}): not copying")
        from portal.readmodel.build import analyze

        analyze(engine)  # a run stopped after its last copy has not refreshed the statistics
        return
    started = time.perf_counter()
    original = ~records.c.ocid.like("%-copy%")
    for i in range(done + 1, copies + 1):
        suffix = f"-copy{i}"
        with engine.begin() as conn:
            columns = [c for c in records.c]
            values = []
            for c in columns:
                if c.name == "ocid":
                    values.append(c.concat(literal(suffix)))
                elif c.name in ("date", "month"):
                    values.append(_shifted(c, i % 4))
                elif c.name == "order_number":
                    values.append(c.concat(literal(suffix)))
                else:
                    values.append(c)
            conn.execute(
                insert(records).from_select([c.name for c in columns], select(*values).where(original))
            )
            for table in (item_lines, parties):
                cols = list(table.c)
                conn.execute(
                    insert(table).from_select(
                        [c.name for c in cols],
                        select(*[c.concat(literal(suffix)) if c.name == "ocid" else c for c in cols]).where(
                            ~table.c.ocid.like("%-copy%")
                        ),
                    )
                )
        print(f"  copy {i}/{copies} ({time.perf_counter() - started:.0f} s)", flush=True)
    from portal.readmodel.build import analyze

    analyze(engine)
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
    parser.add_argument(
        "--direct", action="store_true", help="write the read model from the releases, not publishing"
    )
    parser.add_argument("--skip-reindex", action="store_true", help="reusing a database: do not time reindex")
    parser.add_argument(
        "--replicate", type=int, default=1, help="publish orders/K, copy their read model K-1 times"
    )
    args = parser.parse_args()

    work = scratch_dir(args.dir, "veraz-bench-browse-")
    url = args.database_url or f"sqlite:///{work / 'browse.sqlite3'}"
    upgrade(url)
    if args.direct:
        direct(url, args.orders // args.replicate, args.seed)
    else:
        build(url, work, args.orders // args.replicate, args.seed)
        if not args.skip_reindex:
            reindex(url, work)
    if args.replicate > 1:
        replicate(url, args.replicate - 1)

    from portal.app import create_app
    from portal.readmodel import queries
    from portal.readmodel.facets import Browse, encode_cursor

    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(work / "instance")})
    client = app.test_client()
    engine = make_engine(url)
    from portal.readmodel.tally import TallyHolder
    from portal.views.browse import FACET_TALLY

    rss_before, cpu = rss_mb(), time.process_time()
    started = time.perf_counter()
    holder = TallyHolder()
    holder.warm(engine)
    with engine.connect() as conn:
        tally = holder.get(conn)
    assert tally is not None
    print(
        f"facet tally: {tally.size:,} processes loaded in {time.perf_counter() - started:.1f} s "
        f"({time.process_time() - cpu:.1f} s CPU); peak RSS {rss_before:.0f} -> {rss_mb():.0f} MB; arrays "
        f"{tally.nbytes() / 2**20:.0f} MB",
        flush=True,
    )
    app.extensions[FACET_TALLY] = holder
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
        month = conn.execute(select(func.max(records.c.month))).scalar_one()
        year = month[:4]
        supplier = conn.execute(
            select(parties.c.party_id)
            .where(parties.c.role == "supplier")
            .group_by(parties.c.party_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        agreement = conn.execute(
            select(records.c.agreement_ocid)
            .where(records.c.agreement_ocid.isnot(None))
            .group_by(records.c.agreement_ocid)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        ruc = conn.execute(
            select(parties.c.identifier).where(
                parties.c.party_id == supplier, parties.c.identifier.isnot(None)
            )
        ).scalar()
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
        (
            "listing, 3 filters (+ amount range)",
            f"/contracts?segment={segment}&year={year}&amount=1000-10000",
        ),
        ("listing, date range (one month)", f"/contracts?date_from={month}-01&date_to={month}-28"),
        (
            "listing, date range + industry",
            f"/contracts?date_from={year}-01-01&date_to={year}-06-30&segment={segment}",
        ),
        ("listing, sorted by amount", "/contracts?sort=-amount"),
        # q: every process the text finds (counted exactly, however many), not a ranked share
        ("search, word in all (q=orden)", "/contracts?q=orden"),
        ("search, 1/6 of all (q=educacion)", "/contracts?q=educacion"),
        ("search, common word (q=impresora)", "/contracts?q=impresora"),
        ("search, 2 words (q=papel bond)", "/contracts?q=papel+bond"),
        ("search, rare word (q=huancane)", "/contracts?q=huancane"),
        ("search + industry + year", f"/contracts?q=impresora&segment={segment}&year={year}"),
        ("search, RUC", f"/contracts?q={ruc}"),
        ("first page (JSON)", "/contracts.json"),
        ("last page (JSON, keyset cursor)", f"/contracts.json?cursor={cursor}"),
        ("buyer profile (largest)", f"/buyers/{buyer}"),
        ("supplier profile (largest)", f"/suppliers/{supplier}"),
        ("agreement profile (largest)", f"/agreements/{agreement}"),
    ]
    print(f"{'':36s} {'cold (counted again), wall ms and CPU':>40s} {'warm (counts kept)':>40s}")
    for label, path in cases:
        cold = timed(client, path, args.repeat, cold=True)
        warm = timed(client, path, args.repeat, cold=False)
        print(
            f"{label:36s} p50 {cold[0]:7.1f} p95 {cold[1]:7.1f} cpu {cold[2]:6.1f}   "
            f"p50 {warm[0]:7.1f} p95 {warm[1]:7.1f} cpu {warm[2]:6.1f}",
            flush=True,
        )

    # A result of about 100,000 processes: the year or industry whose count is nearest.
    from portal.readmodel.tally import counts as tally_counts

    _, by = tally_counts(tally, Browse(), None, {"year": 100, "segment": 100})
    facet, value, size = min(
        ((f, v["value"], v["count"]) for f, values in by.items() for v in values),
        key=lambda c: abs(c[2] - 100_000),
    )
    print(f"downloads of {facet}={value}: {size:,} processes", flush=True)
    downloads = (
        ("CSV", f"/contracts.csv?{facet}={value}", 1),
        ("JSON Lines", f"/contracts.jsonl?{facet}={value}", 0),
    )
    for label, path, header in downloads:
        started, cpu = time.perf_counter(), time.process_time()
        rows = -header
        response = client.get(path, buffered=False)
        now = highest = current_rss_mb()
        for i, chunk in enumerate(response.response):
            rows += chunk.count("\n") if isinstance(chunk, str) else chunk.count(b"\n")
            if i % 5 == 0:
                highest = max(highest, current_rss_mb())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{label} download: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
            f"({rows / cpu:,.0f} rows per CPU second); "
            f"RSS {now:.0f} MB before, at most {highest:.0f} MB during",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
