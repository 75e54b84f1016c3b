"""``/downloads``: the bulk files ``veraz export`` wrote, their DCAT catalogue, and the files.

The page lists every file of the manifest (``portal.exports``) with what it is for, and carries
a schema.org ``Dataset`` with its ``DataDownload`` entries as JSON-LD (a data block, not a
script: the Content Security Policy does not apply to it). ``/catalog.jsonld`` is the same
dataset as a DCAT-AP catalogue, for national data portals to harvest. Files are sent as stored,
with a strong ETag (their SHA-256), Last-Modified and byte ranges; names are only those the
manifest lists, so nothing else in the folder can be reached.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, send_file, url_for
from flask_babel import gettext as _

from portal.exports import default_folder, layout, read_manifest
from portal.views import params

bp = Blueprint("downloads", __name__)

# What each kind of file is for, in the reader's language (shown once per kind on the page).
FORMATS = (layout.COMPILED, layout.CSV, layout.XLSX, layout.RELEASE_PACKAGE, layout.RECORD_PACKAGE)

_ENCODINGS = {
    "jsonl.gz": "application/x-ndjson+gzip",
    "json.gz": "application/json+gzip",
    "csv.tar.gz": "text/csv+tar+gzip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# EU vocabularies' file types, as DCAT-AP asks for dct:format.
_FILE_TYPES = {
    "jsonl.gz": "JSON",
    "json.gz": "JSON",
    "csv.tar.gz": "CSV",
    "xlsx": "XLSX",
}


def _purposes() -> dict[str, str]:
    return {
        layout.COMPILED: _(
            "Compiled releases, one JSON per line (JSON Lines, gzip): the latest state of every "
            "contracting process, as the OCP Data Registry publishes them. For analysis with "
            "scripts, databases and ocdskit."
        ),
        layout.CSV: _(
            "CSV tables, one per list in the data (orders, items, parties, suppliers...), linked "
            "by ocid and id, in a tar.gz archive. For spreadsheets, R, pandas and databases."
        ),
        layout.XLSX: _(
            "An Excel workbook with the same tables as the CSV, one sheet each, when the year fits "
            "in Excel's 1,048,576 rows."
        ),
        layout.RELEASE_PACKAGE: _(
            "OCDS release packages: every release as published, with its publisher, licence and "
            "extensions. To check the history of a process or to import the data into another "
            "OCDS system."
        ),
        layout.RECORD_PACKAGE: _(
            "OCDS record packages: each contracting process with all its releases and its compiled release."
        ),
    }


def _kind_names() -> dict[str, str]:
    return {
        layout.COMPILED: _("Compiled releases (JSON Lines)"),
        layout.CSV: _("CSV tables"),
        layout.XLSX: _("Excel workbook"),
        layout.RELEASE_PACKAGE: _("Release packages (JSON)"),
        layout.RECORD_PACKAGE: _("Record packages (JSON)"),
    }


def _manifest() -> dict[str, Any] | None:
    return read_manifest(default_folder(current_app.config))


def _public(name: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for("downloads.file", name=name)


def _dataset(manifest: dict[str, Any]) -> dict[str, Any]:
    """The schema.org ``Dataset`` of the export, with a ``DataDownload`` per file."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": _("Public procurement orders of the electronic catalogues (OCDS)"),
        "description": _(
            "Every purchase order and framework agreement published by Veraz in the Open "
            "Contracting Data Standard (OCDS %(version)s), as bulk files.",
            version=manifest.get("ocdsVersion") or "",
        ),
        "url": base + url_for("downloads.index"),
        "license": manifest.get("license"),
        "isAccessibleForFree": True,
        "creator": {"@type": "Organization", "name": (manifest.get("publisher") or {}).get("name")},
        "dateModified": manifest.get("generated"),
        "temporalCoverage": _temporal(manifest),
        "distribution": [
            {
                "@type": "DataDownload",
                "name": f["name"],
                "contentUrl": _public(f["name"]),
                "encodingFormat": _ENCODINGS.get(f["format"], "application/octet-stream"),
                "contentSize": str(f["size"]),
                "dateModified": f["exported_at"],
            }
            for f in manifest["files"]
        ],
    }


def _temporal(manifest: dict[str, Any]) -> str | None:
    span = manifest.get("dateRange") or {}
    if span.get("first") and span.get("last"):
        return f"{span['first'][:10]}/{span['last'][:10]}"
    return None


@bp.get("/downloads")
def index():
    """Every bulk file, grouped by what it is for."""
    params.only_params(())
    manifest = _manifest()
    files = manifest["files"] if manifest else []
    groups = [(kind, [f for f in files if f["kind"] == kind]) for kind in FORMATS]
    return render_template(
        "downloads.html",
        manifest=manifest,
        groups=[(kind, items) for kind, items in groups if items],
        purposes=_purposes(),
        kind_names=_kind_names(),
        dataset=_dataset(manifest) if manifest else None,
    )


@bp.get("/downloads.json")
def index_json():
    """The manifest of the export (``docs/bulk-downloads.md``), 404 before the first export."""
    params.only_params(())
    manifest = _manifest()
    if manifest is None:
        abort(404, description="No bulk files yet: run `veraz export`.")
    return manifest


@bp.get("/downloads/<name>")
def file(name: str):
    """One bulk file, ``manifest.json`` or ``SHA256SUMS``: conditional and range requests."""
    params.only_params(())
    folder = default_folder(current_app.config)
    manifest = read_manifest(folder)
    listed = {f["name"]: f for f in manifest["files"]} if manifest else {}
    fixed = name in (layout.MANIFEST, layout.SHA256SUMS) and manifest is not None
    if not fixed and name not in listed:
        abort(404, description=f"No bulk file named {name!r}; the list is at /downloads.")
    path = folder / name
    if not path.is_file():
        abort(404, description=f"Bulk file {name!r} is being replaced; try again in a moment.")
    entry = listed.get(name)
    response = send_file(
        path,
        mimetype=layout.content_type(name),
        conditional=True,
        etag=entry["sha256"] if entry else True,
        last_modified=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        download_name=name,
        max_age=300,
    )
    if entry:
        # RFC 3230 instance digest: the same SHA-256 as SHA256SUMS, for clients that check it.
        response.headers["Digest"] = "sha-256=" + _b64(entry["sha256"])
    return response


def _b64(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@bp.get("/catalog.jsonld")
def catalog():
    """The export as a DCAT-AP catalogue (JSON-LD), for data portals to harvest."""
    params.only_params(())
    manifest = _manifest()
    base = current_app.config["BASE_URL"].rstrip("/")
    publisher = (manifest or {}).get("publisher") or {"name": current_app.config["PUBLISHER_NAME"]}
    agent = {"@type": "foaf:Agent", "foaf:name": publisher.get("name")}
    if publisher.get("uri"):
        agent["@id"] = publisher["uri"]
    dataset: dict[str, Any] = {
        "@id": base + url_for("downloads.index") + "#dataset",
        "@type": "dcat:Dataset",
        "dct:title": [
            {"@language": "es", "@value": "Órdenes de compra de los catálogos electrónicos (OCDS)"},
            {"@language": "en", "@value": "Electronic catalogue purchase orders (OCDS)"},
        ],
        "dct:description": [
            {
                "@language": "es",
                "@value": "Todas las órdenes de compra y acuerdos marco publicados por Veraz en el "
                "Estándar de Datos de Contrataciones Abiertas (OCDS), en archivos completos.",
            },
            {
                "@language": "en",
                "@value": "Every purchase order and framework agreement published by Veraz in the "
                "Open Contracting Data Standard (OCDS), as bulk files.",
            },
        ],
        "dcat:keyword": ["contrataciones públicas", "public procurement", "OCDS", "open contracting"],
        "dct:publisher": agent,
        "dcat:landingPage": {"@id": base + url_for("downloads.index")},
        "dct:license": {"@id": current_app.config["LICENSE"]},
        "dct:conformsTo": {"@id": "https://standard.open-contracting.org/1.1/"},
        "dcat:distribution": [],
    }
    if manifest:
        dataset["dct:modified"] = {"@type": "xsd:dateTime", "@value": manifest["generated"]}
        span = manifest.get("dateRange") or {}
        if span.get("first") and span.get("last"):
            dataset["dct:temporal"] = {
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": {"@type": "xsd:date", "@value": span["first"][:10]},
                "dcat:endDate": {"@type": "xsd:date", "@value": span["last"][:10]},
            }
        license_ = manifest.get("license") or current_app.config["LICENSE"]
        for f in manifest["files"]:
            url = _public(f["name"])
            dataset["dcat:distribution"].append(
                {
                    "@id": url,
                    "@type": "dcat:Distribution",
                    "dct:title": f["name"],
                    "dcat:accessURL": {"@id": base + url_for("downloads.index")},
                    "dcat:downloadURL": {"@id": url},
                    "dct:format": {
                        "@id": "http://publications.europa.eu/resource/authority/file-type/"
                        + _FILE_TYPES.get(f["format"], "BIN")
                    },
                    "dcat:mediaType": {
                        "@id": "https://www.iana.org/assignments/media-types/"
                        + layout.content_type(f["name"])
                    },
                    "dcat:compressFormat": {
                        "@id": "https://www.iana.org/assignments/media-types/application/gzip"
                    }
                    if f["format"].endswith(".gz")
                    else None,
                    "dcat:byteSize": {"@type": "xsd:nonNegativeInteger", "@value": str(f["size"])},
                    "dct:modified": {"@type": "xsd:dateTime", "@value": f["exported_at"]},
                    "dct:license": {"@id": license_},
                    "spdx:checksum": {
                        "@type": "spdx:Checksum",
                        "spdx:algorithm": {"@id": "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"},
                        "spdx:checksumValue": f["sha256"],
                    },
                }
            )
        for d in dataset["dcat:distribution"]:
            if d["dcat:compressFormat"] is None:
                del d["dcat:compressFormat"]
    body = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": base + url_for("downloads.catalog"),
        "@type": "dcat:Catalog",
        "dct:title": [
            {"@language": "es", "@value": "Veraz: datos abiertos de contrataciones públicas"},
            {"@language": "en", "@value": "Veraz: open public procurement data"},
        ],
        "dct:description": [
            {"@language": "es", "@value": "Archivos completos de las contrataciones publicadas por Veraz."},
            {"@language": "en", "@value": "Bulk files of the procurement published by Veraz."},
        ],
        "dct:publisher": agent,
        "dct:language": [
            {"@id": "http://publications.europa.eu/resource/authority/language/SPA"},
            {"@id": "http://publications.europa.eu/resource/authority/language/ENG"},
        ],
        "dcat:dataset": [dataset],
    }
    import orjson

    return Response(orjson.dumps(body), mimetype="application/ld+json")
