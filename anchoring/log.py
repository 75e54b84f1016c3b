"""The append-only evidence log, stored with SQLAlchemy Core (SQLite and PostgreSQL).

Entries (``anchoring.entries``) are the leaves of one RFC 9162 Merkle tree; leaf ``i`` is
the ``i``-th entry ever appended. The tree itself is stored as **tiles**, with the geometry
of C2SP tlog-tiles (c2sp.org/tlog-tiles): a tile at tile level ``L`` and index ``N`` holds
the hashes of tree level ``8 * L``, nodes ``[256 * N, 256 * N + width)``, concatenated
(``width`` <= 256, 32 bytes each). Tile level 0 holds the leaf hashes, tile level 1 the roots
of each full level-0 tile, and so on. Full tiles are immutable; only the rightmost,
partial tile of each level is rewritten as the log grows, and it only ever gains hashes at
its end, so a tile's prefix is the tile as it was at every earlier tree size.

Entries are stored the same way, as C2SP **entry bundles**: row ``N`` of ``log_entry_bundles``
holds entries ``[256 * N, 256 * N + count)``, each as a big-endian uint16 length followed by
the entry bytes (the format of ``tile/entries/N``). Only the rightmost bundle is ever rewritten,
and only by adding entries at its end. One row per 256 entries (not one per entry) is what
keeps appending close to the cost of hashing: the log's own leaf hashes are the level-0 tiles,
so nothing is stored twice.

Beside the C2SP tile bytes (column ``hashes``), each row keeps the tile's inner nodes
(column ``inner``): rows ``r = 1..7`` of the subtree above the tile's hashes, row ``r``
holding the ``width >> r`` complete nodes of tree level ``8 * L + r``, concatenated from
``r = 1`` up. Any node of any tree size up to the current one is a perfect subtree, so it is
one slice of one tile row. A proof for a tree of ``n`` leaves therefore reads at most
``ceil(log2(n) / 8)`` tiles (3 for 10 million entries) in one query and hashes nothing but
the ephemeral right-edge node: no part of the tree is ever loaded into memory. Storing the
inner rows costs 32 bytes per entry and no extra hashing: appending computes every tree
node exactly once (about 2 SHA-256 calls per entry, the minimum for RFC 9162).

Concurrency. ``EvidenceLog`` works on a ``Connection`` inside the caller's transaction, so
entries are appended atomically with whatever else the caller stores (the release the entry
is about); a batch is all-or-nothing. Appends must be serialized so that two writers never
take the same index: ``append`` and ``seal`` take the database's write lock *before* they read
the log's size, and hold it until the caller's transaction ends.

* PostgreSQL: a transaction-level advisory lock (``pg_advisory_xact_lock``), released at commit
  or rollback; the size is read after it is granted, and under READ COMMITTED (the default)
  that read sees every earlier writer's commit. Under REPEATABLE READ a transaction whose
  snapshot predates another writer's commit fails on the primary key instead (safe, retry it).
* SQLite: a statement that writes nothing (``UPDATE ... WHERE 0``) still takes the database's
  one write lock, waiting for the busy timeout if another writer holds it. Without it, a
  caller whose driver only begins a transaction at the first write (pysqlite's default) read
  the size outside any transaction: two writers could read the same size and the second
  either failed on the primary key or, when both only extended the same partial bundle and
  tile, overwrote the first one's entries. If the caller's transaction read the database
  before, with another writer committing since, SQLite refuses the lock at once ("database is
  locked": safe, retry); ``sqlite_begin_immediate(engine)`` avoids that for ``engine.begin()``
  transactions by starting them with ``BEGIN IMMEDIATE``, which waits instead.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    TextClause,
    event,
    func,
    select,
    text,
)

from anchoring.entries import Entry, decode_entry, encode_entries
from anchoring.errors import EntryError, LogError, SignatureError
from anchoring.merkle import (
    EMPTY_ROOT,
    NodeID,
    ProofNodes,
    consistency_nodes,
    inclusion_nodes,
    node_hash,
    perfect_root,
    range_nodes,
    root_from_subtrees,
)
from anchoring.notes import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint, verify_checkpoint

__all__ = [
    "AuditProblem",
    "EvidenceLog",
    "StoredCheckpoint",
    "checkpoints",
    "log_entry_bundles",
    "log_tiles",
    "metadata",
    "sqlite_begin_immediate",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes per full tile
_H = 32  # hash size

# An arbitrary, fixed 64-bit key for pg_advisory_xact_lock ("VERAZLOG" in ASCII).
ADVISORY_LOCK_KEY = int.from_bytes(b"VERAZLOG", "big") & 0x7FFF_FFFF_FFFF_FFFF

metadata = MetaData()

log_entry_bundles = Table(
    "log_entry_bundles",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False, comment="bundle index"),
    Column(
        "entries",
        LargeBinary,
        nullable=False,
        comment="<= 256 entries, each a big-endian uint16 length + the entry bytes",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

log_tiles = Table(
    "log_tiles",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False, comment="tile level"),
    Column("idx", BigInteger, primary_key=True, autoincrement=False, comment="tile index"),
    Column("hashes", LargeBinary, nullable=False, comment="<= 256 hashes of tree level 8*level"),
    Column("inner", LargeBinary, nullable=False, comment="tile rows 1..7 (levels 8*level+r)"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False, comment="tree size"),
    Column("root", LargeBinary(32), nullable=False, comment="RFC 9162 root at that size"),
    Column("note", Text, nullable=False, comment="signed c2sp.org/tlog-checkpoint note"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


_WRITING = "anchoring_sqlite_writing"  # execution option: this transaction will write


def _no_driver_begin(dbapi_connection, _record):
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below does it


def _begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITING) else "BEGIN")


@contextmanager
def _begin_writing(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execution_options(**{_WRITING: True})
        with conn.begin():
            yield conn


def sqlite_begin_immediate(engine: Engine) -> None:
    """Make ``engine.begin()`` on a SQLite ``engine`` start its transaction with BEGIN IMMEDIATE.

    SQLAlchemy's documented pysqlite recipe: the driver's own implicit BEGIN (emitted only
    before the first INSERT, UPDATE or DELETE, so that earlier reads ran outside any
    transaction) is turned off, and every transaction begins when SQLAlchemy begins it.
    ``engine.begin()``, the unit of work of every writer, begins with BEGIN IMMEDIATE: it takes
    the write lock first, waiting for another writer's commit (up to the driver's busy timeout),
    so its reads and writes see one state and it never has to be retried. Transactions of
    ``engine.connect()`` begin with a plain (deferred) BEGIN: readers see one snapshot and
    never wait for, or hold up, a writer, as in WAL mode they should. Giving them BEGIN
    IMMEDIATE too would make every page view wait for a whole publishing batch: measured, a
    read while a writer held its transaction for 1 s took 0.7 ms through ``connect()`` and
    1,035 ms through ``begin()``.

    Call it before the engine's first connection; calling it again is harmless. No effect on
    other databases.
    """
    if engine.dialect.name != "sqlite" or event.contains(engine, "begin", _begin):
        return
    event.listen(engine, "connect", _no_driver_begin)
    event.listen(engine, "begin", _begin)
    # A weak proxy: the engine holding a strong reference to itself would delay its collection
    # (and what is tied to it, such as the WAL checkpointer's watch) to the cycle collector.
    engine.begin = functools.partial(_begin_writing, weakref.proxy(engine))  # type: ignore[method-assign]


MAX_ENTRY_SIZE = 0xFFFF  # an entry bundle prefixes each entry with a uint16 length


# Textual statements with untyped parameters: both drivers take bytes for binary columns as
# they are, and skipping SQLAlchemy's per-value type processing is measurably faster.
_INSERT_BUNDLE = text("INSERT INTO log_entry_bundles (idx, entries) VALUES (:idx, :entries)")
# Textual: building the equivalent select() took most of the time of size(), which every
# append and proof runs.
_LAST_LEAF_TILE = text("SELECT idx, length(hashes) FROM log_tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1")
_UPDATE_TILE = text(
    'UPDATE log_tiles SET hashes = :hashes, "inner" = :inner WHERE level = :level AND idx = :idx'
)
_SQLITE_WRITE_LOCK = text("UPDATE log_entry_bundles SET idx = idx WHERE 0")
_UPDATE_BUNDLE = text("UPDATE log_entry_bundles SET entries = :entries WHERE idx = :idx")


def bundle_entries(blob: bytes) -> list[bytes]:
    """The entries of an entry bundle (C2SP tlog-tiles ``tile/entries/N`` format).

    Raises LogError if the blob is not a sequence of (uint16 length, bytes) items.
    """
    out, at, end = [], 0, len(blob)
    while at < end:
        if at + 2 > end:
            raise LogError("entry bundle ends inside a length prefix")
        length = (blob[at] << 8) | blob[at + 1]
        at += 2
        if at + length > end:
            raise LogError("entry bundle ends inside an entry")
        out.append(blob[at : at + length])
        at += length
    return out


# The uint16 length prefixes of entries up to 4 KB, made once (every entry so far is
# under 1 KB): a table lookup per entry instead of int.to_bytes and a concatenation.
_PREFIXES = [n.to_bytes(2, "big") for n in range(4096)]


def make_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle of ``entries`` (each at most MAX_ENTRY_SIZE bytes)."""
    parts: list[bytes] = [b""] * (2 * len(entries))
    try:
        parts[::2] = map(_PREFIXES.__getitem__, map(len, entries))
    except IndexError:  # an entry of 4 KB or more
        parts[::2] = [len(e).to_bytes(2, "big") for e in entries]
    parts[1::2] = entries
    return b"".join(parts)


@functools.cache
def _tiles_query(count: int) -> TextClause:
    """SELECT of ``count`` tiles by primary key, built once per count.

    An OR of primary-key equalities, not a row-value IN: SQLite 3.40 plans
    "(level, idx) IN (...)" as a scan of the whole table, this as index lookups. Textual
    and cached because building the equivalent SQLAlchemy expression for every proof was
    measured at about half the proof time. "inner" is quoted: a reserved word in SQL.
    """
    where = " OR ".join(f"(level = :l{k} AND idx = :i{k})" for k in range(count))
    return text(f'SELECT level, idx, hashes, "inner" FROM log_tiles WHERE {where}')


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint row: tree size, root, the signed note, when it was sealed."""

    size: int
    root: bytes
    note: str
    created_at: datetime


@dataclass(frozen=True)
class AuditProblem:
    """One inconsistency found by ``EvidenceLog.audit``."""

    kind: str  # e.g. "leaf-hash", "tile", "checkpoint-root"
    where: str  # e.g. "entry 12", "tile 0/3", "checkpoint 1000"
    detail: str


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + _H] for i in range(0, len(blob), _H)]


def _row_start(width: int, r: int) -> int:
    """Position (in hashes) of row ``r >= 1`` in the ``inner`` blob of a tile of ``width``."""
    return sum(width >> k for k in range(1, r))


def _tile_rows(base: list[bytes], old_inner: bytes = b"", old_width: int = 0) -> list[list[bytes]]:
    """Rows 0..7 of a tile: row 0 is ``base``, row r the complete nodes over row r - 1.

    The rows of the tile as stored before (``old_inner`` for its first ``old_width`` base
    hashes) are reused, so only the new nodes are hashed.
    """
    rows = [base]
    sha = hashlib.sha256
    for r in range(1, TILE_HEIGHT):
        have, start = old_width >> r, _row_start(old_width, r)
        row = _split(old_inner[start * _H : (start + have) * _H])
        prev = rows[-1]
        row.extend(sha(b"\x01" + prev[2 * j] + prev[2 * j + 1]).digest() for j in range(have, len(prev) // 2))
        rows.append(row)
    return rows


def _full_tile(base: list[bytes]) -> tuple[bytes, bytes]:
    """(inner rows, root) of a full tile of ``base`` (256 hashes): 255 SHA-256 calls.

    The common case when appending in batches, written as the tightest loop (pairs by
    ``zip`` over one iterator, one list per row): same result as ``_tile_rows``.
    """
    sha = hashlib.sha256
    row, inner = base, []
    for _ in range(1, TILE_HEIGHT):
        pairs = iter(row)
        row = [sha(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]
        inner += row
    return b"".join(inner), sha(b"\x01" + row[0] + row[1]).digest()


def _tile_of(node: NodeID) -> tuple[tuple[int, int], int, int]:
    """((tile level, tile index), row r in the tile, position j in the row) of a node."""
    tile_level, r = divmod(node.level, TILE_HEIGHT)
    shift = TILE_HEIGHT - r
    return (tile_level, node.index >> shift), r, node.index & ((1 << shift) - 1)


class EvidenceLog:
    """Operations on the evidence log tables through a caller-provided Connection."""

    # --- reading -----------------------------------------------------------------------

    def size(self, conn: Connection) -> int:
        """Number of entries in the log (as seen by this transaction): the leaves of level 0."""
        row = conn.execute(_LAST_LEAF_TILE).first()
        return 0 if row is None else int(row[0]) * TILE_WIDTH + int(row[1]) // _H

    def _bundles(self, conn: Connection, first: int, last: int) -> dict[int, bytes]:
        rows = conn.execute(
            select(log_entry_bundles.c.idx, log_entry_bundles.c.entries).where(
                log_entry_bundles.c.idx >= first, log_entry_bundles.c.idx <= last
            )
        ).all()
        return {int(row.idx): bytes(row.entries) for row in rows}

    def entries(self, conn: Connection, start: int, end: int) -> list[bytes]:
        """The entry bytes at indices ``[start, end)``."""
        if end <= start:
            return []
        first, last = start // TILE_WIDTH, (end - 1) // TILE_WIDTH
        bundles = self._bundles(conn, first, last)
        out: list[bytes] = []
        for n in range(first, last + 1):
            items = bundle_entries(bundles.get(n, b""))
            lo = max(start - n * TILE_WIDTH, 0)
            hi = min(end - n * TILE_WIDTH, TILE_WIDTH)
            if len(items) < hi:
                raise LogError(f"entries [{start}, {end}) are not all in the log")
            out.extend(items[lo:hi])
        return out

    def leaf_hashes(self, conn: Connection, start: int, end: int) -> list[bytes]:
        """The stored leaf hashes at indices ``[start, end)`` (from the level-0 tiles)."""
        if end <= start:
            return []
        first, last = start // TILE_WIDTH, (end - 1) // TILE_WIDTH
        rows = conn.execute(
            select(log_tiles.c.idx, log_tiles.c.hashes).where(
                log_tiles.c.level == 0, log_tiles.c.idx >= first, log_tiles.c.idx <= last
            )
        ).all()
        tiles = {int(row.idx): bytes(row.hashes) for row in rows}
        out: list[bytes] = []
        for n in range(first, last + 1):
            blob = tiles.get(n, b"")
            lo = max(start - n * TILE_WIDTH, 0)
            hi = min(end - n * TILE_WIDTH, TILE_WIDTH)
            if len(blob) < hi * _H:
                raise LogError(f"entries [{start}, {end}) are not all in the log")
            out.extend(_split(blob[lo * _H : hi * _H]))
        return out

    def tile(self, conn: Connection, level: int, index: int) -> bytes:
        """The C2SP tile bytes of tile ``level``/``index`` as stored (may be partial)."""
        key = (level, index)
        return self._tiles(conn, [key]).get(key, (b"", b""))[0]

    def entry_bundle(self, conn: Connection, index: int) -> bytes:
        """The C2SP entry bundle ``index`` as stored (may be partial)."""
        return self._bundles(conn, index, index).get(index, b"")

    def first_appended_at(self, conn: Connection) -> datetime | None:
        """When the first entry was appended (None for an empty log)."""
        return conn.execute(
            select(log_entry_bundles.c.created_at).where(log_entry_bundles.c.idx == 0)
        ).scalar()

    def _tiles(
        self, conn: Connection, keys: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[bytes, bytes]]:
        """Stored tiles by (tile level, index): (C2SP tile hashes, inner rows)."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        params: dict[str, int] = {}
        for k, (lvl, idx) in enumerate(keys):
            params[f"l{k}"], params[f"i{k}"] = lvl, idx
        rows = conn.execute(_tiles_query(len(keys)), params).all()
        return {(row.level, row.idx): (bytes(row.hashes), bytes(row.inner)) for row in rows}

    def nodes(self, conn: Connection, ids: Sequence[NodeID], tree_size: int | None = None) -> list[bytes]:
        """Hashes of the perfect subtrees ``ids``, read from the tiles in one query.

        With ``tree_size``, also check in the same query that the log holds that many
        entries. Raises LogError for a node (or size) beyond the stored tree.
        """
        where = [_tile_of(node) for node in ids]
        keys = [key for key, _, _ in where]
        last_leaf = None
        if tree_size is not None and tree_size > 0:
            last_leaf = _tile_of(NodeID(0, tree_size - 1))
            keys.append(last_leaf[0])
        tiles = self._tiles(conn, keys)
        if last_leaf is not None:
            base, _ = tiles.get(last_leaf[0], (b"", b""))
            if len(base) // _H <= last_leaf[2]:
                raise LogError(f"tree size {tree_size} is beyond the log size")
        out = []
        for node, (key, r, j) in zip(ids, where, strict=True):
            base, inner = tiles.get(key, (b"", b""))
            width = len(base) // _H
            if j >= width >> r:
                raise LogError(f"node {node} is not in the stored tree")
            if r == 0:
                out.append(base[j * _H : (j + 1) * _H])
            else:
                at = _row_start(width, r) + j
                out.append(inner[at * _H : (at + 1) * _H])
        return out

    def _proof(self, conn: Connection, nodes: ProofNodes, size: int) -> list[bytes]:
        return nodes.rehash(self.nodes(conn, nodes.ids, tree_size=size))

    def _require_size(self, conn: Connection, size: int) -> None:
        current = self.size(conn)
        if not 0 <= size <= current:
            raise LogError(f"tree size {size} is beyond the log size {current}")

    def root(self, conn: Connection, size: int | None = None) -> bytes:
        """RFC 9162 root of the first ``size`` entries (default: all)."""
        if size is None:
            size = self.size(conn)
        else:
            self._require_size(conn, size)
        if size == 0:
            return EMPTY_ROOT
        return root_from_subtrees(self.nodes(conn, range_nodes(0, size)))

    def inclusion_proof(self, conn: Connection, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3 inclusion proof of entry ``index`` in the tree of ``size``."""
        return self._proof(conn, inclusion_nodes(index, size), size)

    def consistency_proof(self, conn: Connection, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 §2.1.4 consistency proof from tree ``size1`` to tree ``size2``."""
        return self._proof(conn, consistency_nodes(size1, size2), size2)

    def checkpoints(self, conn: Connection) -> list[StoredCheckpoint]:
        """Every stored checkpoint, by increasing size."""
        rows = conn.execute(select(checkpoints).order_by(checkpoints.c.size)).all()
        return [StoredCheckpoint(r.size, bytes(r.root), r.note, r.created_at) for r in rows]

    def latest_checkpoint(self, conn: Connection) -> StoredCheckpoint | None:
        """The checkpoint with the largest size, or None."""
        row = conn.execute(select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
        if row is None:
            return None
        return StoredCheckpoint(row.size, bytes(row.root), row.note, row.created_at)

    # --- writing -----------------------------------------------------------------------

    def lock(self, conn: Connection) -> None:
        """Take the log's write lock for the rest of ``conn``'s transaction (module docstring).

        ``append`` and ``seal`` take it themselves. A transaction that first reads what it is
        about to log (whether a release is already stored) takes it first, so that a concurrent
        writer's commit is either wholly before its reads or wholly after its commit: on
        PostgreSQL, under READ COMMITTED, every read after the lock sees the other's commit.
        """
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.execute(_SQLITE_WRITE_LOCK)

    def append(self, conn: Connection, entries: Sequence[bytes | Entry]) -> list[int]:
        """Append ``entries`` (Entry values or their encoded bytes) as one batch.

        Returns their leaf indices. Runs in the caller's transaction: all or nothing.
        Bytes are decoded first, so only valid, canonical entries enter the log.
        """
        rows_data = encode_entries(entries)
        if not rows_data:
            return []
        longest = max(map(len, rows_data))
        if longest > MAX_ENTRY_SIZE:
            raise EntryError(f"entry of {longest} bytes is over {MAX_ENTRY_SIZE} bytes")
        self.lock(conn)
        start = self.size(conn)
        sha = hashlib.sha256
        hashes = [sha(b"\x00" + data).digest() for data in rows_data]
        self._extend_bundles(conn, start, rows_data)
        self._extend_tiles(conn, start, hashes)
        return list(range(start, start + len(hashes)))

    def _extend_bundles(self, conn: Connection, old_size: int, new: list[bytes]) -> None:
        """Store ``new`` entries after ``old_size`` entries: fill the open bundle, add full ones."""
        first, offset = divmod(old_size, TILE_WIDTH)
        last = conn.execute(select(func.max(log_entry_bundles.c.idx))).scalar()
        expected_last = (old_size - 1) // TILE_WIDTH if old_size else None
        if last != expected_last:
            raise LogError(
                f"the last entry bundle is {last}, the tiles hold {old_size} leaves: "
                "the log storage is inconsistent"
            )
        at = 0
        if offset:
            stored = self._bundles(conn, first, first).get(first, b"")
            have = len(bundle_entries(stored))
            if have != offset:
                raise LogError(
                    f"entry bundle {first} holds {have} entries, expected {offset}: "
                    "the log storage is inconsistent"
                )
            at = min(TILE_WIDTH - offset, len(new))
            conn.execute(_UPDATE_BUNDLE, {"idx": first, "entries": stored + make_bundle(new[:at])})
            first += 1
        rows = [
            {"idx": first + k, "entries": make_bundle(new[i : i + TILE_WIDTH])}
            for k, i in enumerate(range(at, len(new), TILE_WIDTH))
        ]
        if rows:
            conn.execute(_INSERT_BUNDLE, rows)

    def _extend_tiles(self, conn: Connection, old_size: int, new_hashes: list[bytes]) -> None:
        """Add ``new_hashes`` at tree level 0 after ``old_size`` leaves; carry full tiles up."""
        level, old_count, new = 0, old_size, new_hashes
        while new:
            first_tile, offset = divmod(old_count, TILE_WIDTH)
            hashes, inserts, completed = new, [], []
            if offset:  # the open tile: read it, extend it, reusing its stored inner nodes
                key = (level, first_tile)
                blob, old_inner = self._tiles(conn, [key]).get(key, (b"", b""))
                if len(blob) != offset * _H:
                    raise LogError(
                        f"tile {level}/{first_tile} holds {len(blob) // _H} hashes, "
                        f"expected {offset}: the tree storage is inconsistent"
                    )
                chunk = _split(blob) + new[: TILE_WIDTH - offset]
                rows = _tile_rows(chunk, old_inner, offset)
                conn.execute(
                    _UPDATE_TILE,
                    {
                        "level": level,
                        "idx": first_tile,
                        "hashes": b"".join(chunk),
                        "inner": b"".join(b"".join(r) for r in rows[1:]),
                    },
                )
                if len(chunk) == TILE_WIDTH:
                    completed.append(node_hash(rows[-1][0], rows[-1][1]))
                hashes, first_tile = new[TILE_WIDTH - offset :], first_tile + 1
            for t in range(0, len(hashes), TILE_WIDTH):
                chunk = hashes[t : t + TILE_WIDTH]
                if len(chunk) == TILE_WIDTH:
                    inner, top = _full_tile(chunk)
                    completed.append(top)
                else:
                    inner = b"".join(b"".join(r) for r in _tile_rows(chunk)[1:])
                inserts.append(
                    {
                        "level": level,
                        "idx": first_tile + t // TILE_WIDTH,
                        "hashes": b"".join(chunk),
                        "inner": inner,
                    }
                )
            if inserts:
                conn.execute(log_tiles.insert(), inserts)
            level, old_count, new = level + 1, old_count >> TILE_HEIGHT, completed

    def seal(self, conn: Connection, signer: NoteSigner, origin: str, size: int | None = None) -> str:
        """Sign and store a checkpoint of the tree (of its first ``size`` entries if given,
        default all); return the signed note.

        Idempotent: if the latest checkpoint already has that size, its note is returned and
        nothing is stored. Checkpoints only grow: a size below the latest is refused.
        """
        self.lock(conn)
        current = self.size(conn)
        if size is None:
            size = current
        elif not 0 <= size <= current:
            raise LogError(f"cannot seal size {size}: the log holds {current} entries")
        latest = self.latest_checkpoint(conn)
        if latest is not None and latest.size == size:
            return latest.note
        if latest is not None and latest.size > size:
            raise LogError(f"latest checkpoint has size {latest.size} > {size}")
        root = self.root(conn, size)
        note = sign_checkpoint(Checkpoint(origin, size, root), signer)
        conn.execute(checkpoints.insert().values(size=size, root=root, note=note))
        return note

    # --- audit ---------------------------------------------------------------------------

    def _stream(self, conn: Connection, batch: int) -> Iterator[tuple[int, bytes]]:
        """(bundle index, bundle bytes) in index order, ``batch`` rows per query."""
        start = 0
        while True:
            rows = conn.execute(
                select(log_entry_bundles.c.idx, log_entry_bundles.c.entries)
                .where(log_entry_bundles.c.idx >= start)
                .order_by(log_entry_bundles.c.idx)
                .limit(batch)
            ).all()
            if not rows:
                return
            for row in rows:
                yield int(row.idx), bytes(row.entries)
            start = int(rows[-1].idx) + 1

    def audit(
        self,
        conn: Connection,
        verifier: NoteVerifier | str | None = None,
        batch: int = 10_000,
    ) -> list[AuditProblem]:
        """Recompute the tree from the entries and compare everything stored with it.

        Checks: entry bundles are numbered 0.. without gaps, every one but the last holds 256
        entries, and they hold as many entries as the level-0 tiles have leaves; each entry
        decodes canonically and its stored leaf hash is right; every tile equals the
        recomputed one and no extra tile exists; every checkpoint's root is the recomputed
        root at its size, and its note states that size and root (and, with ``verifier``,
        carries a valid signature). Streams the entries; memory stays bounded whatever the
        log size. Returns the problems found (empty: consistent).
        """
        problems: list[AuditProblem] = []
        stored_checkpoints = self.checkpoints(conn)
        wanted_roots = {cp.size for cp in stored_checkpoints}
        roots: dict[int, bytes] = {}
        if 0 in wanted_roots:
            roots[0] = EMPTY_ROOT
        pending: list[list[bytes]] = [[]]  # per tile level: hashes of the open tile
        tile_count: list[int] = [0]  # per tile level: full tiles seen
        frontier: list[tuple[int, bytes]] = []  # perfect subtrees of the prefix (level, hash)

        def check_tile(level: int, index: int, hashes: list[bytes]) -> None:
            stored = self._tiles(conn, [(level, index)]).get((level, index))
            rows = _tile_rows(hashes)
            expected = (b"".join(hashes), b"".join(b"".join(r) for r in rows[1:]))
            if stored is not None and level == 0 and stored[0] != expected[0]:
                for k, (have, want) in enumerate(zip(_split(stored[0]), hashes, strict=False)):
                    if have != want:
                        problems.append(
                            AuditProblem(
                                "leaf-hash",
                                f"entry {index * TILE_WIDTH + k}",
                                "stored leaf hash is not SHA-256(0x00 || entry)",
                            )
                        )
            if stored != expected:
                problems.append(
                    AuditProblem(
                        "tile",
                        f"tile {level}/{index}",
                        "stored tile differs from the recomputed one",
                    )
                )

        def push(level: int, h: bytes) -> None:
            if level == len(pending):
                pending.append([])
                tile_count.append(0)
            pending[level].append(h)
            if len(pending[level]) == TILE_WIDTH:
                full, pending[level] = pending[level], []
                check_tile(level, tile_count[level], full)
                tile_count[level] += 1
                push(level + 1, perfect_root(full))  # independent of the stored inner rows

        n = 0
        stored_size = self.size(conn)
        for bundle_idx, blob in self._stream(conn, max(1, batch // TILE_WIDTH)):
            where = f"entry bundle {bundle_idx}"
            if bundle_idx != n // TILE_WIDTH or n % TILE_WIDTH:
                problems.append(AuditProblem("bundle", where, f"expected entry bundle {n // TILE_WIDTH}"))
                break
            try:
                items = bundle_entries(blob)
            except LogError as error:
                problems.append(AuditProblem("bundle", where, str(error)))
                break
            if len(items) > TILE_WIDTH or (len(items) < TILE_WIDTH and n + len(items) != stored_size):
                problems.append(AuditProblem("bundle", where, f"holds {len(items)} entries"))
            for data in items:
                idx = n
                h = hashlib.sha256(b"\x00" + data).digest()
                try:
                    decode_entry(data)
                except EntryError as error:
                    problems.append(AuditProblem("entry", f"entry {idx}", str(error)))
                push(0, h)
                # Compact range of the prefix (RFC 9162 MTH by incremental merging).
                node = (0, h)
                while frontier and frontier[-1][0] == node[0]:
                    left = frontier.pop()
                    node = (node[0] + 1, hashlib.sha256(b"\x01" + left[1] + node[1]).digest())
                frontier.append(node)
                n += 1
                if n in wanted_roots:
                    roots[n] = root_from_subtrees([f[1] for f in frontier])
        if n != stored_size:
            problems.append(
                AuditProblem("size", "log", f"{n} entries stored, the level-0 tiles hold {stored_size}")
            )

        # Open (partial) tiles and any stored tile beyond the recomputed ones.
        for level, hashes in enumerate(pending):
            if hashes:
                check_tile(level, tile_count[level], hashes)
        expected_tiles = {lvl: tile_count[lvl] + (1 if pending[lvl] else 0) for lvl in range(len(pending))}
        counts = conn.execute(
            select(log_tiles.c.level, func.count(), func.max(log_tiles.c.idx)).group_by(log_tiles.c.level)
        ).all()
        for level, count, top in counts:
            wanted = expected_tiles.get(level, 0)
            if count != wanted or (count and top != wanted - 1):
                problems.append(
                    AuditProblem("tile", f"tile level {level}", f"{count} tiles stored, expected {wanted}")
                )

        if verifier is not None and not isinstance(verifier, NoteVerifier):
            verifier = NoteVerifier.parse(verifier)
        for cp in stored_checkpoints:
            where = f"checkpoint {cp.size}"
            if cp.size > n:
                problems.append(AuditProblem("checkpoint-size", where, f"log has {n} entries"))
                continue
            if cp.root != roots[cp.size]:
                problems.append(
                    AuditProblem("checkpoint-root", where, "stored root differs from the recomputed root")
                )
            try:
                if verifier is not None:
                    stated = verify_checkpoint(cp.note, verifier)
                else:
                    stated = Checkpoint.parse(cp.note[: cp.note.rfind("\n\n") + 1])
            except SignatureError as error:
                problems.append(AuditProblem("checkpoint-note", where, str(error)))
                continue
            if stated.size != cp.size or stated.root != roots[cp.size]:
                problems.append(AuditProblem("checkpoint-note", where, "note states another size or root"))
        return problems
