"""Benchmark: the verification page, proof bundles (per release and per quote) and order PDFs.

    python bench/verify.py --orders 100000 --dir /tmp/verifybench --seconds 20

1. Renders 1,000 order PDFs (one process) from mapped demo orders and prints PDFs/s.
2. Builds, or reuses, a database of N demo orders in ``--dir``: ``veraz generate-orders``,
   ``veraz import-orders`` (with order PDFs), ``veraz anchor`` (seal, embedded chain and TSA).
   Building 100,000 orders takes about 10 minutes; a folder that already holds a database is
   reused as it is (migrated to head and anchored if entries are pending), so the serving part
   can be re-run in seconds. Without ``--dir`` a temporary folder is used.
3. Serves the portal with gunicorn (2 workers; gthread by default, which keeps connections
   alive, as a phone's browser does) on 127.0.0.1 and drives ``/verify/<ocid>`` and
   ``/api/proofs/<ocid>`` for random orders from a separate load process (``--clients``
   keep-alive connections, each in its own thread): each path alone, then both mixed 50/50,
   each run for ``--seconds`` or ``--requests``, whichever comes first, after an uncounted
   warm-up; every answer must be 200. Then ``/api/proofs/<ocid>/proformas/<id>`` (one quote's
   own bundle) alone. Prints requests/s and p50/p99 latency per path.
   Targets: p99 < 50 ms, >= 300 proof requests/s on 2 cores, >= 200 order PDFs/s.
4. The page's weight (HTML + verify.js + veraz.css, each gzip-compressed as a server would send
   it) and its time to a verdict in headless Chromium on a throttled connection (CDP
   ``Network.emulateNetworkConditions``: 400 kbit/s both ways, 400 ms round trip; cache off),
   the median of ``--page-runs`` orders. Target: under 3 s.

The load process shares the 2 cores with the server, so the figures are a lower bound.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)

# The settings the database is built with. BASE_URL names the log (its origin line and the
# key name), so serving must use the same one: it is written to the instance's veraz.toml.
BASE_URL = "https://veraz.example"
OCID_PREFIX = "ocds-bench"
PATHS = {"verify": "/verify/{}", "proofs": "/api/proofs/{}", "quotes": "/api/proofs/{}/proformas/{}"}


def bench_pdfs(count: int = 1000) -> None:
    from ocds.catalogue.generate import generate_orders
    from ocds.catalogue.mapping import map_order
    from portal.documents.publish import attach_order_pdf, catalogue_name

    mapped = [map_order(o, ocid_prefix="ocds-bench") for o in generate_orders(count, 7)]
    started = time.perf_counter()
    total = 0
    for m in mapped:
        release = {**m.order_release, "contracts": [dict(m.order_release["contracts"][0])]}
        pdf, _ = attach_order_pdf(
            release,
            m.proformas,
            base_url="https://veraz.example",
            catalogue=catalogue_name(m.agreement_release),
        )
        total += len(pdf)
    seconds = time.perf_counter() - started
    print(
        f"order PDFs: {count} in {seconds:.2f} s = {count / seconds:,.0f} PDFs/s "
        f"(mean {total / count / 1024:.1f} KiB, includes proformas link + sha256)",
        flush=True,
    )


def _veraz(work: Path, *args: str) -> None:
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(work / "instance"))
    env.pop("DATABASE_URL", None)
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "veraz"), *args],
        env=env,
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"  veraz {' '.join(args)}: {time.perf_counter() - started:.1f} s", flush=True)


def prepare(work: Path, orders: int) -> tuple[str, list[str], list[tuple[str, str]]]:
    """The database URL, the order ocids and the logged quotes ``(ocid, proforma id)``: built
    in ``work``, or reused from it."""
    instance = work / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    db = work / "veraz.sqlite3"
    toml = instance / "veraz.toml"
    if not toml.exists():
        toml.write_text(
            f'database_url = "sqlite:///{db}"\nbase_url = "{BASE_URL}"\nocid_prefix = "{OCID_PREFIX}"\n'
        )
    if not db.exists():
        print(f"building {orders:,} orders in {work} (once; reused by later runs)", flush=True)
        _veraz(
            work,
            "generate-orders",
            "--orders",
            str(orders),
            "--seed",
            "2026",
            "--out",
            str(work / "orders.jsonl"),
        )
        _veraz(work, "db", "upgrade")
        _veraz(work, "import-orders", str(work / "orders.jsonl"))
    else:
        print(f"reusing the database in {work}", flush=True)
        _veraz(work, "db", "upgrade")
    _veraz(work, "anchor")  # seals what is pending (a no-op when all is sealed and anchored)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        ocids = [r[0] for r in conn.execute("SELECT ocid FROM records WHERE kind = 'order'")]
        quotes = conn.execute(
            "SELECT ocid, proforma_id FROM proformas WHERE leaf_index IS NOT NULL"
        ).fetchall()
        received = conn.execute("SELECT count(*) FROM source_orders").fetchone()[0]
        logged = conn.execute(
            "SELECT 256 * idx + length(hashes) / 32 FROM log_tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1"
        ).fetchone()[0]
        sealed = conn.execute("SELECT max(size) FROM checkpoints").fetchone()[0]
    print(
        f"database: {received:,} orders ({len(ocids):,} ocids: amendments are new releases "
        f"of their order), {logged:,} log entries, checkpoint {sealed:,}, "
        f"{db.stat().st_size / 1e9:.2f} GB",
        flush=True,
    )
    if received < orders:
        print(f"warning: the reused database has {received:,} orders, not {orders:,}")
    return f"sqlite:///{db}", ocids, [tuple(q) for q in quotes]


def _load(
    port: int,
    targets: dict[str, list],
    kinds: tuple[str, ...],
    seconds: float,
    limit: int,
    clients: int,
    warmup: int,
    queue,
) -> None:
    """The load process: ``clients`` threads, each one keep-alive connection, each request
    for a random order and a random path among ``kinds``."""
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    lock = threading.Lock()
    sent = [0]

    def run(seed: int, until: float, budget: int, record: bool) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: dict[str, list[float]] = {k: [] for k in kinds}
        while time.monotonic() < until:
            with lock:
                if sent[0] >= budget:
                    break
                sent[0] += 1
            kind = rng.choice(kinds)
            target = rng.choice(targets[kind])
            path = PATHS[kind].format(*(target if isinstance(target, tuple) else (target,)))
            t = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine[kind].append(time.perf_counter() - t)
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}")
        conn.close()
        if record:
            with lock:
                for k, v in mine.items():
                    lat[k].extend(v)

    def phase(until: float, budget: int, record: bool, base_seed: int) -> float:
        sent[0] = 0
        started = time.perf_counter()
        threads = [
            threading.Thread(target=run, args=(base_seed + i, until, budget, record)) for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    phase(time.monotonic() + 30, warmup, False, 1000)
    elapsed = phase(time.monotonic() + seconds, limit, True, 0)
    queue.put((lat, elapsed))


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def bench_serving(
    work: Path,
    orders: int,
    seconds: float,
    limit: int,
    clients: int,
    worker_class: str,
    threads: int,
    code: Path,
    page_runs: int = 5,
) -> None:
    url, ocids, quotes = prepare(work, orders)
    targets = {"verify": ocids, "proofs": ocids, "quotes": quotes}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The load comes from one client: the API's per-client rate limit would answer it 429.
    env = dict(
        os.environ, DATABASE_URL=url, PORTAL_INSTANCE_PATH=str(work / "instance"), PORTAL_API_RATE_LIMIT=""
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-k",
        worker_class,
        "-b",
        f"127.0.0.1:{port}",
        "portal.wsgi:app",
    ]
    if worker_class == "gthread":
        command[5:5] = ["--threads", str(threads)]
    how = worker_class + (f" --threads {threads}" if worker_class == "gthread" else "")
    print(
        f"serving {len(ocids):,} orders from {code}: gunicorn 2 workers ({how}); a load "
        f"process with {clients} keep-alive clients on 127.0.0.1; {seconds:.0f} s per run "
        f"after 400 uncounted requests",
        flush=True,
    )
    proc = subprocess.Popen(command, env=env, cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        for kinds in (("verify",), ("proofs",), ("verify", "proofs"), ("quotes",)):
            queue: multiprocessing.Queue = multiprocessing.Queue()
            loader = multiprocessing.Process(
                target=_load, args=(port, targets, kinds, seconds, limit, clients, 400, queue)
            )
            loader.start()
            lat, elapsed = queue.get()
            loader.join()
            total = sum(len(v) for v in lat.values())
            label = "alone" if len(kinds) == 1 else "mixed 50/50"
            print(f" {label}: {total:,} requests in {elapsed:.1f} s = {total / elapsed:,.0f} req/s")
            for kind, values in lat.items():
                print(
                    f"  {PATHS[kind].format('<ocid>', '<id>'):36s} {len(values) / elapsed:7.0f} req/s"
                    f"  p50 {_pct(values, 0.5):6.1f} ms  p99 {_pct(values, 0.99):6.1f} ms  "
                    f"(n={len(values):,})",
                    flush=True,
                )
        bench_page(port, ocids, page_runs)
    finally:
        proc.terminate()
        proc.wait(10)


def bench_page(port: int, ocids: list[str], runs: int) -> None:
    """The page's gzip weight and its time to a verdict on a throttled connection."""
    import gzip

    base = f"http://127.0.0.1:{port}"
    ocid = ocids[0]
    weights = {}
    for name, path in (
        ("HTML", f"/verify/{ocid}"),
        ("verify.js", "/static/verify.js"),
        ("veraz.css", "/static/veraz.css"),
    ):
        body = urllib.request.urlopen(base + path).read()
        weights[name] = (len(body), len(gzip.compress(body, 6)))
    total = sum(z for _, z in weights.values())
    print(
        " page weight (bytes, raw -> gzip): "
        + ", ".join(f"{k} {r:,} -> {z:,}" for k, (r, z) in weights.items())
        + f"; total gzip {total:,}"
    )
    chromium = "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(" time to verdict: skipped (playwright is not installed)")
        return
    if not os.path.exists(chromium):
        print(" time to verdict: skipped (Debian chromium is not installed)")
        return
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        rng = random.Random(7)
        for ocid in rng.sample(ocids, min(runs, len(ocids))):
            page = browser.new_page(viewport={"width": 360, "height": 740})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            cdp.send(
                "Network.emulateNetworkConditions",
                {
                    "offline": False,
                    "latency": 400,
                    "downloadThroughput": 400_000 / 8,
                    "uploadThroughput": 400_000 / 8,
                },
            )
            started = time.perf_counter()
            page.goto(f"{base}/verify/{ocid}", wait_until="commit")
            page.wait_for_selector("#verdict[data-verdict]", timeout=60_000)
            times.append(time.perf_counter() - started)
            verdict = page.get_attribute("#verdict", "data-verdict")
            if verdict != "verified":
                raise SystemExit(f"/verify/{ocid}: verdict {verdict}")
            page.close()
        browser.close()
    times.sort()
    print(
        f" time to verdict at 400 kbit/s, 400 ms RTT (phone, cache off, {len(times)} orders): "
        f"median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s (target < 3 s)",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="work folder: built once, reused when it holds a database"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=200_000, help="at most this many")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker")
    parser.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="serve the portal from this checkout (before/after comparisons)",
    )
    parser.add_argument(
        "--page-runs", type=int, default=5, help="orders timed to a verdict on the throttled connection"
    )
    parser.add_argument("--pdfs-only", action="store_true")
    parser.add_argument("--serving-only", action="store_true")
    args = parser.parse_args()
    if not args.serving_only:
        bench_pdfs()
    if not args.pdfs_only:
        work = scratch_dir(args.dir, "veraz-bench-verify-")
        bench_serving(
            work.resolve(),
            args.orders,
            args.seconds,
            args.requests,
            args.clients,
            args.worker_class,
            args.threads,
            args.code.resolve(),
            args.page_runs,
        )
