"""Latency of the OCDS API's list pages, with and without filters, on an existing database.

    .venv/bin/python bench/api.py --database-url sqlite:////work/bench-data/api/instance/veraz.sqlite3
    .venv/bin/python bench/api.py --database-url postgresql+psycopg://... --limit 100 --repeat 30

Load the database first (``veraz import-orders``). Requests go through the app in process
(Flask's test client: routing, parameters, queries, package building, ETag and compression
hooks, no network). For each case it prints p50 and p95 wall time and the mean CPU time per
request (user + system of this process: less affected by a loaded machine than wall time), and
the size of the page, plain and gzip. Filters take values from the data: the most common
buyer, a rare buyer (one process), the most common supplier and region, a month of dates.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.app import create_app, settle_for_serving  # noqa: E402
from portal.db import app_engine  # noqa: E402
from portal.models import parties, records, releases  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _values(app) -> dict[str, str]:
    with app_engine(app).connect() as conn:
        by_buyer = (
            select(records.c.buyer_id, func.count().label("n"))
            .where(records.c.buyer_id.isnot(None))
            .group_by(records.c.buyer_id)
        )
        ranked = conn.execute(by_buyer.order_by(func.count().desc())).all()
        supplier = conn.execute(
            select(parties.c.party_id)
            .where(parties.c.role == "supplier")
            .group_by(parties.c.party_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar()
        region = conn.execute(
            select(records.c.delivery_region)
            .where(records.c.delivery_region.isnot(None))
            .group_by(records.c.delivery_region)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar()
        middle = conn.execute(select(func.max(releases.c.id))).scalar() // 2
        day = conn.execute(select(releases.c.date).where(releases.c.id == middle)).scalar() or "2024-06-01"
        ocid = conn.execute(select(releases.c.ocid).where(releases.c.id == middle)).scalar() or ""
        # A harvester's usual question: what was published lately (the newest 50 releases).
        last = conn.execute(select(func.max(releases.c.id))).scalar()
        recent = conn.execute(
            select(func.min(releases.c.published_at)).where(releases.c.id > last - 50)
        ).scalar()
    return {
        "buyer": ranked[0][0],
        "rare_buyer": ranked[-1][0],
        "supplier": supplier,
        "region": region,
        "cursor": str(middle),
        "month": day[:7],
        "ocid_prefix": ocid[: len(ocid) - 3],
        "recent": recent.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if recent else "2000-01-01",
    }


def cases(v: dict[str, str], limit: int) -> list[tuple[str, str]]:
    out = []
    for route in ("/api/releases", "/api/records"):
        out += [
            (f"{route} first page", f"{route}?limit={limit}"),
            (f"{route} middle page", f"{route}?limit={limit}&cursor={v['cursor']}"),
            (f"{route} common buyer", f"{route}?limit={limit}&buyer={v['buyer']}"),
            (f"{route} rare buyer", f"{route}?limit={limit}&buyer={v['rare_buyer']}"),
            (f"{route} supplier", f"{route}?limit={limit}&supplier={v['supplier']}"),
            (
                f"{route} region+method",
                f"{route}?limit={limit}&region={v['region']}&procurement_method=catalogue_order",
            ),
            (f"{route} month", f"{route}?limit={limit}&date_from={v['month']}-01&date_to={v['month']}-28"),
            (f"{route} ocid prefix", f"{route}?limit={limit}&ocid_prefix={v['ocid_prefix']}"),
            (f"{route} since", f"{route}?limit={limit}&since=2000-01-01"),
            (f"{route} since lately", f"{route}?limit={limit}&since={v['recent']}"),
            (
                f"{route} since lately+buyer",
                f"{route}?limit={limit}&since={v['recent']}&buyer={v['buyer']}",
            ),
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", default="", help="Only the cases whose name holds this text.")
    args = parser.parse_args()
    app = create_app(
        {"DATABASE_URL": args.database_url, "API_RATE_LIMIT": "", "BASE_URL": "http://localhost"}
    )
    settle_for_serving()  # as portal.wsgi does for each gunicorn worker
    client = app.test_client()
    with app_engine(app).connect() as conn:
        count = conn.execute(select(func.count()).select_from(records)).scalar()
    print(f"{count:,} processes; {args.repeat} requests per case, limit {args.limit}")
    print(f"{'case':36} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>8} {'items':>6} {'KB':>7} {'gz KB':>7}")
    for name, url in cases(_values(app), args.limit):
        if args.only not in name:
            continue
        client.get(url)  # warm the caches as a harvester's second request would
        walls, cpu0 = [], _cpu()
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(url)
            walls.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code, response.data[:300])
        cpu = (_cpu() - cpu0) / args.repeat
        package = response.get_json()
        items = len(package.get("releases", package.get("records", [])))
        size = len(response.data)
        walls.sort()
        p95 = walls[min(len(walls) - 1, int(0.95 * len(walls)))]
        print(
            f"{name:36} {statistics.median(walls) * 1000:8.1f} {p95 * 1000:8.1f} {cpu * 1000:8.1f} "
            f"{items:6} {size / 1024:7.0f} {len(gzip.compress(response.data, 6)) / 1024:7.0f}"
        )


if __name__ == "__main__":
    main()
