"""The OCDS API: release packages with cursor pagination, single releases, record packages.

Packages are built by ``ocds.package`` (the one package builder); this module says who
publishes (the portal's settings) and where. Stored releases are already serialised (their
canonical JSON), so release packages are assembled from those bytes without parsing them again.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import orjson
from flask import Blueprint, Response, abort, current_app, url_for
from sqlalchemy import Connection

from ocds import package as ocds_package
from ocds.compile import versioned_release
from ocds.errors import InputError
from ocds.schema import EXTENSION_URLS
from portal import links, queries
from portal.db import app_engine
from portal.views import params

bp = Blueprint("api", __name__)
PAGINATION_EXTENSION = EXTENSION_URLS["pagination"]


def publication(
    uri: str,
    published: datetime | None,
    *,
    paginated: bool = False,
    links: dict[str, str] | None = None,
    source: queries.ReleaseSource | None = None,
    invalid: list[dict] | None = None,
) -> dict:
    """The keyword arguments of an ``ocds.package`` builder for a package served at ``uri``.

    ``published`` is when its newest content was published (now when it has none). ``source``:
    the package the releases were imported from; its publisher, licence, publication policy,
    publication date and declared extensions are kept (Veraz republishes them, it does not
    relabel them as its own). ``invalid``: the package's releases kept although invalid, listed
    as ``invalidReleases`` with the local validity extension declared."""
    cfg = current_app.config
    meta = _publication(uri, published, paginated=paginated, links=links, source=source)
    if invalid:
        meta["invalid"] = invalid
        meta["extensions"] = [
            *meta["extensions"],
            cfg["BASE_URL"].rstrip("/") + "/extensions/validity/extension.json",
        ]
    return meta


def _publication(
    uri: str,
    published: datetime | None,
    *,
    paginated: bool,
    links: dict[str, str] | None,
    source: queries.ReleaseSource | None,
) -> dict:
    cfg = current_app.config
    if source is not None:
        # The extensions its publisher declared, and pagination when this is a feed page.
        declared = list(dict.fromkeys([*source.extensions, *([PAGINATION_EXTENSION] if paginated else [])]))
        return {
            "uri": uri,
            # The package schema requires a publisher name; an imported package without one
            # is named by where it came from, never by this portal.
            "publisher": source.publisher
            if source.publisher.get("name")
            else {**source.publisher, "name": f"(publisher not named by {source.uri or 'its package'})"},
            "license": source.license,
            "publication_policy": source.publication_policy,
            "published_date": source.published_date
            or ocds_package.published_date(published or datetime.now(UTC)),
            "extensions": declared,
            "links": links,
        }
    return {
        "uri": uri,
        "publisher": {
            "name": cfg["PUBLISHER_NAME"],
            "scheme": cfg["PUBLISHER_SCHEME"],
            "uid": cfg["PUBLISHER_UID"],
            "uri": cfg["PUBLISHER_URI"],
        },
        "license": cfg["LICENSE"],
        "publication_policy": cfg["PUBLICATION_POLICY"],
        "published_date": ocds_package.published_date(published or datetime.now(UTC)),
        "extensions": ocds_package.declared_extensions(
            cfg["BASE_URL"].rstrip("/") + "/extensions", paginated=paginated
        ),
        "links": links,
    }


def _one_source(conn: Connection, pks: list[int]) -> queries.ReleaseSource | None:
    """The source of releases ``pks`` if they all came from one imported package's publisher;
    None when any is Veraz's own or they mix publishers (then the portal publishes what it
    compiled)."""
    sources = queries.release_sources(conn, pks)
    return _shared_source([sources.get(pk) for pk in pks])


def _shared_source(sources: list[queries.ReleaseSource | None]) -> queries.ReleaseSource | None:
    """The source that all of ``sources`` share (by publisher and terms), dated by the newest of
    them; None when any is Veraz's own or they differ."""
    first = sources[0] if sources else None
    if first is None or any(s is None or s.who != first.who for s in sources):
        return None
    dates = [s.published_date for s in sources if s is not None and s.published_date]
    return dataclasses.replace(first, published_date=max(dates) if dates else None)


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
    source = _one_source(conn, [h["id"] for h in history])
    package = ocds_package.record_package(
        [record],
        **publication(
            uri,
            max(h["published_at"] for h in history),
            source=source,
            invalid=queries.invalid_releases(history),
        ),
    )
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
    limit = params.whole_number("limit", cfg["API_PAGE_SIZE"], minimum=1, maximum=cfg["API_MAX_PAGE_SIZE"])
    after = params.whole_number("cursor", 0)
    ocid = params.text("ocid")
    with app_engine().connect() as conn:
        rows = queries.releases_page(conn, after, limit + 1, ocid)
        sources = queries.release_sources(conn, [r["id"] for r in rows])
    # A package has one publisher: a page ends where the releases' publisher changes (Veraz's
    # own orders, or each imported package's publisher), and the next page goes on from there.
    first = sources.get(rows[0]["id"]) if rows else None
    page = rows[:limit]
    for n, row in enumerate(page):
        here = sources.get(row["id"])
        if (here is None) != (first is None) or (here and first and here.who != first.who):
            page = page[:n]
            break
    more = len(rows) > len(page)
    source = _shared_source([sources.get(r["id"]) for r in page]) if first else None
    args = {"limit": limit} | ({"ocid": ocid} if ocid else {})
    links = {"next": public_url("api.releases", cursor=page[-1]["id"], **args)} if more else None
    meta = publication(
        public_url("api.releases", cursor=after, **args),
        max((r["published_at"] for r in page), default=None),
        paginated=True,
        links=links,
        source=source,
        invalid=queries.invalid_releases(page),
    )
    return _json(ocds_package.release_package_json([r["data"] for r in page], **meta))


@bp.get("/api/releases/<path:release_id>")
def release(release_id: str):
    """One release by its id (``ocid`` chooses when several processes use the id)."""
    params.only_params({"ocid"})
    ocid = params.text("ocid")
    with app_engine().connect() as conn:
        rows = queries.releases_by_id(conn, release_id, ocid)
        row = rows[0] if len(rows) == 1 else None
        source = queries.release_sources(conn, [row["id"]]).get(row["id"]) if row else None
    if row is None:
        abort(
            404 if not rows else 409,
            description=f"No release with id {release_id!r}."
            if not rows
            else f"Release id {release_id!r} is used by several contracting processes; add ?ocid= "
            "to choose one.",
        )
    base = current_app.config["BASE_URL"]
    uri = (
        links.release_json_url(base, ocid, release_id)
        if ocid
        else public_url("api.release", release_id=release_id)
    )
    return _json(
        ocds_package.release_package_json(
            [row["data"]],
            **publication(uri, row["published_at"], source=source, invalid=queries.invalid_releases([row])),
        )
    )


@bp.get("/api/records/<path:ocid>")
def record(ocid: str):
    """The record of a contracting process, with its versioned release."""
    params.only_params(())
    with app_engine().connect() as conn:
        body = record_package_json(
            conn, ocid, links.record_json_url(current_app.config["BASE_URL"], ocid), versioned=True
        )
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
