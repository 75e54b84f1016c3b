"""Importing existing OCDS (packages, records, JSON Lines, gzip; 1.0 upgraded) as published."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine

from ocds.errors import Problem
from ocds.ingest import iter_ocds
from ocds.validate import ReleaseValidator
from portal.evidence import log_evidence
from portal.publishing.prepared import PreparedRelease, prepare_release
from portal.publishing.records import RecordRow, recompile, store_records
from portal.publishing.rejects import Reject, Summary
from portal.publishing.releases import existing_releases, insert_releases
from portal.settings import default


def import_ocds(engine: Engine, paths: Iterable[str | os.PathLike], *,
                batch_size: int = default("IMPORT_BATCH_SIZE"),
                progress: Callable[[int], None] | None = None) -> Summary:
    """Ingest existing OCDS (packages, records, JSON Lines, gzip; 1.0 upgraded).

    Releases that do not validate are kept as published, flagged invalid with their problems,
    and reported; unreadable ones are rejected. A release id already stored for the same ocid
    with the same content is skipped; with different content it is rejected (immutability).
    """
    started = time.perf_counter()
    summary = Summary()
    validator = ReleaseValidator()
    for path in paths:
        file = str(path)
        pending: list[PreparedRelease] = []
        for item in iter_ocds(path):
            if progress:
                progress(1)
            if item.release is None:
                for p in item.problems or [Problem("", "not an OCDS release")]:
                    summary.rejects.append(Reject(file, item.location, "", p.field, p.reason))
                continue
            summary.read += 1
            release = item.release
            if not release.get("ocid") or not release.get("id"):
                missing = "ocid" if not release.get("ocid") else "id"
                summary.rejects.append(Reject(file, item.location, str(release.get("ocid", "")),
                                              missing, f"a release must have an {missing}"))
                continue
            problems = validator.problems(release)
            if problems:
                summary.invalid_kept += 1
                who = f"{release['ocid']} {release['id']}"
                summary.invalid.extend(Reject(file, item.location, who, p.field, p.reason)
                                       for p in problems)
            pending.append(prepare_release(release, problems))
            if len(pending) >= batch_size:
                _write_releases(engine, pending, file, summary)
                pending = []
        _write_releases(engine, pending, file, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_releases(engine: Engine, batch: list[PreparedRelease], file: str, summary: Summary) -> None:
    """Store one batch of imported releases, their log entries and records in one transaction."""
    if not batch:
        return
    with engine.begin() as conn:
        existing = existing_releases(conn, {(r.ocid, r.release_id) for r in batch})
        fresh = []
        for r in batch:
            key = (r.ocid, r.release_id)
            if key in existing:
                if existing[key] == r.data_hash:
                    summary.unchanged += 1
                else:
                    summary.rejects.append(Reject(
                        file, "", f"{r.ocid} {r.release_id}", "id",
                        "a release with this id was already published with different content; "
                        "published releases are immutable"))
                continue
            existing[key] = r.data_hash
            fresh.append(r)
        _, leaves = log_evidence(conn, fresh)
        insert_releases(conn, fresh, "import", leaves)
        rows: dict[str, RecordRow] = {}
        for ocid in {r.ocid for r in fresh}:
            try:
                rows.update(recompile(conn, [ocid]))
            except Exception as error:  # ocdsmerge on malformed real-world data
                summary.rejects.append(Reject(file, "", ocid, "", f"record not compiled: {error}"))
        store_records(conn, rows)
        summary.published_releases += len(fresh)
        summary.records_updated += len(rows)
