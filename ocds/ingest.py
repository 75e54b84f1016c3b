"""Read existing OCDS data (``veraz import-ocds FILE...``): one :class:`Item` per release found.

Accepted inputs, each also gzipped (detected by its magic bytes, never by the file name):

* a release package, a record package, a bare record, a bare release, a JSON array of any of
  these (one JSON document per file);
* JSON Lines whose lines are releases, records, release packages or record packages.

Memory: JSON Lines are streamed line by line, so a file of any size is fine. A single JSON
document (a package, an array) is parsed whole with orjson: a package of a few hundred MB needs a
few times that in memory. Publishers that large publish JSON Lines or many small packages.

Nothing here raises for bad input: an unreadable file, a line that is not JSON, a JSON document
that is not OCDS, all come back as an :class:`Item` with ``release=None`` and a
:class:`~ocds.errors.Problem` that says where and why, so one bad line never stops an import.

OCDS 1.0 is upgraded to 1.1 with ``ocdskit.upgrade`` (organizations become ``parties``,
amendments and transactions are renamed): a package whose ``version`` is missing or ``"1.0"``,
and a bare release, count as 1.0 unless the release already has ``parties`` (a 1.1-only field:
upgrading such a release a second time would duplicate parties). Upgrading is lossless apart
from field moves the 1.1 standard defines.

Records: when a record embeds its releases, those releases are yielded. When it only *links*
them (``{url, date, tag}``, as Paraguay's DNCP and Jalisco publish), the releases themselves are
not in the file. By default (``linked_records="compiled"``) the record's ``compiledRelease`` is
yielded instead, at location ``records[i].compiledRelease``: it is a valid release (tag
``["compiled"]``, id ``{ocid}-{date}``) holding the latest state of every field, which is sound
for showing and searching a process but loses its history. Callers that also import the linked
release files must not mix both for one ocid (merging a compiled release with the releases it
came from would count them twice); pass ``linked_records="skip"`` to get a Problem instead.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast

import orjson
from ocdskit.upgrade import upgrade_release_10_11

from ocds.errors import Problem
from ocds.validate import ReleaseValidator

__all__ = ["Item", "is_gzip", "iter_ocds"]

GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


@dataclass(frozen=True)
class Item:
    """One release read from a file, or one thing in the file that could not be read.

    ``location`` says where in the file: ``line 12``, ``releases[3]``,
    ``records[2].releases[0]``, ``line 4: releases[0]`` (a package on a JSON Lines line) or
    ``document`` (the file is one bare release). ``release`` is None when nothing usable was
    found there; ``problems`` then say why. With ``validate=True`` they also hold the release's
    schema problems (the release is still returned: invalid data is reported, not dropped).
    """

    file: str
    location: str
    release: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with the gzip magic bytes (``1f 8b``), whatever its name."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _open(path: str | Path) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(path, "rb") if is_gzip(path) else open(path, "rb"))  # noqa: SIM115


def iter_ocds(
    path: str | Path,
    *,
    linked_records: Literal["compiled", "skip"] = "compiled",
    validate: bool = False,
) -> Iterator[Item]:
    """Every release in an OCDS file (see the module docstring for formats and choices)."""
    reader = _Reader(str(path), linked_records)
    validator = ReleaseValidator() if validate else None
    for item in reader.items(path):
        if validator is not None and item.release is not None:
            problems = validator.problems(item.release)
            if problems:
                item = Item(item.file, item.location, item.release, [*item.problems, *problems])
        yield item


class _Reader:
    def __init__(self, file: str, linked_records: str) -> None:
        if linked_records not in ("compiled", "skip"):
            raise ValueError(f"linked_records must be 'compiled' or 'skip', not {linked_records!r}")
        self.file = file
        self.linked_records = linked_records

    def problem(self, location: str, reason: str, field: str = "") -> Item:
        return Item(self.file, location, None, [Problem(field, reason)])

    def items(self, path: str | Path) -> Iterator[Item]:
        try:
            with _open(path) as f:
                yield from self._items(f)
        except _READ_ERRORS as error:
            yield self.problem("file", f"cannot read the file: {error}")

    def _items(self, f: IO[bytes]) -> Iterator[Item]:
        # Look at the first two non-empty lines to tell JSON Lines from one JSON document.
        first_no, first = _next_line(f, 0)
        if first is None:
            yield self.problem("file", "the file is empty")
            return
        first = first.removeprefix(_BOM).lstrip()
        if first[:1] not in (b"{", b"["):
            yield self.problem(
                "file",
                "not JSON: expected an OCDS package, record or release as JSON or JSON Lines "
                f"(the file starts with {first[:20]!r})",
            )
            return
        head = _parse(first)
        second_no, second = _next_line(f, first_no)
        if second is None:
            # One line only: a single document (or one JSON Lines line: the same thing).
            if isinstance(head, _Bad):
                yield self.problem("line 1", f"not valid JSON: {head.reason}")
            else:
                yield from self._document(head.value, "")
            return
        second_value = _parse(second)
        if not isinstance(second_value, _Bad) or (not isinstance(head, _Bad) and first[:1] == b"{"):
            # Two complete JSON values on two lines: JSON Lines. Stream the rest.
            yield from self._line(first_no, head)
            yield from self._line(second_no, second_value)
            line_no = second_no
            while True:
                line_no, line = _next_line(f, line_no)
                if line is None:
                    return
                yield from self._line(line_no, _parse(line))
        # A document spread over many lines (pretty-printed JSON): parse it whole.
        data = first + b"\n" + second + b"\n" + f.read()
        parsed = _parse(data)
        if isinstance(parsed, _Bad):
            yield self.problem("file", f"not valid JSON: {parsed.reason}")
            return
        yield from self._document(parsed.value, "")

    def _line(self, line_no: int, parsed: _Parsed | _Bad) -> Iterator[Item]:
        location = f"line {line_no}"
        if isinstance(parsed, _Bad):
            yield self.problem(location, f"not valid JSON: {parsed.reason}")
            return
        yield from self._document(parsed.value, location)

    def _document(self, data: Any, where: str) -> Iterator[Item]:
        """The items of one JSON document found at ``where`` ("" for a whole file)."""
        if isinstance(data, list):
            if not data:
                yield self.problem(where or "document", "an empty JSON array: no OCDS data")
            for i, element in enumerate(data):
                yield from self._document(element, _join(where, f"[{i}]"))
            return
        if not isinstance(data, dict):
            yield self.problem(where or "document", f"not OCDS: a JSON {_kind(data)}")
            return
        if "records" in data:
            yield from self._record_package(data, where)
        elif "releases" in data and (
            "ocid" in data or "compiledRelease" in data or "versionedRelease" in data
        ):
            # A bare record (GACM publishes records without an ocid at the top).
            old = _is_10(data)
            yield from self._record(data, where or "document", old)
        elif "releases" in data:
            yield from self._release_package(data, where)
        elif "ocid" in data:
            yield self._release(data, where or "document", old=True)
        else:
            yield self.problem(
                where or "document",
                "not OCDS: a JSON object with none of ocid, releases or records",
            )

    def _release_package(self, package: dict[str, Any], where: str) -> Iterator[Item]:
        releases = package["releases"]
        if not isinstance(releases, list):
            yield self.problem(_join(where, "releases"), "releases must be an array")
            return
        old = _is_10(package)
        for i, release in enumerate(releases):
            yield self._release(release, _join(where, f"releases[{i}]"), old=old)

    def _record_package(self, package: dict[str, Any], where: str) -> Iterator[Item]:
        records = package["records"]
        if not isinstance(records, list):
            yield self.problem(_join(where, "records"), "records must be an array")
            return
        old = _is_10(package)
        for i, record in enumerate(records):
            location = _join(where, f"records[{i}]")
            if not isinstance(record, dict):
                yield self.problem(location, "a record must be a JSON object")
                continue
            yield from self._record(record, location, old)

    def _record(self, record: dict[str, Any], location: str, old: bool) -> Iterator[Item]:
        releases = record.get("releases")
        if not isinstance(releases, list):
            releases = []
        embedded = [
            (j, r) for j, r in enumerate(releases) if isinstance(r, dict) and not _is_linked(r)
        ]
        if embedded:
            for j, release in embedded:
                yield self._release(release, f"{location}.releases[{j}]", old=old)
            return
        compiled = record.get("compiledRelease")
        if self.linked_records == "compiled" and isinstance(compiled, dict):
            yield self._release(compiled, f"{location}.compiledRelease", old=old)
            return
        reason = (
            "the record only links its releases (url, date, tag); import the release files"
            if releases
            else "the record has no releases"
        )
        yield self.problem(location, reason, field="releases")

    def _release(self, release: Any, location: str, *, old: bool) -> Item:
        if not isinstance(release, dict):
            return self.problem(location, "a release must be a JSON object")
        if old and "parties" not in release:
            return Item(self.file, location, release, _upgrade(release))
        return Item(self.file, location, release, [])


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


class _Parsed:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Bad:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse(data: bytes) -> _Parsed | _Bad:
    try:
        return _Parsed(orjson.loads(data))
    except orjson.JSONDecodeError as error:
        return _Bad(str(error))


def _next_line(f: IO[bytes], line_no: int) -> tuple[int, bytes | None]:
    """The next non-blank line and its 1-based number, or (n, None) at the end."""
    for line in f:
        line_no += 1
        stripped = line.strip()
        if stripped:
            return line_no, stripped
    return line_no, None


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
    return (
        f"{where}: {part}" if where.startswith("line ") and ":" not in where else f"{where}.{part}"
    )


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
