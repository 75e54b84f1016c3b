"""/contracts: facet counts checked against counts recomputed in Python from the releases
(generated orders and real imported OCDS, SQLite and PostgreSQL), keyset pages that walk every
row exactly once in both orders, whole-result downloads, and bad input answered with a 400 that
names the parameter."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support import make_app, need

from ocds.summary import browse_columns, read_model_rows
from portal import queries
from portal.db import app_engine
from portal.models import records
from portal.readmodel.facets import Browse
from portal.readmodel.queries import every_batch

_LOADER = Path(__file__).resolve().parent.parent / "readmodel" / "readmodel_publish.py"


def _publish(url, tmp_path, orders=300):
    import importlib.util

    spec = importlib.util.spec_from_file_location("readmodel_publish", _LOADER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.publish(url, tmp_path, orders=orders)


@pytest.fixture(scope="module")
def small_client(tmp_path_factory):
    """A client of the portal on a SQLite file with 60 orders, shared by the bad-input cases."""
    from portal.db import upgrade

    tmp = tmp_path_factory.mktemp("browse")
    url = f"sqlite:///{tmp / 'veraz.sqlite3'}"
    upgrade(url)
    _publish(url, tmp, orders=60)
    app = make_app(url, tmp)
    yield app.test_client()
    app_engine(app).dispose()


@pytest.fixture
def browse_app(database_url, tmp_path):
    _publish(database_url, tmp_path)
    app = make_app(database_url, tmp_path)
    yield app
    app_engine(app).dispose()


def _facts(app) -> list[dict]:
    """Each process's facet values, recomputed from its compiled release."""
    out = []
    with app_engine(app).connect() as conn:
        for ocid in conn.execute(select(records.c.ocid)).scalars():
            compiled = queries.compiled_release(conn, ocid)
            columns, rows = browse_columns(compiled), read_model_rows(compiled)
            out.append(
                {
                    "procedure": {columns["procedure"]} - {None},
                    "buyer": {columns["buyer_id"]} - {None},
                    "status": {columns["status"]} - {None},
                    "region": {columns["delivery_region"]} - {None},
                    "month": {columns["month"]} - {None},
                    "year": {columns["month"][:4]} if columns["month"] else set(),
                    "agreement": {columns["agreement_ocid"]} - {None},
                    "segment": {r["segment"] for r in rows["item_lines"]} - {None},
                    "supplier": {p["party_id"] for p in rows["parties"] if p["role"] == "supplier"} - {None},
                }
            )
    return out


def _expected(facts, facet, selected):
    """Counts of ``facet``'s values over the processes matching every other selection."""
    counts: Counter = Counter()
    for f in facts:
        if all(f[name] & set(values) for name, values in selected.items() if name != facet):
            counts.update(f[facet])
    return counts


def _counts(client, query: str) -> dict:
    response = client.get(f"/contracts.json?{query}")
    assert response.status_code == 200, response.data
    return json.loads(response.data)


@pytest.mark.realdata
def test_facet_counts_match_the_releases(browse_app):
    facts = _facts(browse_app)
    client = browse_app.test_client()
    assert _counts(client, "")["total"] == len(facts)
    segments = _expected(facts, "segment", {}).most_common(2)
    years = _expected(facts, "year", {"segment": [segments[0][0]]}).most_common(1)
    selections = [
        {},
        {"segment": [segments[0][0], segments[1][0]]},
        {"segment": [segments[0][0]], "year": [years[0][0]]},
        {
            "procedure": ["catalogue_order", "open"],
            "segment": [segments[1][0]],
            "status": sorted(_expected(facts, "status", {}))[:2],
        },
    ]
    for selected in selections:
        query = "&".join(f"{k}={v}" for k, values in selected.items() for v in values) + "&limit=1"
        body = _counts(client, query)
        matching = [f for f in facts if all(f[k] & set(v) for k, v in selected.items())]
        assert body["total"] == len(matching), selected
        for facet in (
            "procedure",
            "segment",
            "status",
            "year",
            "month",
            "region",
            "buyer",
            "supplier",
            "agreement",
        ):
            expected = _expected(facts, facet, selected)
            shown = {v["value"]: v["count"] for v in body["facets"][facet]}
            limit = 50 if facet in ("month", "year", "segment") else 12
            assert set(selected.get(facet, ())) <= set(shown), (facet, selected)
            for value, count in shown.items():
                assert count == expected[value], (facet, value, selected)
            # the largest values are shown (and the selected ones, whatever their count)
            counted = sorted((c for c in shown.values() if c), reverse=True)
            assert counted[:limit] == sorted(expected.values(), reverse=True)[:limit], (facet, selected)


@pytest.mark.parametrize("sort", ["-date", "date", "-amount", "amount"])
def test_keyset_pages_walk_every_row_once(browse_app, sort):
    client = browse_app.test_client()
    with app_engine(browse_app).connect() as conn:
        everything = set(conn.execute(select(records.c.ocid)).scalars())
        # processes without an amount (imported OCDS) take the NULL branches of the cursor
        assert conn.execute(select(func.count()).where(records.c.amount.is_(None))).scalar_one() > 0
    seen: list[str] = []
    amounts: list[str] = []
    url = f"/contracts.json?sort={sort}&limit=37"
    while url:
        body = json.loads(client.get(url.removeprefix("http://localhost")).data)
        seen.extend(r["ocid"] for r in body["results"])
        amounts.extend(r["amount"] or "" for r in body["results"])
        url = body["next"]
    assert len(seen) == len(set(seen)) == len(everything)
    assert set(seen) == everything
    csv_rows = list(csv.DictReader(io.StringIO(client.get(f"/contracts.csv?sort={sort}").data.decode())))
    assert [r["ocid"] for r in csv_rows] == seen  # the download is the whole result, in order
    assert [r["amount"] for r in csv_rows] == amounts  # written by the database as the page writes it
    lines = client.get(f"/contracts.jsonl?sort={sort}").data.splitlines()
    assert [json.loads(line)["ocid"] for line in lines] == seen
    # in batches smaller than the result (keyset queries on SQLite, one cursor on PostgreSQL)
    batches = list(
        every_batch(app_engine(browse_app), Browse(sort=sort), {}, ("ocid", "date", "amount"), batch=7)
    )
    assert all(len(rows) == 7 for rows in batches[:-1])
    assert [row[0] for rows in batches for row in rows] == seen


BAD = [
    ("segment=4", "segment"),
    ("segment=99", "segment"),  # well formed, but no process has it
    ("buyer=nobody", "buyer"),
    ("amount=lots", "amount"),
    ("amount_min=1e9", "amount_min"),
    ("amount_min=10&amount_max=5", "amount_max"),
    ("month=2024-13", "month"),
    ("year=24", "year"),
    ("sort=price", "sort"),
    ("limit=0", "limit"),
    ("limit=100000", "limit"),
    ("cursor=%%%", "cursor"),
    ("colour=red", "colour"),
    ("facet_q=x", "facet"),
    ("facet=colour", "facet"),
    ("q=" + "x" * 500, "q"),
    ("date_from=2024-13-01", "date_from"),
    ("date_from=2024-02-30", "date_from"),  # well formed, but no such day
    ("date_to=yesterday", "date_to"),
    ("date_from=2024-05-01&date_to=2024-04-01", "date_to"),
]


@pytest.mark.parametrize(("query", "name"), BAD, ids=[b[0][:30] for b in BAD])
def test_bad_input_is_a_400_naming_the_parameter(small_client, query, name):
    client = small_client
    for path in ("/contracts.json", "/contracts"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        text = response.data.decode()
        assert repr(name) in text.replace("&#39;", "'"), text[:300]
    body = json.loads(client.get(f"/contracts.json?{query}").data)
    assert name in body["error"]["detail"]


def test_a_cursor_from_another_query_or_sort_is_refused(small_client):
    client = small_client
    cursor = json.loads(client.get("/contracts.json?limit=5").data)["next"].split("cursor=")[1]
    assert client.get(f"/contracts.json?limit=5&cursor={cursor}").status_code == 200
    for other in ("sort=amount", "procedure=catalogue_order", "q=OC"):
        response = client.get(f"/contracts.json?limit=5&{other}&cursor={cursor}")
        assert response.status_code == 400
        assert "another query or sort" in json.loads(response.data)["error"]["detail"]


def test_too_many_values_and_bad_downloads_are_400s(small_client):
    many = "&".join(f"buyer=b{i}" for i in range(51))
    for path in ("/contracts.json", "/contracts.csv", "/contracts.jsonl"):
        for query, name in ((many, "buyer"), ("segment=99", "segment"), ("cursor=x", "cursor")):
            response = small_client.get(f"{path}?{query}")
            assert response.status_code == 400, (path, query)
            assert repr(name) in response.data.decode().replace("&#39;", "'"), (path, query)
    response = small_client.get("/buyers/PE-RUC-1.json?limit=5")
    assert response.status_code == 400
    assert "'limit'" in json.loads(response.data)["error"]["detail"]
    assert small_client.get("/suppliers/nobody.json").status_code == 404


def test_profiles_add_up_to_the_listing(small_client):
    body = json.loads(small_client.get("/contracts.json?procedure=catalogue_order&limit=1").data)
    row = body["results"][0]
    for kind, key, facet in (
        ("buyers", row["buyer_id"], "buyer"),
        ("suppliers", row["supplier_id"], "supplier"),
        ("agreements", row["agreement_ocid"], "agreement"),
    ):
        profile = json.loads(small_client.get(f"/{kind}/{key}.json").data)
        listed = []
        url = f"/contracts.json?{facet}={key}&limit=200"
        while url:
            page = json.loads(small_client.get(url.removeprefix("http://localhost")).data)
            listed.extend(page["results"])
            url = page["next"]
        assert profile["orders"] == len(listed) > 0
        spent = [r for r in listed if r["status"] != "cancelled" and r["currency"] == "PEN"]
        total = sum(Decimal(r["amount"]) for r in spent if r["amount"] is not None)
        assert sum(Decimal(y["amount"]) for y in profile["years"] if y["currency"] == "PEN") == total
        assert sum(Decimal(m["amount"]) for m in profile["months"] if m["currency"] == "PEN") == total
        page = small_client.get(f"/{kind}/{key}").data.decode()
        assert "<svg" in page
        assert re.search(r"<script(?![^>]*\bsrc=)|\sstyle=", page) is None  # CSP: no inline code
    listing = small_client.get("/contracts?procedure=catalogue_order").data.decode()
    assert f'href="/buyers/{row["buyer_id"]}"' in listing
    assert f'href="/suppliers/{row["supplier_id"]}"' in listing


@pytest.mark.realdata
def test_counts_follow_a_new_publication(sqlite_url, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("readmodel_publish", _LOADER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    need(bool(module.REAL_FILES), "the real published OCDS (../shared/real-ocds) is not present")
    module.publish(sqlite_url, tmp_path, orders=40, real=False)
    app = make_app(sqlite_url, tmp_path)
    client = app.test_client()
    before = _counts(client, "")
    assert {v["value"] for v in before["facets"]["procedure"]} == {"catalogue_order", "framework_agreement"}
    from portal.publishing import import_ocds

    engine = app_engine(app)
    import_ocds(engine, module.REAL_FILES)
    after = _counts(client, "")
    with engine.connect() as conn:
        assert after["total"] == conn.execute(select(func.count()).select_from(records)).scalar_one()
    assert after["total"] > before["total"]
    assert {"open", "limited"} <= {v["value"] for v in after["facets"]["procedure"]}
    engine.dispose()


def test_q_counts_facets_over_what_search_finds(small_client):
    from portal.search import search_ocids

    app = small_client.application
    engine = app_engine(app)
    found = set(search_ocids(engine, app.config, "cartucho", 1000))
    assert found
    with engine.connect() as conn:
        segments = {
            ocid: {r["segment"] for r in read_model_rows(queries.compiled_release(conn, ocid))["item_lines"]}
            for ocid in found
        }
    body = _counts(small_client, "q=cartucho&limit=200")
    assert body["total"] == len(found)
    assert {r["ocid"] for r in body["results"]} == found
    expected = Counter(s for ocid in found for s in segments[ocid] if s)
    assert {v["value"]: v["count"] for v in body["facets"]["segment"]} == dict(expected)
    segment = expected.most_common(1)[0][0]
    narrowed = _counts(small_client, f"q=cartucho&segment={segment}&limit=200")
    assert narrowed["total"] == sum(1 for ocid in found if segment in segments[ocid])


def test_a_date_range_filters_rows_counts_and_downloads(small_client):
    app = small_client.application
    with app_engine(app).connect() as conn:
        dates = {
            ocid: browse_columns(queries.compiled_release(conn, ocid))["date"]
            for ocid in conn.execute(select(records.c.ocid)).scalars()
        }
    days = sorted(d[:10] for d in dates.values() if d)
    low, high = days[len(days) // 4], days[len(days) // 2]
    expected = {o for o, d in dates.items() if d and low <= d[:10] <= high}
    assert 0 < len(expected) < len(dates)
    query = f"date_from={low}&date_to={high}"
    body = _counts(small_client, query + "&limit=200")
    assert body["total"] == len(expected)
    assert {r["ocid"] for r in body["results"]} == expected
    months = {v["value"] for v in body["facets"]["month"]}
    assert months == {dates[o][:7] for o in expected}
    csv_rows = list(csv.DictReader(io.StringIO(small_client.get(f"/contracts.csv?{query}").data.decode())))
    assert {r["ocid"] for r in csv_rows} == expected
    assert _counts(small_client, f"date_from={low}&limit=1")["total"] == sum(
        1 for d in dates.values() if d and d[:10] >= low
    )
    page = small_client.get(f"/contracts?{query}&sort=-amount&lang=es").data.decode()
    assert f'name="date_from" id="date-from" value="{low}"' in page
    # the text search form keeps the range
    assert f'<input type="hidden" name="date_to" value="{high}">' in page
    english = small_client.get(f"/contracts?{query}&lang=en").data.decode()
    assert "Order date" in english and "Fecha de la orden" in page


def test_home_offers_the_largest_of_each_way_in(small_client):
    listing = _counts(small_client, "limit=1")
    body = json.loads(small_client.get("/index.json").data)
    ways = {w["facet"]: w for w in body["ways_in"]}
    assert set(ways) == {"buyer", "supplier", "segment", "region", "agreement"}
    for facet, way in ways.items():
        largest = [(v["value"], v["count"]) for v in listing["facets"][facet]][: len(way["items"])]
        assert [(v["value"], v["count"]) for v in way["items"]] == largest, facet
        assert way["items"], facet
    page = small_client.get("/?lang=es").data.decode()  # the client may keep another language
    assert "Por dónde empezar" in page
    buyer = ways["buyer"]["items"][0]
    assert f'href="/buyers/{buyer["value"]}"' in page
    segment = ways["segment"]["items"][0]
    assert f'href="/contracts?segment={segment["value"]}"' in page
    assert "Ways in" in small_client.get("/?lang=en").data.decode()
