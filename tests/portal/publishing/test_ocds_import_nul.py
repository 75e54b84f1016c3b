"""A NUL character (U+0000) is valid JSON and PostgreSQL text cannot hold it: a release with one
in its text is stored (the release keeps every byte; shown text leaves it out), and one with
one in its ocid or id is refused by name, never a failed batch (SQLite and PostgreSQL)."""

from __future__ import annotations

import orjson

from portal.db import app_engine
from portal.publishing import import_ocds


def test_nul_in_text_is_stored_and_in_an_identifier_is_refused(app, tmp_path):
    package = {
        "uri": "https://example.org/p.json",
        "version": "1.1",
        "publishedDate": "2024-01-01T00:00:00Z",
        "publisher": {"name": "Otro\u0000 publicador"},
        "releases": [
            {
                "ocid": "ocds-nul-1",
                "id": "1",
                "date": "2024-01-01T00:00:00Z\u0000",
                "tag": ["tender\u0000"],
                "initiationType": "tender",
                "tender": {"id": "T", "title": "Compra\u0000 de papel"},
                "parties": [{"id": "B\u0000", "name": "Muni\u0000cipalidad", "roles": ["buyer"]}],
            },
            {
                "ocid": "ocds-nul-\u00002",
                "id": "1",
                "date": "2024-01-01T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
            },
        ],
    }
    path = tmp_path / "nul.json"
    path.write_bytes(orjson.dumps(package))
    summary = import_ocds(app_engine(app), [path])
    assert summary.published_releases == 1
    assert [(r.field, "NUL" in r.reason) for r in summary.rejects] == [("ocid", True)]
    client = app.test_client()
    page = client.get("/contracts/ocds-nul-1")
    assert page.status_code == 200 and "Compra de papel" in page.get_data(as_text=True)
    assert client.get("/api/releases/1?ocid=ocds-nul-1").get_json()["publisher"]["name"] == "Otro publicador"
