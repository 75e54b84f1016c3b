"""Home page: what Veraz holds, in totals, and the latest orders."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify, render_template

from portal import queries
from portal.db import app_engine

bp = Blueprint("home", __name__)

#: Where the app keeps its :class:`portal.queries.TotalsCache` (in ``app.extensions``).
TOTALS_CACHE = "veraz.totals"


def _totals_and_latest() -> tuple[queries.Totals, list[dict]]:
    cache = current_app.extensions[TOTALS_CACHE]
    with app_engine().connect() as conn:
        return cache.get(conn), queries.latest_orders(conn)


@bp.get("/")
def index():
    totals, latest = _totals_and_latest()
    return render_template("home.html", totals=totals, latest=latest)


@bp.get("/index.json")
def index_json():
    totals, latest = _totals_and_latest()
    for row in latest:
        row["amount"] = float(row["amount"]) if row["amount"] is not None else None
    return jsonify({"totals": asdict(totals), "latest": latest})


@bp.get("/about")
def about():
    return render_template("about.html")


@bp.get("/healthz")
def healthz():
    with app_engine().connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {"status": "ok"}
