"""What the export tests share: a portal with orders of two years and another publisher's
package, exporting into its instance folder, and readers of the files it writes."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
from builders import all_examples, example_order

from portal.db import app_engine
from portal.exports import Publication, export
from portal.publishing import import_ocds

OTHER = {"name": "Dirección Nacional de Contrataciones Públicas", "scheme": "PY-RUC", "uid": "80000000-0"}


def other_package(ocid: str, n: int, year: int = 2023) -> dict:
    """Another publisher's release package: ``n`` releases of one process, in ``year``."""
    return {
        "uri": "https://example.org/paquete/1.json",
        "version": "1.1",
        "publishedDate": f"{year}-05-01T00:00:00Z",
        "publisher": OTHER,
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "publicationPolicy": "https://example.org/politica",
        "releases": [
            {
                "ocid": ocid,
                "id": f"{ocid}-{i}",
                "date": f"{year}-04-0{i + 1}T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "tender": {
                    "id": f"T-{i}",
                    "title": f"Licitación {i}",
                    "value": {"amount": 10 + i, "currency": "PYG"},
                },
            }
            for i in range(n)
        ],
    }


def import_other(app, tmp_path: Path, ocid: str = "ocds-abc123-1", n: int = 2, year: int = 2023) -> None:
    path = tmp_path / f"{ocid}.json"
    path.write_bytes(orjson.dumps(other_package(ocid, n, year)))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejected == 0, summary.rejects


def folder_of(app) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / "exports"


def run_export(app, **kwargs):
    return export(app_engine(app), folder_of(app), Publication.from_config(app.config), **kwargs)


def jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def package(path: Path) -> dict:
    with gzip.open(path, "rb") as f:
        return orjson.loads(f.read())


def manifest(app) -> dict:
    return orjson.loads((folder_of(app) / "manifest.json").read_bytes())


def orders_of_two_years() -> list[dict]:
    """The documented examples (2024 and 2025 orders, one with several versions)."""
    return all_examples()


def a_new_order(number: str) -> dict:
    """One more order of the first example's agreement, placed in 2025 as that example."""
    return example_order("1-single", orderNumber=number)
