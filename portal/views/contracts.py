"""An order (or any contracting process) for a person, and its record as JSON."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, abort, render_template, request

from ocds.compile import compile_release, make_record
from portal import queries
from portal.db import app_engine
from portal.presentation import describe_order

bp = Blueprint("contracts", __name__)



def _record(ocid: str):
    with app_engine().connect() as conn:
        row = queries.record_row(conn, ocid)
        if row is None:
            abort(404, description=f"No contracting process with ocid {ocid!r}.")
        history = queries.release_rows(conn, ocid)
    return row, history


@bp.get("/contracts/<ocid>.json")
def contract_json(ocid: str):
    _row, history = _record(ocid)
    releases = [orjson.loads(h["data"]) for h in history]
    record = make_record(ocid, releases)
    return Response(orjson.dumps(record), mimetype="application/json")


@bp.get("/contracts/<ocid>")
def contract(ocid: str):
    row, history = _record(ocid)
    if row["compiled"] is not None:
        compiled = orjson.loads(row["compiled"])
    else:  # a one-release record compiles from that release (see portal.models.records)
        compiled = compile_release([orjson.loads(h["data"]) for h in history])
    order = describe_order(compiled)
    for h in history:
        h["tag_list"] = h["tags"].split(",")
    return render_template("contract.html", row=row, release=compiled, order=order,
                           history=history)


@bp.get("/contracts")
def contracts():
    q = request.args.get("q", "").strip()
    with app_engine().connect() as conn:
        found = queries.find_orders(conn, q) if q else queries.latest_orders(conn, 50)
    return render_template("contracts.html", q=q, found=found)
