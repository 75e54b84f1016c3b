"""Quotes accepted per second through the intake API, under gunicorn, with concurrent clients.

    .venv/bin/python bench/intake.py                      # SQLite in /work/bench-data/intake/
    .venv/bin/python bench/intake.py --batch 1 --batch 100 --clients 8 --seconds 20
    .venv/bin/python bench/intake.py --database-url postgresql+psycopg://...   # an empty database

Starts ``veraz serve`` (gunicorn, gthread, ``--workers`` processes, as in production, access log
included) on a fresh database with the intake's rate limit off, makes a quotes token, and has
``--clients`` threads post distinct quotes over keep-alive connections (``http.client``), in
requests of ``--batch`` quotes each (JSON Lines), for ``--seconds``. Every answer is checked: 201
with one receipt per quote, each with its leaf index; the log must hold every quote accepted.

Prints per batch size: quotes/s and requests/s (wall), p50 and p99 latency per request, and the
CPU time (user + system) the server processes (gunicorn's, and on PostgreSQL the database's
backends serving its connections) spent per quote, read from /proc: under a loaded
machine wall time lies, CPU time much less. ``implied`` is the rate the server's CPU time allows
on two cores (2 / CPU per quote), what the machine would do were it not shared. The clients'
own CPU is printed apart (on a real deployment they run elsewhere).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from portal.db import make_engine, upgrade  # noqa: E402
from portal.intake import tokens  # noqa: E402
from portal.models import proformas  # noqa: E402

QUOTE = {
    "supplier": {"identifier": "20512345671", "name": "Distribuidora Andina S.A.C.", "size": "small"},
    "date": "2025-03-03T09:30:00-05:00",
    "currency": "PEN",
    "lines": [{"line": 1, "unitPrice": 17.9}, {"line": 2, "unitPrice": 4.35}],
    "documents": [
        {
            "id": "PF-pdf",
            "type": "proforma",
            "title": "Proforma",
            "url": "https://catalogos.example.gob.pe/proformas/PF.pdf",
            "sha256": "84d67db619184c27dd7610142332daa0689db322d343536fee0d0fec3be90696",
        }
    ],
}


def _cpu_of(pids: list[int]) -> float:
    """User + system seconds of processes ``pids`` and their reaped children (/proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _server_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [master] + [int(p) for p in children.read_text().split()] if children.exists() else [master]


def _database_pids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """PostgreSQL: the server processes serving this database (the workers' pooled
    connections, open after the warm-up), so that the database's CPU counts too; SQLite runs
    inside the workers. Reading their /proc entries needs the same user or root."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return [int(pid) for (pid,) in rows]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bodies(batch: int, count: int, start: int) -> list[bytes]:
    """``count`` request bodies of ``batch`` distinct quotes (JSON Lines), numbered from ``start``."""
    out = []
    n = start
    for _ in range(count):
        lines = []
        for _ in range(batch):
            quote = dict(QUOTE, orderNumber=f"OC-2026-{n // 10:07d}", id=f"PF-{n}", total=100.0 + n % 997)
            lines.append(orjson.dumps(quote))
            n += 1
        out.append(b"\n".join(lines))
    return out


def _client(
    port: int, secret: str, bodies: list[bytes], stop: float, batch: int, out: list, errors: list
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {secret}"}
    for body in bodies:
        if time.perf_counter() >= stop:
            break
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/intake/quotes", body, headers)
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as error:
            errors.append(repr(error))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        elapsed = time.perf_counter() - started
        receipts = orjson.loads(data).get("receipts", []) if answer.status == 201 else []
        if (
            answer.status != 201
            or len(receipts) != batch
            or any(r.get("leafIndex") is None for r in receipts)
        ):
            errors.append(f"{answer.status}: {data[:300]!r}")
            continue
        out.append(elapsed)
    conn.close()


def run(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{folder / 'veraz.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        _, secret = tokens.create(conn, "quotes", "bench")
    port = _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        PORTAL_INSTANCE_PATH=str(folder),
        PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
        PORTAL_INTAKE_RATE_LIMIT="",
        PYTHONPATH=str(ROOT),
    )
    veraz = Path(sys.executable).parent / "veraz"
    server = subprocess.Popen(
        [
            str(veraz),
            "serve",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "gunicorn.log", "wb"),  # noqa: SIM115 - lives as long as the server
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit((folder / "gunicorn.log").read_text()) from None
                time.sleep(0.2)
        # Warm up with every client at once: both workers load, and open the connections the
        # measured runs use (on PostgreSQL, the backends whose CPU is counted).
        warm = [
            threading.Thread(
                target=_client,
                args=(port, secret, _bodies(1, 10, 10**9 + 100 * i), time.perf_counter() + 30, 1, [], []),
            )
            for i in range(args.clients)
        ]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        load = os.getloadavg()
        print(
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {args.workers} workers x "
            f"{args.threads} threads; {args.clients} clients; {os.cpu_count()} cores"
        )
        print(
            "batch  quotes/s  req/s   p50 ms  p99 ms  server CPU ms/quote  "
            "implied quotes/s (2 cores)  client CPU ms/quote  errors"
        )
        start = 0
        for batch in args.batch:
            per_client = max(1, int(args.max_quotes / batch / args.clients))
            work = [_bodies(batch, per_client, start + i * per_client * batch) for i in range(args.clients)]
            start += args.clients * per_client * batch
            latencies: list[float] = []
            errors: list[str] = []
            pids = _server_pids(server.pid) + _database_pids(engine)
            cpu0, own0 = _cpu_of(pids), time.process_time()
            began = time.perf_counter()
            stop = began + args.seconds
            threads = [
                threading.Thread(target=_client, args=(port, secret, work[i], stop, batch, latencies, errors))
                for i in range(args.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - began
            cpu, own = _cpu_of(pids) - cpu0, time.process_time() - own0
            quotes = len(latencies) * batch
            ordered = sorted(latencies) or [0.0]
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            per_quote = cpu / quotes if quotes else float("nan")
            print(
                f"{batch:5d}  {quotes / wall:8.0f}  {len(latencies) / wall:6.0f}  "
                f"{statistics.median(ordered) * 1000:6.1f}  "
                f"{p99 * 1000:6.1f}  {per_quote * 1000:19.3f}  {2 / per_quote if quotes else 0:26.0f}  "
                f"{own / max(quotes, 1) * 1000:19.3f}  {len(errors)}"
            )
            for error in errors[:3]:
                print("   ", error)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(proformas)).scalar_one()
        print(f"quotes stored and logged: {stored:,}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=None, help="An empty database (default: a new SQLite file)."
    )
    parser.add_argument("--folder", default="/work/bench-data/intake", help="Instance folder (wiped).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--batch", type=int, action="append", help="Quotes per request (repeatable; default 1 and 100)."
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="Per batch size.")
    parser.add_argument(
        "--max-quotes", type=int, default=200_000, help="Bodies made in advance per batch size."
    )
    args = parser.parse_args()
    args.batch = args.batch or [1, 100]
    run(args)


if __name__ == "__main__":
    main()
