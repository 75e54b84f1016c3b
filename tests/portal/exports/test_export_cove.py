"""libcoveocds, the Open Contracting Partnership's data review library (the Data Review Tool's
checks), on a sample of the bulk downloads: the release packages of an export pass with no
validation error (SQLite). Record packages are not checked: the record package schema refers
to the release schema by its URL, which libcoveocds fetches from the network whatever its
``standard_zip`` says.

Offline: libcoveocds reads the standard from a ZIP of the standard's repository when its
``standard_zip`` setting names one; the test builds that ZIP from the 1.1.5 schemas as published
(``ocds-1.1.5-full/``: libcoveocds needs their descriptions) and the project's vendored
codelists (``ocds/schema/1__1__5/codelists``), and forbids network connections while it runs.
The packages' declared extensions are left out of the sample: libcoveocds would download them
(the portal's own validation checks them against the vendored extensions,
``ocds.validate``); their fields are then reported as additional fields, not errors."""

from __future__ import annotations

import gzip
import socket
import zipfile
from pathlib import Path

import orjson
import pytest
from evidence_builders import publish_examples
from exports_support import folder_of, run_export
from libcoveocds.api import ocds_json_output
from libcoveocds.config import LibCoveOCDSConfig

from ocds.schema import CORE_DIR

FULL = Path(__file__).with_name("ocds-1.1.5-full")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _standard_zip(tmp_path) -> str:
    path = tmp_path / "standard.zip"
    with zipfile.ZipFile(path, "w") as z:
        # As GitHub's archives: the top folder's entry first (ocdsextensionregistry reads it).
        z.writestr("standard-1__1__5/", b"")
        full = {file.name for file in FULL.glob("*.json")}
        for file in sorted(
            [*FULL.glob("*.json"), *(f for f in CORE_DIR.glob("*.json") if f.name not in full)]
        ):
            z.write(file, f"standard-1__1__5/schema/{file.name}")
        for file in sorted((CORE_DIR / "codelists").glob("*.csv")):
            z.write(file, f"standard-1__1__5/schema/codelists/{file.name}")
    return path.as_uri()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_libcoveocds_finds_no_error_in_exported_packages(app, tmp_path, no_network):
    publish_examples(app, tmp_path)
    run_export(app, formats=frozenset({"compiled", "packages"}))
    config = LibCoveOCDSConfig()
    config.config["standard_zip"] = _standard_zip(tmp_path)
    config.config["context"] = "api"
    checked = 0
    for path in sorted(folder_of(app).glob("release-package-*.json.gz")):
        package = orjson.loads(gzip.decompress(path.read_bytes()))
        package.pop("extensions", None)
        sample = tmp_path / f"{path.stem}"
        sample.write_bytes(orjson.dumps(package))
        out = ocds_json_output(
            str(tmp_path / f"cove-{path.stem}"), str(sample), "1.1", lib_cove_ocds_config=config
        )
        assert out["validation_errors"] == [], (path.name, out["validation_errors"])
        assert out["version_used"] == "1.1" and out["count"] == len(package["releases"])
        checked += 1
    assert checked >= 2


def test_libcoveocds_reports_a_broken_release(tmp_path, no_network):
    """The same set-up sees errors: the check above cannot pass for want of looking."""
    config = LibCoveOCDSConfig()
    config.config["standard_zip"] = _standard_zip(tmp_path)
    config.config["context"] = "api"
    bad = {
        "uri": "https://example.org/p.json",
        "publishedDate": "2024-01-01T00:00:00Z",
        "version": "1.1",
        "publisher": {"name": "X"},
        "releases": [
            {
                "ocid": "ocds-abc123-1",
                "id": "1",
                "date": "2024-01-01T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "tender": {"id": "T", "value": {"amount": "mucho", "currency": "PEN"}},
            }
        ],
    }
    sample = tmp_path / "bad.json"
    sample.write_bytes(orjson.dumps(bad))
    out = ocds_json_output(str(tmp_path / "cove"), str(sample), "1.1", lib_cove_ocds_config=config)
    assert [e["path"] for e in out["validation_errors"]] == ["releases/0/tender/value/amount"]
