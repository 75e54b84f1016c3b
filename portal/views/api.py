"""The OCDS API: lists of releases and of records (release and record packages, filtered, with
cursor pagination), single releases and records. ``docs/api.md`` is the harvester's guide;
``portal.views.openapi`` describes every route.

Packages are built by ``ocds.package`` (the one package builder); this module says who
publishes (the portal's settings) and where. Stored releases are already serialised (their
canonical JSON), so release packages are assembled from those bytes without parsing them again.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from typing import NoReturn

import orjson
from flask import Blueprint, Response, abort, current_app, request, url_for
from sqlalchemy import Connection, select

from ocds import package as ocds_package
from ocds.compile import compile_release, versioned_release
from ocds.errors import InputError
from ocds.schema import EXTENSION_URLS
from portal import links, queries
from portal.db import IN_CLAUSE_CHUNK, app_engine
from portal.models import records as records_table
from portal.models import releases as releases_table
from portal.readmodel import api_filters
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


@dataclasses.dataclass(frozen=True)
class _BuiltRecord:
    record: dict
    history: list[dict]
    source: queries.ReleaseSource | None


def _record(conn: Connection, ocid: str, *, versioned: bool) -> _BuiltRecord | None:
    """The record of ``ocid`` (None when there is none): its releases in date order, the
    compiled release every page shows (``portal.queries.compiled_release``) and, with
    ``versioned``, the versioned release. A compiled or versioned release the merge routine
    cannot build (imported OCDS is kept as published) is left out: both are optional in a
    record, the releases are not."""
    return _records(conn, [ocid], versioned=versioned).get(ocid)


def _records(conn: Connection, ocids: list[str], *, versioned: bool = False) -> dict[str, _BuiltRecord]:
    """:func:`_record` of each of ``ocids`` that has one, read in three queries per chunk of
    ocids (their releases, their stored compiled releases, the releases' sources) rather than
    four per record: a page of 100 records is one round of queries, not 400."""
    history: dict[str, list[dict]] = {ocid: [] for ocid in ocids}
    stored: dict[str, bytes | None] = {}
    for i in range(0, len(ocids), IN_CLAUSE_CHUNK):
        chunk = ocids[i : i + IN_CLAUSE_CHUNK]
        query = (
            select(*_HISTORY)
            .where(releases_table.c.ocid.in_(chunk))
            .order_by(releases_table.c.ocid, releases_table.c.date, releases_table.c.id)
        )
        for row in conn.execute(query).mappings():
            history[row["ocid"]].append(dict(row))
        compiled_of = select(records_table.c.ocid, records_table.c.compiled).where(
            records_table.c.ocid.in_(chunk)
        )
        for row in conn.execute(compiled_of).mappings():
            stored[row["ocid"]] = row["compiled"]
    sources = queries.release_sources(conn, [h["id"] for rows in history.values() for h in rows])
    out: dict[str, _BuiltRecord] = {}
    for ocid, rows in history.items():
        if not rows:
            continue
        releases = [orjson.loads(h["data"]) for h in rows]
        record: dict = {"ocid": ocid, "releases": releases}
        # As portal.queries.compiled_release: stored for several releases, compiled from the
        # one release otherwise, none without a record or when the merge routine refuses.
        compiled = None
        if ocid in stored:
            if stored[ocid] is not None:
                compiled = orjson.loads(stored[ocid])  # type: ignore[arg-type]
            else:
                try:
                    compiled = compile_release(releases)
                except InputError:
                    compiled = None
        if compiled is not None:
            record["compiledRelease"] = compiled
        if versioned:
            try:
                record["versionedRelease"] = versioned_release(releases)
            except InputError:
                pass  # optional, and impossible for these releases
        out[ocid] = _BuiltRecord(record, rows, _shared_source([sources.get(h["id"]) for h in rows]))
    return out


#: The columns of a record's releases (as ``portal.queries.release_rows`` reads them).
_HISTORY = (
    releases_table.c.id,
    releases_table.c.release_id,
    releases_table.c.date,
    releases_table.c.tags,
    releases_table.c.data_hash,
    releases_table.c.valid,
    releases_table.c.problems,
    releases_table.c.published_at,
    releases_table.c.data,
    releases_table.c.ocid,
)


def record_package_json(conn: Connection, ocid: str, uri: str, *, versioned: bool) -> bytes | None:
    """The record package of ``ocid`` served at ``uri`` (None when there is no such record),
    holding :func:`_record`."""
    built = _record(conn, ocid, versioned=versioned)
    if built is None:
        return None
    package = ocds_package.record_package(
        [built.record],
        **publication(
            uri,
            max(h["published_at"] for h in built.history),
            source=built.source,
            invalid=queries.invalid_releases(built.history),
        ),
    )
    return orjson.dumps(package)


def _json(body: bytes) -> Response:
    return Response(body, mimetype="application/json")


def public_url(endpoint: str, **values) -> str:
    """The address of ``endpoint`` under the configured public ``BASE_URL``."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


#: Parameters of both lists: page, the process's filters, ocid, dates, publication time.
LIST_PARAMS = (
    "limit",
    "cursor",
    *api_filters.PROCESS_FILTERS,
    "ocid",
    "ocid_prefix",
    "date_from",
    "date_to",
    "since",
)
#: Most values one filter may repeat; most characters of one value (an ocid's column holds 255).
MAX_VALUES, MAX_TEXT = 50, 255

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2}))?",
    re.ASCII,
)
# Characters no identifier holds and PostgreSQL cannot compare (NUL): refused by name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad(name: str, accepted: str, given: str | None = None) -> NoReturn:
    shown = f", not {given[:40]!r}" if given is not None else ""
    abort(400, description=f"Parameter {name!r} must be {accepted}{shown}.")


def _values(name: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(request.args.getlist(name)))
    if len(values) > MAX_VALUES:
        _bad(name, f"given at most {MAX_VALUES} times")
    for value in values:
        if value == "" or len(value) > MAX_TEXT or _CONTROL.search(value):
            _bad(
                name,
                f"a non-empty identifier of at most {MAX_TEXT} characters without control characters",
                value,
            )
    return values


def _one(name: str) -> str | None:
    values = _values(name)
    if len(values) > 1:
        _bad(name, "given once")
    return values[0] if values else None


def _day(name: str) -> str | None:
    raw = _one(name)
    if raw is None:
        return None
    try:
        if _DAY.fullmatch(raw) is None:
            raise ValueError
        date.fromisoformat(raw)
    except ValueError:
        _bad(name, "a date written YYYY-MM-DD, such as 2024-03-31", raw)
    return raw


def _moment(name: str) -> datetime | None:
    """A date (midnight UTC) or a date-time with its offset (``Z`` or ``±HH:MM``), in UTC."""
    raw = _one(name)
    if raw is None:
        return None
    try:
        if _MOMENT.fullmatch(raw) is None:
            raise ValueError
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:  # a date alone
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        _bad(
            name,
            "a date (2024-03-31, from midnight UTC) or a date-time with its offset "
            "(2024-03-31T14:05:00Z, 2024-03-31T09:05:00-05:00)",
            raw,
        )


def parse_harvest() -> tuple[api_filters.Harvest, int, int]:
    """The list's filters, page size and cursor from the query string, every parameter checked."""
    cfg = current_app.config
    params.only_params(LIST_PARAMS)
    selected = {facet: _values(name) for name, facet in api_filters.PROCESS_FILTERS.items()}
    harvest = api_filters.Harvest(
        selected={facet: values for facet, values in selected.items() if values},
        ocid=_one("ocid"),
        ocid_prefix=_one("ocid_prefix"),
        date_from=_day("date_from"),
        date_to=_day("date_to"),
        since=_moment("since"),
    )
    if harvest.date_from and harvest.date_to and harvest.date_from > harvest.date_to:
        _bad("date_to", "on or after date_from")
    limit = params.whole_number("limit", cfg["API_PAGE_SIZE"], minimum=1, maximum=cfg["API_MAX_PAGE_SIZE"])
    after = params.whole_number("cursor", 0)
    return harvest, limit, after


def _list_args(limit: int) -> dict:
    """The query of this list as given (less the cursor), for its ``uri`` and ``links.next``."""
    args: dict = {name: request.args.getlist(name) for name in LIST_PARAMS if name in request.args}
    args.pop("cursor", None)
    args["limit"] = limit
    return args


def _same_publisher(sources: list[queries.ReleaseSource | None]) -> int:
    """How many of ``sources``, from the first, can share one package: a package has one
    publisher, so a page ends where the publisher changes (Veraz's own orders, or each imported
    package's publisher and terms), and the next page goes on from there."""
    first = sources[0] if sources else None
    for n, here in enumerate(sources):
        if (here is None) != (first is None) or (here and first and here.who != first.who):
            return n
    return len(sources)


@bp.get("/api/releases")
def releases():
    """Releases in publication order, ``limit`` per page, after ``cursor``, filtered."""
    harvest, limit, after = parse_harvest()
    with app_engine().connect() as conn:
        rows = api_filters.releases_page(conn, harvest, after, limit + 1)
        sources = queries.release_sources(conn, [r["id"] for r in rows])
    page = rows[:limit]
    page = page[: _same_publisher([sources.get(r["id"]) for r in page])]
    more = len(rows) > len(page)
    source = (
        _shared_source([sources.get(r["id"]) for r in page]) if page and sources.get(page[0]["id"]) else None
    )
    args = _list_args(limit)
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


@bp.get("/api/records")
def records():
    """Records in the order of their newest release, ``limit`` per page, after ``cursor``
    (a record is listed at its newest release, so it comes again when it changes)."""
    harvest, limit, after = parse_harvest()
    with app_engine().connect() as conn:
        rows = api_filters.records_page(conn, harvest, after, limit + 1)
        found = _records(conn, [row["ocid"] for row in rows[:limit]])
        built = [(row, found[row["ocid"]]) for row in rows[:limit] if row["ocid"] in found]
    count = _same_publisher([b.source for _, b in built])
    page = built[:count]
    more = len(rows) > count
    args = _list_args(limit)
    links = {"next": public_url("api.records", cursor=page[-1][0]["last_release"], **args)} if more else None
    meta = publication(
        public_url("api.records", cursor=after, **args),
        max((row["published_at"] for row, _ in page), default=None),
        paginated=True,
        links=links,
        source=_shared_source([b.source for _, b in page]) if page and page[0][1].source else None,
        invalid=queries.invalid_releases([h for _, b in page for h in b.history]),
    )
    return _json(orjson.dumps(ocds_package.record_package([b.record for _, b in page], **meta)))


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
