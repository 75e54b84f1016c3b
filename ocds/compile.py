"""Compile releases into records: compiled releases, versioned releases and OCDS records.

Merging follows the OCDS merge routine as implemented by ``ocdsmerge``, with merge rules read
from the LOCAL patched schema (:func:`ocds.schema.release_schema`): never from the network.

Bare releases and OCDS versions: ``ocdsmerge.Merger`` does not sniff versions at all (that is
``ocdskit.combine``'s job, where bare releases count as 1.0 unless ``force_version="1.1"``).
Giving the Merger the 1.1.5 schema is the equivalent of ``force_version="1.1"``, so every release
passed here is merged as OCDS 1.1. Upgrade 1.0 data first (:mod:`ocds.ingest` does).

Fast paths: most ocids (every catalogue order) have exactly one release. Compiling one release
is a pure function of that release and the merge rules, implemented in
:func:`_compile_single`, which is proven identical to ocdsmerge (value and key order) by
``tests/ocds/test_compile.py`` on the real corpus and on generated releases.
Whatever it cannot reproduce exactly (duplicate or null array ``id`` values, which ocdsmerge
handles with warnings and identity quirks) falls back to ocdsmerge.

Later versions of an order give an ocid several releases: :func:`_compile_many` merges them as
trees instead of flattening and unflattening every release (about 6 times faster on catalogue
orders), proven byte-identical to ocdsmerge (orjson output) by
``tests/ocds/test_compile_merge.py`` on the real corpus, generated catalogue orders and
generated release lists. It falls back to ocdsmerge on the inputs listed in its docstring.

As with ocdsmerge, compiled output may share leaf values (strings, whole lists) with the input
releases: do not mutate one and expect the other to stay unchanged.
"""

from __future__ import annotations

import functools
from operator import itemgetter
from typing import Any

import ocdsmerge
import orjson
from ocdsmerge.exceptions import OCDSMergeError

from ocds import schema as ocds_schema
from ocds.errors import InputError, Problem

__all__ = ["compile_release", "fast_compiled_release", "make_record", "versioned_release"]

_OMIT = "omitWhenMerged"
_WHOLE = "wholeListMerge"


@functools.cache
def _merger() -> ocdsmerge.Merger:
    # Cached per process: building merge rules dereferences the whole schema (~15 ms).
    return ocdsmerge.Merger(schema=ocds_schema.release_schema())


def _check_releases(releases: Any) -> None:
    if not isinstance(releases, list | tuple):
        raise InputError([Problem("", "releases must be a list of JSON objects")])
    bad = [
        Problem(str(i), "a release must be a JSON object")
        for i, release in enumerate(releases)
        if not isinstance(release, dict)
    ]
    if bad:
        raise InputError(bad)


def _merge_error(error: Exception) -> InputError:
    # ocdsmerge refuses releases it cannot merge (a missing or non-string date, a field that is
    # a value in one release and an object in another, an unhashable id): the input's fault,
    # said in its words.
    return InputError([Problem("", str(error))])


def compile_release(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release of one contracting process's releases (all with the same ocid).

    Raises :class:`~ocds.errors.InputError` when ``releases`` is not a list of JSON objects or
    the merge routine cannot merge them.
    """
    compiled = fast_compiled_release(releases)
    if compiled is not None:
        return compiled
    try:
        return _merger().create_compiled_release(releases)
    except (OCDSMergeError, TypeError) as error:
        raise _merge_error(error) from error


def fast_compiled_release(releases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The compiled release by this module's fast paths alone, or None where they defer to
    ocdsmerge (whose result :func:`compile_release` then returns).

    Callers want :func:`compile_release`; this is public so that the fast paths can be proven
    identical to ocdsmerge on their own (``tests/ocds/test_compile*.py``).
    """
    _check_releases(releases)
    if len(releases) == 1:
        return _compile_single(releases[0], _merger().merge_rules)
    if len(releases) > 1:
        return _compile_many(releases, _merger().merge_rules)
    return None


def versioned_release(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The versioned release (the history of every field) of one contracting process.

    Raises :class:`~ocds.errors.InputError` as :func:`compile_release` does.
    """
    _check_releases(releases)
    try:
        return _merger().create_versioned_release(releases)
    except (OCDSMergeError, TypeError) as error:
        raise _merge_error(error) from error


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

    Raises :class:`~ocds.errors.InputError` (a ``ValueError``) for a release of another ocid, a
    linked release without a URL, or releases :func:`compile_release` refuses.
    """
    _check_releases(releases)
    wrong = [
        Problem(f"{i}/ocid", f"release {r.get('id')!r} has ocid {r.get('ocid')!r}, not {ocid!r}")
        for i, r in enumerate(releases)
        if r.get("ocid") != ocid
    ]
    if wrong:
        raise InputError(wrong)
    ordered = sorted(releases, key=lambda r: r.get("date") or "")
    if linked:
        urls = release_urls or {}
        missing = [r.get("id") for r in ordered if r.get("id") not in urls]
        if missing:
            raise InputError([Problem("", f"no URL for linked release(s) {missing!r}")])
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

    The rules are looked up in the rule tree (:func:`_rule_trie`, whose top level omits ``tag``
    as ocdsmerge pops it), one dict lookup per key, and below a key without rules at any depth
    (most of a release) not at all (:func:`_single_free`).
    """
    ocid = release.get("ocid")
    date = release.get("date")
    try:
        body = _single_object(release, _rule_trie(rules))
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


def _single_object(obj: dict[str, Any], trie: _Trie) -> dict[str, Any] | None:
    """Compile an object; None when it yields no field at all (ocdsmerge then creates nothing)."""
    out: dict[str, Any] = {}
    produced = False
    for key, value in obj.items():
        rule, below = trie.get(key, _NO_RULE)
        if rule is not None:
            if rule == _OMIT:
                continue
            if rule == _WHOLE:
                produced = True
                if value is not None:
                    out[key] = value
                continue
        kind = type(value)
        if kind is dict:
            if value:
                sub = _single_object(value, below) if below else _single_free(value)
                if sub is not None:
                    produced = True
                    out[key] = sub
            continue
        if kind is list:
            for item in value:
                if not isinstance(item, dict):
                    break
            else:
                if value:
                    array = _single_array(value, below)
                    if array is not None:
                        produced = True
                        out[key] = array
                continue
        elif isinstance(value, dict | list):
            raise _Fallback  # a subclass: ocdsmerge tests some of those by exact type
        produced = True
        if value is not None:
            out[key] = value
    return out if produced else None


def _single_free(obj: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`_single_object` where no merge rule applies at any depth."""
    out: dict[str, Any] = {}
    produced = False
    for key, value in obj.items():
        kind = type(value)
        if kind is str:
            out[key] = value
            produced = True
            continue
        if kind is dict:
            if value:
                sub = _single_free(value)
                if sub is not None:
                    produced = True
                    out[key] = sub
            continue
        if kind is list:
            for item in value:
                if not isinstance(item, dict):
                    break
            else:
                if value:
                    array = _single_array(value, _NO_RULES)
                    if array is not None:
                        produced = True
                        out[key] = array
                continue
        elif isinstance(value, dict | list):
            raise _Fallback
        produced = True
        if value is not None:
            out[key] = value
    return out if produced else None


def _single_array(items: list[dict[str, Any]], trie: _Trie) -> list[dict[str, Any]] | None:
    """Compile an array of objects merged by identifier; None when nothing is produced."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for item in items:
        if type(item) is not dict:
            raise _Fallback  # a dict subclass
        if "id" in item:
            identifier = item["id"]
            # ocdsmerge keys objects by str(id) and by the raw id: None, bools, floats, and ids
            # repeated within the array make those disagree or merge objects. Let it decide.
            kind = type(identifier)
            if kind is str:
                key = identifier
            elif kind is int:
                key = str(identifier)
            else:
                raise _Fallback
            if key in seen:
                raise _Fallback
            seen.add(key)
        if not item:
            continue
        # ocdsmerge applies the array's own rule to its items; reaching here means it had none
        # that applies, so each item is flattened like an object at the same rule path.
        compiled = _single_object(item, trie) if trie else _single_free(item)
        if compiled is None:
            continue
        if "id" in item and next(iter(compiled)) != "id":
            compiled = {"id": item["id"], **{k: v for k, v in compiled.items() if k != "id"}}
        out.append(compiled)
    return out or None


# --- several releases ----------------------------------------------------------------------

# The merge rules as a tree: key -> (rule or None, the rules below that key).
_Trie = dict[str, tuple[str | None, "_Trie"]]
_NO_RULES: _Trie = {}
_NO_RULE: tuple[None, _Trie] = (None, _NO_RULES)
_MISSING: Any = object()
_NUMBERS = frozenset({int, float, bool})
_by_date = itemgetter("date")
_tries: dict[int, tuple[Rules, _Trie]] = {}


def _rule_trie(rules: Rules) -> _Trie:
    cached = _tries.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    trie: _Trie = {}
    for path, rule in rules.items():
        node = trie
        for depth, key in enumerate(path, 1):
            old_rule, below = node.get(key, _NO_RULE)
            if below is _NO_RULES:
                below = {}
            node[key] = (rule if depth == len(path) else old_rule, below)
            node = below
    # ocdsmerge pops the release's tag before flattening, whatever the rules say.
    trie["tag"] = (_OMIT, _NO_RULES)
    _tries[id(rules)] = (rules, trie)
    return trie


def _compile_many(releases: list[dict[str, Any]], rules: Rules) -> dict[str, Any] | None:
    """ocdsmerge's compiled release of several releases, without flattening; None to fall back.

    ocdsmerge sorts the releases by ``date`` (a stable sort), then for each one sets the
    flattened keys ``id`` (``"{ocid}-{date}"``), ``date`` and ``ocid`` and updates its flattened
    dict with the release's own (``tag`` popped), and finally unflattens that dict, creating the
    nodes along each key in the dict's insertion order and dropping ``None`` leaves. Merging the
    releases as trees (:class:`_Merge`) gives the same result when each merged object keeps:

    * its keys in first-seen order, ``None`` leaves included (a flattened key keeps its place
      when a later release sets it again); ``None`` leaves are dropped at the end;
    * a key that was only a ``None`` leaf so far moves to the end when it becomes an object or
      array (unflatten creates that node at its first sub-key, not at the ``None`` key);
    * a ``None`` over an existing object or array changes nothing (unflatten finds the node
      already there and keeps it);
    * array items merged by ``str(id)``, with the ``id`` first; items without ``id`` never merge
      (ocdsmerge gives each one a new UUID); objects and arrays yielding no flattened key
      (empty, or only omitted fields) are not created.

    Objects and array items a release repeats as they were in the release before are not merged
    again (see :class:`_Merge`): later versions of an order change little.

    Falls back (returns None) where ocdsmerge raises or its flattened keys collide in ways a
    tree does not mirror:

    * a release that is not an object, a ``date`` that is not a string (ocdsmerge raises on
      missing and null dates), an ``ocid`` neither a string nor null;
    * an array ``id`` that is not a string or an integer (null, bools and floats key ocdsmerge's
      nodes by values that disagree with their string form), or repeated within one array of
      one release (ocdsmerge warns, as for a single release);
    * the same array ``id`` as an integer in one release and as a string in another (ocdsmerge
      then makes two objects with the same ``id``);
    * a field that is a non-null value in one release and an object or array in another, or an
      object in one and an array in another (ocdsmerge raises, appends to the list, or keeps
      whichever came first);
    * dict or list subclasses as values (ocdsmerge tests some of those by exact type).
    """
    for release in releases:
        if type(release) is not dict or type(release.get("date")) is not str:
            return None
        ocid = release.get("ocid")
        if ocid is not None and type(ocid) is not str:
            return None
    trie = _rule_trie(rules)
    merge = _Merge()
    top: dict[str, Any] = {"tag": ["compiled"]}
    previous = None
    try:
        for release in sorted(releases, key=_by_date):
            ocid = release.get("ocid")
            date = release["date"]
            top["id"] = f"{ocid}-{date}"
            top["date"] = date
            top["ocid"] = ocid
            if ocid is None:
                merge.nulls = True
            merge.merge_object(top, release, trie, previous)
            previous = release
    except _Fallback:
        return None
    if merge.nulls:
        _strip(top, trie, merge.arrays)
    return top


def _same(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same, number types and key order included."""
    if a is b:
        return True
    if a != b:  # 1 == 1.0 == True, and dicts compare without order: check what orjson writes
        return False
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except orjson.JSONEncodeError:
        return False


class _Merge:
    """Merges releases into one tree of plain dicts and lists (see :func:`_compile_many`).

    A dict in the tree at a path without a merge rule is a merged object; a list is a merged
    array when :attr:`arrays` knows it, a value (a list of non-objects) otherwise; anything else
    is a value, ``None`` included. Values are kept whole.

    Later versions of a catalogue order repeat most fields as they were: an object (or array
    item) that is :func:`_same` as the one the previous release merged into that node is not
    merged again, as merging it again would change nothing, unless an array item without ``id``
    was ever added (that would be added once more). ``last`` is that previous value, or None
    when unknown.
    """

    __slots__ = ("appended", "arrays", "nulls")

    def __init__(self) -> None:
        # id() of each merged array (they stay in the tree, so ids are not reused) -> its items
        # by identity: the id as a string, or a new object() for an item without id.
        self.arrays: dict[int, dict[Any, dict[str, Any]]] = {}
        self.appended = False  # whether an array item without id was ever added
        self.nulls = False  # whether a None leaf may be in the tree

    def merge_object(
        self,
        node: dict[str, Any],
        obj: dict[str, Any],
        trie: _Trie,
        last: dict[str, Any] | None,
    ) -> None:
        """Merge ``obj`` into the existing ``node``."""
        for key, value in obj.items():
            rule, below = trie.get(key, _NO_RULE)
            if rule is not None:
                if rule == _OMIT:
                    continue
                if value is None:
                    self.nulls = True
            else:
                kind = type(value)
                if kind is dict:
                    if not value:
                        continue
                    current = node.get(key, _MISSING)
                    if type(current) is dict:
                        before = last.get(key) if last is not None else None
                        if type(before) is not dict:
                            before = None
                        elif not self.appended and _same(before, value):
                            continue
                        self.merge_object(current, value, below, before)
                        continue
                    fresh: Any = {}
                    if below:
                        self.fill(value, below, fresh)
                    else:
                        self.fill_free(value, fresh)
                    if fresh:
                        _place(node, key, current, fresh)
                    continue
                if kind is list:
                    for item in value:
                        if not isinstance(item, dict):
                            break
                    else:
                        if not value:
                            continue
                        current = node.get(key, _MISSING)
                        by_id = self.arrays.get(id(current)) if type(current) is list else None
                        if by_id is not None:
                            before = last.get(key) if last is not None else None
                            if type(before) is not list:
                                before = None
                            elif not self.appended and _same(before, value):
                                continue
                            self.merge_array(current, by_id, value, below, before)
                            continue
                        fresh = self.new_array(value, below)
                        if fresh is not None:
                            _place(node, key, current, fresh)
                        continue
                elif value is None:
                    self.nulls = True
                elif kind is not str and kind not in _NUMBERS and isinstance(value, dict | list):
                    raise _Fallback  # a subclass: ocdsmerge tests some of those by exact type
                current = node.get(key)
                if type(current) is dict or (type(current) is list and id(current) in self.arrays):
                    if value is not None:
                        raise _Fallback  # an object or array so far
                    continue
            # A value: a scalar, null, an array with a non-object, or a wholeListMerge field.
            node[key] = value

    def fill(self, obj: dict[str, Any], trie: _Trie, node: dict[str, Any]) -> None:
        """Merge ``obj`` into the new ``node`` (``node`` stays empty if it yields no key)."""
        for key, value in obj.items():
            rule, below = trie.get(key, _NO_RULE)
            if rule is not None:
                if rule == _OMIT:
                    continue
                if value is None:
                    self.nulls = True
            else:
                kind = type(value)
                if kind is str:
                    pass
                elif kind is dict:
                    if value:
                        sub: dict[str, Any] = {}
                        if below:
                            self.fill(value, below, sub)
                        else:
                            self.fill_free(value, sub)
                        if sub:
                            node[key] = sub
                    continue
                elif kind is list:
                    for item in value:
                        if not isinstance(item, dict):
                            break
                    else:
                        if value:
                            array = self.new_array(value, below)
                            if array is not None:
                                node[key] = array
                        continue
                elif value is None:
                    self.nulls = True
                elif kind not in _NUMBERS and isinstance(value, dict | list):
                    raise _Fallback
            node[key] = value

    def fill_free(self, obj: dict[str, Any], node: dict[str, Any]) -> None:
        """:meth:`fill` where no merge rule applies at any depth (most of a release)."""
        for key, value in obj.items():
            kind = type(value)
            if kind is str:
                pass
            elif kind is dict:
                if value:
                    sub: dict[str, Any] = {}
                    self.fill_free(value, sub)
                    if sub:
                        node[key] = sub
                continue
            elif kind is list:
                for item in value:
                    if not isinstance(item, dict):
                        break
                else:
                    if value:
                        array = self.new_array(value, _NO_RULES)
                        if array is not None:
                            node[key] = array
                    continue
            elif value is None:
                self.nulls = True
            elif kind not in _NUMBERS and isinstance(value, dict | list):
                raise _Fallback
            node[key] = value

    def new_array(self, items: list[dict[str, Any]], trie: _Trie) -> list[dict[str, Any]] | None:
        """A new merged array of ``items``; None when it yields no flattened key."""
        array: list[dict[str, Any]] = []
        by_id: dict[Any, dict[str, Any]] = {}
        # An item with an id yields at least its id, unless a rule omits it.
        id_yields = trie.get("id", _NO_RULE)[0] != _OMIT
        for item in items:
            if "id" in item:
                identifier = item["id"]
                kind = type(identifier)
                if kind is str:
                    key: Any = identifier
                elif kind is int:
                    key = str(identifier)
                else:
                    raise _Fallback
                if key in by_id:
                    raise _Fallback
                sub: dict[str, Any] = {"id": identifier}
                if trie:
                    self.fill(item, trie, sub)
                else:
                    self.fill_free(item, sub)
                if not id_yields and len(sub) == 1:
                    continue
            else:
                key = object()
                sub = {}
                if trie:
                    self.fill(item, trie, sub)
                else:
                    self.fill_free(item, sub)
                if not sub:
                    continue
                self.appended = True
            by_id[key] = sub
            array.append(sub)
        if not array:
            return None
        self.arrays[id(array)] = by_id
        return array

    def merge_array(
        self,
        array: list[dict[str, Any]],
        by_id: dict[Any, dict[str, Any]],
        items: list[dict[str, Any]],
        trie: _Trie,
        last: list[dict[str, Any]] | None,
    ) -> None:
        """Merge ``items`` into the existing ``array`` by identifier."""
        seen: set[str] = set()
        id_yields = trie.get("id", _NO_RULE)[0] != _OMIT
        # The items of the array previously merged here, by identity (they were checked then).
        before_by_id = (
            {str(raw["id"]): raw for raw in last if "id" in raw}
            if last is not None and not self.appended
            else None
        )
        for item in items:
            if "id" in item:
                identifier = item["id"]
                kind = type(identifier)
                if kind is str:
                    key: Any = identifier
                elif kind is int:
                    key = str(identifier)
                else:
                    raise _Fallback
                if key in seen:
                    raise _Fallback
                seen.add(key)
                current = by_id.get(key)
                if current is not None:
                    if type(current["id"]) is not kind:
                        raise _Fallback
                    before = before_by_id.get(key) if before_by_id is not None else None
                    if before is not None and not self.appended and _same(before, item):
                        continue
                    self.merge_object(current, item, trie, before)
                    continue
                sub: dict[str, Any] = {"id": identifier}
                self.fill(item, trie, sub)
                if not id_yields and len(sub) == 1:
                    continue
            else:
                key = object()
                sub = {}
                self.fill(item, trie, sub)
                if not sub:
                    continue
                self.appended = True
            by_id[key] = sub
            array.append(sub)


def _place(node: dict[str, Any], key: str, current: Any, fresh: Any) -> None:
    """Add a new object or array ``fresh`` at ``key``, which held ``current`` so far."""
    if current is None:
        del node[key]  # only a None leaf so far: unflatten creates the node here, at the end
    elif current is not _MISSING:
        raise _Fallback  # a value so far, or an object where now an array (or the reverse)
    node[key] = fresh


def _strip(node: dict[str, Any], trie: _Trie, arrays: dict[int, Any]) -> None:
    """Drop the None leaves of a merged object, in place (values are kept whole)."""
    for key in [key for key, value in node.items() if value is None]:
        del node[key]
    for key, value in node.items():
        rule, below = trie.get(key, _NO_RULE)
        if rule is not None:
            continue
        if type(value) is dict:
            _strip(value, below, arrays)
        elif type(value) is list and id(value) in arrays:
            for item in value:
                _strip(item, below, arrays)
