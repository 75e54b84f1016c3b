"""The portal's one door to the evidence log (``anchoring.log``) and its signing key.

Everything in ``portal.evidence`` reads and writes the log through these functions, so the
log's storage API is adapted in one place. Each published row keeps the index of its entry
(``leaf_index``), so a proof starts from the row.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Connection

from anchoring import notes
from anchoring.entries import Entry


@dataclass(frozen=True)
class Signer:
    """The checkpoint signer: the private key stays inside ``note_signer``."""

    note_signer: notes.NoteSigner
    verifier_key: str

    def __repr__(self) -> str:
        return f"Signer(verifier_key={self.verifier_key!r})"


@dataclass(frozen=True)
class SealedCheckpoint:
    size: int
    root: bytes
    note: str
    sealed_at: datetime


def origin(config: dict) -> str:
    """The log's origin line (and key name): LOG_ORIGIN, or BASE_URL's host and path + /log."""
    if config.get("LOG_ORIGIN"):
        return str(config["LOG_ORIGIN"])
    parts = urlsplit(str(config["BASE_URL"]))
    return (parts.netloc + parts.path.rstrip("/") + "/log").replace("+", "-")


def key_path(config: dict) -> Path:
    return Path(config.get("LOG_KEY_FILE") or Path(config["INSTANCE_PATH"]) / "log-signer.key")


@functools.lru_cache(maxsize=8)
def _signer(path: str, name: str) -> Signer:
    try:
        signer = notes.load_or_create_signer(path, name)
    except FileExistsError:  # another process created it between our open and create
        signer = notes.load_or_create_signer(path, name)
    return Signer(signer, str(signer.verifier()))


def signer(config: dict) -> Signer:
    """The checkpoint signer of the settings; the key file is created (0600) on first use."""
    return _signer(str(key_path(config)), origin(config))


def _log():
    from anchoring.log import EvidenceLog

    return EvidenceLog()


def append(conn: Connection, entries: list[bytes] | list[Entry]) -> list[int]:
    """Append ``entries`` in the caller's transaction; return their leaf indices."""
    return _log().append(conn, entries)


def leaf_hashes(conn: Connection, start: int, end: int) -> list[bytes]:
    return _log().leaf_hashes(conn, start, end)


def tile(conn: Connection, level: int, index: int) -> bytes:
    return _log().tile(conn, level, index)


def entry_bundle(conn: Connection, index: int) -> bytes:
    return _log().entry_bundle(conn, index)


def first_appended_at(conn: Connection) -> datetime | None:
    return _log().first_appended_at(conn)


def size(conn: Connection) -> int:
    return _log().size(conn)


def root(conn: Connection, tree_size: int) -> bytes:
    return _log().root(conn, tree_size)


def entries(conn: Connection, start: int, end: int) -> list[bytes]:
    return list(_log().entries(conn, start, end))


def inclusion_proof(conn: Connection, index: int, tree_size: int) -> list[bytes]:
    return list(_log().inclusion_proof(conn, index, tree_size))


def consistency_proof(conn: Connection, first: int, second: int) -> list[bytes]:
    return list(_log().consistency_proof(conn, first, second))


def seal(
    conn: Connection, signer_: Signer, origin_: str, size: int | None = None
) -> SealedCheckpoint:
    """Sign and store a checkpoint of the log's first ``size`` entries (default all), in the
    caller's transaction."""
    _log().seal(conn, signer_.note_signer, origin_, size)
    sealed = _log().latest_checkpoint(conn)
    assert sealed is not None
    return _sealed(sealed)


def checkpoints(conn: Connection) -> list[SealedCheckpoint]:
    """Every sealed checkpoint, oldest first."""
    return [_sealed(c) for c in _log().checkpoints(conn)]


def checkpoint(conn: Connection, tree_size: int) -> SealedCheckpoint | None:
    return next((c for c in checkpoints(conn) if c.size == tree_size), None)


def latest(conn: Connection) -> SealedCheckpoint | None:
    item = _log().latest_checkpoint(conn)
    return _sealed(item) if item is not None else None


def audit(conn: Connection, verifier_key: str) -> list[str]:
    """Problems the log finds in its own storage: entries, tiles, checkpoint roots and notes."""
    return [f"{p.where}: {p.kind}: {p.detail}" for p in _log().audit(conn, verifier_key)]


def describe_entry(data: bytes) -> str:
    """Who an entry is about, for reports: ``<ocid> release <id>`` or ``<ocid> proforma <id>``."""
    from anchoring.entries import decode_entry
    from anchoring.errors import EntryError

    try:
        entry = decode_entry(data)
    except EntryError:
        return "unreadable entry"
    ident = getattr(entry, "release_id", None) or getattr(entry, "proforma_id", "")
    return f"{getattr(entry, 'ocid', '?')} {entry.kind} {ident}"


def _sealed(item) -> SealedCheckpoint:
    return SealedCheckpoint(item.size, bytes(item.root), item.note, item.created_at)
