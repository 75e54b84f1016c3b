"""Importing existing OCDS (packages, records, JSON Lines, gzip; 1.0 upgraded) as published.

Reading is :func:`ocds.ingest.iter_ocds`'s: streaming, exact, and whatever cannot be read costs
only itself. Here every release is canonicalised (RFC 8785), hashed, validated (kept although
invalid, with its problems) and stored with its package's metadata (``release_packages``).

Two copies of one release (same ocid and id) with different content: what is already stored
wins, since published releases are immutable. Among the copies of one import, the files are read
twice: first only to rank every copy by :func:`ocds.ingest.precedence` (a copy published as 1.1
before one upgraded from 1.0, then the later ``publishedDate``, then the smaller hash), then to
store the winner and reject the others, naming both versions. So the result never depends on the
order of the files on the command line (``docs/importing-ocds.md``). The ranking lives in a
temporary SQLite file, so memory does not grow with the number of releases either.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from sqlalchemy import Engine, insert

from anchoring.canonical import canonical_json
from anchoring.log import EvidenceLog
from ocds.errors import Problem
from ocds.ingest import LINKED, REJECTED, Item, iter_ocds, precedence
from ocds.schema import declared_extensions
from ocds.validate import ReleaseValidator
from portal.evidence import log_evidence, source_hash
from portal.models import release_packages
from portal.publishing.prepared import PreparedRelease, prepare_release
from portal.publishing.records import RecordRow, recompile, store_records
from portal.publishing.rejects import Reject, Summary
from portal.publishing.releases import existing_releases, insert_releases
from portal.search import index_records
from portal.settings import default

__all__ = ["FileReport", "OCDSSummary", "import_ocds"]


@dataclass
class FileReport:
    """What one file gave: releases read, stored, already stored, beaten by another copy, the
    things in it that could not be used, and the linked releases its records only point to."""

    file: str
    releases: int = 0
    published: int = 0
    unchanged: int = 0
    conflicts: int = 0
    rejected: int = 0
    linked: int = 0
    # Extensions its packages declare that Veraz does not have (releases are judged without them)
    unknown_extensions: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Everything in the file that was not stored nor already stored."""
        return self.conflicts + self.rejected

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.releases:,} releases read, {self.published:,} published, "
            f"{self.unchanged:,} already published, {self.conflicts:,} beaten by another copy, "
            f"{self.rejected:,} rejected, {self.linked:,} linked releases not imported"
            + (
                f"; extensions declared but not known here (releases judged without them): "
                f"{', '.join(self.unknown_extensions)}"
                if self.unknown_extensions
                else ""
            )
        )


@dataclass
class OCDSSummary(Summary):
    """:class:`Summary` plus a report per file and the records' linked releases (not rejects)."""

    files: list[FileReport] = field(default_factory=list)
    linked: list[Reject] = field(default_factory=list)


@dataclass(frozen=True)
class _Copy:
    """The copy of one release that wins among all files (first pass)."""

    digest: str
    file: str
    location: str


class _Ranking:
    """For each (ocid, id), the best copy by :func:`ocds.ingest.precedence` over all files.

    Kept in a temporary SQLite file, not in memory: an import of millions of releases would
    otherwise hold an entry for each. Each copy is offered once; an upsert keeps the better one.
    """

    _BATCH = 5000

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="veraz-import-ranking-")
        self._db = sqlite3.connect(Path(self._folder.name, "ranking.sqlite3"))
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE best (ocid TEXT, release_id TEXT, rank TEXT, digest TEXT, file TEXT, "
            "location TEXT, PRIMARY KEY (ocid, release_id)) WITHOUT ROWID"
        )
        self._offers: list[tuple[str, str, str, str, str, str]] = []

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()

    def offer(self, key: tuple[str, str], item: Item, digest: str, file: str) -> None:
        self._offers.append((*key, _rank_text(precedence(item, digest)), digest, file, item.location))
        if len(self._offers) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany(
            "INSERT INTO best VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ocid, release_id) DO UPDATE "
            "SET rank = excluded.rank, digest = excluded.digest, file = excluded.file, "
            "location = excluded.location WHERE excluded.rank < best.rank",
            self._offers,
        )
        self._offers = []

    def winners(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], _Copy]:
        """The winning copy of each of ``keys`` (all were offered)."""
        if self._offers:
            self._flush()
        found: dict[tuple[str, str], _Copy] = {}
        keys = list(keys)
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            values = ", ".join("(?, ?)" for _ in chunk)
            rows = self._db.execute(
                "SELECT ocid, release_id, digest, file, location FROM best "
                f"WHERE (ocid, release_id) IN (VALUES {values})",
                [part for key in chunk for part in key],
            )
            for ocid, release_id, digest, file, location in rows:
                found[(ocid, release_id)] = _Copy(digest, file, location)
        return found


# Seconds are shifted by this before they are written, so every instant (years 1 to 9999) is a
# positive number of the same width and text order is time order.
_INSTANT_SHIFT = 10**12


def _rank_text(rank: tuple[bool, bool, float, str]) -> str:
    """:func:`ocds.ingest.precedence`'s key as text that sorts the same way."""
    upgraded, undated, minus_published, digest = rank
    return f"{int(upgraded)}{int(undated)}{_INSTANT_SHIFT + minus_published:024.6f}{digest}"


@dataclass(frozen=True)
class _Pending:
    release: PreparedRelease
    problems: list[Problem]
    item: Item


def import_ocds(
    engine: Engine,
    paths: Iterable[str | os.PathLike],
    *,
    batch_size: int = default("IMPORT_BATCH_SIZE"),
    progress: Callable[[int], None] | None = None,
) -> OCDSSummary:
    """Ingest existing OCDS files (see the module docstring); never raises for bad input."""
    started = time.perf_counter()
    files = [Path(p) for p in paths]
    summary = OCDSSummary()
    ranking = _rank_copies(files)
    try:
        for path in files:
            report = FileReport(str(path))
            summary.files.append(report)
            pending: list[_Pending] = []
            for item in iter_ocds(path):
                if progress:
                    progress(1)
                taken = _take(item, report, summary, _validator(item, report))
                if taken is None:
                    continue
                pending.append(_Pending(*taken, item))
                if len(pending) >= batch_size:
                    _write_releases(engine, _losers_out(pending, ranking, report, summary), report, summary)
                    pending = []
            _write_releases(engine, _losers_out(pending, ranking, report, summary), report, summary)
    finally:
        ranking.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _validator(item: Item, report: FileReport) -> ReleaseValidator:
    """A release is judged against the schema patched with the extensions its own package
    declares (the vendored copies), not against Veraz's: a publisher answers for what it
    declared. Declared extensions Veraz does not have are reported once per file."""
    names, unknown = declared_extensions(item.package.extensions if item.package else ())
    for url in unknown:
        if url not in report.unknown_extensions:
            report.unknown_extensions.append(url)
    return ReleaseValidator(names)


def _losers_out(
    batch: list[_Pending], ranking: _Ranking, report: FileReport, summary: OCDSSummary
) -> list[_Pending]:
    """The releases of ``batch`` that are the winning copy; the others rejected with both versions."""
    winners = ranking.winners({(p.release.ocid, p.release.release_id) for p in batch})
    kept = []
    for pending in batch:
        r = pending.release
        best = winners.get((r.ocid, r.release_id))
        if best is None or best.digest == r.data_hash:
            kept.append(pending)
            if pending.problems:
                summary.invalid_kept += 1
                summary.invalid.extend(
                    Reject(report.file, pending.item.location, f"{r.ocid} {r.release_id}", p.field, p.reason)
                    for p in pending.problems
                )
            continue
        report.conflicts += 1
        summary.rejects.append(
            Reject(
                report.file,
                pending.item.location,
                f"{r.ocid} {r.release_id}",
                "id",
                "another copy of this release, with different content, wins (rule: a copy published "
                "as OCDS 1.1 before one upgraded from 1.0, then the later publishedDate, then the "
                f"smaller sha256): kept sha256 {best.digest} from {best.file} {best.location}; "
                f"this copy is sha256 {r.data_hash}",
            )
        )
    return kept


def _key(item: Item) -> tuple[str, str] | None:
    release = item.release
    if release is None or not isinstance(release.get("ocid"), str) or not release["ocid"]:
        return None
    if release.get("id") in (None, ""):
        return None
    return release["ocid"], str(release["id"])


def _digest(release: dict) -> str | None:
    try:
        return hashlib.sha256(canonical_json(release)).hexdigest()
    except (TypeError, ValueError, OverflowError):
        return None


def _rank_copies(paths: list[Path]) -> _Ranking:
    """First pass: offer every copy of every release to the ranking."""
    ranking = _Ranking()
    for path in paths:
        for item in iter_ocds(path):
            key = _key(item)
            digest = _digest(item.release) if key is not None and item.release is not None else None
            if key is not None and digest is not None:
                ranking.offer(key, item, digest, str(path))
    return ranking


def _take(
    item: Item, report: FileReport, summary: OCDSSummary, validator: ReleaseValidator
) -> tuple[PreparedRelease, list[Problem]] | None:
    """The release to store from one item and its schema problems, or None (its rejects or
    notes recorded)."""
    file = report.file
    if item.kind == LINKED:
        report.linked += len(item.linked)
        summary.linked.extend(Reject(file, item.location, "", p.field, p.reason) for p in item.problems)
        return None
    if item.kind == REJECTED:
        report.rejected += 1
        for p in item.problems or [Problem("", "not an OCDS release")]:
            summary.rejects.append(Reject(file, item.location, "", p.field, p.reason))
        return None
    release = item.release
    assert release is not None  # a RELEASE item
    summary.read += 1
    report.releases += 1
    key = _key(item)
    if key is None:
        missing = "ocid" if not release.get("ocid") or not isinstance(release.get("ocid"), str) else "id"
        report.rejected += 1
        summary.rejects.append(
            Reject(
                file,
                item.location,
                str(release.get("ocid", "")),
                missing,
                f"a release must have an {missing} (a non-empty string)",
            )
        )
        return None
    who = f"{key[0]} {key[1]}"
    if "\x00" in key[0] or "\x00" in key[1]:
        # An identifier is stored as text, and PostgreSQL text cannot hold NUL: such an id
        # could not be looked up or linked, so the release is refused (not stored half-way).
        report.rejected += 1
        field_name = "ocid" if "\x00" in key[0] else "id"
        summary.rejects.append(
            Reject(
                file,
                item.location,
                who.replace("\x00", "\\x00"),
                field_name,
                f"the {field_name} contains a NUL character (U+0000), which an identifier may not hold",
            )
        )
        return None
    problems = validator.problems(release)  # counted once the copy is known to win
    try:
        prepared = prepare_release(release, problems)
    except Exception as error:  # noqa: BLE001 - one odd release never stops an import
        report.rejected += 1
        summary.rejects.append(
            Reject(
                file,
                item.location,
                who,
                "",
                f"could not be prepared for publishing ({type(error).__name__}: {error})",
            )
        )
        return None
    return prepared, problems


def _write_releases(engine: Engine, batch: list[_Pending], report: FileReport, summary: OCDSSummary) -> None:
    """Store one batch of imported releases, their log entries, packages and records in one
    transaction."""
    if not batch:
        return
    file = report.file
    with engine.begin() as conn:
        # Take the log's write lock before looking anything up: two imports at once would
        # otherwise both find a release missing and both store it.
        EvidenceLog().lock(conn)
        existing = existing_releases(conn, {(p.release.ocid, p.release.release_id) for p in batch})
        fresh: list[_Pending] = []
        for pending in batch:
            r = pending.release
            key = (r.ocid, r.release_id)
            if key in existing:
                if existing[key] == r.data_hash:
                    summary.unchanged += 1
                    report.unchanged += 1
                else:
                    report.conflicts += 1
                    summary.rejects.append(
                        Reject(
                            file,
                            pending.item.location,
                            f"{r.ocid} {r.release_id}",
                            "id",
                            "a release with this id was already published with different content "
                            f"(sha256 {existing[key]}; this copy is sha256 {r.data_hash}); published "
                            "releases are immutable",
                        )
                    )
                continue
            existing[key] = r.data_hash
            fresh.append(pending)
        rows = [p.release for p in fresh]
        # The package statement is hashed as it is stored (NUL characters left out), so the
        # audit re-derives the logged hash from the row the pages show.
        packages = [_storable(_package_row(p, file)) for p in fresh]
        _, leaves = log_evidence(conn, rows, package_hashes=[source_hash(row) for row in packages])
        pks = insert_releases(conn, rows, "import", leaves)
        if packages:
            conn.execute(
                insert(release_packages),
                [{**row, "release_pk": pk} for row, pk in zip(packages, pks, strict=True)],
            )
        records: dict[str, RecordRow] = {}
        for ocid in sorted({r.ocid for r in rows}):
            try:
                records.update(recompile(conn, [ocid]))
            except Exception as error:  # noqa: BLE001 - ocdsmerge on malformed real-world data
                summary.rejects.append(Reject(file, "", ocid, "", f"record not compiled: {error}"))
        store_records(conn, records)
        # the search box's documents, in the same transaction, from the compiled releases
        index_records(conn, records, {o: r.search for o, r in records.items() if r.search})
        summary.published_releases += len(rows)
        report.published += len(rows)
        summary.records_updated += len(records)


def _storable(row: dict) -> dict:
    """``row`` with NUL characters left out of its text: PostgreSQL cannot store them (the
    package metadata is shown as text; the release itself keeps every byte)."""
    return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in row.items()}


def _package_row(pending: _Pending, file: str) -> dict:
    """The ``release_packages`` row of an imported release, without its ``release_pk``."""
    item = pending.item
    package = item.package
    publisher = package.publisher if package else None
    return {
        "package_uri": package.uri if package else None,
        "version": package.version if package else None,
        "published_date": package.published_date if package else None,
        "publisher_name": publisher.name if publisher else None,
        "publisher_scheme": publisher.scheme if publisher else None,
        "publisher_uid": publisher.uid if publisher else None,
        "publisher_uri": publisher.uri if publisher else None,
        "license": package.license if package else None,
        "publication_policy": package.publication_policy if package else None,
        "extensions": orjson.dumps(list(package.extensions)).decode() if package else None,
        "upgraded": item.upgraded,
        "source_file": file,
        "source_location": item.location,
    }
