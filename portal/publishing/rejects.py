"""What an import reports: the records it did not publish and why, and its totals."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class Reject:
    """A record that was not published, and why (a plain value: worker processes send them)."""

    file: str
    line: str  # "12" for JSON Lines, or a location such as "releases[3]"
    record: str  # order number, or ocid/release id, or "" when unknown
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        who = f" {self.record}" if self.record else ""
        what = f" {self.field}:" if self.field else ""
        return f"{where}{who}:{what} {self.reason}"


@dataclass
class Summary:
    """What an import did; printed at the end of every import command."""

    read: int = 0
    published_releases: int = 0
    new_orders: int = 0
    unchanged: int = 0
    invalid_kept: int = 0
    records_updated: int = 0
    rejects: list[Reject] = field(default_factory=list)
    # Imported releases kept as published although they do not validate, with each problem.
    invalid: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    bulk: bool = False  # loaded in bulk mode (lookup indexes rebuilt at the end)

    @property
    def rejected(self) -> int:
        return len(self.rejects)


def write_rejects(path: str | os.PathLike, rejects: list[Reject]) -> None:
    """Write rejects as JSON Lines: file, line, record, field, reason."""
    with open(path, "wb") as f:
        for r in rejects:
            f.write(
                orjson.dumps(
                    {"file": r.file, "line": r.line, "record": r.record, "field": r.field, "reason": r.reason}
                )
                + b"\n"
            )
