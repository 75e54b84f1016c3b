"""The compiled release of a single release, spliced from the release's canonical JSON bytes.

A contracting process with one release compiles (OCDS merge routine, as ``ocdsmerge`` and
:func:`ocds.compile.compile_release` do it) to that release with ``id`` = ``"{ocid}-{date}"``
and ``tag`` = ``["compiled"]``, unless the merge changes something else. Given the release as
RFC 8785 canonical JSON (how the portal stores every release), the RFC 8785 canonical JSON of
its compiled release is then the stored bytes with two member values replaced: no parsing, no
merging, no serialising. :func:`spliced_compiled` does that where a test on the bytes shows
that nothing else changes, and answers None elsewhere (the caller compiles as before).

The rule. The stored bytes ``S`` (canonical JSON of an object) are spliced when all of these
hold; each is a case where the merge routine would change the release (ocdsmerge 0.8,
``flatten``/``unflatten``; ``ocds.compile._compile_single`` lists them):

1. ``S`` holds no backslash (``\\``): no string has an escape, so every ``"`` opens or closes a
   string, and a string's bytes between its quotes are its canonical encoding.
2. There is no null value, no empty object and no empty array (the merge drops them, and
   objects and array items left empty by that). ``S`` is refused when it holds the bytes
   ``null`` anywhere (text holding them only costs the slow path), or a ``{`` or ``[`` outside
   strings directly followed by its closing bracket.
3. Every member named ``id``, at any depth, has a string value (the merge keys array items by
   ``str(id)`` and by the raw value: numbers, booleans and null can merge items or reorder).
4. No two objects that are elements of the same array have equal ``id`` values (the merge
   merges them into one).
5. The top-level object has an ``id`` member with a string value, a ``tag`` member whose value
   is an array, an object or a string, and ``date`` and ``ocid`` members with string values.
6. The merge rules omit no field (``omitWhenMerged``) but the top-level ``id``, ``date`` and
   ``tag`` (true of OCDS 1.1.5 and its extensions here; other rules turn the splice off).

Then the compiled release is ``S`` with the value of its top-level ``id`` replaced by
``"`` + the bytes of ``ocid``'s value between its quotes + ``-`` + those of ``date``'s + ``"``,
and the value of its top-level ``tag`` replaced by ``["compiled"]``. Members keep their
places, since canonical JSON sorts them by key and the keys do not change: the result is the
canonical JSON of the compiled release, byte for byte what
``canonical_json(compile_release([orjson.loads(S)]))`` gives (:func:`compiled_canonical`;
proven on generated and mutated releases by ``tests/portal/exports/test_splice.py``).

How: the test runs over many releases at once with numpy, on the positions of the bytes that
matter (quotes and brackets), not over every byte in Python: about 50-60 µs per 7.3 KB
catalogue release on this project's (loaded) machine, against 110-140 µs to parse, compile and
serialise (``docs/bulk-downloads.md``, Performance).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from anchoring.canonical import canonical_json
from anchoring.errors import CanonicalError
from ocds.compile import _merger, compile_release
from ocds.errors import InputError

__all__ = ["compiled_canonical", "splice_allowed", "splice_flag", "spliced_compiled", "spliced_flagged"]

_COMPILED_TAG = b'["compiled"]'

# Bytes that matter, as small codes (translate table): quote 1, { 2, [ 3, } 4, ] 5.
_QUOTE, _OPEN_ARRAY = 1, 3
_CODE_OF = {ord('"'): 1, ord("{"): 2, ord("["): 3, ord("}"): 4, ord("]"): 5}
_CODES = bytes(_CODE_OF.get(b, 0) for b in range(256))


def _word(text: bytes) -> tuple[int, int]:
    """A key pattern as (value, mask) over the little-endian 8-byte word after a quote."""
    return int.from_bytes(text, "little"), (1 << (8 * len(text))) - 1


# Keys, read from the byte after their opening quote: `id":` then `"` (a string value), ...
_ID_KEY = _word(b'id":')
_ID_STRING = _word(b'id":"')
_TAG_KEY = _word(b'tag":')
_DATE_STRING = _word(b'date":"')
_OCID_STRING = _word(b'ocid":"')
_PAD = b"\0" * 16  # past the last release, so that 8-byte reads never leave the buffer


def compiled_canonical(data: bytes) -> bytes | None:
    """The slow path: the RFC 8785 canonical JSON of the compiled release of the one release
    ``data`` (parsed, compiled by :func:`ocds.compile.compile_release`); None when the merge
    routine refuses it.

    One case needs care: canonical JSON writes a float of 2**53 or more below 10**21 without
    exponent (``18014398509481984``, ``1152921504606847000`` for 2**60), which parses back as an
    integer beyond the range RFC 8785 allows for integers. Such an integer is written as the
    float whose canonical form has its digits (the same digits, as the splice keeps them);
    anything still refused is written with sorted keys by orjson (not canonical; no stored
    release can lead there)."""
    try:
        compiled = compile_release([orjson.loads(data)])
    except (InputError, orjson.JSONDecodeError):
        return None
    try:
        return canonical_json(compiled)
    except CanonicalError:
        pass
    try:
        return canonical_json(_exact_floats(compiled))
    except CanonicalError:
        return orjson.dumps(compiled, option=orjson.OPT_SORT_KEYS)


_SAFE = 2**53 - 1


def _exact_floats(value: Any) -> Any:
    """``value`` with every integer beyond +-(2**53 - 1) whose digits are the canonical form of
    a float replaced by that float."""
    kind = type(value)
    if kind is dict:
        return {k: _exact_floats(v) for k, v in value.items()}
    if kind is list:
        return [_exact_floats(v) for v in value]
    if kind is int and _SAFE < abs(value) < 10**21:
        try:
            if canonical_json([float(value)]) == b"[%d]" % value:
                return float(value)
        except CanonicalError:
            pass
    return value


@functools.cache
def splice_allowed() -> bool:
    """Rule 6: the merge rules omit nothing but the top-level ``id``, ``date`` and ``tag``."""
    omitted = {path for path, rule in _merger().merge_rules.items() if rule == "omitWhenMerged"}
    return omitted <= {("id",), ("date",), ("tag",)}


def spliced_compiled(datas: Sequence[bytes]) -> list[bytes | None]:
    """For each release's RFC 8785 canonical JSON, its compiled release's canonical JSON when
    the rule above holds (the module docstring), else None (compile it).

    The output is claimed equal to the slow path's for canonical JSON input, which is what the
    portal stores. Bytes that are not JSON are left out of the batch (None) when they show as
    such (an odd number of quotes, unbalanced brackets), so that they cannot upset the test of
    the other releases."""
    out: list[bytes | None] = [None] * len(datas)
    if not datas or not splice_allowed():
        return out
    # Rules 1 and 2 (null; empty objects and arrays are found below), per release, in C.
    chosen = [
        i for i, data in enumerate(datas) if data[:1] == b"{" and b"\\" not in data and b"null" not in data
    ]
    if not chosen:
        return out
    members = [datas[i] for i in chosen]
    count = len(members)
    lengths = np.fromiter(map(len, members), np.int64, count)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    buf = b"".join(members) + _PAD
    raw = np.frombuffer(buf, np.uint8)
    codes = np.frombuffer(buf.translate(_CODES), np.uint8)
    where = np.flatnonzero(codes.astype(np.bool_))  # (three times faster on bools than on bytes)
    kinds = codes[where]
    is_quote = kinds == _QUOTE
    quotes = where[is_quote]
    # Without escapes (rule 1), quotes in JSON alternate, opening then closing, and a bracket
    # is outside every string when an even number of quotes come before it. Bytes that are
    # not JSON (an odd number of quotes, unbalanced brackets) would upset that for the
    # releases after them: they are left out and the others looked at again.
    odd = np.diff(np.searchsorted(quotes, starts), append=len(quotes)) & 1
    if odd.any():
        return _without(datas, out, chosen, odd.astype(bool))
    # Parity of the quotes so far (an 8-bit running sum keeps it, and is the cheapest).
    outside = ~is_quote & ((np.cumsum(is_quote.view(np.int8), dtype=np.int8) & 1) == 0)
    brackets = where[outside]
    bracket_kinds = kinds[outside]
    opens = bracket_kinds <= _OPEN_ARRAY
    depth = np.cumsum(opens.view(np.int8) * 2 - 1, dtype=np.int32)  # depth after each bracket
    first_bracket = np.searchsorted(brackets, starts)
    before = depth[first_bracket - 1] if len(brackets) else np.zeros(count, np.int32)
    before[first_bracket == 0] = 0
    if (before != 0).any() or (len(brackets) and depth[-1] != 0):
        unbalanced = np.zeros(count, bool)
        unbalanced[np.flatnonzero(before != 0)[:1] - 1 if (before != 0).any() else count - 1] = True
        return _without(datas, out, chosen, unbalanced)
    bad = np.zeros(count, bool)

    def owner(positions: np.ndarray) -> np.ndarray:  # which release each position is in
        return np.searchsorted(starts, positions, side="right") - 1

    # Rule 2: an empty object or array is an opening bracket right before its closing one.
    empty = opens[:-1] & ~opens[1:] & (brackets[1:] == brackets[:-1] + 1)
    bad[owner(brackets[:-1][empty])] = True

    # Each string's opening quote and the 8 bytes after it, as one little-endian word: one
    # gather per string instead of eight. A key is a string followed by `:`.
    key_quotes = quotes[0::2]
    words = np.ndarray((len(buf) - 8,), dtype="<u8", buffer=buf, strides=(1,))[key_quotes + 1]
    four = words & np.uint64(0xFFFFFFFF)
    five = words & np.uint64(0xFFFFFFFFFF)
    seven = words & np.uint64(0xFFFFFFFFFFFFFF)
    id_keys = key_quotes[four == np.uint64(_ID_KEY[0])]
    id_strings = key_quotes[five == np.uint64(_ID_STRING[0])]
    place = np.searchsorted(brackets, id_strings) - 1
    id_depths = depth[place]
    id_owner = owner(id_strings)
    # Rule 3: every `"id":` has a string value.
    if len(id_keys) != len(id_strings):
        other = np.setdiff1d(id_keys, id_strings)
        bad[owner(other)] = True

    # Rule 4: ids of the objects of one array are distinct. An id key at depth d belongs to
    # the object opened last at depth d before it; that object's container is the bracket
    # opened last at depth d - 1 before it (a later one at that depth would have closed it).
    inner = id_depths >= 2
    positions, levels, holders = id_strings[inner], id_depths[inner], id_owner[inner]
    if len(positions) > 1:
        open_at = brackets[opens]
        span = np.int64(len(buf) + 1)
        open_depths = depth[opens]
        open_keys = open_depths.astype(np.int64) * span + open_at
        # Sorted by depth, then position (a stable sort of small integers: a radix sort).
        order = np.argsort(open_depths.astype(np.int16), kind="stable")
        containers = open_at[order][
            np.searchsorted(open_keys[order], (levels.astype(np.int64) - 1) * span + positions) - 1
        ]
        in_array = raw[containers] == ord("[")
        positions, containers, holders = positions[in_array], containers[in_array], holders[in_array]
        value_starts = positions + 6
        value_ends = quotes[np.searchsorted(quotes, value_starts)]
        sizes = value_ends - value_starts
        lanes = np.arange(8)
        head = raw[value_starts[:, None] + lanes] * (lanes < sizes[:, None])
        tail = raw[(value_ends - 8)[:, None] + lanes] * (lanes >= 8 - sizes[:, None])
        head = head.view("<u8").ravel()
        tail = tail.view("<u8").ravel()
        ranked = np.lexsort((tail, head, sizes, containers))
        c, z, h, t = containers[ranked], sizes[ranked], head[ranked], tail[ranked]
        same = np.flatnonzero((c[1:] == c[:-1]) & (z[1:] == z[:-1]) & (h[1:] == h[:-1]) & (t[1:] == t[:-1]))
        for k in same.tolist():  # same length, first and last 8 bytes: compare them whole
            a, b = ranked[k], ranked[k + 1]
            if buf[value_starts[a] : value_ends[a]] == buf[value_starts[b] : value_ends[b]]:
                bad[holders[a]] = True

    # Rule 5: the top-level members (depth 1).
    def top(found: np.ndarray) -> np.ndarray:
        at = np.full(count, -1, np.int64)
        place = np.searchsorted(brackets, found) - 1
        found = found[depth[place] == 1]
        at[owner(found)] = found
        return at

    top_id = top(id_strings)
    top_tag = top(key_quotes[five == np.uint64(_TAG_KEY[0])])
    top_date = top(key_quotes[seven == np.uint64(_DATE_STRING[0])])
    top_ocid = top(key_quotes[seven == np.uint64(_OCID_STRING[0])])
    ok = ~bad & (top_id >= 0) & (top_tag >= 0) & (top_date >= 0) & (top_ocid >= 0)
    chosen_ok = np.flatnonzero(ok)
    if not len(chosen_ok):
        return out
    top_id, top_tag, top_date, top_ocid = top_id[ok], top_tag[ok], top_date[ok], top_ocid[ok]
    tag_values = top_tag + 6
    first = raw[tag_values]
    # The tag's value ends at its closing quote, or at the first bracket back at depth 1.
    back_to_top = brackets[~opens & (depth == 1)]
    string_end = quotes[np.minimum(np.searchsorted(quotes, tag_values + 1), len(quotes) - 1)]
    bracket_end = back_to_top[np.minimum(np.searchsorted(back_to_top, tag_values), len(back_to_top) - 1)]
    tag_ends = np.where(first == ord('"'), string_end, bracket_end) + 1
    tag_ok = ((first == ord('"')) | (first == ord("[")) | (first == ord("{"))).tolist()
    id_ends = quotes[np.searchsorted(quotes, top_id + 6)] + 1
    date_ends = quotes[np.searchsorted(quotes, top_date + 8)]
    ocid_ends = quotes[np.searchsorted(quotes, top_ocid + 8)]
    rows = zip(
        chosen_ok.tolist(),
        tag_ok,
        (top_id + 5).tolist(),
        id_ends.tolist(),
        tag_values.tolist(),
        tag_ends.tolist(),
        (top_date + 8).tolist(),
        date_ends.tolist(),
        (top_ocid + 8).tolist(),
        ocid_ends.tolist(),
        strict=True,
    )
    starts_list, ends_list = starts.tolist(), ends.tolist()
    for j, good, id_at, id_end, tag_at, tag_end, date_at, date_end, ocid_at, ocid_end in rows:
        if not good:
            continue
        new_id = b'"' + buf[ocid_at:ocid_end] + b"-" + buf[date_at:date_end] + b'"'
        start, end = starts_list[j], ends_list[j]
        if id_at < tag_at:  # always, as canonical JSON sorts keys
            made = buf[start:id_at] + new_id + buf[id_end:tag_at] + _COMPILED_TAG + buf[tag_end:end]
        else:
            made = buf[start:tag_at] + _COMPILED_TAG + buf[tag_end:id_at] + new_id + buf[id_end:end]
        out[chosen[j]] = made
    return out


# --- the flag decided at publication -------------------------------------------------------

_SCALARS = frozenset((str, int, float, bool))
_TAG_KEY_BYTES = b'"tag":'


def splice_flag(release: Any, data: bytes, *, catalogue: bool = False) -> bool:
    """Whether :func:`spliced_flagged` gives the compiled release of ``release`` alone, whose
    RFC 8785 canonical JSON is ``data``: decided once, at publication, where the release is a
    Python object already (the ``releases.splice`` column; ``veraz audit`` recomputes it from
    the stored bytes with the whole rule, ``catalogue`` false).

    The rule is the module's (1 to 5) on the object instead of its bytes, plus what lets the
    export find the two values to replace with ``bytes.find`` instead of a walk:

    * no backslash in ``data`` (rule 1: every ``"`` opens or closes a string, and a string's
      bytes are its UTF-8);
    * no None, no empty dict or list, anywhere (rule 2); every ``id`` member a string (rule 3);
      no two dicts of one list with the same ``id`` (rule 4); nothing but dicts, lists,
      strings, numbers and booleans;
    * ``id``, ``date``, ``ocid`` strings, ``date`` as the ``releases.date`` column keeps it (at
      most 40 characters), ``tag`` a string or a list of strings none holding ``]`` (rule 5,
      narrowed: the tag's value then ends at the first ``"`` or ``]`` after it starts);
    * the bytes ``"tag":`` occur once in ``data`` (no other member is named ``tag``), and so
      do ``"id":"<the release's id>"`` (no other object has the release's id): both are then
      the top-level members.

    ``catalogue``: ``release`` is an order's release as ``ocds.catalogue.mapping.map_order``
    makes it from an order that passed ``ocds.catalogue.source.check_order``, for which most
    of the rule holds by construction, so that publishing decides it for a few microseconds
    instead of a walk over the object (about 50 µs). What holds by construction: every value
    is a dict, a list, a string, a number or a boolean, never None; every list and dict it
    makes has members (the source format's lists that it copies have ``minItems`` 1, and
    optional ones are copied only when not empty); every ``id`` is a string (made with
    ``str`` or an f-string, or copied from a source field whose schema says string); the only
    member named ``tag`` is the top-level one (without a backslash, ``"tag":`` in ``data`` can
    only be a member name); its lists of objects with ids have one element or distinct ids
    (item lines, destination and delivery numbers, proforma, amendment and order document ids
    are checked unique; a contract item's and a milestone's id join positive integers with
    ``-``; statistics ids are constants). Not by construction, so checked here: a backslash
    (text), the top-level members, the release's id elsewhere (a document id may be any
    text), the parties (the buyer may be the supplier) and each quote's documents (their ids
    are unique per quote only by chance). ``tests/portal/exports/test_splice.py`` holds this
    equal to the whole rule on generated and mutated orders; the audit recomputes the whole
    rule from the stored bytes, so a difference would be named there.

    Rule 6 (the merge rules) is checked by the export, :func:`splice_allowed`."""
    if type(release) is not dict or b"\\" in data:
        return False
    get = release.get
    rid, tag, date = get("id"), get("tag"), get("date")
    if type(rid) is not str or type(date) is not str or type(get("ocid")) is not str or len(date) > 40:
        return False
    if type(tag) is list:
        for t in tag:
            if type(t) is not str or "]" in t:
                return False
    elif type(tag) is not str:
        return False
    try:
        id_member = b'"id":"' + rid.encode() + b'"'
    except UnicodeEncodeError:
        return False
    if data.count(id_member) != 1:
        return False
    if catalogue:
        return _catalogue_ids_distinct(release)
    return data.count(_TAG_KEY_BYTES) == 1 and _plain(release)


def _catalogue_ids_distinct(release: dict) -> bool:
    """Rule 4 where ``map_order`` does not make it hold by construction (see
    :func:`splice_flag`): the parties, and each quote's documents."""
    parties = release["parties"]
    if len(parties) > 1 and len({p["id"] for p in parties}) != len(parties):
        return False
    bids = release.get("bids")
    if bids is not None:
        for bid in bids["details"]:
            documents = bid.get("documents")
            if (
                documents is not None
                and len(documents) > 1
                and len({d["id"] for d in documents}) != len(documents)
            ):
                return False
    return True


def _plain(value: Any) -> bool:
    """Rules 2, 3 and 4 over the whole object (recursive: a release is a dozen levels deep at
    most, and a recursive walk cost a quarter less than one with its own stack)."""
    if type(value) is dict:
        if not value or ("id" in value and type(value["id"]) is not str):
            return False
        for member in value.values():
            kind = type(member)
            if kind is dict or kind is list:
                if not _plain(member):
                    return False
            elif kind not in _SCALARS:
                return False
        return True
    if not value:
        return False
    ids = None
    for item in value:
        kind = type(item)
        if kind is dict:
            if "id" in item:
                if ids is None:
                    ids = [item["id"]]
                else:
                    ids.append(item["id"])
            if not _plain(item):
                return False
        elif kind is list:
            if not _plain(item):
                return False
        elif kind not in _SCALARS:
            return False
    return ids is None or len(set(ids)) == len(ids)


def spliced_flagged(data: bytes, ocid: str, date: str, release_id: str) -> bytes | None:
    """The compiled release of a release whose :func:`splice_flag` is true, from its stored
    bytes ``data`` and its ``ocid``, ``date`` and ``release_id`` columns (what the flag was
    decided on; ``veraz audit`` checks them): ``data`` with the top-level ``id``'s value
    replaced by ``"{ocid}-{date}"`` and the ``tag``'s by ``["compiled"]``, found with
    ``bytes.find`` (the flag says each occurs once). None if they are not found."""
    # Each occurs once: found from the end for the tag (only `tender` sorts after it among the
    # standard's members), from the start for the id, up to the tag.
    tag_at = data.rfind(_TAG_KEY_BYTES)
    id_member = b'"id":"' + release_id.encode() + b'"'
    id_at = data.find(id_member, 0, tag_at)
    if id_at < 0:  # canonical JSON sorts members: id before tag
        return None
    value = tag_at + 6
    first = data[value : value + 1]
    if first == b"[":
        tag_end = data.find(b"]", value) + 1
    elif first == b'"':
        tag_end = data.find(b'"', value + 1) + 1
    else:
        return None
    if tag_end <= 0:
        return None
    view = memoryview(data)  # slices of a view are not copies: the join copies once
    return b"".join(
        (
            view[: id_at + 5],
            b'"',
            ocid.encode(),
            b"-",
            date.encode(),
            b'"',
            view[id_at + len(id_member) : value],
            _COMPILED_TAG,
            view[tag_end:],
        )
    )


def _without(
    datas: Sequence[bytes], out: list[bytes | None], chosen: list[int], left_out: np.ndarray
) -> list[bytes | None]:
    """:func:`spliced_compiled` again without the releases ``left_out`` (not JSON): None for them."""
    again = [i for i, skip in zip(chosen, left_out.tolist(), strict=True) if not skip]
    for i, made in zip(again, spliced_compiled([datas[i] for i in again]), strict=True):
        out[i] = made
    return out
