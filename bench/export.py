"""Benchmark: ``veraz export`` (the bulk downloads) per format, its peak memory, and the
flatteners on the same releases.

    python bench/export.py --orders 100000                       # SQLite, in a temporary folder
    python bench/export.py --orders 1000000 --dir /big/folder    # keep (and reuse) the database

1. Generates N synthetic orders (``ocds.catalogue.generate``) and publishes them with
   ``portal.publishing.import_orders`` (without order PDFs), not timed; ``--dir`` keeps the
   database, and a later run with the same N reuses it.
2. Exports in child processes, each timed (wall and CPU, the workers' included) with its peak
   RSS: compiled releases only (JSON Lines, gzip), then with release and record packages, then
   everything (CSV and XLSX with flatterer, timed apart by the export itself).
3. Imports 1,000 more orders and exports again: the incremental export as imports and the
   watcher run it (EXPORT_QUICK: the compiled releases only, their unchanged segments copied),
   then the packages and the tables it left behind, as the next ``veraz export`` makes them.
4. On a sample of compiled releases (``--sample``, default 2,000) from that export: flatterer
   and flatten-tool (its own virtualenv, ``--flatten-tool``, since it pins other versions of
   the libraries the portal uses), CSV and XLSX, wall and CPU time each.

Targets (issue): JSON Lines gzip >= 30,000 releases/s; CSV >= 2x flatten-tool; XLSX >= 2x
flatten-tool; peak RSS < 300 MB whatever the size; an incremental export after 1,000 orders
under 30 s at 1,000,000 orders. The machine is shared: the load average is printed, and CPU
time per release, which load affects less than wall time.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)
from sqlalchemy import func, select  # noqa: E402

from ocds.catalogue.generate import write_orders  # noqa: E402
from portal.db import make_engine, upgrade  # noqa: E402
from portal.exports import flatten  # noqa: E402
from portal.models import releases  # noqa: E402
from portal.publishing import import_orders  # noqa: E402

FLATTEN_TOOL = Path("/work/bench-data/exports/ft-venv/bin/flatten-tool")
INCREMENT = 1000

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
if {no_splice!r}:  # every compiled release compiled (the workers are forked: they inherit this)
    import portal.exports.build as build
    build.spliced_compiled = lambda datas: [None] * len(datas)
from portal.db import make_engine
from portal.exports import Publication, export
from portal.settings import load_settings
cfg = load_settings({{"INSTANCE_PATH": {instance!r}, "DATABASE_URL": {url!r}}})
started = time.perf_counter()
summary = export(make_engine({url!r}), Path({out!r}), Publication.from_config(cfg), full={full!r},
                 formats=frozenset({formats!r}), workers={workers!r})
wall = time.perf_counter() - started
# VmHWM, not getrusage: Linux keeps ru_maxrss across exec, so a child of a large process
# (this bench after publishing) would report its parent's size. The workers' peak: the
# largest waited-for child, forked from this process (whose size they start from).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"wall": wall, "seconds": summary.seconds, "compiled": summary.compiled,
                  "skipped": [s["name"] for s in summary.skipped],
                  "reused": summary.reused, "quick": summary.quick,
                  "releases": summary.releases, "years": summary.rebuilt_years,
                  "rss_mb": hwm / 1024,
                  "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(code: str) -> tuple[dict, float]:
    """Run ``code`` in a child Python; its JSON line, and the CPU seconds it and its workers used."""
    before = child_cpu()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"export failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), child_cpu() - before


NO_SPLICE = False  # --no-splice


def export_stage(label, url, folder, out, formats, workers, full=True) -> dict:
    code = CHILD.format(
        no_splice=NO_SPLICE,
        root=str(ROOT),
        instance=str(folder),
        url=url,
        out=str(out),
        full=full,
        formats=sorted(formats),
        workers=workers,
    )
    result, cpu = run_child(code)
    result["cpu"] = cpu
    print(
        f"{label}: {result['wall']:.1f} s wall, {cpu:.1f} s CPU (load average {load()}), "
        f"peak RSS {result['rss_mb']:.0f} MB (exporting process; its workers "
        f"{result['workers_rss_mb']:.0f} MB), {result['compiled']:,} compiled "
        f"releases ({result['reused']:,} copied{', quick path' if result.get('quick') else ''}), "
        f"{result['releases']:,} releases; "
        f"stages {', '.join(f'{k} {v:.1f} s' for k, v in result['seconds'].items())}",
        flush=True,
    )
    return result


def timed_tool(argv: list[str]) -> tuple[float, float]:
    before = child_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{argv[0]} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started, child_cpu() - before


def flatteners(sample: list[bytes], work: Path, flatten_tool: Path) -> None:
    """flatterer and flatten-tool on the same compiled releases, CSV and XLSX."""
    jsonl = work / "sample.jsonl"
    jsonl.write_bytes(b"\n".join(sample) + b"\n")
    package = work / "sample.json"
    package.write_bytes(b'{"releases":[' + b",".join(sample) + b"]}")
    n = len(sample)
    flatterer_code = (
        "import sys, flatterer; flatterer.flatten(sys.argv[1], sys.argv[2], csv=sys.argv[3] == 'csv', "
        "xlsx=sys.argv[3] == 'xlsx', ndjson=True, main_table_name='release', pushdown=['ocid', 'id'], "
        "arrays_new_table=True, path_separator='.', force=True)"
    )
    rows = []
    for fmt in ("csv", "xlsx"):
        wall, cpu = timed_tool(
            [sys.executable, "-c", flatterer_code, str(jsonl), str(work / f"fl-{fmt}"), fmt]
        )
        rows.append(("flatterer", fmt, wall, cpu))
        if flatten_tool.exists():
            out = work / f"ft-{fmt}"
            wall, cpu = timed_tool(
                [
                    str(flatten_tool),
                    "flatten",
                    str(package),
                    "--root-list-path",
                    "releases",
                    "--main-sheet-name",
                    "releases",
                    "-f",
                    fmt,
                    "-o",
                    str(out),
                ]
            )
            rows.append(("flatten-tool", fmt, wall, cpu))
    # The portal's XLSX step: written from the CSV files of flatterer's run above.
    flat = work / "fl-csv"
    fields = flatten._read_csv(flat / "fields.csv")
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    tables = flatten._read_csv(flat / "tables.csv")
    flatten.workbook(flat, tables, fields, flatten.headers(fields), work / "v.xlsx")
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rows.append(("veraz (CSV→)", "xlsx", time.perf_counter() - started, cpu))
    print(f"Flatteners on the same {n:,} compiled releases (load average {load()}):")
    by = {}
    for tool, fmt, wall, cpu in rows:
        by[(tool, fmt)] = n / cpu
        print(
            f"  {tool:13s} {fmt:5s} {wall:6.2f} s wall {cpu:6.2f} s CPU  "
            f"{n / wall:8,.0f} rel/s wall  {n / cpu:8,.0f} rel/s CPU"
        )
    for fmt in ("csv", "xlsx"):
        if ("flatten-tool", fmt) in by:
            print(
                f"  {fmt}: flatterer / flatten-tool = "
                f"{by[('flatterer', fmt)] / by[('flatten-tool', fmt)]:.1f}x (CPU)"
            )
    if ("flatten-tool", "xlsx") in by:
        ratio = by[("veraz (CSV→)", "xlsx")] / by[("flatten-tool", "xlsx")]
        print(f"  xlsx: veraz (from flatterer's CSV) / flatten-tool = {ratio:.1f}x (CPU)")
    if not flatten_tool.exists():
        print(
            f"  flatten-tool not found at {flatten_tool}: "
            "python -m venv DIR && DIR/bin/pip install flattentool"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="Keep the database here (reused).")
    parser.add_argument("--workers", type=int, default=0, help="Export worker processes (0: one per core).")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--flatten-tool", type=Path, default=FLATTEN_TOOL)
    parser.add_argument("--skip-increment", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=None, help="The export folder (default: exports in the data folder)."
    )
    parser.add_argument(
        "--compiled-only",
        action="store_true",
        help="Only the compiled releases (first export, then copied), then stop.",
    )
    parser.add_argument(
        "--no-splice",
        action="store_true",
        help="Compile every compiled release (portal.exports.splice off), for comparison.",
    )
    args = parser.parse_args()
    global NO_SPLICE
    NO_SPLICE = args.no_splice
    workers = args.workers or os.cpu_count() or 1
    folder = scratch_dir(args.dir, "veraz-bench-export-")
    db = folder / f"veraz-{args.orders}.sqlite3"
    url = f"sqlite:///{db}"
    print(f"{os.cpu_count()} cores, load average {load()}", flush=True)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(releases)).scalar_one()
    if stored == 0:
        source = folder / f"orders-{args.orders}-{args.seed}.jsonl"
        if not source.exists():
            write_orders(source, args.orders, args.seed)
        started = time.perf_counter()
        import_orders(engine, source, ocid_prefix="ocds-bench1", workers=0)
        print(
            f"Published {args.orders:,} orders in {time.perf_counter() - started:.0f} s "
            "(not part of the figures)"
        )
    out = args.out or folder / "exports"
    shutil.rmtree(out, ignore_errors=True)
    print(f"Exporting (load average {load()}, {workers} worker processes):", flush=True)
    a = export_stage("  compiled releases (JSON Lines gzip)", url, folder, out, {"compiled"}, workers)
    # Again: now the compiled releases are copied from the previous files (see docs).
    a2 = export_stage("  the same again (copied)           ", url, folder, out, {"compiled"}, workers)
    if args.compiled_only:
        n = a["compiled"]
        print(
            f"  JSON Lines gzip: {n / a['wall']:,.0f} compiled releases/s wall, "
            f"{n / a['cpu']:,.0f}/s per CPU second ({a['cpu'] / n * 1e6:.1f} us of CPU each) "
            f"first export{' (splice off)' if NO_SPLICE else ''}; copied: {n / a2['wall']:,.0f}/s wall, "
            f"{n / a2['cpu']:,.0f}/s per CPU second (load average {load()})"
        )
        return
    b = export_stage(
        "  + release and record packages   ", url, folder, out, {"compiled", "packages"}, workers
    )
    c = export_stage(
        "  + CSV and XLSX (everything)     ",
        url,
        folder,
        out,
        {"compiled", "packages", "csv", "xlsx"},
        workers,
    )
    n = a["compiled"]
    print(f"Figures (load average {load()}):")
    print(
        f"  JSON Lines gzip: {n / a['wall']:,.0f} compiled releases/s wall, "
        f"{n / a['cpu']:,.0f}/s per CPU second (compiling); copied from the previous export: "
        f"{n / a2['wall']:,.0f}/s wall, {n / a2['cpu']:,.0f}/s per CPU second"
    )
    extra = b["wall"] - a2["wall"]
    print(
        f"  packages (added to the above): {b['releases']:,} releases in {extra:.1f} s more wall"
        + (f" ({b['releases'] / extra:,.0f} releases/s)" if extra > 0 else "")
    )
    for fmt in ("csv", "xlsx"):
        seconds = c["seconds"].get(fmt)
        skipped = [name for name in c["skipped"] if name.endswith(f".{fmt}")]
        if skipped:
            # Excel's row limit: those years are not made (the manifest says why), so the
            # format's rate here would divide by the time it took to decide that.
            print(f"  {fmt.upper()} (in the export): skipped for {', '.join(skipped)} (Excel's row limit)")
        elif seconds:
            print(f"  {fmt.upper()} (in the export): {n / seconds:,.0f} compiled releases/s wall")
    print(
        f"  peak RSS of the exporting process: {max(a['rss_mb'], b['rss_mb'], c['rss_mb']):.0f} MB; "
        f"of a worker: {max(a['workers_rss_mb'], b['workers_rss_mb'], c['workers_rss_mb']):.0f} MB"
    )
    for path in sorted(out.iterdir()):
        if path.is_file():
            print(f"    {path.name:36s} {path.stat().st_size / 1e6:10.1f} MB")

    if not args.skip_increment:
        with engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(releases)).scalar_one()
        # Another seed under another ocid prefix, and order numbers of their own: 1,000 new
        # processes (and their agreements). The generator numbers each year's orders from 1,
        # as the first million's, and the portal refuses a number already published with
        # other content, so every number (and the quotes named after it) gets the run's digit.
        run = len(list(folder.glob("increment-*.done")))
        more = folder / f"orders-increment-{INCREMENT}-{args.seed + 1 + run}-n{run + 1}.jsonl"
        if not more.exists():
            write_orders(more, INCREMENT, args.seed + 1 + run)
            renumbered = re.sub(
                rb"\b(OC|PF)-(\d{4})-(\d{6})\b",
                rb"\1-\2-" + str(run + 1).encode() + rb"\3",
                more.read_bytes(),
            )
            more.write_bytes(renumbered)
        published = import_orders(engine, more, ocid_prefix=f"ocds-bench{run + 2}", workers=0)
        if published.rejects:
            sys.exit(f"the {INCREMENT:,} more orders were not all published: {published.rejects[:3]}")
        (folder / f"increment-{run}.done").touch()
        with engine.connect() as conn:
            after = conn.execute(select(func.count()).select_from(releases)).scalar_one()
        d = export_stage(
            f"Incremental export after {INCREMENT:,} more orders ({after - before:,} releases), "
            "as after an import (EXPORT_QUICK: compiled releases only)",
            url,
            folder,
            out,
            {"compiled"},
            workers,
            full=False,
        )
        print(f"  years rebuilt: {', '.join(d['years'])}")
        export_stage(
            "  then the packages left behind (veraz export --no-tables)",
            url,
            folder,
            out,
            {"compiled", "packages"},
            workers,
            full=False,
        )
        export_stage(
            "  then the tables left behind (veraz export --tables)",
            url,
            folder,
            out,
            {"compiled", "packages", "csv", "xlsx"},
            workers,
            full=False,
        )

    with tempfile.TemporaryDirectory(prefix="veraz-flatten-") as work:
        year = sorted(p for p in out.glob("[0-9][0-9][0-9][0-9].jsonl.gz"))[-1]
        with gzip.open(year, "rb") as f:
            sample = [line.rstrip(b"\n") for line in itertools.islice(f, args.sample)]
        flatteners(sample, Path(work), args.flatten_tool)
    print(f"load average at the end {load()}")


if __name__ == "__main__":
    main()
