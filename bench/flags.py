"""Benchmark: the red flags over N orders, computed in full, then refreshed after new orders.

    python bench/flags.py --orders 1000000                       # SQLite under --dir
    python bench/flags.py --orders 1000000 --database-url postgresql+psycopg://user@/db?host=...
    python bench/flags.py --orders 1000000 --dir DIR --partial-again [--cold]  # that run's partial refresh

1. Streams ``N + --new`` lines of the demo generator (one stream, so the new orders share its
   agencies, suppliers and catalogues). The first N become the flags' per-process facts and
   priced lines directly (``flag_facts``, ``flag_prices``: what ``veraz flags refresh`` reads
   from the releases), written in bulk, not timed: publishing a million orders here takes
   hours. Each order's facts are what its latest version says (amount, status, quotes,
   deliveries), as the one reading of its compiled release gives them.
2. Timed: every flag computed over the N orders (``portal.flags.refresh.compute_all``), with
   user+sys CPU seconds and peak RSS.
3. Timed: the last ``--new`` lines are published through the real pipeline
   (``import_orders``, not timed), then ``portal.flags.refresh`` runs as after an import: it
   reads the new processes from their releases and recomputes the groups they touch.
4. The planted anomalies among the N orders: recall per kind, and how many other orders or
   pairs each flag raises.

Targets: all flags over 1,000,000 orders < 60 s, partial refresh after 1,000 orders < 5 s.
The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from sqlalchemy import delete, func, insert, select  # noqa: E402

from ocds.catalogue.generate import _Generator  # noqa: E402
from portal.db import make_engine, upgrade  # noqa: E402
from portal.flags import thresholds  # noqa: E402
from portal.flags.refresh import RefreshSummary, compute_all, refresh, save_state  # noqa: E402
from portal.flags.tables import flag_facts, flag_hits, flag_prices, flag_state, metadata  # noqa: E402

PREFIX = "ocds-bench01"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scheduled() -> tuple[float, float]:
    """Seconds this process ran on a CPU and waited for one (Linux ``/proc/self/schedstat``)."""
    try:
        ran, waited, _ = Path("/proc/self/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(ran) / 1e9, int(waited) / 1e9


class Timer:
    """Where a step's wall time went: CPU (user+sys), waiting for a CPU (the machine's load), and
    the rest (blocked: reads the page cache did not hold, fsync, locks), with the blocks read and
    written and the context switches (voluntary: blocked; involuntary: preempted)."""

    def __enter__(self) -> Timer:
        self.wall, self.usage, self.sched = (
            time.perf_counter(),
            resource.getrusage(resource.RUSAGE_SELF),
            _scheduled(),
        )
        return self

    def __exit__(self, *exc) -> None:
        usage, sched = resource.getrusage(resource.RUSAGE_SELF), _scheduled()
        self.wall = time.perf_counter() - self.wall
        self.cpu = usage.ru_utime + usage.ru_stime - self.usage.ru_utime - self.usage.ru_stime
        self.runqueue = sched[1] - self.sched[1]
        self.blocked = max(0.0, self.wall - self.cpu - self.runqueue)
        self.io = (
            f"{usage.ru_inblock - self.usage.ru_inblock} blocks read, "
            f"{usage.ru_oublock - self.usage.ru_oublock} written, "
            f"{usage.ru_nvcsw - self.usage.ru_nvcsw} voluntary and "
            f"{usage.ru_nivcsw - self.usage.ru_nivcsw} involuntary context switches"
        )

    def __str__(self) -> str:
        return (
            f"{self.wall:.2f} s wall = {self.cpu:.2f} s CPU + {self.runqueue:.2f} s waiting for a CPU + "
            f"{self.blocked:.2f} s blocked ({self.io})"
        )


def evict(url: str) -> None:
    """Drop a SQLite database's files (and only them) from the OS page cache, for a cold run."""
    path = make_engine(url).url.database
    if not path:
        raise SystemExit("--cold needs a SQLite database")
    for name in (path, f"{path}-wal"):
        if os.path.exists(name):
            fd = os.open(name, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def partial_again(engine, th, args, url: str) -> None:
    """On a database a run left: the partial refresh of the orders that run published, timed
    again (their facts read again from their releases, every group they touch recomputed; the
    per-buyer sums' difference is then nil, so only that write is spared)."""
    from sqlalchemy import update

    with engine.begin() as conn:
        conn.execute(update(flag_state).where(flag_state.c.name == "last_release").values(value="0"))
    if args.cold:
        engine.dispose()
        evict(url)
    with Timer() as timer:
        result = refresh(engine, th)
    print(
        f"partial refresh of the {args.new:,} new lines again{' (cold page cache)' if args.cold else ''}: "
        f"{timer}; {result.processes:,} processes, {result.hits:,} flags stored, steps {result.seconds}; "
        f"load average {os.getloadavg()}"
    )


def _facts(order: dict) -> tuple[dict, list[dict]]:
    """The ``flag_facts`` row and ``flag_prices`` rows of a source order's state."""
    ocid = f"{PREFIX}-{order['orderNumber']}"
    agreement = f"{PREFIX}-AM-{order['agreement']['id']}"
    supplier = f"PE-RUC-{order['supplier']['identifier']}"
    cancelled = order["status"] == "cancelled"
    amount = round(sum(i["quantity"] * i["unitPrice"] for i in order["items"]), 2)
    day = order["dates"]["issued"][:10]
    deliveries = [k for d in order["destinations"] for k in d["deliveries"]]
    met = [k for k in deliveries if "deliveredDate" in k]
    late = [k for k in met if k["deliveredDate"] > k["dueDate"]]
    row = {
        "ocid": ocid,
        "last_release": 0,
        "live": True,
        "cancelled": cancelled,
        "buyer_id": f"PE-RUC-{order['buyer']['identifier']}",
        "supplier_id": supplier,
        "agreement_ocid": agreement,
        "amount": amount,
        "currency": "PEN",
        "date": day,
        "month": day[:7],
        "quotes": len(order.get("proformas", [])) or None,
        "first_amount": amount,
        "first_currency": "PEN",
        "deliveries": len(deliveries),
        "deliveries_met": len(met),
        "deliveries_late": len(late),
        "deliveries_not_met": len(deliveries) if cancelled else 0,
        "days_late": None,
    }
    prices = [
        {
            "ocid": ocid,
            "position": n,
            "product": "|".join(
                (agreement, "UNSPSC", i["classification"]["code"], i["unit"]["name"], i["description"])
            )[:600],
            "currency": "PEN",
            "unit_price": i["unitPrice"],
            "supplier_id": supplier,
            "segment": i["classification"]["code"][:2],
        }
        for n, i in enumerate(order["items"])
    ]
    return row, prices


def load_background(engine, stream, n: int) -> list[tuple[str, str, str, tuple]]:
    """Write the facts of the stream's next ``n`` lines; return the planted anomalies."""
    states: dict[str, tuple[dict, list[dict]]] = {}
    planted: dict[tuple, list[str]] = defaultdict(list)
    for _ in range(n):
        order, tag = next(stream)
        states[order["orderNumber"]] = _facts(order)
        if tag is not None and order["version"] == 1:
            planted[tag].append(order["orderNumber"])
    with engine.begin() as conn:
        for table in (flag_facts, flag_prices, flag_hits, flag_state):
            conn.execute(delete(table))
        rows, prices = [], []
        for row, lines in states.values():
            rows.append(row)
            prices.extend(lines)
            if len(rows) >= 20_000:
                conn.execute(insert(flag_facts), rows)
                conn.execute(insert(flag_prices), prices)
                rows, prices = [], []
        if rows:
            conn.execute(insert(flag_facts), rows)
            conn.execute(insert(flag_prices), prices)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    return [
        (kind, buyer, supplier, tuple(numbers)) for (kind, buyer, supplier, _), numbers in planted.items()
    ]


def copy_background(source, engine) -> None:
    """Copy the facts and priced lines an earlier run wrote (same ``--dir``), without the
    processes it published afterwards."""
    with engine.begin() as conn:
        for table in (flag_facts, flag_prices, flag_hits, flag_state):
            conn.execute(delete(table))
        with source.connect() as read:
            synthetic = select(flag_facts.c.ocid).where(flag_facts.c.last_release == 0)
            queries = (
                select(flag_facts).where(flag_facts.c.last_release == 0),
                select(flag_prices).where(flag_prices.c.ocid.in_(synthetic)),
            )
            for query, table in zip(queries, (flag_facts, flag_prices), strict=True):
                rows = read.execute(query).mappings().yield_per(20_000)
                for chunk in rows.partitions():
                    conn.execute(insert(table), [dict(r) for r in chunk])
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def recall(engine, planted) -> dict:
    """Recall per planted kind, and what each flag raises outside the planted orders."""
    with engine.connect() as conn:
        hits = defaultdict(set)
        pairs = defaultdict(set)
        for flag, ocid, buyer, supplier in conn.execute(
            select(flag_hits.c.flag, flag_hits.c.ocid, flag_hits.c.buyer_id, flag_hits.c.supplier_id)
        ):
            if ocid:
                hits[flag].add(ocid)
            else:
                pairs[flag].add((buyer, supplier))
    out: dict = {}
    planted_ocids: dict[str, set] = defaultdict(set)
    planted_pairs = set()
    for kind, buyer, supplier, numbers in planted:
        ocids = {f"{PREFIX}-{n}" for n in numbers}
        entry = out.setdefault(kind, [0, 0])
        entry[0] += 1
        if kind == "dominance":
            pair = (f"PE-RUC-{buyer}", f"PE-RUC-{supplier}")
            planted_pairs.add(pair)
            entry[1] += pair in pairs["supplier_share"] or pair in pairs["one_supplier"]
        else:
            planted_ocids[kind] |= ocids
            entry[1] += ocids <= hits[kind]
    raised = {}
    for flag in sorted(set(hits) | set(pairs)):
        raised[flag] = {
            "orders": len(hits[flag]),
            "other orders": len(hits[flag] - planted_ocids.get(flag, set())),
            "entities": len(pairs[flag]),
            "other entities": len(pairs[flag] - planted_pairs),
        }
    return {"recall": {k: f"{found}/{total}" for k, (total, found) in out.items()}, "raised": raised}


def time_counts(engine) -> None:
    """The unfiltered page's counts (``flag_totals``, ``flag_counts``) written again, as every
    refresh ends (committed: the same rows)."""
    from portal.flags.queries import store_counts

    with Timer() as timer, engine.begin() as conn:
        store_counts(conn)
    print(f"the page's counts of every flag written: {timer}; load average {os.getloadavg()}")


def time_queries(engine) -> None:
    """What ``/flags`` and ``/api/flags`` run: p50/max of each reading over the stored flags,
    unfiltered (read from the counts the refresh wrote, when it did), then under the filters
    that count over the hits (the buyer, supplier and agreement with the most hits, a year)."""
    import statistics

    from portal.flags import FLAGS, Filters, counts_by_month, flagged, flags_of_order, summary
    from portal.flags.tables import flag_totals

    def timed(call, repeat: int = 3) -> tuple[float, float]:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), max(times)

    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(flag_totals)).scalar_one()
        print(f"  ({'read from flag_totals/flag_counts' if stored else 'counted over the hits'})")
        report = {"summary": timed(lambda: summary(conn))}
        for flag in FLAGS:
            report[f"by month {flag.code}"] = timed(lambda f=flag: counts_by_month(conn, f.code))
            report[f"first 10 {flag.code}"] = timed(lambda f=flag: flagged(conn, f.code, limit=10))
        if stored:  # the same readings counted over the hits, as without the stored counts
            from portal.flags.queries import _by_month, _totals

            report["summary, counted over the hits"] = timed(lambda: _totals(conn, Filters()))
            for flag in FLAGS:
                report[f"by month {flag.code}, counted over the hits"] = timed(
                    lambda f=flag: _by_month(conn, f.code, Filters())
                )
        ocids = list(conn.execute(select(flag_facts.c.ocid).limit(2000)).scalars())[::20]
        report["flags of an order"] = timed(lambda: [flags_of_order(conn, o) for o in ocids], 1)
        report["flags of an order"] = tuple(t / len(ocids) for t in report["flags of an order"])
        busiest = {}
        for name, column in (
            ("buyer", flag_hits.c.buyer_id),
            ("supplier", flag_hits.c.supplier_id),
            ("agreement", flag_hits.c.agreement_ocid),
        ):
            query = (
                select(column)
                .where(column.is_not(None))
                .group_by(column)
                .order_by(func.count().desc(), column)
                .limit(1)
            )
            busiest[name] = conn.execute(query).scalar()
        last = conn.execute(select(func.max(flag_facts.c.month))).scalar() or "2024-12"
        chosen = {f"{name} {value}": Filters(**{name: value}) for name, value in busiest.items() if value}
        chosen[f"months {last[:4]}-01..{last}"] = Filters(month_from=f"{last[:4]}-01", month_to=last)
        for label, filters in chosen.items():
            report[f"[{label}] summary"] = timed(lambda f=filters: summary(conn, f))
            per_flag = [timed(lambda c=flag.code, f=filters: counts_by_month(conn, c, f)) for flag in FLAGS]
            worst = max(range(len(FLAGS)), key=lambda i: per_flag[i][0])
            report[f"[{label}] by month, slowest ({FLAGS[worst].code})"] = per_flag[worst]
            report[f"[{label}] by month, every flag"] = (
                sum(t[0] for t in per_flag),
                sum(t[1] for t in per_flag),
            )
    for name, (median, worst) in report.items():
        print(f"  {name}: median {median * 1000:.0f} ms, max {worst * 1000:.0f} ms")


def time_filtered(engine, runs: int) -> None:
    """The filtered readings alone (the busiest buyer, supplier and agreement, a year of months),
    each run ``runs`` times: median, 95th percentile (nearest rank) and max of ``summary`` and of
    every flag's ``counts_by_month``, and the flag whose chart is slowest at the 95th percentile."""
    import math
    import statistics

    from portal.flags import FLAGS, Filters, counts_by_month, summary

    def timed(call) -> tuple[float, float, float]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        times.sort()
        return statistics.median(times), times[math.ceil(0.95 * len(times)) - 1], times[-1]

    with engine.connect() as conn:
        chosen = {}
        for name, column in (
            ("buyer", flag_hits.c.buyer_id),
            ("supplier", flag_hits.c.supplier_id),
            ("agreement", flag_hits.c.agreement_ocid),
        ):
            query = select(column).where(column.is_not(None)).group_by(column)
            value = conn.execute(query.order_by(func.count().desc(), column).limit(1)).scalar()
            if value:
                chosen[f"{name} {value}"] = Filters(**{name: value})
        last = conn.execute(select(func.max(flag_facts.c.month))).scalar() or "2024-12"
        chosen[f"months {last[:4]}-01..{last}"] = Filters(month_from=f"{last[:4]}-01", month_to=last)
        for label, filters in chosen.items():
            readings = {"summary": timed(lambda f=filters: summary(conn, f))}
            for flag in FLAGS:
                readings[flag.code] = timed(lambda c=flag.code, f=filters: counts_by_month(conn, c, f))
            worst = max((code for code in readings if code != "summary"), key=lambda c: readings[c][1])
            for name in ("summary", worst):
                median, p95, most = readings[name]
                what = "summary" if name == "summary" else f"by month, slowest at p95 ({name})"
                print(
                    f"  [{label}] {what}: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
                    f"max {most * 1000:.1f} ms ({runs} runs)"
                )
    print(f"  load average {os.getloadavg()}")


def again(engine, th, args) -> None:
    """On a database a full run left: the indexes as ``portal.flags.tables`` declares them now,
    every flag computed again, then the partial refresh of the orders that run published."""
    from sqlalchemy import inspect

    with engine.begin() as conn:
        for table in ("flag_facts", "flag_prices", "flag_hits"):
            for index in inspect(conn).get_indexes(table):
                conn.exec_driver_sql(f"DROP INDEX {index['name']}")
    started = time.perf_counter()
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    print(f"indexes made again in {time.perf_counter() - started:.0f} s (not timed)")
    if args.without_new:
        # As before the new orders were published (the first run's state): their facts and
        # priced lines gone, so the partial refresh below reads them as new and stores their
        # flags, instead of finding the flags it would store already there.
        from portal.models import releases

        with engine.begin() as conn:
            new = select(releases.c.ocid).distinct().scalar_subquery()
            for table in (flag_prices, flag_facts):
                conn.execute(table.delete().where(table.c.ocid.in_(new)))
    summary = RefreshSummary(full=True)
    t0 = time.perf_counter()
    with Timer() as timer, engine.begin() as conn:
        stats = compute_all(
            conn, th, summary, lambda name: summary.seconds.setdefault(name, time.perf_counter() - t0)
        )
        save_state(conn, 0, stats, th, 0)  # as before the new orders were published
    count = summary.hits
    steps = {k: round(v, 1) for k, v in summary.seconds.items()}
    print(
        f"all flags over the {args.orders:,} orders and the new ones: {timer}, "
        f"{count:,} flags; cumulative by step {steps}; peak RSS {peak_mb():.0f} MB; "
        f"load average {os.getloadavg()}"
    )
    with Timer() as timer:
        result = refresh(engine, th)
    print(
        f"partial refresh of the {args.new:,} new lines: {timer}; "
        f"{result.processes:,} processes read from their releases, {result.hits:,} flags stored, "
        f"steps {result.seconds}; counts moved for {result.counts_moved}; "
        f"load average {os.getloadavg()}"
    )
    time_queries(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the SQLite database")
    parser.add_argument("--reuse", action="store_true", help="keep the background of an earlier run")
    parser.add_argument(
        "--background-from", help="copy the background from an earlier run's database (same --dir)"
    )
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--queries-only", action="store_true", help="only time the page's queries")
    parser.add_argument(
        "--counts",
        action="store_true",
        help="with --queries-only: then write the page's counts (timed) and time the queries again",
    )
    parser.add_argument(
        "--filtered",
        type=int,
        metavar="RUNS",
        help="with --queries-only: only the filtered readings, RUNS times each (median, p95, max)",
    )
    parser.add_argument(
        "--again", action="store_true", help="on an earlier run's database: full, then partial refresh again"
    )
    parser.add_argument(
        "--without-new",
        action="store_true",
        help="with --again: first remove the new orders' facts, so that the partial refresh "
        "stores their flags as after their publication",
    )
    parser.add_argument(
        "--partial-again",
        action="store_true",
        help="on an earlier run's database: only the partial refresh of its new lines, again",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="with --partial-again on SQLite: the database's files out of the page cache",
    )
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="veraz-flags-"))
    folder.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{folder / f'flags-{args.orders}.sqlite3'}"
    if not args.load_only:
        print(f"database: {make_engine(url).dialect.name}; load average {os.getloadavg()}")
    upgrade(url)
    engine = make_engine(url)
    metadata.create_all(engine, checkfirst=True)
    th = thresholds()
    if args.again:
        again(engine, th, args)
        return
    if args.partial_again:
        partial_again(engine, th, args, url)
        return
    if args.queries_only and args.filtered:
        print(f"the page's filtered queries; load average {os.getloadavg()}")
        time_filtered(engine, args.filtered)
        return
    if args.queries_only:
        print(f"the page's queries over the stored flags; load average {os.getloadavg()}")
        time_queries(engine)
        if args.counts:
            time_counts(engine)
            print(f"the page's queries again; load average {os.getloadavg()}")
            time_queries(engine)
        return

    planted_path = folder / f"planted-{args.orders}.json"
    path = folder / f"new-orders-{args.orders}.jsonl"
    if args.load_only:
        generator = _Generator(args.orders + args.new, args.seed)
        stream = generator.stream()
        planted = load_background(engine, stream, args.orders)
        planted_path.write_bytes(orjson.dumps(planted))
        with path.open("wb") as f:
            for order, _ in stream:  # the same stream's last lines
                f.write(orjson.dumps(order) + b"\n")
        return
    if args.background_from:
        started = time.perf_counter()
        copy_background(make_engine(args.background_from), engine)
        print(
            f"background: copied from {make_engine(args.background_from).dialect.name} in "
            f"{time.perf_counter() - started:.0f} s (not timed)"
        )
    elif not (args.reuse and planted_path.exists()):
        # In a child process, so that this one's peak RSS is the flags' own.
        started = time.perf_counter()
        command = [
            sys.executable,
            __file__,
            "--load-only",
            "--orders",
            str(args.orders),
            "--new",
            str(args.new),
        ]
        command += ["--seed", str(args.seed), "--dir", str(folder)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        subprocess.run(command, check=True)
        print(
            f"background: {args.orders:,} orders' facts written in "
            f"{time.perf_counter() - started:.0f} s (not timed)"
        )
    planted = [tuple(p) for p in orjson.loads(planted_path.read_bytes())]
    planted = [(k, b, s, tuple(n)) for k, b, s, n in planted]

    summary = RefreshSummary(full=True)
    t0, c0 = time.perf_counter(), cpu()
    with engine.begin() as conn:
        stats = compute_all(
            conn, th, summary, lambda name: summary.seconds.setdefault(name, time.perf_counter() - t0)
        )
        save_state(conn, 0, stats, th, 0)
    wall, used = time.perf_counter() - t0, cpu() - c0
    steps = {k: round(v, 1) for k, v in summary.seconds.items()}
    print(
        f"all flags over {args.orders:,} orders: {wall:.1f} s wall, {used:.1f} s CPU (user+sys), "
        f"{summary.hits:,} flags; cumulative by step {steps}; peak RSS {peak_mb():.0f} MB; "
        f"load average {os.getloadavg()}"
    )

    from portal.publishing import import_orders

    imported = import_orders(engine, path, ocid_prefix=PREFIX, workers=1)
    print(
        f"published {imported.published_releases:,} releases of {imported.read:,} new lines "
        f"({imported.rejected} rejected), not timed"
    )
    t0, c0 = time.perf_counter(), cpu()
    result = refresh(engine, th)
    wall, used = time.perf_counter() - t0, cpu() - c0
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(flag_hits)).scalar_one()
    print(
        f"partial refresh after {args.new:,} new lines: {wall:.2f} s wall, {used:.2f} s CPU, "
        f"{result.processes:,} processes read from their releases, steps {result.seconds}; "
        f"{total:,} flags in all; load average {os.getloadavg()}"
    )
    print("planted anomalies (among the first N):", recall(engine, planted))
    print(f"the page's queries over the stored flags; load average {os.getloadavg()}")
    time_queries(engine)
    engine.dispose()


if __name__ == "__main__":
    main()
