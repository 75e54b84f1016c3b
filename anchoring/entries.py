"""The exact bytes of every evidence-log entry (the RFC 9162 "leaf input").

PROOF-CRITICAL: every leaf hash in the log is SHA-256(0x00 || these bytes); changing the
encoding breaks proofs already issued. A new format gets a new version number ``v``.

Encoding (format version 1), specified for independent implementers in
``docs/proof-format.md`` ("Log entries"): an entry is the RFC 8785 (JCS) canonical JSON of
one flat object with the members

* ``"v"``: the format version, the integer ``1``;
* ``"kind"``: the entry kind (``"release"``, ``"proforma"``, later ones such as ``"bulk"``);
* the kind's own members: text as JSON strings, hashes as 64 lowercase hex digits.

Why canonical JSON and not a length-prefixed binary format: anyone can rebuild and read the
bytes with a stock RFC 8785 library (or by hand: the object is flat and ASCII apart from
identifiers), the bytes are self-describing in a proof bundle, and the encoding is unambiguous
because JCS fixes member order, number and string forms. Decoding is strict: it re-encodes the
decoded entry and requires the same bytes, so every entry has exactly one valid encoding.

Entry kinds:

``release`` (``ReleaseEntry``): one published OCDS release.
    ``ocid``, ``releaseId``, ``dataHash`` = SHA-256 of the RFC 8785 form of the release,
    ``documentHash`` = SHA-256 of the source document (member absent when there is none),
    ``proformasHash`` = ``proformas_hash_link`` of the proformas the release relies on,
    ``packageHash`` = SHA-256 of the RFC 8785 form of the source package statement: who
    published an imported release and under which terms (member absent for the portal's own
    releases; see ``docs/proof-format.md``, "Source package statement").

``proforma`` (``ProformaEntry``): one proforma (quote) of a catalogue order.
    ``ocid`` (of the order), ``proformaId``, ``proformaHash`` = SHA-256 of the RFC 8785 form
    of the proforma JSON.

``bulk`` (``BulkFileEntry``): one bulk download file as published.
    ``name`` (its file name), ``fileHash`` = SHA-256 of its bytes, and as decimal text
    ``size`` (bytes), ``releases`` (releases it holds) and ``logSize`` (the log's size when it
    was exported).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import orjson

from anchoring.canonical import canonical_json
from anchoring.errors import EntryError
from anchoring.merkle import EMPTY_ROOT, leaf_hash, root_from_leaves

__all__ = [
    "BulkFileEntry",
    "ENTRY_FORMAT_VERSION",
    "Entry",
    "ProformaEntry",
    "ReleaseEntry",
    "check_entry",
    "decode_entry",
    "encode_entries",
    "encode_entry",
    "entry_leaf_hash",
    "entry_kinds",
    "entry_member",
    "proformas_hash_link",
    "register_entry_kind",
]

ENTRY_FORMAT_VERSION = 1

_TEXT, _HASH, _OPTIONAL_HASH, _DECIMAL = "text", "hash", "optional hash", "decimal"
# A whole number written as decimal text: one encoding per number (no sign, no leading zero).
_DECIMAL_TEXT = re.compile(r"0|[1-9][0-9]*")
_HEX = frozenset("0123456789abcdef")


def entry_member(name: str, kind: str, **kwargs: Any) -> Any:
    """A dataclass field of an entry kind, stored in the entry JSON as member ``name``.

    ``kind`` is ``"text"`` (a non-empty string), ``"hash"`` (32 bytes, written as 64 lowercase
    hex digits) or ``"optional hash"`` (a hash, or None for an absent member). ``kwargs`` go
    to :func:`dataclasses.field` (e.g. ``default=None``).
    """
    if kind not in (_TEXT, _HASH, _OPTIONAL_HASH, _DECIMAL):
        raise EntryError(f"entry member {name!r}: unknown member type {kind!r}")
    return field(metadata={"json": name, "type": kind}, **kwargs)


@dataclass(frozen=True)
class Entry:
    """Base class of the log entry kinds. Subclasses set ``KIND`` and declare members."""

    KIND: ClassVar[str] = ""

    @property
    def kind(self) -> str:
        """The entry kind, the ``"kind"`` member of the encoding."""
        return self.KIND

    def __post_init__(self) -> None:
        for name, kind in _checks(type(self)):
            value = getattr(self, name)
            if kind == _TEXT:
                if type(value) is not str or not value:
                    if not isinstance(value, str) or not value:
                        raise EntryError(f"{self.KIND} entry: {name} must be a non-empty string")
                if not value.isascii():
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError as error:
                        raise EntryError(f"{self.KIND} entry: {name} is not valid Unicode") from error
            elif kind == _DECIMAL:
                if type(value) is not str or not _DECIMAL_TEXT.fullmatch(value):
                    raise EntryError(f"{self.KIND} entry: {name} must be a whole number in decimal text")
            elif value is None and kind == _OPTIONAL_HASH:
                continue
            elif not isinstance(value, bytes) or len(value) != 32:
                raise EntryError(f"{self.KIND} entry: {name} must be 32 bytes")

    def to_json(self) -> dict[str, Any]:
        """The JSON object this entry is encoded from (hashes as lowercase hex)."""
        obj: dict[str, Any] = {"v": ENTRY_FORMAT_VERSION, "kind": self.KIND}
        for attribute, member, is_text in _members(type(self)):
            value = getattr(self, attribute)
            if value is None:
                continue
            obj[member] = value if is_text else value.hex()
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Entry:
        """The entry of this kind stated by ``obj``; EntryError if a member is wrong."""
        members = {f.metadata["json"]: f for f in dataclasses.fields(cls)}
        extra = set(obj) - set(members) - {"v", "kind"}
        if extra:
            raise EntryError(f"{cls.KIND} entry: unknown members {sorted(extra)}")
        values: dict[str, Any] = {}
        for name, f in members.items():
            value = obj.get(name)
            if f.metadata["type"] in (_TEXT, _DECIMAL):
                values[f.name] = value
            elif value is None and f.metadata["type"] == _OPTIONAL_HASH and name not in obj:
                values[f.name] = None
            elif isinstance(value, str) and len(value) == 64 and set(value) <= _HEX:
                values[f.name] = bytes.fromhex(value)
            else:
                raise EntryError(f"{cls.KIND} entry: {name} must be 64 lowercase hex digits")
        return cls(**values)


_CHECKS: dict[type[Entry], tuple[tuple[str, str], ...]] = {}


def _checks(cls: type[Entry]) -> tuple[tuple[str, str], ...]:
    """(attribute, member type) of each field of an entry class (cached: every entry is built)."""
    checks = _CHECKS.get(cls)
    if checks is None:
        checks = _CHECKS[cls] = tuple((f.name, f.metadata["type"]) for f in dataclasses.fields(cls))
    return checks


_MEMBERS: dict[type[Entry], tuple[tuple[str, str, bool], ...]] = {}


def _members(cls: type[Entry]) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, JSON member, is text) of each field of an entry class (cached: hot path)."""
    members = _MEMBERS.get(cls)
    if members is None:
        members = tuple(
            (f.name, f.metadata["json"], f.metadata["type"] in (_TEXT, _DECIMAL))
            for f in dataclasses.fields(cls)
        )
        _MEMBERS[cls] = members
    return members


_KINDS: dict[str, type[Entry]] = {}
E = TypeVar("E", bound=type[Entry])


def register_entry_kind(cls: E) -> E:
    """Class decorator: make ``cls`` (an Entry dataclass with a unique KIND) decodable."""
    if not cls.KIND or cls.KIND in _KINDS:
        raise EntryError(f"entry kind {cls.KIND!r} is empty or already registered")
    _KINDS[cls.KIND] = cls
    _ENCODERS[cls] = _make_encoder(cls)
    _PATTERNS[cls.KIND.encode()] = _make_pattern(cls)
    return cls


# --- fast paths ------------------------------------------------------------------------------
# Appending to the log encodes every entry (Entry values) or checks every entry (bytes), so
# both are done without building a dict or parsing JSON: per kind, the members are written
# in JCS order by a plan made once, and bytes are checked by one regular expression that
# matches exactly the canonical encodings of that kind. Both are proven identical to the
# reference path (``canonical_json(entry.to_json())``, ``decode_entry``) by
# ``tests/anchoring/test_entries.py``, on generated and on hostile inputs.

# A JSON string exactly as RFC 8785 writes it: raw characters except '"', '\\' and the
# controls U+0000..U+001F, which are escaped with the short forms \b \t \n \f \r where
# they exist and as \u00xx (lowercase hex) otherwise. Non-empty (entry text is non-empty).
# Multi-byte UTF-8 is checked separately (bytes.decode), the pattern sees bytes.
_JCS_STRING = rb'"(?:[^"\\\x00-\x1f]++|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))++"'
_HEX64 = rb'"[0-9a-f]{64}"'
_DECIMAL_JSON = rb'"(?:0|[1-9][0-9]*+)"'


def _json_text(value: str) -> bytes:
    """RFC 8785 form of a string: the plain case inline, anything else by the reference."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return b'"' + value.encode("ascii") + b'"'
    return canonical_json(value)


def _plan(cls: type[Entry]) -> list[tuple[str, str | None, str]]:
    """(JSON member, attribute or None for a constant, type) in JCS member order.

    RFC 8785 sorts members by their UTF-16 code units; member names are ASCII, so that is
    plain string order.
    """
    members: list[tuple[str, str | None, str]] = [
        (f.metadata["json"], f.name, f.metadata["type"]) for f in dataclasses.fields(cls)
    ]
    members += [("kind", None, "kind"), ("v", None, "v")]
    if any(not name.isascii() for name, _, _ in members):  # pragma: no cover - own kinds only
        raise EntryError(f"entry kind {cls.KIND!r}: member names must be ASCII")
    return sorted(members)


def _make_encoder(cls: type[Entry]) -> Callable[[Entry], bytes]:
    """A function writing the canonical bytes of ``cls`` entries, generated from its plan.

    Two paths, both with the members already in JCS order:

    * The common case, text members in printable ASCII without '"' or '\\' (checked once,
      on their concatenation, with ``str`` methods: faster than a regular expression): an
      f-string of the whole object. Nothing in it needs escaping, so it is the canonical
      form. Measured 0.6 against 0.9 us per release entry.
    * Otherwise, orjson over an object literal, whose output for such an object (strings,
      hex strings and the small integer ``v``; no floats) is RFC 8785: it escapes exactly
      '"', '\\' and U+0000..U+001F, with the short forms where JCS has them and lowercase
      ``\\u00xx`` otherwise, and writes everything else as UTF-8 (lone surrogates never get
      here: entries refuse them).

    The tests compare both with the reference on generated and hostile text. A branch per
    combination of absent optional members keeps every object a literal.
    """
    plan = _plan(cls)
    optional = [attribute for _, attribute, kind in plan if kind == _OPTIONAL_HASH]
    if len(optional) > 3:  # pragma: no cover - 2**k branches; no kind has more than two
        raise EntryError(f"entry kind {cls.KIND!r}: too many optional members")

    def members(present: set[str | None]) -> list[tuple[str, str, str | None]]:
        """(JSON member, Python expression of its value, its JSON text if a constant) of the
        members written, in order: text is ``entry.x``, a hash ``entry.x.hex()``."""
        out: list[tuple[str, str, str | None]] = []
        for name, attribute, kind in plan:
            if kind == "kind":
                out.append((name, repr(cls.KIND), _json_text(cls.KIND).decode()))
            elif kind == "v":
                out.append((name, repr(ENTRY_FORMAT_VERSION), str(ENTRY_FORMAT_VERSION)))
            elif kind in (_TEXT, _DECIMAL):
                out.append((name, f"entry.{attribute}", None))
            elif kind == _HASH or attribute in present:
                out.append((name, f"entry.{attribute}.hex()", None))
        return out

    def literal(present: set[str | None]) -> str:
        items = ", ".join(f"{name!r}: {value}" for name, value, _ in members(present))
        # bytes(memoryview(...)): orjson returns its whole output buffer (about 4 KB) with a
        # shortened length; a copy keeps a small entry small in memory.
        return f"_bytes(_view(_dumps({{{items}}})))"

    def template(present: set[str | None]) -> str:
        """f-string source of the object when no text member needs escaping."""
        parts = []
        for name, value, constant in members(present):
            if not re.fullmatch("[A-Za-z][A-Za-z0-9]*", name):  # pragma: no cover - own kinds
                raise EntryError(f"entry kind {cls.KIND!r}: member name {name!r}")
            parts.append(f'"{name}":' + (constant if constant is not None else f'"{{{value}}}"'))
        return "f'{{" + ",".join(parts) + "}}'"

    texts = " + ".join(f"entry.{attribute}" for _, attribute, kind in plan if kind == _TEXT)
    lines = [
        "def encode(entry):",
        f"    text = {texts or repr('')}",
        "    plain = (text.isascii() and text.isprintable() and '\"' not in text and '\\\\' not in text)",
    ]

    def emit(present: set[str | None], indent: str) -> None:
        lines.append(f"{indent}if plain:")
        lines.append(f"{indent}    return {template(present)}.encode()")
        lines.append(f"{indent}return {literal(present)}")

    def branch(k: int, present: set[str | None], indent: str) -> None:
        if k == len(optional):
            emit(present, indent)
            return
        lines.append(f"{indent}if entry.{optional[k]} is None:")
        branch(k + 1, present, indent + "    ")
        branch(k + 1, present | {optional[k]}, indent)

    branch(0, set(), "    ")
    namespace: dict[str, Any] = {"_dumps": orjson.dumps, "_bytes": bytes, "_view": memoryview}
    exec(compile("\n".join(lines) + "\n", f"<entry encoder {cls.KIND}>", "exec"), namespace)  # noqa: S102
    return namespace["encode"]


def _make_pattern(cls: type[Entry]) -> re.Pattern[bytes]:
    pieces: list[tuple[bytes, bool]] = []
    for name, _attribute, kind in _plan(cls):
        key = b'"' + re.escape(name).encode() + b'":'
        if kind == "kind":
            pieces.append((key + re.escape(_json_text(cls.KIND)), False))
        elif kind == "v":
            pieces.append((key + str(ENTRY_FORMAT_VERSION).encode(), False))
        else:
            value = _JCS_STRING if kind == _TEXT else _DECIMAL_JSON if kind == _DECIMAL else _HEX64
            pieces.append((key + value, kind == _OPTIONAL_HASH))
    pattern = b"\\{"
    for i, (piece, optional) in enumerate(pieces):
        if not optional:
            pattern += (b"," if i else b"") + piece
        elif i:
            pattern += b"(?:," + piece + b")?"
        else:  # pragma: no cover - no kind starts with an optional member today
            pattern += b"(?:" + piece + b",)?"
    return re.compile(pattern + b"\\}")


_ENCODERS: dict[type[Entry], Callable[[Entry], bytes]] = {}
_PATTERNS: dict[bytes, re.Pattern[bytes]] = {}
_KIND_MEMBER = re.compile(rb'"kind":"([a-z][a-z0-9-]*)"')


def check_entry(data: bytes) -> str:
    """The kind of ``data`` if it is a valid entry's exact encoding; else EntryError.

    The same verdict as :func:`decode_entry` (proven by tests), without decoding: the entry
    is matched against its kind's pattern of canonical encodings, then checked to be UTF-8.
    """
    found = _KIND_MEMBER.search(data)
    pattern = _PATTERNS.get(found.group(1)) if found else None
    if found is None or pattern is None or pattern.fullmatch(data) is None:
        decode_entry(data)  # raises, saying why
        raise EntryError("entry bytes are not in canonical form")  # pragma: no cover
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EntryError(f"entry is not UTF-8: {error}") from error
    return found.group(1).decode()


def entry_kinds() -> dict[str, type[Entry]]:
    """The registered entry kinds by name."""
    return dict(_KINDS)


@register_entry_kind
@dataclass(frozen=True)
class ReleaseEntry(Entry):
    """A published OCDS release: identifiers and the hashes that pin its content."""

    KIND: ClassVar[str] = "release"

    ocid: str = entry_member("ocid", _TEXT)
    release_id: str = entry_member("releaseId", _TEXT)
    data_hash: bytes = entry_member("dataHash", _HASH)
    proformas_hash: bytes = entry_member("proformasHash", _HASH)
    document_hash: bytes | None = entry_member("documentHash", _OPTIONAL_HASH, default=None)
    package_hash: bytes | None = entry_member("packageHash", _OPTIONAL_HASH, default=None)


@register_entry_kind
@dataclass(frozen=True)
class ProformaEntry(Entry):
    """A proforma (quote) of a catalogue order, pinned by the hash of its canonical JSON."""

    KIND: ClassVar[str] = "proforma"

    ocid: str = entry_member("ocid", _TEXT)
    proforma_id: str = entry_member("proformaId", _TEXT)
    proforma_hash: bytes = entry_member("proformaHash", _HASH)


@register_entry_kind
@dataclass(frozen=True)
class BulkFileEntry(Entry):
    """A bulk download file as published: its name, the SHA-256 of its bytes, and (decimal
    text, without leading zeros) its size in bytes, the releases it holds and the size of the
    log it was exported at (every release it holds was logged below that size)."""

    KIND: ClassVar[str] = "bulk"

    name: str = entry_member("name", _TEXT)
    file_hash: bytes = entry_member("fileHash", _HASH)
    size: str = entry_member("size", _DECIMAL)
    releases: str = entry_member("releases", _DECIMAL)
    log_size: str = entry_member("logSize", _DECIMAL)


def encode_entry(entry: Entry) -> bytes:
    """The log entry bytes: RFC 8785 canonical JSON of ``entry.to_json()``."""
    encoder = _ENCODERS.get(type(entry))
    if encoder is None:
        raise EntryError(f"unregistered entry kind {type(entry).__name__}")
    return encoder(entry)


def encode_entries(items: Iterable[Entry | bytes | bytearray | memoryview]) -> list[bytes]:
    """The log bytes of each item: an Entry is encoded, bytes are checked (``check_entry``).

    What ``EvidenceLog.append`` takes. EntryError names the first item that is neither a
    registered entry kind nor the exact encoding of one.
    """
    out: list[bytes] = []
    add = out.append
    encoders: dict[type, Callable[[Any], bytes]] = _ENCODERS
    for item in items:
        encoder = encoders.get(type(item))
        if encoder is not None:
            add(encoder(item))
        elif isinstance(item, bytes | bytearray | memoryview):
            data = bytes(item)
            check_entry(data)
            add(data)
        elif isinstance(item, Entry):
            raise EntryError(f"unregistered entry kind {type(item).__name__}")
        else:
            raise EntryError(f"cannot append {type(item).__name__} to the log")
    return out


def encode_entry_reference(entry: Entry) -> bytes:
    """The definition :func:`encode_entry` implements fast: JCS of ``entry.to_json()``."""
    if type(entry).KIND not in _KINDS:
        raise EntryError(f"unregistered entry kind {type(entry).__name__}")
    return canonical_json(entry.to_json())


def decode_entry(data: bytes) -> Entry:
    """The entry encoded by ``data``. Raises EntryError unless ``data`` is its exact encoding."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise EntryError(f"entry is not JSON: {error}") from error
    if not isinstance(obj, dict):
        raise EntryError("entry is not a JSON object")
    version = obj.get("v")
    if type(version) is not int or version != ENTRY_FORMAT_VERSION:
        raise EntryError(f"unsupported entry format version {version!r}")
    kind = obj.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EntryError(f"unknown entry kind {kind!r}")
    entry = cls.from_json(obj)
    if encode_entry(entry) != bytes(data):
        raise EntryError("entry bytes are not in canonical form")
    return entry


def proformas_hash_link(proforma_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle root over the proformas' hashes, taken in ascending byte order.

    Leaf inputs are the 32-byte proforma hashes, sorted so the link depends only on the set
    of proformas. Duplicates are refused (two proformas with identical canonical JSON are
    the same proforma). No proformas: the empty-tree root SHA-256("") (RFC 9162 §2.1.1).
    """
    if any(not isinstance(h, bytes) or len(h) != 32 for h in proforma_hashes):
        raise EntryError("proforma hashes must be 32 bytes each")
    ordered = sorted(proforma_hashes)
    if len(set(ordered)) != len(ordered):
        raise EntryError("duplicate proforma hash")
    if not ordered:
        return EMPTY_ROOT
    return root_from_leaves([leaf_hash(h) for h in ordered])


def entry_leaf_hash(entry: Entry | bytes) -> bytes:
    """The RFC 9162 leaf hash of an entry (given as Entry or as its bytes)."""
    data = entry if isinstance(entry, bytes) else encode_entry(entry)
    return leaf_hash(data)
