"""No input to any route gives a server error: every GET route of the app, with real and
hostile values in each of its path variables and in the query parameters the portal knows,
answers below 500 (SQLite and PostgreSQL). Routes are read from the app's URL map, so a new
route is covered without editing this test."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from builders import example_order
from evidence_builders import order_ocid, publish_examples

from portal.cli import main

HOSTILE = [
    "0",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999999",
    "-1",
    "²",
    "٣",
    "５",
    "1_000",
    " 7",
    "1e3",
    "x",
    "",
    "%00",
    "..",
    "a/b",
    "é",
    "<script>alert(1)</script>",
    "ocds-x?y#z",
    "'; DROP TABLE releases; --",
    "\u202e",
    "😀",
    "x" * 3000,
]
PARAMS = [
    "cursor",
    "limit",
    "start",
    "end",
    "first",
    "second",
    "after",
    "release",
    "q",
    "lang",
    "page",
    "sort",
    "ocid",
    "buyer",
    "supplier",
    "year",
    "amount",
    "facet_q",
    "format",
    "unknown_parameter",
]
VARIABLE = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>")


@pytest.fixture
def published(app, runner, tmp_path):
    publish_examples(app, tmp_path, pdfs=True)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    return app


def _real_values(app) -> dict[str, str]:
    ocid = order_ocid(example_order("1-single"))
    return {
        "ocid": ocid,
        "release_id": f"{ocid}-v1",
        "key": "20100070970",
        "name": "integrity",
        "filename": "extension.json",
        "size": "1",
        "level": "0",
        "path": "000",
        "proforma_id": "1",
        "sha256": "0" * 64,
        # Dash's component bundles (/dashboards/_dash-component-suites/...) and chart data
        "package_name": "dash",
        "fingerprinted_path": "dcc/dash_core_components.js",
        "ext": "csv",
    }


def _get(client, url: str, failures: list[str]) -> None:
    try:
        response = client.get(url)
        status = response.status_code
        response.close()  # file responses (the favicon, PDFs) hold their file open until closed
    except Exception as error:  # noqa: BLE001 - any exception here is the server error we look for
        failures.append(f"{url[:200]} raised {type(error).__name__}: {error}")
        return
    if status >= 500:
        failures.append(f"{url[:200]} answered {status}")


def test_every_route_answers_any_input_without_a_server_error(published):
    client = published.test_client()
    real = _real_values(published)
    failures: list[str] = []
    rules = [r for r in published.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"]
    assert len(rules) > 20
    for rule in rules:
        names = VARIABLE.findall(rule.rule)

        def build(values: dict[str, str], rule=rule) -> str:
            return VARIABLE.sub(lambda m: quote(values[m.group(1)], safe="/"), rule.rule)

        base = build(real)
        for name in names:
            for value in HOSTILE:
                _get(client, build({**real, name: value}), failures)
        for param in PARAMS:
            for value in HOSTILE[:12] + HOSTILE[-5:]:
                _get(client, f"{base}?{param}={quote(value)}", failures)
    assert failures == []
