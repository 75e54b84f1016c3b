"""Bulk download files as evidence: each finished file is logged as a ``bulk`` entry.

``portal.exports`` calls :func:`log_bulk_file` once per file, when it is in place under its
public name: the entry states the file's name, the SHA-256 of its bytes, its size, the releases
it holds and the log's size at the export's snapshot (``anchoring.entries.BulkFileEntry``). The
next checkpoint seals and anchors it like any entry, and :func:`build_file_bundle` proves it
(``/api/proofs/files/<name>``), so a downloaded file is checked offline with ``veraz
verify-file``. A file written again with the same bytes keeps its first entry: nothing is
logged twice, and the bundle of a name is that of its newest bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select

from anchoring.entries import BulkFileEntry, Entry, EntryError, decode_entry
from anchoring.errors import LogError
from anchoring.file_bundle import FileProofBundle
from anchoring.merkle import leaf_hash
from portal.evidence import store
from portal.evidence.tables import bulk_files


def bulk_entry(name: str, sha256: str, size: int, releases: int, log_size: int) -> BulkFileEntry:
    """The log entry of one bulk file version."""
    return BulkFileEntry(
        name=name,
        file_hash=bytes.fromhex(sha256),
        size=str(size),
        releases=str(releases),
        log_size=str(log_size),
    )


def log_bulk_file(engine: Engine, name: str, sha256: str, size: int, releases: int, log_size: int) -> int:
    """Log one finished bulk file (in its own transaction) and return its leaf index; the
    index of its first entry when these exact bytes were logged under this name before."""
    with engine.begin() as conn:
        store.lock(conn)  # two exports at once would both find the file unlogged
        found = conn.execute(
            select(bulk_files.c.leaf_index).where(bulk_files.c.name == name, bulk_files.c.sha256 == sha256)
        ).scalar()
        if found is not None:
            return int(found)
        entries: list[Entry] = [bulk_entry(name, sha256, size, releases, log_size)]
        (index,) = store.append(conn, entries)
        conn.execute(
            insert(bulk_files).values(
                name=name,
                sha256=sha256,
                size=size,
                releases=releases,
                log_size=log_size,
                leaf_index=index,
                logged_at=datetime.now(UTC),
            )
        )
        return index


def build_file_bundle(
    conn: Connection, config: dict, name: str, sha256: str | None = None
) -> FileProofBundle | None:
    """The bundle of the newest logged version of the file ``name`` (or of the version with
    ``sha256``); None when none is logged. The bundle states the logged entry, whatever the
    row says now: a verifier then compares the file with what was logged."""
    from portal.evidence.read.proofs import proof_fields

    query = select(bulk_files.c.leaf_index).where(bulk_files.c.name == name)
    if sha256 is not None:
        query = query.where(bulk_files.c.sha256 == sha256)
    index = conn.execute(query.order_by(bulk_files.c.leaf_index.desc()).limit(1)).scalar()
    if index is None:
        return None
    try:
        (entry,) = store.entries(conn, index, index + 1)
        value = decode_entry(entry)
    except (LogError, EntryError, ValueError):  # an index outside the log: the row was altered
        return None
    if not isinstance(value, BulkFileEntry) or value.name != name:
        return None
    common = dict(
        name=value.name,
        sha256=value.file_hash.hex(),
        size=int(value.size),
        releases=int(value.releases),
        log_size=int(value.log_size),
        entry=entry,
        leaf_index=index,
        leaf_hash=leaf_hash(entry),
    )
    proof = proof_fields(conn, config, index)
    if proof is None:
        return FileProofBundle(status="pending", **common)
    return FileProofBundle(status="complete", **common, **proof)
