"""/dashboards/ on the portal's server: its index (the portal's page, no inline script), the CSP,
the 400s and 404s, and each chart's CSV and JSON, which are exactly its plotted groups."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocds.catalogue.generate import write_orders
from portal.dashboards import charts
from portal.dashboards import filters as dfilters
from portal.dashboards.app import CSP
from portal.dashboards.pages import PAGES
from portal.dashboards.queries import breakdown
from portal.db import app_engine
from portal.publishing import import_orders


@pytest.fixture
def loaded(app, tmp_path):
    path = tmp_path / "o.jsonl"
    write_orders(path, 150, 8)
    import_orders(app_engine(app), path, ocid_prefix="ocds-dash03", workers=1)
    return app


def _any_buyer(app) -> str:
    with app_engine(app).connect() as conn:
        return breakdown(conn, "buyer", [], limit=1)[0].key


def test_every_page_is_the_portals_page_without_inline_script(loaded):
    client = loaded.test_client()
    for page in PAGES:
        response = client.get(f"/dashboards/{page.PATH}")
        assert response.status_code == 200, page.PATH
        html = response.get_data(as_text=True)
        assert 'href="/contracts"' in html and 'class="lang"' in html  # the portal's header
        assert response.headers["Content-Security-Policy"] == CSP
        assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        for tag in re.findall(r"<script\b[^>]*>", html):
            # every script is a file from this site, or JSON data (Dash's configuration)
            assert 'src="/' in tag or 'type="application/json"' in tag, tag
        assert "https://" not in " ".join(re.findall(r'(?:src|href)="[^"]*"', html))
    assert client.get("/dashboards/?lang=en").get_data(as_text=True).count("Loading the charts") == 1


def test_bad_addresses_are_named_not_ignored(loaded):
    client = loaded.test_client()
    assert client.get("/dashboards/nowhere").status_code == 404
    bad = client.get("/dashboards/agencies?colour=red")
    assert bad.status_code == 400 and "colour" in bad.get_data(as_text=True)
    assert client.get("/dashboards/?year=20x4").status_code == 400
    unknown = client.get("/dashboards/?buyer=PE-RUC-00000000000")
    assert unknown.status_code == 400 and "buyer" in unknown.get_data(as_text=True)
    twin = client.get("/dashboards/data/top-agencies.json?segment=9")
    assert twin.status_code == 400 and twin.json["error"]["detail"].startswith("Parameter 'segment'")
    assert client.get("/dashboards/data/no-such-chart.csv").status_code == 404
    assert client.get("/dashboards/data/top-agencies.xml").status_code == 404


def test_a_charts_csv_is_its_plotted_groups(loaded):
    client = loaded.test_client()
    buyer = _any_buyer(loaded)
    for name in ("spending-by-month", "top-suppliers", "top-industries", "suppliers-by-orders"):
        chart = charts.CHARTS[name]
        response = client.get(f"/dashboards/data/{name}.csv?buyer={buyer}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        with loaded.test_request_context("/dashboards/"), app_engine(loaded).connect() as conn:
            groups = charts.rows(conn, chart, dfilters.parse([("buyer", buyer)]))
            figure = charts.figure(chart, groups)
        assert [r["key"] for r in rows] == [g.key for g in groups]
        plotted = figure.data[0].x if chart.ranked else figure.data[0].y
        column = "amount" if chart.measure == "amount" else "orders"
        assert [float(r[column]) for r in rows] == list(plotted)
        twin = client.get(f"/dashboards/data/{name}.json?buyer={buyer}").json
        assert [g["key"] for g in twin["groups"]] == [r["key"] for r in rows]
        assert twin["filters"] == {"buyer": [buyer]}


def test_the_orders_link_is_the_listing_with_the_same_filters(loaded):
    from portal.dashboards import layout

    buyer = _any_buyer(loaded)
    filters = dfilters.parse([("buyer", buyer), ("year", "2024")])
    with loaded.test_request_context("/dashboards/"):
        link = layout.orders_url(filters)
    assert link == f"/contracts?year=2024&buyer={buyer}"
    listing = loaded.test_client().get(link.replace("/contracts", "/contracts.json"))
    assert listing.status_code == 200 and listing.json["total"] > 0


def test_a_charts_cache_follows_new_releases(loaded, tmp_path):
    client = loaded.test_client()

    def spent() -> float:
        text = client.get("/dashboards/data/spending-by-year.csv").get_data(as_text=True)
        return sum(float(r["amount"]) for r in csv.DictReader(io.StringIO(text)))

    before = spent()
    assert spent() == before  # kept: the same published state
    path = tmp_path / "more.jsonl"
    write_orders(path, 40, 9)
    import_orders(app_engine(loaded), path, ocid_prefix="ocds-dash05", workers=1)
    with app_engine(loaded).connect() as conn:
        expected = float(sum(g.amount for g in breakdown(conn, "year", [])))
    assert spent() == pytest.approx(expected) and expected > before


def test_the_filters_choices_count_as_the_listing_does(loaded):
    from portal.dashboards import layout

    client = loaded.test_client()
    year = max(g["key"] for g in client.get("/dashboards/data/spending-by-year.json").json["groups"])
    facets = client.get(f"/contracts.json?year={year}").json["facets"]
    with loaded.test_request_context("/dashboards/"), app_engine(loaded).connect() as conn:
        filters = dfilters.parse([("year", year)])
        for name in ("region", "buyer", "segment", "year"):
            listed = {f["value"]: f["count"] for f in facets[name]}
            offered = {o["value"]: o["label"] for o in layout._options(conn, filters, name)}
            assert listed and set(listed) <= set(offered), name
            for value, count in listed.items():
                assert offered[value].endswith(f"({count:,})"), (name, value)


ANY = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.just("2024")),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def test_no_callback_request_is_a_server_error(loaded):
    client = loaded.test_client()
    callbacks = list(loaded.extensions["veraz.dashboards"].callback_map)
    route = next(c for c in callbacks if c.startswith("..page.children"))
    redraw = next(c for c in callbacks if c.startswith("..url.search"))

    def post(body) -> int:
        return client.post("/dashboards/_dash-update-component", json=body).status_code

    for body in ("x", [], {}, {"output": "x.y", "outputs": {"id": "x", "property": "y"}, "inputs": []}):
        assert post(body) == 400
    page = {"id": "page", "property": "children"}
    good = {
        "output": route,
        "outputs": [page, {"id": "rendered", "property": "data"}],
        "inputs": [
            {"id": "url", "property": "pathname", "value": "/dashboards/agencies"},
            {"id": "url", "property": "search", "value": "?year=2024"},
        ],
        "state": [{"id": "rendered", "property": "data", "value": None}],
        "changedPropIds": ["url.pathname"],
    }
    answer = client.post("/dashboards/_dash-update-component", json=good)
    assert answer.status_code == 200 and "top-agencies" in answer.get_data(as_text=True)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ANY, ANY, ANY, st.lists(ANY, min_size=7, max_size=7), ANY)
    def check(pathname, search, state, values, names):
        body = dict(good)
        body["inputs"] = [
            {"id": "url", "property": "pathname", "value": pathname},
            {"id": "url", "property": "search", "value": search},
        ]
        body["state"] = [{"id": "rendered", "property": "data", "value": state}]
        assert post(body) < 500
        outputs = [{"id": "url", "property": "search"}, {"id": "rendered", "property": "data"}]
        outputs += [{"id": "dash-totals", "property": "children"}]
        outputs += [{"id": f"f-{n}", "property": "options"} for n in dfilters.FILTERS]
        for kind in ("graph", "csv", "orders", "table", "pagelink"):
            outputs.append([{"id": {"type": kind, "name": names}, "property": "x"}])
        assert (
            post(
                {
                    "output": redraw,
                    "outputs": outputs,
                    "inputs": [
                        {"id": f"f-{n}", "property": "value", "value": v}
                        for n, v in zip(dfilters.FILTERS, values, strict=True)
                    ],
                    "state": [
                        {"id": "url", "property": "pathname", "value": pathname},
                        {"id": "url", "property": "search", "value": search},
                    ],
                    "changedPropIds": ["f-year.value"],
                }
            )
            < 500
        )

    check()


def test_charts_under_a_region_are_counted_from_the_facet_tally(loaded):
    from portal.dashboards import tallied
    from portal.views.browse import FACET_TALLY

    client = loaded.test_client()
    with app_engine(loaded).connect() as conn:
        region = breakdown(conn, "region", [], limit=1)[0].key
        filters = dfilters.parse([("region", region)])
        expected = breakdown(conn, "supplier", dfilters.conditions(filters), limit=charts.TOP)
        with loaded.test_request_context("/dashboards/"):
            tally = loaded.extensions[FACET_TALLY].get(conn)  # small: loaded in this request
    assert tally is not None
    got = client.get(f"/dashboards/data/top-suppliers.json?{filters.query_string()}").json["groups"]
    assert [(g["key"], g["name"], g["orders"], g["amount"]) for g in got] == [
        (g.key, g.label, g.orders, str(g.amount)) for g in expected
    ]
    assert tallied._prepared is not None and tallied._prepared.tally() is tally  # the tally answered
