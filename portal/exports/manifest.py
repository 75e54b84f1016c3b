"""The export's manifest (``manifest.json``), ``SHA256SUMS``, and the one function called when
a file is finished.

The manifest says, for the whole export, which snapshot of the database it is (the last
release id and the evidence log's tree size), what it holds (counts, date range, years), under
which terms (publisher, licence, publication policy, OCDS version, extensions), and, for every
file, its name, kind, format, year, size, SHA-256, releases, dates and the log's tree size at
its export. ``docs/bulk-downloads.md`` describes every field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from portal.exports import layout
from portal.exports.files import write_atomically

#: Changes when the layout or the manifest changes in a way that needs a full rebuild.
FORMAT = 2


@dataclass(frozen=True)
class FileEntry:
    """One finished file of the export, as the manifest lists it."""

    name: str
    kind: str  # layout.COMPILED, RELEASE_PACKAGE, RECORD_PACKAGE, CSV, XLSX
    format: str  # jsonl.gz, json.gz, csv.tar.gz, xlsx
    year: str | None  # "2024", "undated", or None for full.jsonl.gz
    size: int
    sha256: str
    releases: int  # OCDS releases (compiled releases in compiled files and tables) in the file
    records: int | None  # records (contracting processes), where the file holds them
    first_date: str | None  # earliest and latest release date in the file, as published
    last_date: str | None
    publisher: str | None  # the packages' publisher (imported data keeps its own)
    release_id: int  # the snapshot: the last release id (``releases.id``) exported
    tree_size: int  # the evidence log's size at that snapshot
    exported_at: str  # when the file was finished (UTC, ISO 8601)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def file_finished(engine: Engine | None, folder: Path, entry: FileEntry) -> None:
    """Called once for every file when it is in place under its public name, before the
    manifest lists it: the file is made evidence, a ``bulk`` log entry of its name, SHA-256,
    size, release count and the log's size at the snapshot (``portal.evidence.files``), sealed
    and anchored with the next checkpoint. Without an engine (a folder exported on its own),
    nothing is logged."""
    if engine is None:
        return
    from portal.evidence.files import log_bulk_file

    log_bulk_file(engine, entry.name, entry.sha256, entry.size, entry.releases, entry.tree_size)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of the export in ``folder``, or None when there is none usable (absent,
    unreadable, or of another format: the next export is then a full one)."""
    try:
        manifest = orjson.loads((folder / layout.MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def sha256sums(entries: list[dict[str, Any]]) -> bytes:
    """``SHA256SUMS`` in the format ``sha256sum -c`` reads: the hash, two spaces, the name."""
    return "".join(f"{e['sha256']}  {e['name']}\n" for e in sorted(entries, key=lambda e: e["name"])).encode()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``SHA256SUMS`` and then ``manifest.json``, each atomically."""
    write_atomically(folder / layout.SHA256SUMS, sha256sums(manifest["files"]))
    write_atomically(folder / layout.MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
