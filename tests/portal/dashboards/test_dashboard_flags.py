"""The red flags dashboard: per flag, what it marks under the dashboards' filters, as the flags'
own reading (``portal.flags.summary``) counts it, linked to /flags with the same filters."""

from __future__ import annotations

import csv
import io

import pytest

from ocds.catalogue.generate import write_orders
from portal import flags
from portal.dashboards import charts
from portal.dashboards import filters as dfilters
from portal.dashboards.queries import breakdown
from portal.db import app_engine
from portal.flags import tables
from portal.publishing import import_orders


@pytest.fixture
def flagged(app, tmp_path):
    path = tmp_path / "o.jsonl"
    write_orders(path, 300, 5)
    engine = app_engine(app)
    import_orders(engine, path, ocid_prefix="ocds-dash04", workers=1)
    # The flags' tables come with their own migration; created here from their declaration.
    tables.metadata.create_all(engine)
    flags.refresh(engine, flags.thresholds(app.config), full=True)
    return app


def test_the_flags_chart_counts_what_each_flag_marks(flagged):
    client = flagged.test_client()
    with app_engine(flagged).connect() as conn:
        buyer = breakdown(conn, "buyer", [], limit=1)[0].key
        everything = {row["code"]: row["count"] for row in flags.summary(conn)}
        theirs = {
            row["code"]: row["count"]
            for row in flags.summary(
                conn, flags.Filters(buyer=buyer, month_from="2024-01", month_to="2025-12")
            )
        }
    assert sum(everything.values()) > 0, "seed 5 plants anomalies that raise flags"
    rows = list(
        csv.DictReader(io.StringIO(client.get("/dashboards/data/flags-raised.csv").get_data(as_text=True)))
    )
    assert {r["key"]: int(r["flagged"]) for r in rows} == everything
    assert [int(r["flagged"]) for r in rows] == sorted((int(r["flagged"]) for r in rows), reverse=True)
    twin = client.get(f"/dashboards/data/flags-raised.json?buyer={buyer}&year=2024&year=2025").json
    assert {g["key"]: g["flagged"] for g in twin["groups"]} == theirs
    english = client.get("/dashboards/data/flags-raised.json?lang=en").json["groups"]
    assert {g["name"] for g in english} == {flags.BY_CODE[g["key"]].title_en for g in english}


def test_the_flags_link_carries_the_filters_the_flags_have():
    filters = dfilters.parse([("buyer", "B"), ("year", "2025"), ("year", "2023"), ("region", "Ica")])
    chosen, left_out = charts.flag_filters(filters)
    assert (chosen.buyer, chosen.month_from, chosen.month_to) == ("B", "2023-01", "2025-12")
    assert left_out == ["region"]
    assert charts.flags_url(filters) == "/flags?buyer=B&from=2023-01&to=2025-12"
    two = dfilters.parse([("supplier", "S1"), ("supplier", "S2")])
    assert charts.flag_filters(two) == (flags.Filters(), ["supplier"])


def test_before_the_first_refresh_the_page_renders_with_nothing_raised(app):
    response = app.test_client().get("/dashboards/data/flags-raised.json")
    assert response.status_code == 200
    assert response.json["groups"] and all(g["flagged"] == 0 for g in response.json["groups"])
    assert app.test_client().get("/dashboards/flags").status_code == 200
