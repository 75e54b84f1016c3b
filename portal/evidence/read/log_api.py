"""What the public log API serves (``/api/log/...``), read from the database only."""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta

from sqlalchemy import Connection
from werkzeug.exceptions import ServiceUnavailable

from anchoring.errors import KeyFileError
from anchoring.merkle import leaf_hash
from portal.evidence import store
from portal.evidence.read.anchors import anchor_rows, published_time, utc
from portal.evidence.read.witnesses import cosigned_note

log = logging.getLogger(__name__)


class RangeError(ValueError):
    """A requested range of the log is not one the log can answer; the message says why."""


class KeyUnavailable(ServiceUnavailable):
    """The log's key cannot be served: not made yet, missing, or not the checkpoints' key.

    An HTTP 503 whose description is a sentence for the visitor (the web layer's error
    handler answers it as HTML or JSON); what is wrong on the server goes to its log only.
    """


def verifier_key(config: dict, conn: Connection | None = None) -> str:
    """The C2SP verifier key that signs checkpoints, as the key file holds it.

    Web workers never write keys: the key is read, never created, and served only when it
    verifies the newest checkpoint; otherwise :class:`KeyUnavailable`. ``conn`` defaults to
    a connection of the current app's database.
    """
    if conn is None:
        from portal.db import app_engine

        with app_engine().connect() as own:
            return verifier_key(config, own)
    try:
        return store.verifier_key(conn, config)
    except (store.LogKeyError, KeyFileError) as error:
        if store.latest(conn) is None:
            raise KeyUnavailable(
                "The log has no key yet: it is made when the first checkpoint is sealed."
            ) from None
        log.error("cannot serve the log's key: %s", error)
        raise KeyUnavailable(
            "The log's signing key is not available on this server now, or is "
            "not the key its checkpoints were signed with; the operator's log "
            "says which. Checkpoints already published keep their signatures."
        ) from None


def latest_checkpoint(conn: Connection, config: dict | None = None) -> str | None:
    """The newest signed checkpoint (C2SP signed note), or None before the first seal.

    With ``config``, the note is followed by the cosignature lines of the configured witnesses
    (signed-note: a note may carry several signatures; a verifier skips those it has no key
    for). Its text, which the RFC 3161 token covers, is unchanged.
    """
    latest = store.latest(conn)
    if latest is None:
        return None
    return cosigned_note(conn, config, latest.size, latest.note) if config else latest.note


def checkpoint_history(conn: Connection) -> list[dict]:
    """Every checkpoint, newest first: size, root, note, sealing time and anchors."""
    history = store.checkpoints(conn)
    anchors = anchor_rows(conn)
    return [
        {
            "treeSize": c.size,
            "root": c.root.hex(),
            "checkpoint": c.note,
            "sealedAt": published_time(c.sealed_at),
            "anchors": anchors.get(c.size, []),
        }
        for c in reversed(history)
    ]


def consistency(conn: Connection, first: int, second: int) -> list[bytes]:
    """RFC 9162 consistency proof from tree size ``first`` to ``second``.

    Raises :class:`RangeError` unless ``1 <= first <= second <= log size`` (a proof from the
    empty tree is meaningless).
    """
    size = store.size(conn)
    if first < 1:
        raise RangeError("Parameter 'first' must be at least 1 (a proof from the empty tree is meaningless).")
    if second > size:
        raise RangeError(f"Parameter 'second' must be at most the log size {size}.")
    if first > second:
        raise RangeError("Parameter 'first' must not be greater than 'second'.")
    if first == second:
        return []
    return store.consistency_proof(conn, first, second)


def entries_page(conn: Connection, start: int, end: int | None, cap: int) -> dict:
    """Entries ``[start, end)`` (``end`` defaults to a page of ``cap``): index, exact bytes
    (base64) and leaf hash (hex), with the log size.

    Raises :class:`RangeError` when the range is outside the log or longer than ``cap``.
    """
    size = store.size(conn)
    if end is None:
        end = min(size, start + cap)
    if start > size:
        raise RangeError(f"Parameter 'start' must be at most the log size {size}.")
    if end < start or end > size:
        raise RangeError(f"Parameter 'end' must be between start ({start}) and the log size ({size}).")
    if end - start > cap:
        raise RangeError(f"Parameter 'end' must be at most start + {cap} (page size).")
    page = [
        {
            "index": start + i,
            "base64": base64.b64encode(data).decode(),
            "leafHash": leaf_hash(data).hex(),
        }
        for i, data in enumerate(store.entries(conn, start, end))
    ]
    return {"start": start, "end": end, "treeSize": size, "entries": page}


def next_seal(conn: Connection, interval: float) -> datetime | None:
    """When the next checkpoint is due at the latest, sealing every ``interval`` seconds.

    One interval after the newest checkpoint; before the first, one interval after the first
    entry was logged (the watcher also seals at start and when enough entries wait). None for
    an empty log. Always aware (UTC): a page turns it into the visitor's local time.
    """
    step = timedelta(seconds=interval)
    last = store.latest(conn)  # one row, not every checkpoint ever sealed
    if last is not None:
        return utc(last.sealed_at) + step
    first = store.first_appended_at(conn)
    return utc(first) + step if first is not None else None
