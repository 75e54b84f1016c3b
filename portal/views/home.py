"""Home page: what Veraz holds, in totals, the ways into it (the largest agencies, suppliers,
industries, regions and framework agreements, by number of processes) and the latest orders."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify, render_template, url_for

from portal import queries
from portal.db import app_engine
from portal.readmodel import queries as readmodel
from portal.readmodel.facets import Browse
from portal.readmodel.names import industry_name
from portal.readmodel.tally import counts as tally_counts

bp = Blueprint("home", __name__)

#: Where the app keeps its :class:`portal.queries.TotalsCache` (in ``app.extensions``).
TOTALS_CACHE = "veraz.totals"


#: The ways in, in the order the page shows them: (facet, how many of the largest).
WAYS_IN = (("buyer", 5), ("supplier", 5), ("segment", 5), ("region", 5), ("agreement", 5))


def _largest(conn) -> dict[str, list[dict]]:
    """The largest values of each way in, with their counts of processes (exact: the browse
    page's facet counts over every process) and names as published."""
    from portal.views.browse import FACET_CACHE, FACET_TALLY

    limits = dict(WAYS_IN)

    def compute() -> dict[str, list[dict]]:
        tally = current_app.extensions[FACET_TALLY].get(conn)
        if tally is None:
            counted = {f: readmodel.facet_counts(conn, Browse(), {}, f, limit=n) for f, n in limits.items()}
        else:
            counted = tally_counts(tally, Browse(), None, limits)[1]
        for facet, values in counted.items():
            named = readmodel.labels(conn, facet, [v["value"] for v in values])
            for v in values:
                v["label"] = named.get(v["value"])
        return counted

    version = queries.last_release_id(conn)
    return current_app.extensions[FACET_CACHE].get(version, ("home",), compute)


def _ways_in(conn) -> list[dict]:
    """Each way in: its facet, and its largest values linked to a profile or a listing."""
    from portal.views.browse import FACET_TITLES, profile_url

    out = []
    for facet, values in _largest(conn).items():
        items = []
        for v in values:
            if facet in ("buyer", "supplier", "agreement"):
                url = profile_url(facet, v["value"])
            else:
                url = url_for("contracts.contracts", **{facet: v["value"]})
            label = industry_name(v["value"]) if facet == "segment" else v["label"]
            items.append({"value": v["value"], "label": label or v["value"], "count": v["count"], "url": url})
        listing = url_for("contracts.contracts", _anchor=f"facet-{facet}")
        out.append({"facet": facet, "title": str(FACET_TITLES[facet]), "items": items, "listing": listing})
    return out


def _home() -> tuple[queries.Totals, list[dict], list[dict]]:
    cache = current_app.extensions[TOTALS_CACHE]
    with app_engine().connect() as conn:
        return cache.get(conn), queries.latest_orders(conn), _ways_in(conn)


@bp.get("/")
def index():
    totals, latest, ways = _home()
    return render_template("home.html", totals=totals, latest=latest, ways=ways)


@bp.get("/index.json")
def index_json():
    totals, latest, ways = _home()
    for row in latest:
        row["amount"] = float(row["amount"]) if row["amount"] is not None else None
    return jsonify({"totals": asdict(totals), "latest": latest, "ways_in": ways})


@bp.get("/about")
def about():
    return render_template("about.html")


@bp.get("/healthz")
def healthz():
    with app_engine().connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {"status": "ok"}
