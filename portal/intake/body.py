"""A request body of the intake API read into numbered records.

``application/json``: one JSON object (record 1) or an array of them (record n is the n-th
element, from 1). ``application/x-ndjson`` (also ``application/jsonl``,
``application/json-lines``, ``application/x-jsonlines``): JSON Lines, one record per non-blank
line, numbered by line as ``veraz import-orders`` numbers the lines of a file. A record that is
not valid JSON is reported as that record's problem (JSON Lines); a JSON body that does not
parse at all is one problem with the whole body. An array is split into its elements' bytes as
sent, so each element is read exactly as the same record sent as JSON Lines would be (a number
canonical JSON cannot hold, ``NaN``, ``1E400`` are that record's problem, at its field).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import orjson

JSON_TYPES = ("application/json",)
JSON_LINES_TYPES = (
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/x-jsonlines",
)


class BodyError(ValueError):
    """The body as a whole cannot be read: ``status`` (400, 413, 415) and a sentence."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Records:
    """``(number, raw JSON bytes)`` per record, and the value of each when already parsed."""

    raw: list[tuple[int, bytes]]


def read_records(body: bytes, mimetype: str, max_records: int) -> Records:
    """The records of ``body`` sent as ``mimetype``; BodyError when the body is unusable."""
    if mimetype in JSON_LINES_TYPES:
        raw = [(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    elif mimetype in JSON_TYPES:
        value = _parsed(body)
        if isinstance(value, list):
            raw = list(enumerate(_array_elements(body), start=1))
        elif isinstance(value, dict):
            raw = [(1, body)]
        else:
            raise BodyError(400, "The body must be a JSON object or an array of objects.")
    else:
        accepted = ", ".join(JSON_TYPES + JSON_LINES_TYPES)
        raise BodyError(
            415, f"Content-Type {mimetype or '(none)'!r} is not accepted; send one of: {accepted}."
        )
    if not raw:
        raise BodyError(400, "The body holds no record.")
    if len(raw) > max_records:
        raise BodyError(
            413, f"The body holds {len(raw)} records; at most {max_records} are accepted per request."
        )
    return Records(raw)


def _parsed(body: bytes):
    # Only the body's shape and validity come from this parse: each record is then read from its
    # own bytes, as sent, by the same exact reader as a JSON Lines record. orjson is the fast
    # check; the standard library also reads what orjson refuses for one element's sake (NaN,
    # 1E400, a lone surrogate), which is then that record's problem, not the whole body's.
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise BodyError(400, f"The body is not valid JSON: {error}.") from None


_STRUCTURE = re.compile(rb'["\\\[\]{},]')


def _array_elements(body: bytes) -> list[bytes]:
    """The bytes of each element of the JSON array ``body`` (known to be valid JSON), as sent:
    re-serialising a parsed element would alter what a parser reads inexactly (orjson turns an
    integer beyond 64 bits into a double)."""
    items: list[bytes] = []
    depth, start, in_string, escaped = 0, 0, False, -1
    for match in _STRUCTURE.finditer(body):
        at, char = match.start(), match.group()
        if in_string:
            if char == b"\\" and escaped != at:
                escaped = at + 1  # the next byte is escaped, whatever it is
            elif char == b'"' and escaped != at:
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in b"[{":
            depth += 1
            if depth == 1:
                start = at + 1
        elif char in b"]}":
            if depth == 1:
                items.append(body[start:at])
            depth -= 1
        elif depth == 1:  # a comma between elements
            items.append(body[start:at])
            start = at + 1
    return [item.strip(b" \t\r\n") for item in items if item.strip(b" \t\r\n")]
