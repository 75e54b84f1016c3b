"""The API republishes imported OCDS under its own publisher, licence and terms: a release, a
record and each page of the feed say who published what (SQLite and PostgreSQL)."""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from evidence_builders import publish_examples

from ocds.validate import package_problems
from portal.db import app_engine
from portal.publishing import import_ocds

OTHER = {
    "name": "Dirección Nacional de Contrataciones Públicas",
    "scheme": "PY-RUC",
    "uid": "80000000-0",
    "uri": "https://www.contrataciones.gov.py",
}
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
POLICY = "https://example.org/politica-de-publicacion"
EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/master/extension.json"
)


def _package(ocid: str, n: int) -> dict:
    return {
        "uri": "https://example.org/paquete/1.json",
        "version": "1.1",
        "publishedDate": "2023-05-01T00:00:00Z",
        "publisher": OTHER,
        "license": LICENSE,
        "publicationPolicy": POLICY,
        "extensions": [EXTENSION],
        "releases": [
            {
                "ocid": ocid,
                "id": f"{ocid}-{i}",
                "date": f"2023-04-0{i + 1}T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "tender": {"id": f"T-{i}", "title": f"Licitación {i}"},
            }
            for i in range(n)
        ],
    }


def _import(app, tmp_path, ocid: str, n: int = 2) -> None:
    path = tmp_path / "package.json"
    path.write_bytes(orjson.dumps(_package(ocid, n)))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejected == 0, summary.rejects


def test_an_imported_release_and_record_keep_their_publisher(app, tmp_path):
    client = app.test_client()
    _import(app, tmp_path, "ocds-abc123-1")
    package = client.get("/api/releases/ocds-abc123-1-0").get_json()
    assert package["publisher"] == OTHER
    assert (package["license"], package["publicationPolicy"]) == (LICENSE, POLICY)
    assert package["extensions"] == [EXTENSION]
    assert package["publishedDate"] == "2023-05-01T00:00:00Z"
    record = client.get("/api/records/ocds-abc123-1").get_json()
    assert record["publisher"] == OTHER and record["license"] == LICENSE
    assert package_problems(package, "release") == []
    assert package_problems(record, "record") == []


def test_catalogue_orders_are_published_by_the_portal(app, tmp_path):
    client = app.test_client()
    publish_examples(app, tmp_path)
    package = client.get("/api/releases?limit=1").get_json()
    assert package["publisher"]["name"] == app.config["PUBLISHER_NAME"]
    assert package["license"] == app.config["LICENSE"]


def test_a_feed_page_never_mixes_publishers(app, tmp_path):
    client = app.test_client()
    publish_examples(app, tmp_path)  # the portal's own
    _import(app, tmp_path, "ocds-abc123-2", n=3)  # then another publisher's
    seen, publishers, url = [], [], "/api/releases?limit=100"
    while url:
        package = client.get(url).get_json()
        assert package_problems(package, "release") == []
        ids = [r["id"] for r in package.get("releases", [])]
        seen += ids
        publishers.append((package["publisher"]["name"], len(ids)))
        next_url = package.get("links", {}).get("next")
        url = f"/api/releases?{urlsplit(next_url).query}" if next_url else None
        assert len(publishers) < 50
    assert len(seen) == len(set(seen))
    names = [name for name, count in publishers if count]
    # Every page is one publisher's: the portal's orders, then the imported ones, in two pages.
    assert names == [app.config["PUBLISHER_NAME"], OTHER["name"]]
    assert [r for r in seen if r.startswith("ocds-abc123-2")] == [f"ocds-abc123-2-{i}" for i in range(3)]


def test_releases_kept_although_invalid_are_named_in_their_package(app, tmp_path):
    client = app.test_client()
    package = _package("ocds-abc123-3", 2)
    package["releases"][1]["tender"]["value"] = {"amount": "not a number"}  # kept as published
    path = tmp_path / "invalid.json"
    path.write_bytes(orjson.dumps(package))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejected == 0 and summary.invalid_kept == 1
    validity = app.config["BASE_URL"].rstrip("/") + "/extensions/validity/extension.json"

    bad = client.get("/api/releases/ocds-abc123-3-1").get_json()
    [named] = bad["invalidReleases"]
    assert (named["ocid"], named["id"]) == ("ocds-abc123-3", "ocds-abc123-3-1")
    assert [p["field"] for p in named["problems"]] == ["tender/value/amount"]
    assert "number" in named["problems"][0]["reason"]
    assert validity in bad["extensions"]
    assert package_problems(bad, "release") == []
    good = client.get("/api/releases/ocds-abc123-3-0").get_json()
    assert "invalidReleases" not in good and validity not in good["extensions"]
    record = client.get("/api/records/ocds-abc123-3").get_json()
    assert [r["id"] for r in record["invalidReleases"]] == ["ocds-abc123-3-1"]
    assert package_problems(record, "record") == []
    feed = client.get("/api/releases?limit=100").get_json()
    assert [r["id"] for r in feed["invalidReleases"]] == ["ocds-abc123-3-1"]
    # The declared extension is served, and its patch is what validates the field.
    assert client.get("/extensions/validity/extension.json").status_code == 200
    assert client.get("/extensions/validity/release-package-schema.json").status_code == 200
    assert package_problems({**bad, "invalidReleases": [{"id": ""}]}, "release") != []


def test_the_order_page_says_who_published_an_imported_record(app, tmp_path):
    client = app.test_client()
    _import(app, tmp_path, "ocds-abc123-4")
    page = client.get("/contracts/ocds-abc123-4").get_data(as_text=True)
    assert "Quién lo publicó" in page and OTHER["name"] in page
    assert f'href="{LICENSE}"' in page and f'href="{POLICY}"' in page
    english = client.get("/contracts/ocds-abc123-4?lang=en").get_data(as_text=True)
    assert "Who published it" in english
    # The portal's own orders have no other publisher to name.
    publish_examples(app, tmp_path)
    ocid = client.get("/api/releases?limit=1").get_json()["releases"][0]["ocid"]
    assert "Quién lo publicó" not in client.get(f"/contracts/{ocid}").get_data(as_text=True)
