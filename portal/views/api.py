"""The OCDS API: release packages with cursor pagination, single releases, record packages.

Packages are built by ``ocds.package`` (the one package builder); this module says who
publishes (the portal's settings) and where. Stored releases are already serialised (their
canonical JSON), so release packages are assembled from those bytes without parsing them again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from flask import Blueprint, Response, abort, current_app, url_for
from sqlalchemy import Connection

from ocds import package as ocds_package
from ocds.compile import versioned_release
from ocds.errors import InputError
from portal import links, queries
from portal.db import app_engine
from portal.views import params

bp = Blueprint("api", __name__)


def publication(uri: str, published: datetime | None, *, paginated: bool = False,
                links: dict[str, str] | None = None) -> dict:
    """The keyword arguments of an ``ocds.package`` builder for a package served at ``uri``.

    ``published`` is when its newest content was published (now when it has none)."""
    cfg = current_app.config
    return {
        "uri": uri,
        "publisher": {"name": cfg["PUBLISHER_NAME"], "scheme": cfg["PUBLISHER_SCHEME"],
                      "uid": cfg["PUBLISHER_UID"], "uri": cfg["PUBLISHER_URI"]},
        "license": cfg["LICENSE"],
        "publication_policy": cfg["PUBLICATION_POLICY"],
        "published_date": ocds_package.published_date(published or datetime.now(UTC)),
        "extensions": ocds_package.declared_extensions(
            current_app.config["BASE_URL"].rstrip("/") + "/extensions", paginated=paginated),
        "links": links,
    }


def record_package_json(conn: Connection, ocid: str, uri: str, *, versioned: bool) -> bytes | None:
    """The record package of ``ocid`` served at ``uri`` (None when there is no such record).

    Its releases in date order, the compiled release every page shows
    (``portal.queries.compiled_release``) and, with ``versioned``, the versioned release. A
    compiled or versioned release the merge routine cannot build (imported OCDS is kept as
    published) is left out: both are optional in a record, the releases are not."""
    history = queries.release_rows(conn, ocid)
    if not history:
        return None
    releases = [orjson.loads(h["data"]) for h in history]
    record: dict = {"ocid": ocid, "releases": releases}
    compiled = queries.compiled_release(conn, ocid)
    if compiled is not None:
        record["compiledRelease"] = compiled
    if versioned:
        try:
            record["versionedRelease"] = versioned_release(releases)
        except InputError:
            pass  # optional, and impossible for these releases
    package = ocds_package.record_package(
        [record], **publication(uri, max(h["published_at"] for h in history)))
    return orjson.dumps(package)


def _json(body: bytes) -> Response:
    return Response(body, mimetype="application/json")


def public_url(endpoint: str, **values) -> str:
    """The address of ``endpoint`` under the configured public ``BASE_URL``."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.get("/api/releases")
def releases():
    """Every release in publication order, ``limit`` per page, from after ``cursor``."""
    cfg = current_app.config
    params.only_params({"limit", "cursor", "ocid"})
    limit = params.whole_number("limit", cfg["API_PAGE_SIZE"], minimum=1,
                                maximum=cfg["API_MAX_PAGE_SIZE"])
    after = params.whole_number("cursor", 0)
    ocid = params.text("ocid")
    with app_engine().connect() as conn:
        rows = queries.releases_page(conn, after, limit + 1, ocid)
    page, more = rows[:limit], len(rows) > limit
    args = {"limit": limit} | ({"ocid": ocid} if ocid else {})
    links = {"next": public_url("api.releases", cursor=page[-1]["id"], **args)} if more else None
    meta = publication(public_url("api.releases", cursor=after, **args),
                       max((r["published_at"] for r in page), default=None),
                       paginated=True, links=links)
    return _json(ocds_package.release_package_json([r["data"] for r in page], **meta))


@bp.get("/api/releases/<path:release_id>")
def release(release_id: str):
    """One release by its id (``ocid`` chooses when several processes use the id)."""
    params.only_params({"ocid"})
    ocid = params.text("ocid")
    with app_engine().connect() as conn:
        rows = queries.releases_by_id(conn, release_id, ocid)
    if not rows:
        abort(404, description=f"No release with id {release_id!r}.")
    if len(rows) > 1:
        abort(409, description=f"Release id {release_id!r} is used by several contracting "
                               "processes; add ?ocid= to choose one.")
    row = rows[0]
    base = current_app.config["BASE_URL"]
    uri = (links.release_json_url(base, ocid, release_id) if ocid
           else public_url("api.release", release_id=release_id))
    return _json(ocds_package.release_package_json([row["data"]],
                                                   **publication(uri, row["published_at"])))


@bp.get("/api/records/<path:ocid>")
def record(ocid: str):
    """The record of a contracting process, with its versioned release."""
    params.only_params(())
    with app_engine().connect() as conn:
        body = record_package_json(
            conn, ocid, links.record_json_url(current_app.config["BASE_URL"], ocid), versioned=True)
    if body is None:
        abort(404, description=f"No record for ocid {ocid!r}.")
    return _json(body)


@bp.get("/extensions/<name>/<path:filename>")
def local_extension(name: str, filename: str):
    """Local extensions declared in every package, served so validators can fetch them."""
    body = ocds_package.local_extension_file(name, filename)
    if body is None:
        abort(404)
    if filename == "extension.json":
        # Where the documentation is depends on where this portal runs, so it is added here.
        extension = orjson.loads(body)
        extension["documentationUrl"] = {"en": public_url("home.about") + f"#{name}"}
        return _json(orjson.dumps(extension))
    mimetype = "text/csv" if filename.endswith(".csv") else "application/json"
    return Response(body, mimetype=mimetype)
