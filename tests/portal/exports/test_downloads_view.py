"""``/downloads`` (es/en) lists every file with what it is for and a schema.org Dataset;
``/catalog.jsonld`` is a DCAT-AP catalogue; files come with ETag, Last-Modified and ranges, and
nothing outside the manifest can be fetched (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import re

import orjson
import pytest
from evidence_builders import publish_examples
from exports_support import folder_of, manifest, run_export


@pytest.fixture
def exported(app, tmp_path):
    publish_examples(app, tmp_path)
    run_export(app)
    return app


def _get(client, url: str, **kwargs):
    """A response read whole and closed (a file response otherwise keeps its file open)."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def _json_ld(html: str) -> dict:
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return orjson.loads(block)


def test_the_page_lists_every_file_in_spanish_and_english(exported):
    client = exported.test_client()
    m = manifest(exported)
    es = client.get("/downloads")
    assert es.status_code == 200
    html = es.get_data(as_text=True)
    assert "Descarga de datos completos" in html and "Tablas CSV" in html and "sha256sum" in html
    for f in m["files"]:
        assert f'href="/downloads/{f["name"]}"' in html and f["sha256"] in html
    en = client.get("/downloads?lang=en").get_data(as_text=True)
    assert "Bulk downloads" in en and "CSV tables" in en
    assert 'href="/downloads"' in client.get("/").get_data(as_text=True)  # in the navigation


def test_the_page_carries_a_schema_org_dataset_with_every_download(exported):
    html = exported.test_client().get("/downloads").get_data(as_text=True)
    dataset = _json_ld(html)
    assert dataset["@type"] == "Dataset" and dataset["license"] == exported.config["LICENSE"]
    downloads = {d["name"]: d for d in dataset["distribution"]}
    for f in manifest(exported)["files"]:
        d = downloads[f["name"]]
        assert d["@type"] == "DataDownload" and d["contentUrl"] == f"http://localhost/downloads/{f['name']}"
        assert d["contentSize"] == str(f["size"])


def test_the_json_ld_block_cannot_close_its_script(app, tmp_path):
    app.config["PUBLISHER_NAME"] = "</script><script>alert(1)</script>"
    publish_examples(app, tmp_path)
    run_export(app)
    html = app.test_client().get("/downloads").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert _json_ld(html)["creator"]["name"] == "</script><script>alert(1)</script>"


def test_dcat_catalogue(exported):
    response = exported.test_client().get("/catalog.jsonld")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    catalog = response.get_json(force=True)
    assert catalog["@type"] == "dcat:Catalog" and catalog["dct:publisher"]["foaf:name"]
    (dataset,) = catalog["dcat:dataset"]
    assert dataset["@type"] == "dcat:Dataset" and dataset["dct:license"]["@id"] == exported.config["LICENSE"]
    assert {t["@language"] for t in dataset["dct:title"]} == {"es", "en"}
    files = {f["name"]: f for f in manifest(exported)["files"]}
    assert len(dataset["dcat:distribution"]) == len(files)
    for d in dataset["dcat:distribution"]:
        f = files[d["dct:title"]]
        assert d["dcat:downloadURL"]["@id"] == f"http://localhost/downloads/{f['name']}"
        assert d["spdx:checksum"]["spdx:checksumValue"] == f["sha256"]
        assert d["dcat:byteSize"]["@value"] == str(f["size"])
        assert d["dct:format"]["@id"].startswith(
            "http://publications.europa.eu/resource/authority/file-type/"
        )


def test_files_with_etag_last_modified_ranges_and_types(exported):
    client = exported.test_client()
    entry = next(f for f in manifest(exported)["files"] if f["name"] == "2025.jsonl.gz")
    data = (folder_of(exported) / "2025.jsonl.gz").read_bytes()
    whole = _get(client, "/downloads/2025.jsonl.gz")
    assert whole.status_code == 200 and whole.data == data
    assert whole.headers["Content-Type"] == "application/gzip"
    assert whole.headers["ETag"] == f'"{entry["sha256"]}"' == f'"{hashlib.sha256(data).hexdigest()}"'
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Last-Modified"]
    assert (
        _get(client, "/downloads/2025.jsonl.gz", headers={"If-None-Match": whole.headers["ETag"]}).status_code
        == 304
    )
    since = _get(
        client, "/downloads/2025.jsonl.gz", headers={"If-Modified-Since": whole.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    part = _get(client, "/downloads/2025.jsonl.gz", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    xlsx = _get(client, "/downloads/2025.xlsx")
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sums = _get(client, "/downloads/SHA256SUMS")
    assert sums.status_code == 200 and sums.data == (folder_of(exported) / "SHA256SUMS").read_bytes()
    assert _get(client, "/downloads/manifest.json").get_json()["files"] == manifest(exported)["files"]


def test_nothing_outside_the_manifest_and_no_unknown_parameters(exported):
    client = exported.test_client()
    (folder_of(exported) / "secret.txt").write_text("no")
    for name in ("secret.txt", ".lock", "..%2Fveraz.sqlite3", "2031.jsonl.gz", "%00"):
        assert _get(client, f"/downloads/{name}").status_code == 404, name
    for url in (
        "/downloads?x=1",
        "/downloads.json?year=2025",
        "/catalog.jsonld?q=a",
        "/downloads/2025.jsonl.gz?x=1",
    ):
        response = _get(client, url)
        assert response.status_code == 400, url


def test_before_any_export(app):
    client = app.test_client()
    html = _get(client, "/downloads").get_data(as_text=True)
    assert "Aún no se ha exportado" in html and "ld+json" not in html
    assert _get(client, "/downloads.json").status_code == 404
    assert _get(client, "/downloads/manifest.json").status_code == 404
    assert _get(client, "/catalog.jsonld").get_json(force=True)["dcat:dataset"][0]["dcat:distribution"] == []
