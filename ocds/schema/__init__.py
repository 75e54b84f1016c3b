"""The OCDS 1.1.5 schema Veraz publishes against, patched with the extensions it declares.

Everything here is read from files vendored in this package (see tools/vendor_ocds.py), so
validation and merging never touch the network.

Declared extensions and why:

* ``bids``: supplier quotes (proformas) are ``bids.details``.
* ``location``: ``Item.deliveryAddress`` / ``deliveryLocation`` per destination.
* ``lots``: required by ``techniques`` (``Lot.techniques``) and ``bids`` (``Bid.relatedLots``).
* ``techniques``: ``tender.techniques.hasFrameworkAgreement`` on the framework agreement.
* ``partyScale``: supplier size (``parties[].details.scale``).
* ``contract_suppliers``: the supplier of a call-off order is ``contracts[].suppliers``.
* ``integrity`` (local, OCDS standard issue 1725): ``Document.integrity`` with SHA-256 hashes.

``pagination`` is a package-level extension, declared only on paged API responses.
"""

from __future__ import annotations

import copy
import csv
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ocds.errors import InputError, Problem

HERE = Path(__file__).resolve().parent
CORE_DIR = HERE / "1__1__5"
EXTENSIONS_DIR = HERE / "extensions"
SCHEMA_BASE = "https://standard.open-contracting.org/schema/1__1__5/"
OCDS_VERSION = "1.1"

RELEASE_EXTENSIONS = ["bids", "location", "lots", "techniques", "partyScale", "contract_suppliers"]
LOCAL_EXTENSIONS = ["integrity"]
# Local package-level extensions, declared only by the packages that use them: ``validity``
# (``invalidReleases``) in a package that holds releases kept although invalid.
LOCAL_PACKAGE_EXTENSIONS = ["validity"]

EXTENSION_URLS = {
    "bids": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "location": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_location_extension/v1.1.5/extension.json",
    "lots": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json",
    "techniques": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_techniques_extension/master/extension.json",
    "partyScale": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_partyDetails_scale_extension/master/extension.json",
    "contract_suppliers": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_contract_suppliers_extension/master/extension.json",
    "pagination": "https://raw.githubusercontent.com/open-contracting-extensions/ocds_pagination_extension/master/extension.json",
}


# A package declares an extension by the URL of its extension.json, whose path names the
# extension's repository (at any tag or branch): how a third party's declaration is matched to
# the vendored copy of that extension.
EXTENSION_REPOSITORIES = {
    "ocds_bid_extension": "bids",
    "ocds_location_extension": "location",
    "ocds_lots_extension": "lots",
    "ocds_techniques_extension": "techniques",
    "ocds_partyDetails_scale_extension": "partyScale",
    "ocds_contract_suppliers_extension": "contract_suppliers",
    "ocds_pagination_extension": "pagination",
}


def declared_extensions(urls: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The vendored extensions a package's ``extensions`` array declares, and the URLs it
    declares that match none of them.

    Returns ``(names, unknown)``: ``names`` are the vendored extensions that patch the release
    schema, in Veraz's fixed order (so equal declarations share one compiled validator);
    ``unknown`` keeps the unrecognised URLs as published. Package-level extensions (pagination)
    are recognised but not returned: they do not patch releases."""
    names: set[str] = set()
    unknown: list[str] = []
    for url in urls:
        parts = [p for p in str(url).split("/") if p]
        name = next((EXTENSION_REPOSITORIES[p] for p in parts if p in EXTENSION_REPOSITORIES), None)
        if name is None:
            unknown.append(str(url))
        elif name in RELEASE_EXTENSIONS:
            names.add(name)
    return tuple(n for n in RELEASE_EXTENSIONS if n in names), tuple(unknown)


def _vendored(path: Path, missing: str) -> Path:
    # Names come from callers (an API path, a codelist name): never leave the vendored folders.
    if not path.resolve().is_relative_to(HERE) or not path.is_file():
        raise InputError([Problem("", missing)])
    return path


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch (how OCDS extensions patch the core schema)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _drop_empty_required(node: Any) -> Any:
    # pagination sets "required": [] (invalid draft 4); an absent list means the same.
    if isinstance(node, dict):
        return {k: _drop_empty_required(v) for k, v in node.items() if not (k == "required" and v == [])}
    if isinstance(node, list):
        return [_drop_empty_required(v) for v in node]
    return node


@functools.cache
def _patched(name: str, extensions: tuple[str, ...]) -> dict:
    schema = _load(CORE_DIR / name)
    for ext in extensions:
        patch_path = EXTENSIONS_DIR / ext / name
        if patch_path.exists():
            schema = merge_patch(schema, _load(patch_path))
    return _drop_empty_required(schema)


def release_schema(extensions: tuple[str, ...] | None = None) -> dict:
    """The release schema patched with Veraz's extensions (a fresh deep copy)."""
    if extensions is None:
        extensions = tuple(RELEASE_EXTENSIONS + LOCAL_EXTENSIONS)
    return copy.deepcopy(_patched("release-schema.json", extensions))


def package_schema(kind: str, paginated: bool = False, validity: bool = False) -> dict:
    """The release or record package schema (``kind`` is ``"release"`` or ``"record"``), patched
    with the pagination extension when ``paginated`` and the local validity extension when
    ``validity``.

    Raises :class:`~ocds.errors.InputError` for any other ``kind``.
    """
    if kind not in ("release", "record"):
        raise InputError([Problem("", f"kind must be 'release' or 'record', not {kind!r}")])
    name = f"{kind}-package-schema.json"
    patches = (("pagination",) if paginated else ()) + (("validity",) if validity else ())
    return copy.deepcopy(_patched(name, patches))


def extension_patch(ext: str, name: str = "release-schema.json") -> dict:
    """A vendored extension's schema patch (used to serve local extensions).

    Raises :class:`~ocds.errors.InputError` when no such extension file is vendored.
    """
    return _load(_vendored(EXTENSIONS_DIR / ext / name, f"extension {ext!r} has no {name}"))


@functools.cache
def codes(codelist: str, extension: str | None = None) -> frozenset[str]:
    """The codes of a codelist, e.g. ``codes("currency.csv")``.

    Raises :class:`~ocds.errors.InputError` when no such codelist is vendored.
    """
    base = EXTENSIONS_DIR / extension / "codelists" if extension else CORE_DIR / "codelists"
    path = _vendored(
        base / codelist,
        f"no vendored codelist {codelist!r}" + (f" in extension {extension!r}" if extension else ""),
    )
    with path.open(encoding="utf-8") as f:
        return frozenset(row["Code"] for row in csv.DictReader(f))
