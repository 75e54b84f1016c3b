"""The OpenAPI description is complete and true: it lists every route under /api/ (and no route
the app lacks), every parameter the lists accept, and schemathesis, driving the live app over
WSGI with examples generated from it, finds no server error and no answer that breaks it,
the evidence log and proof endpoints included (a published, sealed dataset; SQLite and
PostgreSQL)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from api_support import publish_generated
from evidence_builders import publish_examples
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import fresh_postgres_db, make_app

from portal.cli import main
from portal.db import app_engine, upgrade
from portal.views import api
from portal.views.openapi import SCHEMA_FILES, spec

_VARIABLE = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_0-9]+)>")


def _openapi_path(rule: str) -> str:
    return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", rule)


def test_the_spec_lists_every_api_route_and_only_those(sqlite_app):
    described = set(spec(sqlite_app.config)["paths"])
    routes = {
        _openapi_path(rule.rule)
        for rule in sqlite_app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and "GET" in rule.methods
    }
    assert routes - described == set(), "routes missing from the OpenAPI description"
    every = {_openapi_path(rule.rule) for rule in sqlite_app.url_map.iter_rules()}
    assert described - every == set(), "described paths the app does not serve"


def test_the_lists_document_every_parameter_they_accept(sqlite_app):
    paths = spec(sqlite_app.config)["paths"]
    for path in ("/api/releases", "/api/records"):
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert names == set(api.LIST_PARAMS)


def test_every_text_is_in_spanish_too(sqlite_app):
    described = spec(sqlite_app.config)
    for op in (op for item in described["paths"].values() for op in item.values()):
        assert op["x-es"]["summary"] and op["x-es"]["description"]
        for thing in [*op["parameters"], *op["responses"].values()]:
            assert thing["x-es"]["description"], thing


def test_the_docs_page_in_both_languages_without_inline_script(sqlite_app):
    client = sqlite_app.test_client()
    spanish = client.get("/api/docs?lang=es")
    english = client.get("/api/docs?lang=en")
    assert spanish.status_code == english.status_code == 200
    assert "Entregas (releases), página por página" in spanish.get_data(as_text=True)
    assert "Releases, page by page" in english.get_data(as_text=True)
    assert "Parámetros" in spanish.get_data(as_text=True) and "Parameters" in english.get_data(as_text=True)
    for page in (spanish, english):
        text = page.get_data(as_text=True)
        assert "/api/openapi.json" in text and "<script>" not in text and "http://cdn" not in text
        for path in spec(sqlite_app.config)["paths"]:
            assert f"GET {path}" in text


def test_the_schema_files_are_the_vendored_ones(sqlite_app):
    from ocds.schema import CORE_DIR

    client = sqlite_app.test_client()
    for name in SCHEMA_FILES:
        response = client.get(f"/api/schema/{name}")
        assert response.status_code == 200 and response.data == (CORE_DIR / name).read_bytes()
    assert client.get("/api/schema/release-schema.json?x=1").status_code == 400
    assert client.get("/api/schema/..%2Fsecret").status_code == 404


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_app(request, tmp_path_factory):
    """A portal with catalogue orders published (PDFs and quotes included) and the log sealed,
    so proofs are complete and tiles are served."""
    tmp_path = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'veraz.sqlite3'}"
    else:
        url = fresh_postgres_db(request.getfixturevalue("postgres_server"))
    upgrade(url)
    app = make_app(url, tmp_path)
    publish_examples(app, tmp_path, pdfs=True)
    publish_generated(app, tmp_path, 30, seed=5)
    assert app.test_cli_runner().invoke(main, ["anchor"]).exit_code == 0
    yield app
    app_engine(app).dispose()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: Examples per operation and mode: enough to reach every parameter's edge (the coverage of
#: bad values is the hostile-input test's job), few enough for the suite (< 60 s on 2 cores).
EXAMPLES = 15


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_live_app_keeps_its_description(live_app, mode):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", live_app)
    failures: list[str] = []
    unsatisfiable: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # Schemathesis leaves out the description's own address.
    assert {op.path for op in operations} == set(spec(live_app.config)["paths"]) - {"/api/openapi.json"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.generate],
        )
        def run(case):
            # The WSGI transport does not decompress; compression has its own tests.
            case.call_and_validate(checks=CHECKS, headers={"Accept-Encoding": "identity"})

        try:
            run()
        except Unsatisfiable:
            # Negative mode: nothing in this operation can be malformed and still be sent (a
            # path segment that must be any non-empty text).
            assert mode is GenerationMode.NEGATIVE, operation.label
            unsatisfiable.append(operation.label)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - reported together
            failures.append(f"{operation.label}: {error}"[:2000])
    assert failures == []
    # Most operations have parameters that can be sent malformed.
    assert len(unsatisfiable) < len(operations) // 2, unsatisfiable
