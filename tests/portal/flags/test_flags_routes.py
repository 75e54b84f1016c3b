"""The red flags' routes answer any input without a server error, name a bad parameter in a
400, and answer before the flags' tables exist (SQLite and PostgreSQL)."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
from flags_support import SEED, publish_lines, with_flag_tables
from support import make_app

from ocds.catalogue.generate import generate_orders
from portal.db import app_engine
from portal.flags import refresh, thresholds

HOSTILE = [
    "0",
    "9223372036854775808",
    "-1",
    "٣",
    "1_000",
    " 7",
    "",
    "\x00",
    "..",
    "a/b",
    "é",
    "<script>alert(1)</script>",
    "'; DROP TABLE flag_hits; --",
    "2025-00",
    "2025-1",
    "😀",
    "x" * 3000,
]
PARAMS = ["flag", "buyer", "supplier", "agreement", "from", "to", "limit", "offset", "lang", "other"]


@pytest.fixture
def flagged_app(database_url, tmp_path):
    engine = with_flag_tables(database_url)
    lines = [orjson.dumps(o) + b"\n" for o in generate_orders(300, SEED)]
    publish_lines(engine, lines, tmp_path, "orders.jsonl")
    refresh(engine, thresholds())
    engine.dispose()
    app = make_app(database_url, tmp_path)
    yield app
    app_engine(app).dispose()


def test_any_input_answers_below_500(flagged_app):
    client = flagged_app.test_client()
    failures = []
    for base in ("/flags", "/api/flags"):
        for param in PARAMS:
            for value in HOSTILE:
                response = client.get(f"{base}?{param}={quote(value)}")
                if response.status_code >= 500:
                    failures.append((base, param, value[:20], response.status_code))
    for value in HOSTILE:
        if value:
            response = client.get(f"/api/flags/orders/{quote(value, safe='')}")
            if response.status_code >= 500:
                failures.append(("orders", value[:20], response.status_code))
    assert failures == []


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("flag=nope", "'flag'"),
        ("from=2025-13", "'from'"),
        ("to=25-01", "'to'"),
        ("limit=0", "'limit'"),
        ("limit=1001", "'limit'"),
        ("offset=x", "'offset'"),
        ("buyer=" + "x" * 300, "'buyer'"),
        ("limt=3", "'limt'"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(flagged_app, query, named):
    response = flagged_app.test_client().get(f"/api/flags?{query}")
    assert response.status_code == 400
    assert named in response.get_json()["error"]["detail"]


def test_routes_answer_before_the_first_refresh(sqlite_url, tmp_path):
    """Migrated but never refreshed: the pages answer and list every flag."""
    app = make_app(sqlite_url, tmp_path)
    client = app.test_client()
    assert client.get("/flags").status_code == 200
    body = client.get("/api/flags").get_json()
    assert body["ready"] is True and len(body["flags"]) >= 10
    assert client.get("/api/flags/orders/x").get_json() == {"ocid": "x", "flags": []}
    app_engine(app).dispose()
