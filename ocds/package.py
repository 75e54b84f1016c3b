"""Wrap releases and records in OCDS release packages and record packages.

A package is the unit OCDS data is published in: its metadata says who publishes, under what
licence and policy, when, against which OCDS version (always ``"1.1"`` here) and with which
extensions. Output validates against :func:`ocds.schema.package_schema` for its kind (with the
pagination extension when ``links`` are given).

Every package Veraz publishes (API pages, single releases, records, pages' JSON twins, bulk
exports) is built here. :func:`release_package_json` builds a release package around releases
that are already serialised, so stored releases are never parsed again to be published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from ocds.errors import InputError, Problem
from ocds.schema import (
    EXTENSION_URLS,
    EXTENSIONS_DIR,
    LOCAL_EXTENSIONS,
    LOCAL_PACKAGE_EXTENSIONS,
    OCDS_VERSION,
    RELEASE_EXTENSIONS,
)

__all__ = [
    "declared_extensions",
    "local_extension_file",
    "package_head",
    "package_tail",
    "published_date",
    "record_package",
    "release_package",
    "release_package_json",
]


def declared_extensions(local_base: str, *, paginated: bool = False) -> list[str]:
    """The ``extensions`` array of a Veraz package.

    The community extensions by their published URLs; the local ones (not published anywhere
    else) at ``<local_base>/<name>/extension.json``, where the portal serves them; the
    pagination extension when the package is a page of an API response."""
    base = local_base.rstrip("/")
    urls = [EXTENSION_URLS[name] for name in RELEASE_EXTENSIONS]
    urls += [f"{base}/{name}/extension.json" for name in LOCAL_EXTENSIONS]
    if paginated:
        urls.append(EXTENSION_URLS["pagination"])
    return urls


def local_extension_file(name: str, filename: str) -> bytes | None:
    """The bytes of one file of a local extension (``extension.json``, ``release-schema.json``,
    ``codelists/<name>.csv``), or None when there is no such file."""
    if name not in LOCAL_EXTENSIONS and name not in LOCAL_PACKAGE_EXTENSIONS:
        return None
    folder = (EXTENSIONS_DIR / name).resolve()
    try:
        path = (folder / filename).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            return None
        return path.read_bytes()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL
        return None


def published_date(moment: datetime) -> str:
    """A package's ``publishedDate``: UTC, to the second (a naive ``moment`` is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(
    *,
    uri: str,
    publisher: dict[str, Any],
    license: str | None,
    publication_policy: str | None,
    published_date: str,
    extensions: list[str],
    invalid: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if not publisher.get("name"):
        raise InputError(
            [
                Problem(
                    "publisher/name",
                    "a package's publisher must have a name (required by the package schema)",
                )
            ]
        )
    package: dict[str, Any] = {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": list(extensions),
        "publishedDate": published_date,
        "publisher": dict(publisher),
    }
    # license and publicationPolicy are optional; an absent one reads better than null.
    if license is not None:
        package["license"] = license
    if publication_policy is not None:
        package["publicationPolicy"] = publication_policy
    if invalid:
        # Releases kept as published although they do not validate, with their problems
        # (the local validity extension, which the caller declares in ``extensions``).
        package["invalidReleases"] = list(invalid)
    return package


def _with_contents(package: dict[str, Any], key: str, contents: list[Any]) -> dict[str, Any]:
    """Put ``contents`` under ``key``; an empty list only in a page of a paginated response.

    The core package schemas require at least one release (record); the pagination extension
    drops every ``required``, so an empty page (the end of a feed) leaves ``key`` out instead."""
    if contents:
        package[key] = list(contents)
    elif EXTENSION_URLS["pagination"] not in package["extensions"]:
        raise InputError(
            [
                Problem(
                    key,
                    f"a package must hold at least one of its {key} unless it "
                    "is a page of a paginated response (declaring the "
                    "pagination extension)",
                )
            ]
        )
    return package


def _with_links(package: dict[str, Any], links: dict[str, str] | None) -> dict[str, Any]:
    if links:
        unknown = set(links) - {"next", "prev"}
        if unknown:
            raise InputError(
                [Problem("links", f"links may only have 'next' and 'prev', not {sorted(unknown)}")]
            )
        package["links"] = dict(links)
    return package


def release_package(
    releases: list[dict[str, Any]],
    *,
    uri: str,
    publisher: dict[str, Any],
    license: str | None,
    publication_policy: str | None,
    published_date: str,
    extensions: list[str],
    links: dict[str, str] | None = None,
    invalid: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A release package holding ``releases`` (in the order given).

    ``links`` (``{"next": url, "prev": url}``) marks a page of a paginated API response; the
    caller then lists the pagination extension in ``extensions``. No releases is only allowed in
    such a page (``releases`` is then left out); otherwise it is an ``InputError``.
    """
    package = _metadata(
        uri=uri,
        publisher=publisher,
        license=license,
        publication_policy=publication_policy,
        published_date=published_date,
        extensions=extensions,
        invalid=invalid,
    )
    return _with_links(_with_contents(package, "releases", releases), links)


def record_package(
    records: list[dict[str, Any]],
    *,
    uri: str,
    publisher: dict[str, Any],
    license: str | None,
    publication_policy: str | None,
    published_date: str,
    extensions: list[str],
    links: dict[str, str] | None = None,
    packages: list[str] | None = None,
    invalid: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A record package holding ``records`` (see :func:`ocds.compile.make_record`).

    ``packages`` lists the URLs of the release packages the records' releases were published in,
    as the record package schema recommends when releases are linked.
    """
    package = _metadata(
        uri=uri,
        publisher=publisher,
        license=license,
        publication_policy=publication_policy,
        published_date=published_date,
        extensions=extensions,
        invalid=invalid,
    )
    if packages:
        package["packages"] = list(packages)
    return _with_links(_with_contents(package, "records", records), links)


def release_package_json(
    serialised_releases: list[bytes],
    *,
    uri: str,
    publisher: dict[str, Any],
    license: str | None,
    publication_policy: str | None,
    published_date: str,
    extensions: list[str],
    links: dict[str, str] | None = None,
    invalid: list[dict[str, Any]] | None = None,
) -> bytes:
    """:func:`release_package` as JSON bytes, around releases already serialised as JSON.

    The package's metadata is the same as :func:`release_package` builds; the releases are
    copied byte for byte (each must be one JSON object)."""
    package = _with_links(
        _metadata(
            uri=uri,
            publisher=publisher,
            license=license,
            publication_policy=publication_policy,
            published_date=published_date,
            extensions=extensions,
            invalid=invalid,
        ),
        links,
    )
    if not serialised_releases:
        return orjson.dumps(_with_contents(package, "releases", []))
    return orjson.dumps(package)[:-1] + b',"releases":[' + b",".join(serialised_releases) + b"]}"


def package_head(
    kind: str,
    *,
    uri: str,
    publisher: dict[str, Any],
    license: str | None,
    publication_policy: str | None,
    published_date: str,
    extensions: list[str],
) -> bytes:
    """The bytes that open a package whose releases (``kind="release"``) or records
    (``kind="record"``) are written one at a time after it, separated by commas, and closed by
    :func:`package_tail`: bulk files too large to hold in memory. The metadata is the same as
    :func:`release_package` and :func:`record_package` build."""
    if kind not in ("release", "record"):
        raise InputError([Problem("", f"kind must be 'release' or 'record', not {kind!r}")])
    package = _metadata(
        uri=uri,
        publisher=publisher,
        license=license,
        publication_policy=publication_policy,
        published_date=published_date,
        extensions=extensions,
    )
    return orjson.dumps(package)[:-1] + f',"{kind}s":['.encode()


def package_tail(invalid: list[dict[str, Any]] | None = None) -> bytes:
    """The bytes that close a package opened by :func:`package_head`, with ``invalidReleases``
    (the local validity extension, which the head must then declare) when ``invalid`` lists
    releases kept although they do not validate. At least one release or record must have
    been written in between: a package's contents may not be empty."""
    if invalid:
        return b'],"invalidReleases":' + orjson.dumps(list(invalid)) + b"}"
    return b"]}"
