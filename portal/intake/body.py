"""A request body of the intake API read into numbered records.

``application/json``: one JSON object (record 1) or an array of them (record n is the n-th
element, from 1). ``application/x-ndjson`` (also ``application/jsonl``,
``application/json-lines``, ``application/x-jsonlines``): JSON Lines, one record per non-blank
line, numbered by line as ``veraz import-orders`` numbers the lines of a file. A record that is
not valid JSON is reported as that record's problem (JSON Lines); a JSON body that does not
parse at all is one problem with the whole body.
"""

from __future__ import annotations

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
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BodyError(400, f"The body is not valid JSON: {error}.") from None
        if isinstance(value, list):
            raw = [(n, orjson.dumps(item)) for n, item in enumerate(value, start=1)]
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
