"""`import_ocds` judges each release by its own package's declared extensions and reports the
extensions it does not know (SQLite and PostgreSQL)."""

from __future__ import annotations

import orjson

from portal.db import app_engine
from portal.publishing import import_ocds

BIDS = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json"
)
UNKNOWN = "https://example.org/ocds_mystery_extension/extension.json"


def _package(ocid: str, extensions: list[str]) -> dict:
    return {
        "uri": "https://example.org/p.json",
        "version": "1.1",
        "publishedDate": "2024-01-01T00:00:00Z",
        "publisher": {"name": "Otro"},
        "extensions": extensions,
        "releases": [
            {
                "ocid": ocid,
                "id": "1",
                "date": "2024-01-01T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "bids": {"details": "not a list"},
            }
        ],
    }


def test_the_declared_extensions_decide_validity(app, tmp_path):
    declared = tmp_path / "declared.json"
    declared.write_bytes(orjson.dumps(_package("ocds-abc-1", [BIDS, UNKNOWN])))
    undeclared = tmp_path / "undeclared.json"
    undeclared.write_bytes(orjson.dumps(_package("ocds-abc-2", [])))
    summary = import_ocds(app_engine(app), [declared, undeclared])
    assert summary.rejected == 0
    assert summary.published_releases == 2
    # Kept although invalid only where the package declared the bids extension.
    assert [(r.record, r.field) for r in summary.invalid] == [("ocds-abc-1 1", "bids/details")]
    reports = {r.file: r for r in summary.files}
    assert reports[str(declared)].unknown_extensions == [UNKNOWN]
    assert UNKNOWN in str(reports[str(declared)])
    assert reports[str(undeclared)].unknown_extensions == []
