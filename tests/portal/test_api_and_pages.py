"""Pages and the OCDS API over an imported dataset (SQLite and PostgreSQL)."""

from __future__ import annotations

import orjson
import pytest
from builders import all_examples, write_jsonl

from ocds.validate import ReleaseValidator, package_problems
from portal.db import app_engine
from portal.publishing import import_orders


@pytest.fixture
def loaded(app, tmp_path):
    engine = app_engine(app)
    summary = import_orders(engine, write_jsonl(tmp_path / "o.jsonl", all_examples()),
                            ocid_prefix=app.config["OCID_PREFIX"], workers=1)
    assert summary.rejects == []
    return app


def _check_package(package: dict, kind: str) -> None:
    assert package_problems(package, kind, deep=True) == []


def test_release_pages_follow_links_next_to_the_end(loaded, client):
    seen = []
    url = "/api/releases?limit=3"
    pages = 0
    validator = ReleaseValidator()
    while url:
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "application/json"
        package = response.get_json()
        # package metadata complete, valid against the (paginated) package schema
        for key in ("uri", "publisher", "license", "publicationPolicy", "publishedDate", "version",
                    "extensions"):
            assert package[key]
        _check_package(package, "release")
        for release in package["releases"]:
            assert validator.problems(release) == []
        seen += [(r["ocid"], r["id"]) for r in package["releases"]]
        nxt = package.get("links", {}).get("next")
        url = nxt.replace("http://localhost", "") if nxt else None
        pages += 1
    assert pages == 3  # 7 releases: 3 + 3 + 1
    assert len(seen) == len(set(seen)) == 7


def test_release_by_id_and_record_package(loaded, client):
    package = client.get("/api/releases?limit=100").get_json()
    release = next(r for r in package["releases"] if "contract" in r["tag"])
    one = client.get(f"/api/releases/{release['id']}")
    assert one.status_code == 200
    assert one.get_json()["releases"] == [release]
    record_pkg = client.get(f"/api/records/{release['ocid']}").get_json()
    _check_package(record_pkg, "record")
    record = record_pkg["records"][0]
    assert record["ocid"] == release["ocid"]
    assert record["compiledRelease"]["tag"] == ["compiled"]
    assert "versionedRelease" in record
    twin = client.get(f"/contracts/{release['ocid']}.json")
    assert twin.status_code == 200 and orjson.loads(twin.data)["ocid"] == release["ocid"]


@pytest.mark.parametrize("url, status", [
    ("/api/releases?limit=0", 400), ("/api/releases?limit=abc", 400),
    ("/api/releases?limit=100000", 400), ("/api/releases/nope", 404), ("/api/records/nope", 404),
])
def test_api_errors_are_json_and_name_the_parameter(loaded, client, url, status):
    response = client.get(url)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["status"] == status and error["detail"]
    if "limit" in url:
        assert "'limit'" in error["detail"]


def test_home_and_order_pages_in_spanish_and_english(loaded, client):
    home = client.get("/").get_data(as_text=True)
    assert 'lang="es"' in home and "órdenes de compra" in home and "S/" in home
    english = client.get("/?lang=en")
    assert "purchase orders" in english.get_data(as_text=True)
    assert "lang=en" in english.headers["Set-Cookie"]
    ocid = f"{loaded.config['OCID_PREFIX']}-OC-2025-000127"
    # the cookie remembers the choice
    assert "Deliveries by destination" in client.get(f"/contracts/{ocid}").get_data(as_text=True)
    page = client.get(f"/contracts/{ocid}?lang=es").get_data(as_text=True)
    assert "Entregas por destino" in page and "Destino 2" in page
    assert "Historial de entregas" in page and "contractAmendment" in page
    missing = client.get("/contracts/ocds-nothing-here")
    assert missing.status_code == 404 and "No encontrado" in missing.get_data(as_text=True)


def test_everything_shown_is_escaped(app, client, tmp_path):
    from builders import example_order

    evil = example_order("1-single", orderNumber="OC-2025-000666")
    evil["buyer"]["name"] = "<script>alert('x')</script> Municipalidad"
    import_orders(app_engine(app), write_jsonl(tmp_path / "e.jsonl", [evil]),
                  ocid_prefix=app.config["OCID_PREFIX"], workers=1)
    page = client.get(f"/contracts/{app.config['OCID_PREFIX']}-OC-2025-000666").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_local_extension_is_served(client):
    ext = client.get("/extensions/integrity/extension.json").get_json()
    assert ext["schemas"] == ["release-schema.json"]
    patch = client.get("/extensions/integrity/release-schema.json").get_json()
    assert "integrity" in patch["definitions"]["Document"]["properties"]
