"""Benchmark: the verification page, proof bundles and order PDFs (issue 4).

    python bench/verify.py --orders 100000 --seconds 20

1. Renders 1,000 order PDFs (one process) from mapped demo orders and prints PDFs/s.
2. Publishes N demo orders (with PDFs) into a fresh SQLite database, seals and anchors them
   (``veraz anchor``: embedded chain and TSA), serves the portal with gunicorn (2 workers), and
   drives ``/verify/<ocid>`` and ``/api/proofs/<ocid>`` for random orders from a separate load
   process (``--clients`` keep-alive connections, each in its own thread), printing requests/s
   and p50/p99 latency per path. Targets: p99 < 50 ms, >= 300 proof requests/s on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402


def bench_pdfs(count: int = 1000) -> None:
    from ocds.catalogue.generate import generate_orders
    from ocds.catalogue.mapping import map_order
    from portal.documents.publish import attach_order_pdf, catalogue_name

    mapped = [map_order(o, ocid_prefix="ocds-bench") for o in generate_orders(count, 7)]
    started = time.perf_counter()
    total = 0
    for m in mapped:
        release = {**m.order_release, "contracts": [dict(m.order_release["contracts"][0])]}
        pdf, _ = attach_order_pdf(release, m.proformas, base_url="https://veraz.example",
                                  catalogue=catalogue_name(m.agreement_release))
        total += len(pdf)
    seconds = time.perf_counter() - started
    print(f"order PDFs: {count} in {seconds:.2f} s = {count / seconds:,.0f} PDFs/s "
          f"(mean {total / count / 1024:.1f} KiB, includes proformas link + sha256)")


def _load(base: str, paths: list[str], seconds: float, clients: int, queue) -> None:
    host, port = base.removeprefix("http://").split(":")
    lat: dict[str, list[float]] = {"verify": [], "proofs": []}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host, int(port))
        mine: dict[str, list[float]] = {"verify": [], "proofs": []}
        while time.monotonic() < stop:
            ocid = rng.choice(paths)
            kind = rng.choice(("verify", "proofs"))
            path = f"/verify/{ocid}" if kind == "verify" else f"/api/proofs/{ocid}"
            t = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine[kind].append(time.perf_counter() - t)
            assert response.status == 200, (path, response.status)
        with lock:
            for k, v in mine.items():
                lat[k].extend(v)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(lat)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def bench_serving(orders: int, seconds: float, clients: int) -> None:
    from sqlalchemy import select

    from ocds.catalogue.generate import write_orders
    from portal.app import create_app
    from portal.cli import main
    from portal.db import upgrade
    from portal.models import records
    from portal.publishing import import_orders

    tmp = Path(tempfile.mkdtemp(prefix="veraz-bench-verify-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    url = f"sqlite:///{tmp / 'veraz.sqlite3'}"
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp / "instance"),
                      "BASE_URL": base})
    source = tmp / "orders.jsonl"
    write_orders(source, orders, 2026)
    started = time.perf_counter()
    summary = import_orders(app.extensions["veraz.engine"], source, ocid_prefix="ocds-bench",
                            base_url=base)
    print(f"published {summary.new_orders:,} orders with PDFs in "
          f"{time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(main, ["anchor"])
    print(f"sealed and anchored in {time.perf_counter() - started:.1f} s "
          f"(exit {result.exit_code})")
    with app.extensions["veraz.engine"].connect() as conn:
        ocids = list(conn.execute(select(records.c.ocid).where(records.c.kind == "order"))
                     .scalars())
    env = dict(os.environ, DATABASE_URL=url, PORTAL_INSTANCE_PATH=str(tmp / "instance"),
               PORTAL_BASE_URL=base)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b",
                             f"127.0.0.1:{port}", "portal.wsgi:app"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        queue: multiprocessing.Queue = multiprocessing.Queue()
        loader = multiprocessing.Process(target=_load, args=(base, ocids, seconds, clients, queue))
        loader.start()
        lat = queue.get()
        loader.join()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"serving {len(ocids):,} orders, gunicorn 2 workers, {clients} clients, {seconds:.0f} s:")
    for kind, values in lat.items():
        print(f"  {kind:7s} {len(values) / seconds:7.0f} req/s  p50 {_pct(values, .5):6.1f} ms  "
              f"p99 {_pct(values, .99):6.1f} ms  (n={len(values):,})")
    print(orjson.dumps({"tmp": str(tmp)}).decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pdfs-only", action="store_true")
    args = parser.parse_args()
    bench_pdfs()
    if not args.pdfs_only:
        bench_serving(args.orders, args.seconds, args.clients)
