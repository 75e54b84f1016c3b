"""Mutated quotes through the real app (SQLite): every answer is a receipt or a JSON 4xx naming
the record, never a server error, and a refused request writes nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_support import bearer, example_quotes, token, written

from portal.db import app_engine

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FINITE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["orderNumber", "id", "supplier", "date", "currency", "lines", "total", "documents", "extra"]


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    from support import make_app

    from portal.db import upgrade

    tmp = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{tmp / 'veraz.sqlite3'}"
    upgrade(url)
    app = make_app(url, tmp, INTAKE_RATE_LIMIT="")
    yield app, bearer(token(app, "quotes"))
    app_engine(app).dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    changes=st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=3),
    removed=st.sets(st.sampled_from(FIELDS), max_size=2),
    as_lines=st.booleans(),
)
def test_mutated_quotes_never_fail_the_server(portal, changes, removed, as_lines):
    app, auth = portal
    quote = {k: v for k, v in {**example_quotes()[1], **changes}.items() if k not in removed}
    records = [example_quotes()[0], quote]
    if as_lines:
        body, kind = "\n".join(json.dumps(r) for r in records), "application/x-ndjson"
    else:
        body, kind = json.dumps(records), "application/json"
    before = written(app)
    response = app.test_client().post("/api/intake/quotes", data=body, content_type=kind, headers=auth)
    # NaN or an integer beyond 64 bits in one element is that record's problem (422), in an
    # array as in JSON Lines: never a 400 for the whole body.
    assert response.status_code in (200, 201, 409, 422)
    answer = response.get_json()
    if response.status_code >= 400:
        assert written(app)[:3] == before[:3]
        assert answer["error"]["status"] == response.status_code
    if response.status_code in (409, 422):
        assert answer["problems"] and all(p["record"] == 2 for p in answer["problems"]), answer
    else:
        assert [r["record"] for r in answer["receipts"]] == [1, 2], answer


@pytest.mark.parametrize("raw_value", ["1180591620717411303424", "NaN", "1E400"])
def test_an_array_element_json_parsers_refuse_is_its_own_records_problem(portal, raw_value):
    """orjson refuses the whole array for one element's 2**70, NaN or 1E400; the body is still
    read, and that element is refused as record 2, as the same line of JSON Lines would be (a
    number the canonical form cannot hold exactly names its field; NaN and 1E400 are not JSON)."""
    app, auth = portal
    first = json.dumps(example_quotes()[0])
    quote = {**example_quotes()[1], "id": f"PF-ODD-{len(raw_value)}", "total": "@"}
    second = json.dumps(quote).replace('"@"', raw_value)
    before = written(app)
    response = app.test_client().post(
        "/api/intake/quotes", data=f"[{first}, {second}]", content_type="application/json", headers=auth
    )
    answer = response.get_json()
    assert response.status_code == 422, answer
    assert written(app)[:3] == before[:3]
    assert [p["record"] for p in answer["problems"]] == [2]
    if raw_value.isdigit():
        assert answer["problems"][0]["field"].endswith("total"), answer


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(FINITE_JSON, max_size=6), st.sampled_from(["", " ", "\n\t "]))
def test_array_elements_are_the_bytes_sent(elements, space):
    """Each element's bytes parse to that element (strings with quotes, backslashes, brackets
    and commas included), whatever the whitespace between them."""
    from portal.intake.body import _array_elements

    body = ("[" + space + ("," + space).join(json.dumps(e) for e in elements) + space + "]").encode()
    assert [json.loads(b) for b in _array_elements(body)] == elements
