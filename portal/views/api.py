"""The OCDS API: release packages with cursor pagination, single releases, record packages.

Stored releases are already serialised (their canonical JSON), so packages are assembled from
those bytes without parsing them again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from flask import Blueprint, Response, abort, current_app, request, url_for

from ocds import schema as ocds_schema
from ocds.compile import make_record, versioned_release
from portal import queries
from portal.db import app_engine

bp = Blueprint("api", __name__)



def extension_urls(paginated: bool = False) -> list[str]:
    """The ``extensions`` array of every package Veraz publishes."""
    base = current_app.config["BASE_URL"].rstrip("/")
    urls = [ocds_schema.EXTENSION_URLS[e] for e in ocds_schema.RELEASE_EXTENSIONS]
    urls += [f"{base}/extensions/{e}/extension.json" for e in ocds_schema.LOCAL_EXTENSIONS]
    if paginated:
        urls.append(ocds_schema.EXTENSION_URLS["pagination"])
    return urls


def package_metadata(uri: str, published: datetime | None, paginated: bool = False) -> dict:
    cfg = current_app.config
    published = published or datetime.now(UTC)
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return {
        "uri": uri,
        "version": ocds_schema.OCDS_VERSION,
        "extensions": extension_urls(paginated),
        "publishedDate": published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": {"name": cfg["PUBLISHER_NAME"], "scheme": cfg["PUBLISHER_SCHEME"],
                      "uid": cfg["PUBLISHER_UID"], "uri": cfg["PUBLISHER_URI"]},
        "license": cfg["LICENSE"],
        "publicationPolicy": cfg["PUBLICATION_POLICY"],
    }


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="application/json")


def _package(meta: dict, key: str, items: list[bytes]) -> bytes:
    head = orjson.dumps(meta)[:-1]
    return head + b',"' + key.encode() + b'":[' + b",".join(items) + b"]}"


def _public_url(endpoint: str, **values) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def _int_arg(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"Parameter {name!r} must be a whole number, not {raw!r}.")
    if value < 0 or (maximum is not None and value > maximum) or (name == "limit" and value == 0):
        abort(400, description=f"Parameter {name!r} must be between 1 and {maximum}.")
    return value


@bp.get("/api/releases")
def releases():
    cfg = current_app.config
    limit = _int_arg("limit", cfg["API_PAGE_SIZE"], cfg["API_MAX_PAGE_SIZE"])
    after = _int_arg("cursor", 0)
    ocid = request.args.get("ocid") or None
    with app_engine().connect() as conn:
        rows = queries.releases_page(conn, after, limit + 1, ocid)
    page, more = rows[:limit], len(rows) > limit
    args = {"limit": limit} | ({"ocid": ocid} if ocid else {})
    meta = package_metadata(_public_url("api.releases", cursor=after, **args),
                            max((r["published_at"] for r in page), default=None), paginated=True)
    links = {}
    if more:
        links["next"] = _public_url("api.releases", cursor=page[-1]["id"], **args)
    if links:
        meta["links"] = links
    return _json(_package(meta, "releases", [r["data"] for r in page]))


@bp.get("/api/releases/<path:release_id>")
def release(release_id: str):
    ocid = request.args.get("ocid") or None
    with app_engine().connect() as conn:
        rows = queries.releases_by_id(conn, release_id, ocid)
    if not rows:
        abort(404, description=f"No release with id {release_id!r}.")
    if len(rows) > 1:
        abort(409, description=f"Release id {release_id!r} is used by several contracting "
                               "processes; add ?ocid= to choose one.")
    row = rows[0]
    meta = package_metadata(_public_url("api.release", release_id=release_id), row["published_at"])
    return _json(_package(meta, "releases", [row["data"]]))


@bp.get("/api/records/<path:ocid>")
def record(ocid: str):
    with app_engine().connect() as conn:
        history = queries.release_rows(conn, ocid)
    if not history:
        abort(404, description=f"No record for ocid {ocid!r}.")
    releases = [orjson.loads(h["data"]) for h in history]
    rec = make_record(ocid, releases)
    rec["versionedRelease"] = versioned_release(releases)
    meta = package_metadata(_public_url("api.record", ocid=ocid),
                            max(h["published_at"] for h in history))
    meta["records"] = [rec]
    return _json(orjson.dumps(meta))


@bp.get("/extensions/<name>/<path:filename>")
def local_extension(name: str, filename: str):
    """Local extensions declared in every package, served so validators can fetch them."""
    if name not in ocds_schema.LOCAL_EXTENSIONS:
        abort(404)
    if filename == "extension.json":
        base = current_app.config["BASE_URL"].rstrip("/")
        body = {
            "name": {"en": "Document integrity", "es": "Integridad de documentos"},
            "description": {
                "en": "Adds Document.integrity: cryptographic hashes of a document's bytes "
                      "(OCDS standard issue 1725).",
                "es": "Agrega Document.integrity: hashes criptográficos de los bytes de un "
                      "documento (issue 1725 del estándar OCDS).",
            },
            "documentationUrl": {"en": f"{base}/about#integrity"},
            "compatibility": ["1.1"],
            "schemas": ["release-schema.json"],
            "codelists": ["integrityScheme.csv"],
        }
        return _json(orjson.dumps(body))
    if filename == "release-schema.json":
        return _json(orjson.dumps(ocds_schema.extension_patch(name)))
    if filename == "codelists/integrityScheme.csv":
        return Response("Code,Title\nsha256,SHA-256\n", mimetype="text/csv")
    abort(404)
