"""Read OCDS published by others (``veraz import-ocds FILE...``): one :class:`Item` per release.

Accepted inputs, each also gzipped (detected by its magic bytes, never by the file name):

* ONE JSON document, compact or pretty-printed: a release package, a record package, a bare
  record, a bare release, or a JSON array of any of these;
* JSON Lines: one JSON value per line (a release, record, release package or record package),
  blank lines allowed and counted.

Which of the two a file is, is decided by reading it (:func:`_survey`), never guessed from a few
lines: the first JSON value is parsed with a streaming parser. When it ends and nothing but
whitespace follows, the file is one document. When it fits on its first line and more follows,
the file is JSON Lines. Otherwise (the first value is broken, or spans several lines and more
follows) the file is JSON Lines if a later line (of the first value, when it is complete),
starting at column 0, is a complete JSON object or array on its own (a pretty-printed document
has none: its inner lines are fragments or indented), else one document, broken where the parser
stopped.

Reading is streaming and exact (ijson, C backend ``yajl2_c``): memory does not grow with the
file. A single document is read twice, each time streamed: once to learn its shape, its package
metadata (which may follow the releases) and where it stops being readable; then item by item
(``releases.item``, ``records.item`` or ``item``), so a package of any size never sits in memory
whole. Each JSON Lines line, each record, each element of a top-level array is read whole.

Numbers are read exactly (integers as ``int``, others as ``Decimal``) and then converted to what
the rest of the pipeline holds: RFC 8785 canonical JSON, whose numbers are IEEE 754 doubles. A
release holding a number that canonical form cannot write with the same value (an integer beyond
+-(2**53 - 1), ``1E400``, a decimal with more digits than a double keeps) is rejected with the
field's path: stored, it would silently become another number. So is a string holding an
unpaired UTF-16 surrogate, which UTF-8 cannot encode.

Nothing here raises for bad input; everything that cannot be read costs only itself:

* JSON Lines: a bad line is a rejected :class:`Item` at ``line N`` (blank lines counted);
* one document: at a syntax error (``NaN``, a truncated file, ...) everything before it is kept
  and the rest is rejected once, at ``byte N`` of the (decompressed) data;
* gzip: what was decompressed is kept, the rest is rejected where decompression failed;
* a release: its own problems reject it alone (``releases[3]``, ``line 4: releases[0]``).

OCDS 1.0 is upgraded to 1.1 with ``ocdskit.upgrade``: a package whose ``version`` is missing or
``"1.0"``, and a bare release, count as 1.0 unless the release already has ``parties`` (a 1.1-only
field: upgrading such a release a second time would duplicate parties).

Records follow the record package rules: a record's ``releases`` are either embedded releases
(imported) or linked releases (``url``, ``date``, ``tag``: pointers to releases published
elsewhere, reported once per record as :data:`LINKED`, never as rejects). ``compiledRelease`` and
``versionedRelease`` are derived from releases and are never imported as releases: mixed with
the releases they came from they would count them twice.

Every item carries its package's metadata (:class:`Package`), so a portal can say who published
what, and :func:`precedence` orders two different copies of one release (same ``ocid`` and
``id``) without regard to the order in which files were read (``docs/importing-ocds.md``).
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import ijson
from ocdskit.upgrade import upgrade_release_10_11

from ocds.errors import Problem
from ocds.validate import ReleaseValidator

__all__ = [
    "LINKED",
    "MAX_DEPTH",
    "REJECTED",
    "RELEASE",
    "SAFE_INTEGER",
    "Item",
    "Package",
    "Publisher",
    "is_gzip",
    "iter_ocds",
    "precedence",
]

GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError
# ijson raises JSONError for bad JSON; yajl2_c also lets a UnicodeDecodeError through (a lone
# low surrogate) and a ValueError or SystemError for numbers Python will not convert.
_PARSE_ERRORS = (ijson.JSONError, ValueError, SystemError)

#: Item kinds: a release; something that could not be used (see its problems); a record's
#: linked releases, which are pointers to releases published elsewhere, not releases.
RELEASE, REJECTED, LINKED = "release", "rejected", "linked"

#: The largest integer RFC 8785 canonical JSON writes exactly (IEEE 754 doubles).
SAFE_INTEGER = 2**53 - 1
#: Deepest nesting accepted in one release (the OCDS schema itself nests about 8 levels).
MAX_DEPTH = 64
# Beyond this depth reading stops altogether: the parser's memory grows with the square of the
# depth, and the validators and the upgrade recurse.
_PARSER_DEPTH = 1000
_CHUNK = 1 << 16
_GZIP_INPUT = 1 << 14  # compressed bytes per inflate call

# yajl2_c writes "?" for an escaped lone high surrogate (silently changing the data) and crashes
# the interpreter on an integer of more than 4300 digits (Python's conversion limit). The
# pure-Python backend reads both exactly (and raises for the second). It is much slower, so only
# a file (or line) holding such bytes is read with it. Text can look like them (an escaped
# backslash before "ud800", a long run of digits in a string): that only costs speed.
# An escaped high surrogate not followed by an escaped low one, or a low one not preceded by a
# high one (a pair, as JSON writes any character beyond U+FFFF, is fine).
_SURROGATE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]"
)
_LONG_DIGITS = b"0" * 4000
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_RISKY_TAIL = len(_LONG_DIGITS)


def _risky(data: bytes) -> bool:
    # A regex for the digit run would backtrack on every digit: a translated substring search
    # stays at C speed.
    return bool(_SURROGATE_ESCAPE.search(data)) or _LONG_DIGITS in data.translate(_DIGITS_AS_ZERO)


_EXACT_BACKEND = ijson.get_backend("python")

_METADATA = ("uri", "version", "publishedDate", "publisher", "license", "publicationPolicy", "extensions")


@dataclass(frozen=True)
class Publisher:
    """A package's ``publisher`` (OCDS: name, scheme, uid, uri)."""

    name: str | None = None
    scheme: str | None = None
    uid: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Package:
    """The metadata of the package a release was published in (values as published)."""

    uri: str | None = None
    version: str | None = None  # None: no version declared (OCDS 1.0)
    published_date: str | None = None
    publisher: Publisher | None = None
    license: str | None = None
    publication_policy: str | None = None
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One release read from a file, or one thing in the file that could not be used.

    ``location`` says where in the file: ``line 12``, ``releases[3]``,
    ``records[2].releases[0]``, ``line 4: releases[0]`` (a package on a JSON Lines line),
    ``document`` (the file is one bare release) or ``byte 1234`` (where a document or a gzip
    stream stops being readable). ``release`` is None when nothing usable was found there;
    ``problems`` then say why. With ``validate=True`` they also hold the release's schema
    problems (the release is still returned: invalid data is reported, not dropped).
    ``package`` is None for a release published outside any package. ``upgraded``: the release
    was published as OCDS 1.0 and upgraded here. ``linked``: the URLs of a record's linked
    releases (then ``kind`` is :data:`LINKED`).
    """

    file: str
    location: str
    release: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    package: Package | None = None
    upgraded: bool = False
    linked: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """:data:`RELEASE`, :data:`LINKED` or :data:`REJECTED`."""
        if self.release is not None:
            return RELEASE
        return LINKED if self.linked else REJECTED


def precedence(item: Item, digest: str) -> tuple[bool, bool, float, str]:
    """Sort key for copies of one release (same ocid and id, different content): smallest wins.

    A copy published as OCDS 1.1 beats one upgraded here from 1.0 (the upgrade moves fields); then
    the package published later (its ``publishedDate``; a copy without one comes last); then the
    smaller ``digest`` (the SHA-256 of the canonical release), so the choice never depends on
    the order in which files were read.
    """
    published = _instant(item.package.published_date if item.package else None)
    return (item.upgraded, published is None, -(published or 0.0), digest)


def _instant(value: str | None) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with the gzip magic bytes (``1f 8b``), whatever its name."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def iter_ocds(path: str | Path, *, validate: bool = False) -> Iterator[Item]:
    """Every release in an OCDS file (see the module docstring for formats and rules)."""
    reader = _Reader(str(path))
    validator = ReleaseValidator() if validate else None
    for item in reader.items(path):
        if validator is not None and item.release is not None:
            problems = validator.problems(item.release)
            if problems:
                item = Item(
                    item.file,
                    item.location,
                    item.release,
                    [*item.problems, *problems],
                    item.package,
                    item.upgraded,
                )
        yield item


# --- bytes ---------------------------------------------------------------------------------


def _gzip_failure(error: BaseException) -> str:
    detail = f"{type(error).__name__}: {error}"
    if "incorrect data check" in str(error) or "incorrect length check" in str(error):
        # The checksum comes last: damage that left the compressed stream well-formed was
        # decompressed (and read) before it could be seen.
        return (
            "the gzip data is corrupt: its checksum at the end does not match, so what was "
            f"read before may be altered ({detail})"
        )
    return f"the gzip data is corrupt or truncated, nothing after this point could be decompressed ({detail})"


class _Source:
    """The decompressed bytes of a file, BOM skipped, as a file object for the parser.

    Reading ends quietly at ``stop`` (a byte offset) or where decompression fails: ``broken``
    then says why and ``broken_at`` where (in decompressed bytes). ``offset`` is the number of
    bytes handed out (BOM included). gzip is inflated here, not by :mod:`gzip`, so that everything
    decompressed before a corrupt or missing part is kept: zlib returns nothing from a call that
    fails, so the call that fails is replayed byte by byte from a copy of the inflater.
    """

    def __init__(self, path: str | Path, stop: int | None = None) -> None:
        self.offset = 0
        self.stop = stop
        self.broken: str | None = None
        self.broken_at = 0
        self._file = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        self._inflate = zlib.decompressobj(31) if self._file.read(2) == GZIP_MAGIC else None
        self._file.seek(0)
        self._input = b""
        self._buffer = bytearray()
        self._end = False
        self._fill(len(_BOM))
        if self._buffer[: len(_BOM)] == _BOM:
            del self._buffer[: len(_BOM)]
            self.offset = len(_BOM)

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def _more(self) -> bytes:
        """The next decompressed bytes; b"" at the end of the data."""
        if self._inflate is None:
            return self._file.read(_CHUNK)
        while True:
            if self._inflate.eof:  # a gzip member ended: another may follow
                if not self._input:
                    self._input = self._file.read(_CHUNK)
                    if not self._input:
                        return b""
                if not self._input.strip(b"\0"):  # zero padding after the last member
                    self._input = b""
                    continue
                self._inflate = zlib.decompressobj(31)
            if not self._input:
                self._input = self._file.read(_GZIP_INPUT)
                if not self._input:
                    raise EOFError("the compressed data ends before the end of the gzip stream")
            saved = self._inflate.copy()
            try:
                data = self._inflate.decompress(self._input, _CHUNK)
            except zlib.error:
                self._salvage(saved)
                raise
            self._input = self._inflate.unused_data if self._inflate.eof else self._inflate.unconsumed_tail
            if data:
                return data

    def _salvage(self, inflate: Any) -> None:
        """What ``inflate`` gives from the failing input before the byte it fails on."""
        for i in range(len(self._input)):
            try:
                self._buffer += inflate.decompress(self._input[i : i + 1])
            except zlib.error:
                return

    def _fill(self, size: int) -> bool:
        """Decompress until the buffer holds ``size`` bytes; False once there is no more."""
        while len(self._buffer) < size and not self._end:
            try:
                data = self._more()
            except (*_READ_ERRORS, ValueError) as error:
                self._end = True
                self.broken_at = self.offset + len(self._buffer)
                self.broken = _gzip_failure(error)
                break
            if not data:
                self._end = True
            self._buffer += data
        return len(self._buffer) >= size

    def _limit(self, size: int) -> int:
        if self.stop is None:
            return size
        left = self.stop - self.offset
        return left if size < 0 else min(size, left)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.offset += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        size = self._limit(size)
        if size < 0:
            while self._fill(len(self._buffer) + _CHUNK):
                pass
            size = len(self._buffer)
        self._fill(size)
        return self._take(size)

    def readline(self, size: int = -1) -> bytes:
        size = self._limit(size)
        scanned = 0
        while True:
            newline = self._buffer.find(b"\n", scanned)
            if newline >= 0:
                end = newline + 1
                break
            scanned = len(self._buffer)
            if 0 <= size <= scanned or not self._fill(scanned + 1):
                end = scanned
                break
        return self._take(end if size < 0 else min(end, size))


# --- the shape of a file -------------------------------------------------------------------


@dataclass
class _Survey:
    """What one streaming pass learnt about a file (see :func:`_survey`)."""

    mode: str = "document"  # "document", "lines", "empty" or "not json"
    top: str = ""  # the document's first event: "start_map", "start_array" or a scalar's
    keys: set[str] = field(default_factory=set)  # of a top-level object
    metadata: dict[str, Any] = field(default_factory=dict)  # its package metadata
    containers: dict[str, str] = field(default_factory=dict)  # "releases"/"records": first event
    stop: int | None = None  # where the document stops being readable
    reason: str = ""  # why
    exact: bool = False  # read with the pure-Python backend (see _risky)
    start: bytes = b""  # the file's first bytes, for "not JSON"


class _Stop(Exception):
    """Ends a survey: the document is unreadable from ``offset`` on."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _parse_message(error: BaseException) -> str:
    """The first line of a parser's message (yajl appends a picture of the bytes)."""
    if isinstance(error, UnicodeDecodeError):
        return "invalid text: an unpaired UTF-16 surrogate escape"
    message = error.args[0] if error.args else error
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = str(message).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first if len(first) <= 120 else f"{first[:100]}... ({len(first)} characters)"


class _Surveyor:
    """Follows the parser's events over a document: depth, top-level keys, package metadata."""

    def __init__(self, survey: _Survey) -> None:
        self.survey = survey
        self.depth = 0
        self.done = False
        self.key: str | None = None
        self.builder: ijson.ObjectBuilder | None = None

    def events(self, events: list[tuple[str, Any]]) -> None:
        survey = self.survey
        for event, value in events:
            if self.builder is not None:
                self.builder.event(event, value)
            opens = event in ("start_map", "start_array")
            closes = event in ("end_map", "end_array")
            if self.depth == 0 and not closes:
                survey.top = event
            elif self.depth == 1 and survey.top == "start_map":
                if event == "map_key":
                    self.key = value
                    survey.keys.add(value)
                elif not closes and self.key in ("releases", "records"):
                    survey.containers.setdefault(self.key, event)
                elif not closes and self.key in _METADATA:
                    if opens:
                        self.builder = ijson.ObjectBuilder()
                        self.builder.event(event, value)
                    else:
                        survey.metadata[self.key] = value
            if opens:
                self.depth += 1
            elif closes:
                self.depth -= 1
                if self.depth == 1 and self.builder is not None:
                    survey.metadata[cast(str, self.key)] = self.builder.value
                    self.builder = None
            if self.depth == 0 and event != "map_key":
                self.done = True
        events.clear()


def _survey(path: str | Path, exact: bool = False) -> _Survey:
    """Read a file once, streaming: one document or JSON Lines, and what the document holds."""
    survey = _Survey(exact=exact)
    backend = _EXACT_BACKEND if exact else ijson
    events = ijson.sendable_list()
    parser = backend.basic_parse_coro(events)
    watch = _Surveyor(survey)
    first_line: int | None = None  # where the first value starts and ends
    last_line: int | None = None
    line = 1  # the line the next piece starts on
    tail = b""
    with _Source(path) as source, _discarding(parser):
        try:
            while True:
                start = source.offset
                # Line by line only up to the end of the first value's first line: that is all
                # the decision needs; then in large pieces, whatever lines they hold.
                if first_line is None or line == first_line:
                    piece = source.readline(_CHUNK)
                else:
                    piece = source.read(_CHUNK)
                if not piece:
                    break
                if not exact and _risky(tail + piece):
                    return _survey(path, exact=True)
                tail = piece[-_RISKY_TAIL:]
                if first_line is None:
                    stripped = piece.lstrip()
                    if not stripped.strip():
                        line += piece.count(b"\n")
                        continue
                    if stripped[:1] not in b"{[":
                        # A broken first line of JSON Lines, or not JSON at all.
                        if _later_line_is_a_value(path, line, exact):
                            survey.mode = "lines"
                        else:
                            survey.mode, survey.start = "not json", stripped[:20]
                        return survey
                    first_line = line
                if last_line is not None:
                    # The first value is complete: whatever else the file holds follows it.
                    if piece.strip():
                        skipped = len(piece) - len(piece.lstrip())
                        at_line = line + piece[:skipped].count(b"\n")
                        # JSON Lines whose first lines happen to make one value, or a document
                        # with something after it: the value's own lines tell.
                        if last_line == first_line or _later_line_is_a_value(
                            path, first_line, exact, until=at_line - 1
                        ):
                            survey.mode = "lines"
                            return survey
                        raise _Stop(
                            start + skipped, f"more data after the end of the JSON document (line {at_line})"
                        )
                    line += piece.count(b"\n")
                    continue
                try:
                    parser.send(piece)
                except _PARSE_ERRORS as error:
                    watch.events(events)
                    _after_error(path, survey, watch, source, start, line, first_line, error)
                    return survey
                watch.events(events)
                if watch.depth > _PARSER_DEPTH:
                    raise _Stop(start, f"nested deeper than {_PARSER_DEPTH} levels (line {line})")
                if watch.done:
                    last_line = line
                line += piece.count(b"\n")
            if first_line is None:
                survey.mode = "empty"
                if source.broken:
                    raise _Stop(source.broken_at, source.broken)
                return survey
            if last_line is None:
                try:
                    parser.close()
                except _PARSE_ERRORS as error:
                    _after_error(path, survey, watch, source, source.offset, line, first_line, error)
                    return survey
            if source.broken:
                if last_line == first_line:
                    # A complete first line, then the data breaks off: JSON Lines, read up to the
                    # line where decompression failed.
                    survey.mode = "lines"
                    return survey
                raise _Stop(source.broken_at, source.broken)
        except _Stop as stop:
            survey.stop, survey.reason = stop.offset, stop.reason
    return survey


def _after_error(
    path: str | Path,
    survey: _Survey,
    watch: _Surveyor,
    source: _Source,
    start: int,
    line: int,
    first_line: int,
    error: BaseException,
) -> None:
    """Decide what a parse error in or right after the first value means (module docstring)."""
    exact = survey.exact
    if watch.done:  # more data after a complete first value
        if line == first_line:
            survey.mode = "lines"
            return
        offset, at_line = _locate(path, start, line, exact)
        if _later_line_is_a_value(path, first_line, exact, until=at_line - 1):
            survey.mode = "lines"
            return
        survey.stop = offset
        survey.reason = f"more data after the end of the JSON document (line {at_line})"
        _resurvey(path, survey)
        return
    if _later_line_is_a_value(path, first_line, exact):
        survey.mode = "lines"
        return
    if source.broken:
        survey.stop, survey.reason = source.broken_at, source.broken
    else:
        offset, at_line = _locate(path, start, line, exact)
        survey.stop = offset
        survey.reason = f"not valid JSON from here on ({_parse_message(error)}, line {at_line})"
    _resurvey(path, survey)


def _resurvey(path: str | Path, survey: _Survey) -> None:
    """Learn the document's shape again from the bytes before where it stops.

    The pure-Python parser decodes a piece before parsing it: a piece holding an invalid byte
    gives no event at all, even for what precedes that byte in it.
    """
    fresh = _Survey(exact=survey.exact)
    watch = _Surveyor(fresh)
    events = ijson.sendable_list()
    parser = (_EXACT_BACKEND if survey.exact else ijson).basic_parse_coro(events)
    with _Source(path, stop=survey.stop) as source, _discarding(parser):
        while chunk := source.read(_CHUNK):
            try:
                parser.send(chunk)
            except _PARSE_ERRORS:
                break
            finally:
                watch.events(events)
    survey.top, survey.keys = fresh.top, fresh.keys
    survey.metadata, survey.containers = fresh.metadata, fresh.containers


def _locate(path: str | Path, start: int, line: int, exact: bool) -> tuple[int, int]:
    """The exact offset (and line) of the byte where parsing fails, at or after ``start``.

    A parser reports that a piece failed, not where in it: a fresh parser is fed everything
    before the piece, then the piece byte by byte. Only done once per broken document.
    """
    backend = _EXACT_BACKEND if exact else ijson
    parser = backend.basic_parse_coro(ijson.sendable_list())
    with _Source(path) as source, _discarding(parser):
        offset = source.offset
        while offset < start:
            data = source.read(min(_CHUNK, start - offset))
            if not data:
                break
            parser.send(data)  # parsed before without error
            offset = source.offset
        piece = source.read(_CHUNK)  # the piece that failed starts here and is no longer
        for i in range(len(piece)):
            try:
                parser.send(piece[i : i + 1])
            except _PARSE_ERRORS:
                return offset + i, line + piece[:i].count(b"\n")
    return offset + len(piece), line + piece.count(b"\n")


@contextmanager
def _discarding(parser: Any) -> Iterator[None]:
    """Close a parser coroutine however its input ended (the pure-Python one raises on close
    when its input is incomplete, and would otherwise raise while being garbage-collected)."""
    try:
        yield
    finally:
        try:
            parser.close()
        except Exception:  # noqa: BLE001, S110 - its verdict was taken before, or not needed
            pass


def _later_line_is_a_value(path: str | Path, after: int, exact: bool, until: int | None = None) -> bool:
    """Whether a line after line ``after`` (up to line ``until``) is, alone and from column 0, a
    JSON object or array."""
    with _Source(path) as source:
        number = 0
        while True:
            line = source.readline(_CHUNK)
            if not line:
                return False
            number += 1
            if until is not None and number > until:
                return False
            long = not line.endswith(b"\n") and len(line) == _CHUNK
            while long:  # longer than a piece: not a candidate, skip the rest of it
                rest = source.readline(_CHUNK)
                long = bool(rest) and not rest.endswith(b"\n")
                line = b""
            if number > after and line[:1] in (b"{", b"[") and not isinstance(_parse(line, exact), _Bad):
                return True


# --- values --------------------------------------------------------------------------------


class _Bad:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse(data: bytes, exact: bool = False) -> Any:
    """One JSON value from ``data`` (numbers exact), or a :class:`_Bad` saying why not."""
    exact = exact or _risky(data)
    backend = _EXACT_BACKEND if exact else ijson
    if data.count(b"[") + data.count(b"{") > _PARSER_DEPTH and _too_deep(data, backend):
        return _Bad(f"nested deeper than {_PARSER_DEPTH} levels")
    try:
        values = list(backend.items(data, ""))
    except _PARSE_ERRORS as error:
        return _Bad(f"{_parse_message(error)}, at column {_column(data, backend)}")
    if not values:
        return _Bad("no JSON value")
    return values[0]


def _too_deep(data: bytes, backend: Any) -> bool:
    depth = 0
    try:
        for event, _ in backend.basic_parse(data):
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > _PARSER_DEPTH:
                    return True
            elif event in ("end_map", "end_array"):
                depth -= 1
    except _PARSE_ERRORS:
        return False
    return False


def _column(data: bytes, backend: Any) -> int:
    """The 1-based column of the byte where parsing ``data`` fails (bisection, C speed)."""

    def fails_within(size: int) -> bool:
        parser = backend.basic_parse_coro(ijson.sendable_list())
        with _discarding(parser):
            try:
                parser.send(data[:size])
            except _PARSE_ERRORS:
                return True
        return False

    low, high = 1, len(data)
    if not fails_within(high):
        return len(data.rstrip()) + 1  # the value ends early: the error is the end of the line
    while low < high:
        middle = (low + high) // 2
        if fails_within(middle):
            high = middle
        else:
            low = middle + 1
    return low


def exact_numbers(value: dict[str, Any] | list[Any], strings: bool) -> list[Problem]:
    """Convert a freshly parsed release's numbers, in place, to what RFC 8785 writes exactly.

    Integers stay ``int`` when within +-(2**53 - 1); decimals become ``float`` when the double's
    canonical form has the same value (``25.50`` -> ``25.5``). Anything else is a problem at its
    path, as is (with ``strings``) a string UTF-8 cannot encode, or nesting beyond MAX_DEPTH.
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(pairs):
            where = f"{path}/{key}" if path else str(key)
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    problems.append(Problem(where, f"nested deeper than {MAX_DEPTH} levels"))
                else:
                    stack.append((child, where, depth + 1))
            elif isinstance(child, Decimal):
                number = float(child)
                if (
                    number != number
                    or number in (float("inf"), float("-inf"))
                    or Decimal(repr(number)) != child
                ):
                    problems.append(Problem(where, _inexact(child, number)))
                else:
                    node[key] = number
            elif isinstance(child, int) and not isinstance(child, bool):
                if not -SAFE_INTEGER <= child <= SAFE_INTEGER:
                    problems.append(Problem(where, _unsafe(child)))
            elif strings and isinstance(child, str) and _SURROGATE.search(child):
                problems.append(
                    Problem(
                        where,
                        "RFC 8785 canonical JSON is UTF-8, which cannot "
                        "encode an unpaired UTF-16 surrogate (\\ud800-\\udfff)",
                    )
                )
            if strings and isinstance(key, str) and _SURROGATE.search(key):
                problems.append(
                    Problem(
                        where,
                        "RFC 8785 canonical JSON is UTF-8, which cannot "
                        "encode an unpaired UTF-16 surrogate in a member name",
                    )
                )
    return sorted(problems, key=lambda p: p.field)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def _unsafe(number: int) -> str:
    try:
        shown = _short(str(number))
    except ValueError:  # more digits than Python converts to text
        shown = f"an integer of {number.bit_length()} bits"
    return (
        "RFC 8785 canonical JSON (IEEE 754 doubles) writes integers exactly only within "
        f"+-(2**53 - 1) = +-{SAFE_INTEGER}; this one ({shown}) would change"
    )


def _inexact(number: Decimal, double: float) -> str:
    if double != double or double in (float("inf"), float("-inf")):
        became = "is out of range"
    else:
        became = f"would become {double!r}"
    return (
        "RFC 8785 canonical JSON (IEEE 754 doubles) cannot write this number exactly: "
        f"{_short(str(number))} {became}"
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _package(data: dict[str, Any]) -> Package:
    """A package's metadata as a value (what is not text as OCDS says is left out)."""
    publisher = data.get("publisher")
    extensions = data.get("extensions")
    return Package(
        uri=_text(data.get("uri")),
        version=_text(data.get("version")),
        published_date=_text(data.get("publishedDate")),
        publisher=Publisher(
            name=_text(publisher.get("name")),
            scheme=_text(publisher.get("scheme")),
            uid=_text(publisher.get("uid")),
            uri=_text(publisher.get("uri")),
        )
        if isinstance(publisher, dict)
        else None,
        license=_text(data.get("license")),
        publication_policy=_text(data.get("publicationPolicy")),
        extensions=tuple(e for e in extensions if isinstance(e, str)) if isinstance(extensions, list) else (),
    )


# --- items ---------------------------------------------------------------------------------


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def reject(self, location: str, reason: str, field: str = "", package: Package | None = None) -> Item:
        return Item(self.file, location, None, [Problem(field, reason)], package)

    def items(self, path: str | Path) -> Iterator[Item]:
        try:
            survey = _survey(path)
        except _READ_ERRORS as error:
            yield self.reject("file", f"cannot read the file ({type(error).__name__}: {error})")
            return
        if survey.mode == "not json":
            yield self.reject(
                "file",
                "not JSON: expected an OCDS package, record or release as JSON "
                f"or JSON Lines (the file starts with {survey.start!r})",
            )
        elif survey.mode == "empty":
            if survey.stop is not None:
                yield self.reject(f"byte {survey.stop}", survey.reason)
            else:
                yield self.reject("file", "the file is empty")
        elif survey.mode == "lines":
            yield from self._lines(path)
        else:
            yield from self._document(path, survey)

    # JSON Lines

    def _lines(self, path: str | Path) -> Iterator[Item]:
        with _Source(path) as source:
            number = 0
            while True:
                line = source.readline()
                if source.broken is not None and not line.endswith(b"\n"):
                    # Decompression failed within this line (or right after the last one). What
                    # came out of it is kept if it is a whole JSON value: a JSON Lines value ends
                    # its line, so only its newline is missing.
                    value = _parse(line) if line.strip() else _Bad("")
                    if not isinstance(value, _Bad):
                        number += 1
                        yield from self._value(value, f"line {number}", _risky(line))
                    yield self.reject(
                        f"line {number + 1}",
                        f"{source.broken}; lines 1 to {number} were read "
                        f"(byte {source.broken_at} of the decompressed data)",
                    )
                    return
                if not line:
                    return
                number += 1
                if not line.strip():
                    continue
                value = _parse(line)
                where = f"line {number}"
                if isinstance(value, _Bad):
                    yield self.reject(where, f"not valid JSON ({value.reason})")
                    continue
                yield from self._value(value, where, _risky(line))

    # one document

    def _document(self, path: str | Path, survey: _Survey) -> Iterator[Item]:
        keys = survey.keys
        package: Package | None = _package(survey.metadata)
        old = _is_10(survey.metadata)
        handle: Callable[[Any, int], Iterator[Item]]
        prefix = ""
        if survey.top == "start_array":
            prefix = "item"

            def handle(value: Any, i: int) -> Iterator[Item]:
                return self._value(value, f"[{i}]", survey.exact)

        elif survey.top != "start_map":
            handle = self._nothing  # a broken first value: only the stop is reported
        elif "records" in keys:
            prefix = "records.item"

            def handle(value: Any, i: int) -> Iterator[Item]:
                return self._record(value, f"records[{i}]", old, package, survey.exact)

        elif "releases" in keys and keys & {"ocid", "compiledRelease", "versionedRelease"}:
            # A bare record (GACM publishes records without an ocid at the top): read whole.
            package = None

            def handle(value: Any, i: int) -> Iterator[Item]:
                return self._record(value, "document", _is_10(value), None, survey.exact)

        elif "releases" in keys:
            prefix = "releases.item"

            def handle(value: Any, i: int) -> Iterator[Item]:
                return iter([self._release(value, f"releases[{i}]", old, package, survey.exact)])

        elif "ocid" in keys:
            package = None

            def handle(value: Any, i: int) -> Iterator[Item]:
                return iter([self._release(value, "document", True, None, survey.exact)])

        elif survey.stop is None:
            yield self.reject("document", "not OCDS: a JSON object with none of ocid, releases or records")
            return
        else:
            handle = self._nothing
        for name, event in survey.containers.items():
            if prefix.startswith(name) and event != "start_array":
                yield self.reject(name, f"{name} must be an array", package=package)
        backend = _EXACT_BACKEND if survey.exact else ijson
        with _Source(path, stop=survey.stop) as source:
            values = iter(backend.items(source, prefix))
            index = 0
            while True:
                try:
                    value = next(values)
                except (StopIteration, *_PARSE_ERRORS):
                    break
                yield from handle(value, index)
                index += 1
        if survey.stop is not None:
            reason = f"{survey.reason}; the {index} items before it were read"
            yield self.reject(f"byte {survey.stop}", reason, package=package)

    def _nothing(self, value: Any, i: int) -> Iterator[Item]:
        return iter(())

    # what a value holds

    def _value(self, data: Any, where: str, strings: bool) -> Iterator[Item]:
        """The items of one JSON value found at ``where`` (a line, an array element)."""
        if isinstance(data, list):
            if not data:
                yield self.reject(where, "an empty JSON array: no OCDS data")
            for i, element in enumerate(data):
                yield from self._value(element, _join(where, f"[{i}]"), strings)
            return
        if not isinstance(data, dict):
            yield self.reject(where, f"not OCDS: a JSON {_kind(data)}")
            return
        if "records" in data:
            package = _package(data)
            records = data["records"]
            if not isinstance(records, list):
                yield self.reject(_join(where, "records"), "records must be an array", package=package)
                return
            for i, record in enumerate(records):
                yield from self._record(record, _join(where, f"records[{i}]"), _is_10(data), package, strings)
        elif "releases" in data and data.keys() & {"ocid", "compiledRelease", "versionedRelease"}:
            yield from self._record(data, where, _is_10(data), None, strings)
        elif "releases" in data:
            package = _package(data)
            releases = data["releases"]
            if not isinstance(releases, list):
                yield self.reject(_join(where, "releases"), "releases must be an array", package=package)
                return
            for i, release in enumerate(releases):
                yield self._release(release, _join(where, f"releases[{i}]"), _is_10(data), package, strings)
        elif "ocid" in data:
            yield self._release(data, where, True, None, strings)
        else:
            yield self.reject(where, "not OCDS: a JSON object with none of ocid, releases or records")

    def _record(
        self, record: Any, location: str, old: bool, package: Package | None, strings: bool
    ) -> Iterator[Item]:
        if not isinstance(record, dict):
            yield self.reject(location, "a record must be a JSON object", package=package)
            return
        releases = record.get("releases")
        if releases is not None and not isinstance(releases, list):
            yield self.reject(location, "a record's releases must be an array", "releases", package)
            return
        linked: list[str] = []
        embedded = 0
        for j, release in enumerate(releases or ()):
            if isinstance(release, dict) and _is_linked(release):
                linked.append(str(release["url"]))
                continue
            embedded += 1
            yield self._release(release, _join(location, f"releases[{j}]"), old, package, strings)
        if linked:
            reason = (
                f"{len(linked)} linked release{'s' if len(linked) > 1 else ''} (url, date, tag): "
                "pointers to releases published elsewhere, not imported; import the release "
                "packages they point to"
            )
            yield Item(
                self.file, location, None, [Problem("releases", reason)], package, linked=tuple(linked)
            )
        elif not embedded:
            derived = [name for name in ("compiledRelease", "versionedRelease") if name in record]
            note = (
                (
                    f" ({' and '.join(derived)} {'is' if len(derived) == 1 else 'are'} derived from "
                    "releases and never imported as one)"
                )
                if derived
                else ""
            )
            yield self.reject(location, f"the record has no releases{note}", "releases", package)

    def _release(
        self, release: Any, location: str, old: bool, package: Package | None, strings: bool
    ) -> Item:
        if not isinstance(release, dict):
            return self.reject(location, "a release must be a JSON object", package=package)
        problems = exact_numbers(release, strings)
        if problems:
            return Item(self.file, location, None, problems, package)
        if old and "parties" not in release:
            return Item(self.file, location, release, _upgrade(release), package, upgraded=True)
        return Item(self.file, location, release, [], package)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _upgrade(release: dict[str, Any]) -> list[Problem]:
    """Upgrade a 1.0 release to 1.1 in place; what ocdskit had to say, as problems."""
    # ocdskit logs what it could not upgrade cleanly (e.g. one party in two shapes); those notes
    # belong to this release, not on stderr.
    collect = _Collect()
    logger = logging.getLogger("ocdskit")
    logger.addHandler(collect)
    try:
        upgrade_release_10_11(release, reorder=False)
    except Exception as error:  # noqa: BLE001 - malformed 1.0 data is reported, not raised
        reason = f"could not upgrade from OCDS 1.0 to 1.1 ({type(error).__name__}: {error})"
        return [Problem("", reason)]
    finally:
        logger.removeHandler(collect)
    return [Problem("parties", f"OCDS 1.0 upgrade: {m}") for m in collect.messages]


def _is_10(data: dict[str, Any]) -> bool:
    # A package without "version" is OCDS 1.0 (1.1 made it required). Bare records and releases
    # carry no version: the per-release "parties" check in _release decides for them.
    return data.get("version") in (None, "1.0")


def _is_linked(release: dict[str, Any]) -> bool:
    # ocdskit.util.is_linked_release: a url and at most the three linked-release fields.
    return "url" in release and len(release) <= 3


def _join(where: str, part: str) -> str:
    if not where:
        return part
    return f"{where}: {part}" if where.startswith("line ") and ":" not in where else f"{where}.{part}"


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
