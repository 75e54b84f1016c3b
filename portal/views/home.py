"""Home page: what Veraz holds, in totals, and the latest orders."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, jsonify, render_template

from portal import queries
from portal.db import app_engine

bp = Blueprint("home", __name__)



@bp.get("/")
def index():
    with app_engine().connect() as conn:
        totals = queries.totals(conn)
        latest = queries.latest_orders(conn)
    return render_template("home.html", totals=totals, latest=latest)


@bp.get("/index.json")
def index_json():
    with app_engine().connect() as conn:
        totals = queries.totals(conn)
        latest = queries.latest_orders(conn)
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
