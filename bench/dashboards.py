"""Benchmark: the dashboards' charts and pages (/dashboards/) over the read model.

    python bench/dashboards.py --orders 100000                        # SQLite, temporary folder
    python bench/dashboards.py --orders 1000000 --replicate 20 --dir /big/folder
    python bench/dashboards.py --orders 100000 --database-url postgresql+psycopg://user@/db?host=...

1. Writes the read model of N synthetic orders (``bench/browse.py``'s ``--direct`` path: the
   browse columns, item lines and parties from each order's releases, not timed); with
   ``--replicate K``, N/K orders copied K-1 times under new ocids, dates moved back 0-3 years.
2. Every chart's query (``portal.dashboards.queries.breakdown``, no cache) under four filter
   sets: none, a year, a year and an agency, an industry: p50 and p95 wall time of
   ``--repeat`` runs, and the median CPU time of this process (a loaded machine inflates wall
   time far more than CPU time).
3. Each page's first render, server side: the whole layout with all its figures, filter
   options and totals (``portal.dashboards.layout.page``), serialised to JSON as Dash sends it,
   with the charts' cache emptied before each run (what a permalink's first visit costs).
4. The summary tables (``portal.dashboards.rollup``): a full refresh (timed: wall and CPU),
   then every chart read from them (``portal.dashboards.queries.summarised``) under the filter
   sets they serve, and each page's first render (which reads them when they are current);
   then 1,000 new orders (copies of existing ones under new ocids, written as publishing
   writes records rows) and 100 cancelled ones, and the partial refresh after them (its cost
   per order is what keeping the summaries adds to publishing); ``veraz audit``'s
   recomputation of the summaries (``rollup.check``). ``--no-summary`` skips this step.
5. This process's peak RSS, and the load average (the machine is shared).
6. The facet tally (``portal.readmodel.tally``, loaded as the app loads it): its arrays' memory,
   then every chart's query under the filter sets the summary tables do not serve (region,
   supplier, agreement, year + agency: the largest of each) as the app runs it, counted from the
   tally (``portal.dashboards.tallied``, names looked up) beside the same query over records,
   and whether both give the same groups (``--no-tally`` skips it; ``--no-pages`` skips step 3,
   ``--unserved-only`` times only these filter sets over records).

Targets at 1,000,000 orders: every chart's query p95 <= 30 ms, each page's first render < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from browse import direct, replicate  # noqa: E402  (bench/, the script's own folder)
from scratch import scratch_dir  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from portal.db import make_engine, upgrade  # noqa: E402
from portal.models import item_lines, records  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(run, repeat: int) -> tuple[float, float, float]:
    """p50 and p95 wall ms of ``repeat`` runs of ``run()`` (after one warm-up), median CPU ms."""
    run()
    times, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, int(len(times) * 0.95))],
        statistics.median(cpus),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20, help="runs per measured query or page")
    parser.add_argument("--dir", type=Path, default=None, help="keep the scratch folder here")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite in --dir)")
    parser.add_argument("--replicate", type=int, default=1, help="write orders/K, copy them K-1 times")
    parser.add_argument("--plans", action="store_true", help="print each chart query's plan")
    parser.add_argument("--no-summary", action="store_true", help="skip the summary tables' step")
    parser.add_argument("--no-records", action="store_true", help="skip the chart queries over records")
    parser.add_argument(
        "--all-records", action="store_true", help="time every filter set over records, served or not"
    )
    parser.add_argument(
        "--indexes", action="store_true", help="first create the covering indexes docs/dashboards.md proposes"
    )
    parser.add_argument(
        "--no-tally", action="store_true", help="skip the chart queries counted from the facet tally"
    )
    parser.add_argument("--no-pages", action="store_true", help="skip the pages' first renders")
    parser.add_argument(
        "--unserved-only",
        action="store_true",
        help="over records, time only the filter sets the summary tables do not serve",
    )
    args = parser.parse_args()

    work = scratch_dir(args.dir, "veraz-bench-dashboards-")
    url = args.database_url or f"sqlite:///{work / 'dashboards.sqlite3'}"
    upgrade(url)
    direct(url, args.orders // args.replicate, args.seed)
    if args.replicate > 1:
        replicate(url, args.replicate - 1)
    if args.indexes:
        create_indexes(url)

    from portal.app import create_app
    from portal.dashboards import charts, layout
    from portal.dashboards import filters as dfilters
    from portal.dashboards.pages import PAGES
    from portal.dashboards.queries import BREAKDOWNS, breakdown
    from portal.readmodel.cache import FacetCache

    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(work / "instance")})
    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(records)).scalar_one()
        year = conn.execute(select(func.max(records.c.month))).scalar_one()[:4]
        buyer = conn.execute(
            select(records.c.buyer_id)
            .where(records.c.kind == "order")
            .group_by(records.c.buyer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        segment = conn.execute(
            select(item_lines.c.segment).group_by(item_lines.c.segment).order_by(func.count().desc()).limit(1)
        ).scalar_one()
        largest = {
            name: conn.execute(
                select(column)
                .where(records.c.kind == "order", column.is_not(None))
                .group_by(column)
                .order_by(func.count().desc())
                .limit(1)
            ).scalar_one()
            for name, column in (
                ("region", records.c.delivery_region),
                ("supplier", records.c.supplier_id),
                ("agreement", records.c.agreement_ocid),
            )
        }
    print(
        f"{total:,} records ({engine.dialect.name}); load average {os.getloadavg()[0]:.1f} "
        f"(2 cores, shared machine)",
        flush=True,
    )
    filter_sets = {
        "none": dfilters.Filters(),
        f"year {year}": dfilters.parse([("year", year)]),
        "year + agency": dfilters.parse([("year", year), ("buyer", buyer)]),
        f"industry {segment}": dfilters.parse([("segment", segment)]),
    }
    # Filters the summary tables do not serve (anything but years and one industry): the charts
    # then query the records, so these are what a reader waits for with them. Each is the
    # largest of its kind, the slowest case.
    unserved = {
        "year + agency": filter_sets["year + agency"],
        "region": dfilters.parse([("region", largest["region"])]),
        "supplier": dfilters.parse([("supplier", largest["supplier"])]),
        "agreement": dfilters.parse([("agreement", largest["agreement"])]),
    }

    if not args.no_summary:
        summary_step(engine, filter_sets, args.repeat)
    # With current summary tables, the app reads the records only under the filters they do not
    # serve; --all-records times every filter set over the records (the charts' path while the
    # summaries are being refreshed).
    everything = args.all_records or (args.no_summary and not args.unserved_only)
    over_records = filter_sets | unserved if everything else unserved
    print(
        f"\nchart queries over records (no cache): p50 / p95 wall ms, median CPU ms, {args.repeat} runs each"
    )
    print(f"{'breakdown':12s}" + "".join(f"{name:>28s}" for name in over_records))
    worst = 0.0
    with engine.connect() as conn:
        for by in () if args.no_records else BREAKDOWNS:
            cells = []
            for filters in over_records.values():
                conds = dfilters.conditions(filters)
                limit = None if by in ("month", "year") else charts.TOP

                def run(by=by, conds=conds, limit=limit) -> None:
                    breakdown(conn, by, conds, limit=limit)

                p50, p95, cpu = measure(run, args.repeat)
                worst = max(worst, p95)
                cells.append(f"{p50:7.1f} / {p95:7.1f} ({cpu:6.1f})")
            print(f"{by:12s}" + "".join(f"{c:>28s}" for c in cells), flush=True)
            if args.plans:
                query_plan(conn, by, dfilters.conditions(filter_sets[f"year {year}"]))
    print(f"worst chart query p95: {worst:.1f} ms (target <= 30 ms)")

    # The filters' choices come from the facet tally, which a running portal loads in the
    # background at startup (until then they are counted with SQL): loaded here first.
    from portal.views.browse import FACET_TALLY

    started, cpu = time.perf_counter(), cpu_s()
    app.extensions[FACET_TALLY].warm(engine)
    print(
        f"\nfacet tally loaded (once per process, not in the renders): "
        f"{time.perf_counter() - started:.1f} s wall, {cpu_s() - cpu:.1f} s CPU",
        flush=True,
    )
    if not args.no_tally:
        tally_step(engine, app, unserved, args.repeat)
    if args.no_pages:
        print(f"\npeak RSS of this process: {rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")
        return
    print("\nfirst render of each page, server side (cache emptied each run): p50 / p95 wall ms, CPU ms")
    with app.test_request_context("/dashboards/"):
        for page in PAGES:
            for name, filters in (
                ("none", filter_sets["none"]),
                ("year + agency", filter_sets["year + agency"]),
                ("region", unserved["region"]),
            ):

                def render(page=page, filters=filters) -> None:
                    app.extensions[charts.CACHE] = FacetCache()
                    with engine.connect() as conn:
                        tree = layout.page(conn, page, filters)
                    json.dumps(tree.to_plotly_json(), cls=_encoder())

                p50, p95, cpu = measure(render, max(3, args.repeat // 4))
                print(
                    f"  {page.PATH or 'overview':12s} {name:14s} {p50:8.1f} / {p95:8.1f} ({cpu:7.1f})",
                    flush=True,
                )
    print(f"\npeak RSS of this process: {rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")


def tally_step(engine, app, unserved: dict, repeat: int) -> None:
    """Step 6 of the module docstring: each chart's query under the filter sets the summary
    tables do not serve as the app runs it, counted from the facet tally and named (no cache),
    beside the same query over records; and whether both give the same groups."""
    from portal.dashboards import tallied as tally_path
    from portal.dashboards.charts import TOP
    from portal.dashboards.queries import BREAKDOWNS, breakdown, tallied, totals
    from portal.views.browse import FACET_TALLY

    with engine.connect() as conn:
        tally = app.extensions[FACET_TALLY].get(conn)
    assert tally is not None, "the facet tally is not loaded"
    lines = tally.segment_lines
    print(
        f"\nfacet tally: {tally.size:,} processes, {tally.nbytes() / 2**20:.0f} MB of arrays, of which "
        f"{(lines.nbytes() if lines else 0) / 2**20:.1f} MB the segments' line sums "
        f"({len(tally.multi['segment'][0]):,} (process, segment) pairs)",
        flush=True,
    )
    started, cpu = time.perf_counter(), cpu_s()
    tally_path._prepare(tally)
    print(
        f"  spending mask and cents, once per tally state: {(time.perf_counter() - started) * 1000:.0f} ms "
        f"wall, {(cpu_s() - cpu) * 1000:.0f} ms CPU",
        flush=True,
    )
    print(
        f"\nchart queries as the app runs them under the unserved filters: facet tally | records (SQL); "
        f"p50 / p95 wall ms (median CPU ms), {repeat} runs each; = same groups as SQL"
    )
    print(f"{'breakdown':10s}" + "".join(f"{name:>46s}" for name in unserved))
    worst = worst_sql = 0.0
    same = compared = 0
    with engine.connect() as conn:
        for by in (*BREAKDOWNS, "total"):
            cells = []
            for filters in unserved.values():
                limit = None if by in ("month", "year", "total") else TOP
                selected = dict(filters.selected)
                conds = dfilters_conditions(filters)

                def fast(by=by, selected=selected, limit=limit):
                    # the filters' mask computed each run: a page's first chart (the others
                    # reuse it, see below)
                    tally_path._prepare(tally).masks.clear()
                    return tallied(conn, tally, by, selected, limit=limit)

                def slow(by=by, conds=conds, limit=limit):
                    return [totals(conn, conds)] if by == "total" else breakdown(conn, by, conds, limit=limit)

                equal = fast() == slow()
                same += equal
                compared += 1
                p50, p95, cpu = measure(fast, repeat)
                s50, s95, scpu = measure(slow, max(3, repeat // 4))
                worst, worst_sql = max(worst, p95), max(worst_sql, s95)
                mark = "=" if equal else "!"
                cells.append(
                    f"{p50:5.1f} /{p95:6.1f} ({cpu:5.1f}) | {s50:5.0f} /{s95:5.0f} ({scpu:4.0f}) {mark}"
                )
            print(f"{by:10s}" + "".join(f"{c:>46s}" for c in cells), flush=True)
    print(
        f"worst p95 from the tally: {worst:.1f} ms (target <= 30 ms); over records: {worst_sql:.0f} ms; "
        f"{same} of {compared} identical to SQL; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    cells = []
    prepared = tally_path._prepare(tally)
    for filters in unserved.values():
        selected = dict(filters.selected)
        p50, p95, cpu = measure(lambda selected=selected: tally_path._mask(tally, prepared, selected), repeat)
        cells.append(f"{p50:5.1f} /{p95:6.1f} ({cpu:5.1f})")
    print(f"{'their mask':10s}" + "".join(f"{c:>46s}" for c in cells))
    print("  (included in each figure above; a page's other charts reuse it: tallied.MASKS)", flush=True)


def dfilters_conditions(filters) -> list:
    from portal.dashboards import filters as dfilters

    return dfilters.conditions(filters)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summary_step(engine, filter_sets: dict, repeat: int) -> None:
    """Step 4 of the module docstring."""
    from portal.dashboards import rollup
    from portal.dashboards.charts import TOP
    from portal.dashboards.queries import BREAKDOWNS, summarised

    def timed(label: str, run):
        started, cpu = time.perf_counter(), cpu_s()
        result = run()
        print(
            f"{label}: {time.perf_counter() - started:.2f} s wall, {cpu_s() - cpu:.2f} s CPU; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        return result

    _stamp_in_batches(engine)
    done = timed("\nsummary tables, full refresh", lambda: rollup.refresh(engine, full=True))
    print(f"  {done.orders:,} orders summed into {done.rows:,} rows", flush=True)
    print(f"\nchart queries over the summary tables: p50 / p95 wall ms, median CPU ms, {repeat} runs each")
    served = {name: f for name, f in filter_sets.items() if set(dict(f.selected)) <= {"year", "segment"}}
    print(f"{'breakdown':12s}" + "".join(f"{name:>28s}" for name in served))
    worst = 0.0
    with engine.connect() as conn:
        for by in (*BREAKDOWNS, "total"):
            cells = []
            for filters in served.values():
                limit = None if by in ("month", "year", "total") else TOP

                def run(by=by, filters=filters, limit=limit) -> None:
                    assert summarised(conn, by, dict(filters.selected), limit=limit) is not None

                p50, p95, cpu = measure(run, repeat)
                worst = max(worst, p95)
                cells.append(f"{p50:7.1f} / {p95:7.1f} ({cpu:6.1f})")
            print(f"{by:12s}" + "".join(f"{c:>28s}" for c in cells), flush=True)
    print(f"worst summary query p95: {worst:.1f} ms (target <= 30 ms)")

    new, cancelled = 1000, 100
    timed(
        f"\n{new:,} new orders and {cancelled} cancelled written (records rows)",
        lambda: _new_orders(engine, new, cancelled),
    )
    done = timed("partial refresh after them", lambda: rollup.refresh(engine))
    print(
        f"  full={done.full} {done.orders:,} orders read, {done.changed:,} changed, {done.rows:,} rows",
        flush=True,
    )
    with engine.connect() as conn:
        problems: list = []
        compared = timed(
            "audit's recomputation of the summaries",
            lambda: rollup.check(conn, lambda *p: problems.append(p)),
        )
        print(f"  {compared:,} orders compared, {len(problems)} problem(s)", flush=True)


def _stamp_in_batches(engine, batch: int = 500) -> None:
    """Give the newest ``batch`` records the newest stamp and every other an older one.

    Publishing stamps each batch it writes with its own time, so the newest stamp a refresh has
    seen is held by one batch, which the next partial refresh reads again (it takes rows at or
    after that stamp). The read model written above and its copies share a single stamp: left
    so, the "boundary batch" would be the whole table and the partial refresh a full one."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    newest = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as conn:
        newest_ocids = select(records.c.ocid).order_by(records.c.ocid.desc()).limit(batch)
        last = list(conn.execute(newest_ocids).scalars())
        conn.execute(update(records).values(updated_at=newest - timedelta(hours=1)))
        conn.execute(update(records).where(records.c.ocid.in_(last)).values(updated_at=newest))


def _new_orders(engine, new: int, cancelled: int) -> None:
    """``new`` spending orders copied under new ocids and ``cancelled`` orders cancelled, each
    row stamped now, as publishing writes them."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, update

    from portal.models import item_lines, parties

    now = datetime.now(UTC)
    with engine.begin() as conn:
        tag = f"-new{int(now.timestamp())}"
        picked = list(
            conn.execute(
                select(records.c.ocid)
                .where(records.c.kind == "order")
                .order_by(records.c.ocid)
                .limit(new + cancelled)
            ).scalars()
        )
        source = picked[:new]
        rows = [dict(r._mapping) for r in conn.execute(select(records).where(records.c.ocid.in_(source)))]
        for r in rows:
            r["ocid"] += tag
            r["order_number"] = (r["order_number"] or "") + tag
            r["updated_at"] = now
        conn.execute(insert(records), rows)
        for table in (item_lines, parties):
            lines = [dict(r._mapping) for r in conn.execute(select(table).where(table.c.ocid.in_(source)))]
            for r in lines:
                r["ocid"] += tag
            if lines:
                conn.execute(insert(table), lines)
        conn.execute(
            update(records).where(records.c.ocid.in_(picked[new:])).values(status="cancelled", updated_at=now)
        )


#: Covering indexes for the charts (docs/dashboards.md): each chart's query reads one index
#: range in key order (kind and currency fixed), never the table.
PROPOSED = {
    "ix_dash_month": "records (kind, currency, month, status, amount)",
    "ix_dash_buyer": "records (kind, currency, buyer_id, month, status, amount)",
    "ix_dash_supplier": "records (kind, currency, supplier_id, month, status, amount)",
    "ix_dash_region": "records (kind, currency, delivery_region, month, status, amount)",
    "ix_dash_agreement": "records (kind, currency, agreement_ocid, month, status, amount)",
    "ix_dash_segment": "item_lines (segment, currency, ocid, amount)",
}


def create_indexes(url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        for name, target in PROPOSED.items():
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {target}"))
        conn.execute(text("ANALYZE"))
    print(f"proposed indexes created in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()


def _encoder():
    import plotly.utils

    return plotly.utils.PlotlyJSONEncoder


def query_plan(conn, by: str, conds: list) -> None:
    """The database's plan for one chart query (which index it uses, if any)."""
    from portal.dashboards import queries

    captured: list[str] = []

    class Spy:
        def execute(self, query):
            compiled = query.compile(conn.engine, compile_kwargs={"literal_binds": True})
            captured.append(str(compiled))
            return []

    queries.breakdown(Spy(), by, conds, limit=15)  # type: ignore[arg-type]
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    from sqlalchemy import text

    for row in conn.execute(text(prefix + captured[0])):
        print("      ", " | ".join(str(v) for v in row))


if __name__ == "__main__":
    main()
