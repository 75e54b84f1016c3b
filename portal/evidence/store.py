"""The portal's one door to the evidence log (``anchoring.log``) and its signing key.

Everything in ``portal.evidence`` (both the read side and the anchoring process) reads and
writes the log through these functions, so the log's storage API and tables are adapted in one
place. Each published row keeps the index of its entry (``leaf_index``), so a proof starts
from the row.

The log's key is its identity: every checkpoint is signed with it, and a verifier pins it. It
is created once, when the very first checkpoint of an empty log is sealed
(:func:`sealing_signer`); from then on no process creates one, and a key file that is missing
or holds another key stops sealing (:class:`LogKeyError`, naming the file and the key the
checkpoints were signed with). Web workers only read it (:func:`verifier_key`), and serve it
only when it verifies the newest checkpoint. Rotation is not supported.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, func, select

from anchoring import notes
from anchoring.entries import Entry, decode_entry
from anchoring.errors import AnchoringError, EntryError, LogError
from anchoring.keyfiles import create_note_signer, load_note_signer
from anchoring.log import AuditProblem, EvidenceLog, bundle_entries, make_bundle
from anchoring.log import checkpoints as _checkpoint_table

log = logging.getLogger(__name__)


class LogKeyError(LogError):
    """The log's signing key is missing, or is not the key its checkpoints were signed with."""


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
    """The log's key file: LOG_KEY_FILE, or INSTANCE_PATH/log-signer.key."""
    return Path(config.get("LOG_KEY_FILE") or Path(config["INSTANCE_PATH"]) / "log-signer.key")


# Keyed by the file's identity as well: a replaced or re-permissioned key file is read again.
@functools.lru_cache(maxsize=8)
def _load(path: str, name: str, identity: tuple[int, ...]) -> Signer:
    signer = load_note_signer(path, name)
    return Signer(signer, str(signer.verifier()))


def signer(config: dict) -> Signer:
    """The checkpoint signer in the key file of the settings; never creates one.

    Raises :class:`LogKeyError` when the file does not exist, and
    :class:`~anchoring.errors.KeyFileError` when it may not be used (mode, owner, content).
    """
    path = key_path(config)
    try:
        info = os.stat(path)
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)
        return _load(str(path), origin(config), identity)
    except FileNotFoundError:
        raise LogKeyError(f"the log's signing key file {path} does not exist") from None


def key_name(verifier_key: str) -> str:
    """``<name>+<key id>`` of a C2SP verifier key: how messages name a key."""
    return "+".join(verifier_key.split("+")[:2])


def signed_by(note: str) -> list[str]:
    """``<name>+<key id>`` of every signature on a signed note, as messages name keys."""
    names = []
    for line in note.rstrip("\n").rpartition("\n\n")[2].split("\n"):
        _dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        try:
            names.append(f"{name}+{base64.b64decode(encoded)[:4].hex()}")
        except ValueError:
            names.append(name)
    return names


def check_signs_latest(conn: Connection, config: dict, signer_: Signer) -> None:
    """Raise :class:`LogKeyError` unless ``signer_`` signed the newest checkpoint."""
    newest = latest(conn)
    if newest is None:
        return
    try:
        notes.verify_checkpoint(newest.note, signer_.verifier_key)
    except AnchoringError:
        raise LogKeyError(
            f"the log's signing key file {key_path(config)} holds key "
            f"{key_name(signer_.verifier_key)}, but the log's checkpoints (the newest of size "
            f"{newest.size}) were signed with key {', '.join(signed_by(newest.note))}; put the "
            f"key the checkpoints were signed with back in {key_path(config)} (a log's key "
            "cannot be changed)"
        ) from None


def sealing_signer(conn: Connection, config: dict) -> Signer:
    """The signer for the next checkpoint, checked against the log, in the caller's transaction.

    The very first checkpoint of an empty log creates the key file (mode 0600) if it does not
    exist, and says so in the log. Once a checkpoint exists, the key must be the one that
    signed it: a missing or different key file raises :class:`LogKeyError` and nothing is
    created.
    """
    newest = latest(conn)
    path = key_path(config)
    if newest is None:
        try:
            return signer(config)
        except LogKeyError:
            pass  # no checkpoint and no key: this seal starts the log
        try:
            created = create_note_signer(path, origin(config))
        except FileExistsError:  # another sealer created it first: theirs is the log's key
            return signer(config)
        verifier = str(created.verifier())
        log.warning(
            "created the log's signing key %s in %s for the first checkpoint; "
            "back it up: every later checkpoint must be signed with it",
            verifier,
            path,
        )
        return Signer(created, verifier)
    try:
        current = signer(config)
    except LogKeyError:
        raise LogKeyError(
            f"the log's signing key file {path} does not exist, but the log's checkpoints (the "
            f"newest of size {newest.size}) were signed with key "
            f"{', '.join(signed_by(newest.note))}; restore that key file from a backup (a new "
            "key would start a different log, so none is made)"
        ) from None
    check_signs_latest(conn, config, current)
    return current


def verifier_key(conn: Connection, config: dict) -> str:
    """The log's verifier key, as web workers serve it: LOG_VERIFIER_KEY when set (a portal
    host that does not hold the signing key), else read from the key file, never created; in
    both cases only when it verifies the newest checkpoint (else :class:`LogKeyError`)."""
    public = str(config.get("LOG_VERIFIER_KEY") or "").strip()
    if public:
        newest = latest(conn)
        if newest is not None:
            try:
                notes.verify_checkpoint(newest.note, public)
            except AnchoringError:
                raise LogKeyError(
                    f"LOG_VERIFIER_KEY is key {key_name(public)}, but the log's newest checkpoint "
                    f"(size {newest.size}) was signed with key {', '.join(signed_by(newest.note))}"
                ) from None
        return public
    key = signer(config)
    check_signs_latest(conn, config, key)
    return key.verifier_key


def _log() -> EvidenceLog:
    return EvidenceLog()


def lock(conn: Connection) -> None:
    """Take the log's write lock for the rest of ``conn``'s transaction (before reading what is
    about to be logged, so two writers never both find it missing)."""
    _log().lock(conn)


def append(conn: Connection, entries: list[bytes] | list[Entry]) -> list[int]:
    """Append ``entries`` in the caller's transaction; return their leaf indices."""
    return _log().append(conn, entries)


def leaf_hashes(conn: Connection, start: int, end: int) -> list[bytes]:
    return _log().leaf_hashes(conn, start, end)


def tile(conn: Connection, level: int, index: int) -> bytes:
    return _log().tile(conn, level, index)


def entry_bundle(conn: Connection, index: int, count: int) -> bytes:
    """The first ``count`` entries of entry bundle ``index``, in the C2SP entry-bundle format.

    Raises LogError when the stored bundle holds fewer (storage inconsistent; ``veraz audit``
    reports it).
    """
    blob = _log().entry_bundle(conn, index)
    items = bundle_entries(blob)
    if len(items) < count:
        raise LogError(f"entry bundle {index} holds {len(items)} entries, not {count}")
    return blob if len(items) == count else make_bundle(items[:count])


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


def seal(conn: Connection, signer_: Signer, origin_: str, size: int | None = None) -> SealedCheckpoint:
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


# Built once: proofs ask for these on every request.
_NEWEST_SIZE = select(func.max(_checkpoint_table.c.size))
_NOTES_AFTER = (
    select(_checkpoint_table.c.size, _checkpoint_table.c.note)
    .where(_checkpoint_table.c.size > bindparam("known"))
    .order_by(_checkpoint_table.c.size)
)


def newest_checkpoint_size(conn: Connection) -> int | None:
    """The size of the newest checkpoint (one primary-key lookup), or None if none is sealed."""
    value = conn.execute(_NEWEST_SIZE).scalar()
    return int(value) if value is not None else None


def checkpoint_notes_after(conn: Connection, known: int) -> list[tuple[int, str]]:
    """``[(size, signed note)]`` of the checkpoints larger than ``known``, oldest first."""
    return [(int(size), note) for size, note in conn.execute(_NOTES_AFTER, {"known": known})]


def latest(conn: Connection) -> SealedCheckpoint | None:
    item = _log().latest_checkpoint(conn)
    return _sealed(item) if item is not None else None


def audit(conn: Connection, verifier_key: str | None) -> list[AuditProblem]:
    """Problems the log finds in its own storage: entries, tiles, checkpoint roots and notes."""
    return list(_log().audit(conn, verifier_key))


def describe_entry(data: bytes) -> str:
    """Who an entry is about, for reports: ``<ocid> release <id>``, ``<ocid> proforma <id>`` or
    ``file <name>``."""
    try:
        entry = decode_entry(data)
    except EntryError:
        return "unreadable entry"
    if entry.kind == "bulk":
        return f"file {getattr(entry, 'name', '?')}"
    ident = getattr(entry, "release_id", None) or getattr(entry, "proforma_id", "")
    return f"{getattr(entry, 'ocid', '?')} {entry.kind} {ident}"


def _sealed(item) -> SealedCheckpoint:
    return SealedCheckpoint(item.size, bytes(item.root), item.note, item.created_at)
