"""Compile releases into records: compiled releases, versioned releases and OCDS records.

Merging follows the OCDS merge routine as implemented by ``ocdsmerge``, with merge rules read
from the LOCAL patched schema (:func:`ocds.schema.release_schema`): never from the network.

Bare releases and OCDS versions: ``ocdsmerge.Merger`` does not sniff versions at all (that is
``ocdskit.combine``'s job, where bare releases count as 1.0 unless ``force_version="1.1"``).
Giving the Merger the 1.1.5 schema is the equivalent of ``force_version="1.1"``, so every release
passed here is merged as OCDS 1.1. Upgrade 1.0 data first (:mod:`ocds.ingest` does).

Fast path: most ocids (every catalogue order) have exactly one release. Compiling one release
is a pure function of that release and the merge rules, implemented in
:func:`_compile_single`, which is proven identical to ocdsmerge (value and key order) by
``tests/ocds/test_compile_differential.py`` on the real corpus and on generated releases.
Whatever it cannot reproduce exactly (duplicate or null array ``id`` values, which ocdsmerge
handles with warnings and identity quirks) falls back to ocdsmerge.

As with ocdsmerge, compiled output may share leaf values (strings, whole lists) with the input
releases: do not mutate one and expect the other to stay unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import ocdsmerge

from ocds import schema as ocds_schema

__all__ = ["compile_release", "make_record", "versioned_release"]

_OMIT = "omitWhenMerged"
_WHOLE = "wholeListMerge"


@functools.cache
def _merger() -> ocdsmerge.Merger:
    # Cached per process: building merge rules dereferences the whole schema (~15 ms).
    return ocdsmerge.Merger(schema=ocds_schema.release_schema())


def compile_release(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release of one contracting process's releases (all with the same ocid)."""
    if len(releases) == 1 and isinstance(releases[0], dict):
        compiled = _compile_single(releases[0], _merger().merge_rules)
        if compiled is not None:
            return compiled
    return _merger().create_compiled_release(releases)


def versioned_release(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The versioned release (the history of every field) of one contracting process."""
    return _merger().create_versioned_release(releases)


def make_record(
    ocid: str,
    releases: list[dict[str, Any]],
    *,
    linked: bool = False,
    release_urls: dict[str, str] | None = None,
    versioned: bool = False,
) -> dict[str, Any]:
    """An OCDS record for ``ocid``.

    ``releases`` are embedded, or, with ``linked=True``, listed as ``{url, date, tag}`` where
    ``release_urls`` maps each release ``id`` to its public URL (a missing URL is an error: a
    linked release without a URL cannot be followed). Releases are listed in date order, as the
    merge routine reads them. ``versioned=True`` adds the ``versionedRelease`` (about twice as
    slow as compiling).
    """
    for release in releases:
        if release.get("ocid") != ocid:
            raise ValueError(
                f"release {release.get('id')!r} has ocid {release.get('ocid')!r}, not {ocid!r}"
            )
    ordered = sorted(releases, key=lambda r: r.get("date") or "")
    if linked:
        urls = release_urls or {}
        missing = [r.get("id") for r in ordered if r.get("id") not in urls]
        if missing:
            raise ValueError(f"no URL for linked release(s) {missing!r}")
        listed: list[dict[str, Any]] = []
        for release in ordered:
            entry = {"url": urls[release["id"]], "date": release["date"]}
            if "tag" in release:
                entry["tag"] = release["tag"]
            listed.append(entry)
    else:
        listed = list(ordered)
    record: dict[str, Any] = {
        "ocid": ocid,
        "releases": listed,
        "compiledRelease": compile_release(releases),
    }
    if versioned:
        record["versionedRelease"] = versioned_release(releases)
    return record


class _Fallback(Exception):
    """The fast path cannot reproduce ocdsmerge exactly for this input."""


Rules = dict[tuple[str, ...], str]


def _compile_single(release: dict[str, Any], rules: Rules) -> dict[str, Any] | None:
    """ocdsmerge's compiled release of a single release, without flattening; None to fall back.

    What ocdsmerge does to one release, step by step (ocdsmerge 0.8, merge.py / flatten.py):

    * ``tag`` becomes ``["compiled"]``, ``id`` becomes ``"{ocid}-{date}"``; ``id``, ``date`` and
      ``tag`` come first in that order, then ``ocid``, then the other fields in release order.
    * fields whose rule is ``omitWhenMerged`` are dropped;
    * a ``null`` value is dropped, but the objects that lead to it are kept (``{"a": {"b":
      null}}`` compiles to ``{"a": {}}``);
    * empty objects and empty arrays are dropped, except under ``wholeListMerge``;
    * arrays with a ``wholeListMerge`` rule, or holding anything but objects, are kept whole;
    * other arrays of objects: each object is compiled, objects that compile to nothing vanish,
      and an object's ``id`` moves to its first key (identifier merge rebuilds it that way).
    """
    ocid = release.get("ocid")
    date = release.get("date")
    try:
        body = _object(release, (), rules, top=True)
    except _Fallback:
        return None
    compiled: dict[str, Any] = {"tag": ["compiled"], "id": f"{ocid}-{date}"}
    if date is not None:
        compiled["date"] = date
    if ocid is not None:
        compiled["ocid"] = ocid
    if body is not None:
        for key, value in body.items():
            compiled.setdefault(key, value)
    # ocdsmerge keeps "date" and "ocid" in their fixed places even when the release repeats them.
    return compiled


def _object(
    obj: dict[str, Any], rule_path: tuple[str, ...], rules: Rules, *, top: bool = False
) -> dict[str, Any] | None:
    """Compile an object; None when it yields no field at all (ocdsmerge then creates nothing)."""
    out: dict[str, Any] = {}
    produced = False
    for key, value in obj.items():
        if top and key == "tag":
            continue  # popped by ocdsmerge before flattening, whatever the rules say
        path = (*rule_path, key)
        rule = rules.get(path)
        if rule == _OMIT:
            continue
        if (
            rule == _WHOLE
            or not isinstance(value, dict | list)
            or (type(value) is list and any(not isinstance(item, dict) for item in value))
        ):
            produced = True
            if value is not None:
                out[key] = value
        elif value:
            # value is a dict here (type() is list was ruled out); mypy does not narrow on a failed
            # `type(x) is list`, and a cast() would cost a call per nested object on this hot path.
            sub = _array(value, path, rules) if type(value) is list else _object(value, path, rules)  # type: ignore[arg-type]
            if sub is not None:
                produced = True
                out[key] = sub
    return out if produced else None


def _array(
    items: list[dict[str, Any]], rule_path: tuple[str, ...], rules: Rules
) -> list[dict[str, Any]] | None:
    """Compile an array of objects merged by identifier; None when nothing is produced."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for item in items:
        if "id" in item:
            identifier = item["id"]
            # ocdsmerge keys objects by str(id) and by the raw id: None, bools, floats, and ids
            # repeated within the array make those disagree or merge objects. Let it decide.
            if type(identifier) not in (str, int) or str(identifier) in seen:
                raise _Fallback
            seen.add(str(identifier))
        # ocdsmerge applies the array's own rule to its items; reaching here means it had none
        # that applies, so each item is flattened like an object at the same rule path.
        compiled = _object(item, rule_path, rules) if item else None
        if compiled is None:
            continue
        if "id" in item:
            compiled = {"id": item["id"], **{k: v for k, v in compiled.items() if k != "id"}}
        out.append(compiled)
    return out or None
