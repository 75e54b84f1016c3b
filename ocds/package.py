"""Wrap releases and records in OCDS release packages and record packages.

A package is the unit OCDS data is published in: its metadata says who publishes, under what
licence and policy, when, against which OCDS version (always ``"1.1"`` here) and with which
extensions. Output validates against :func:`ocds.schema.package_schema` for its kind (with the
pagination extension when ``links`` are given).
"""

from __future__ import annotations

from typing import Any

from ocds.schema import OCDS_VERSION

__all__ = ["record_package", "release_package"]


def _metadata(
    *,
    uri: str,
    publisher: dict[str, Any],
    license: str | None,
    publication_policy: str | None,
    published_date: str,
    extensions: list[str],
) -> dict[str, Any]:
    if not publisher.get("name"):
        raise ValueError("publisher must have a name (required by the package schema)")
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
    return package


def _with_links(package: dict[str, Any], links: dict[str, str] | None) -> dict[str, Any]:
    if links:
        unknown = set(links) - {"next", "prev"}
        if unknown:
            raise ValueError(f"links may only have 'next' and 'prev', not {sorted(unknown)}")
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
) -> dict[str, Any]:
    """A release package holding ``releases`` (in the order given).

    ``links`` (``{"next": url, "prev": url}``) marks a page of a paginated API response; the
    caller then lists the pagination extension in ``extensions``.
    """
    package = _metadata(
        uri=uri,
        publisher=publisher,
        license=license,
        publication_policy=publication_policy,
        published_date=published_date,
        extensions=extensions,
    )
    package["releases"] = list(releases)
    return _with_links(package, links)


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
    )
    if packages:
        package["packages"] = list(packages)
    package["records"] = list(records)
    return _with_links(package, links)
