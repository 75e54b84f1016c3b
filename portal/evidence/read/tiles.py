"""The log as a C2SP tlog-tiles log: only what the latest signed checkpoint commits to.

A client must never see a tile that no signed checkpoint covers, so every answer is cut to
the latest checkpoint. A partial tile or entry bundle is the prefix of the stored one (they
only ever grow at their end), so the same request always gets the same bytes.
"""

from __future__ import annotations

from sqlalchemy import Connection

from anchoring.errors import LogError
from portal.evidence import store

WIDTH = 256  # hashes per full tile, entries per full entry bundle
HASH_SIZE = 32


def covered(conn: Connection, level: int, index: int) -> int:
    """How many hashes of tile ``level``/``index`` the latest checkpoint commits to."""
    latest = store.latest(conn)
    size = latest.size if latest else 0
    nodes = size >> (8 * level)  # complete nodes of tree level 8 * level
    return max(0, min(WIDTH, nodes - index * WIDTH))


def tile(conn: Connection, level: int, index: int, width: int) -> bytes | None:
    """The first ``width`` hashes of tile ``level``/``index``; None unless a checkpoint covers
    them. Raises LogError if the stored tile is shorter (storage inconsistent)."""
    if covered(conn, level, index) < width:
        return None
    hashes = store.tile(conn, level, index)
    if len(hashes) < width * HASH_SIZE:
        raise LogError(f"tile {level}/{index} is shorter than its checkpoint says")
    return hashes[: width * HASH_SIZE]


def entry_bundle(conn: Connection, index: int, width: int) -> bytes | None:
    """The first ``width`` entries of entry bundle ``index``; None unless a checkpoint covers
    them. Raises LogError if the stored bundle is shorter (storage inconsistent)."""
    if covered(conn, 0, index) < width:
        return None
    return store.entry_bundle(conn, index, width)
