"""``veraz export``: every published release as bulk files, rebuilt only where data changed.

One snapshot: everything is read in one read transaction (REPEATABLE READ on PostgreSQL; a
deferred read transaction on SQLite, which in WAL mode sees one state of the database until it
ends) and up to the last release id found when it began, so that an import committing during
an export is either wholly in it or wholly absent.

Incremental: the manifest records the snapshot's last release id. The next export looks at the
releases published since, and rebuilds only the years they touch: the years of the new
releases, and the years of the compiled releases of their contracting processes before and
after (a process whose last release moves into a new year leaves its old year). Files of
other years are kept as they are. ``full.jsonl.gz`` is the concatenation of the yearly gzip
files (a gzip file may hold several members; every gzip reader reads them as one stream), so
it is rebuilt by copying bytes, never by compressing again.

Shards: a first export of compiled releases (nothing to copy, no packages) with more than one
worker runs one process per range of ocids, each with its own connection, and joins their
files in order (:func:`_sharded`). The ranges' bounds are among the "cuts", ocids that depend
only on the data (:func:`_cuts`) and at which every yearly file starts a new gzip member
whoever writes it, so the bytes are the same with any number of processes. A shard reads the
same snapshot: PostgreSQL's exported with ``pg_export_snapshot``; on SQLite the releases up to
the same id (published releases never change, and ids are given in commit order by the one
writer) and only stored compiled releases no newer than that.

Quick: each yearly compiled file is a series of gzip members ("segments") of SEGMENT_LINES
lines (and a member ends at every cut), indexed under ``.state``. An export without packages
(after an import, by default: the EXPORT_QUICK setting) reads only the processes with new
releases and rebuilds only the segments holding them, copying the others byte for byte
(:func:`_quick_compiled`); the packages of the years it changed are left as they were and
listed in the manifest's ``packagesLeft`` until the next export with packages rebuilds them.

Safe to kill: files are written under ``.partial/``, flushed to disk, and only then renamed
over the public names (:mod:`portal.exports.files`); the manifest is written last. An export
that fails (a full disk, a database error) or is killed leaves the previous files served, and
the next one starts again from the previous manifest.
"""

from __future__ import annotations

import bisect
import fcntl
import functools
import gc
import itertools
import multiprocessing
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from isal import igzip
from isal.igzip_lib import IsalError
from sqlalchemy import Connection, Engine, exists, func, literal, select

from ocds import package as ocds_package
from ocds.compile import compile_release
from ocds.errors import InputError
from ocds.schema import OCDS_VERSION
from portal import queries
from portal.db import IN_CLAUSE_CHUNK
from portal.evidence import store
from portal.evidence.crash import crash_point
from portal.exports import flatten, layout
from portal.exports.files import (
    GZIP_LEVEL,
    GzipPart,
    HashingFile,
    concatenate,
    fsync_dir,
    gzip_member,
    partial_dir,
    publish,
)
from portal.exports.manifest import FORMAT, FileEntry, file_finished, read_manifest, write_manifest
from portal.exports.splice import compiled_canonical, splice_allowed, spliced_compiled, spliced_flagged
from portal.models import records, release_packages, releases
from portal.publishing.pool import WorkerPool

#: Contracting processes read and written per round (their releases are held in memory).
BATCH = 500
_VERAZ = None  # the group key of the portal's own releases (imported ones: ReleaseSource.who)


class ExportFailed(Exception):
    """The export could not finish; the previous files are still served. The message says why."""


@dataclass(frozen=True)
class Publication:
    """Who publishes Veraz's own data, and where the export is served (from the settings)."""

    base_url: str
    publisher: dict[str, str]
    license: str | None
    publication_policy: str | None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Publication:
        publisher = {
            key: config[name]
            for key, name in (
                ("name", "PUBLISHER_NAME"),
                ("scheme", "PUBLISHER_SCHEME"),
                ("uid", "PUBLISHER_UID"),
                ("uri", "PUBLISHER_URI"),
            )
            if config.get(name)
        }
        return cls(
            base_url=str(config["BASE_URL"]).rstrip("/"),
            publisher=publisher,
            license=config.get("LICENSE") or None,
            publication_policy=config.get("PUBLICATION_POLICY") or None,
        )

    def extensions(self) -> list[str]:
        return ocds_package.declared_extensions(self.base_url + "/extensions")

    def validity_extension(self) -> str:
        return self.base_url + "/extensions/validity/extension.json"


@dataclass(frozen=True)
class Limits:
    """How files are split and what is skipped: the OCDS guidance and Excel's limit by default."""

    max_package_items: int = layout.MAX_PACKAGE_ITEMS
    max_package_bytes: int = layout.MAX_PACKAGE_BYTES
    xlsx_max_rows: int = layout.XLSX_MAX_ROWS
    compresslevel: int = GZIP_LEVEL  # ISA-L's levels: 0 to 3
    #: Processes from which yearly files have cuts and a first export runs in shards (_cuts).
    shard_min: int = 20_000


@dataclass
class ExportSummary:
    """What an export did."""

    release_id: int = 0
    tree_size: int = 0
    rebuilt_years: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    up_to_date: bool = False
    seconds: dict[str, float] = field(default_factory=dict)  # per stage: read, csv, xlsx, publish
    releases: int = 0  # releases written to release packages in this run
    compiled: int = 0  # compiled releases written in this run
    reused: int = 0  # of which copied from the previous export (unchanged processes)
    tables_left: list[str] = field(default_factory=list)  # years whose CSV/XLSX were not rebuilt
    packages_left: list[str] = field(default_factory=list)  # years whose packages were not rebuilt
    quick: bool = False  # whether the compiled files were made from the previous ones' segments
    shards: int = 1  # processes that wrote the compiled files, each a range of ocids (_sharded)


@dataclass(frozen=True)
class _Snapshot:
    release_id: int
    tree_size: int
    published: str  # publishedDate of packages of Veraz's own data
    any_invalid: bool
    any_imported: bool


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- reading -------------------------------------------------------------------------------


def _snapshot(conn: Connection, upto: int, old: dict[str, Any] | None = None) -> _Snapshot:
    """The export's snapshot: everything up to the release ``upto``. Whether any release is
    invalid takes a scan of every release (no index has ``valid``: at a million orders, a
    minute of reading); after an export that said so in its manifest, only the releases
    published since are looked at."""
    newest = conn.execute(select(func.max(releases.c.published_at)).where(releases.c.id <= upto)).scalar()
    since = 0
    known = False
    if old is not None and isinstance(old["snapshot"].get("invalid"), bool):
        since, known = old["snapshot"]["release_id"], old["snapshot"]["invalid"]
    invalid = (
        known
        or conn.execute(
            select(exists().where(releases.c.id > since, releases.c.id <= upto, releases.c.valid.is_(False)))
        ).scalar()
    )
    imported = conn.execute(select(exists().where(release_packages.c.release_pk <= upto))).scalar()
    return _Snapshot(
        release_id=upto,
        tree_size=store.size(conn),
        published=ocds_package.published_date(newest or datetime.now(UTC)),
        any_invalid=bool(invalid),
        any_imported=bool(imported),
    )


class Rel(NamedTuple):
    """One stored release, as the export reads it (plain values: it goes to worker processes)."""

    id: int
    ocid: str
    release_id: str
    date: str
    data: bytes
    valid: bool
    problems: str | None
    data_hash: str
    splice: bool | None = None  # the releases.splice column (portal.exports.splice.splice_flag)


_ROW = (
    releases.c.id,
    releases.c.ocid,
    releases.c.release_id,
    releases.c.date,
    releases.c.data,
    releases.c.valid,
    releases.c.problems,
    releases.c.data_hash,
    releases.c.splice,
)


def _latest_date(rows: list[Any]) -> str:
    return rows[0].date if len(rows) == 1 else max(r.date for r in rows)


def _year_of(rows: list[Any]) -> str:
    """The year of a process's compiled release: that of its latest release date (the merge
    routine takes the compiled release's ``date`` from the latest release)."""
    return layout.year_of(_latest_date(rows))


def dirty_years(conn: Connection, since: int, upto: int) -> set[str]:
    """The years whose files change between the snapshots ``since`` and ``upto`` (release ids)."""
    years: set[str] = set()
    ocids: set[str] = set()
    new = select(releases.c.ocid, releases.c.date).where(releases.c.id > since, releases.c.id <= upto)
    for ocid, date in conn.execute(new):
        ocids.add(ocid)
        years.add(layout.year_of(date))
    wanted = sorted(ocids)
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        chunk = wanted[i : i + IN_CLAUSE_CHUNK]
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        query = select(releases.c.ocid, releases.c.date, releases.c.id).where(
            releases.c.ocid.in_(chunk), releases.c.id <= upto
        )
        for ocid, date, pk in conn.execute(query):
            if pk <= since and date > before.get(ocid, ""):
                before[ocid] = date
            if date > after.get(ocid, ""):
                after[ocid] = date
        years.update(layout.year_of(d) for d in before.values())
        years.update(layout.year_of(d) for d in after.values())
    return years


def _groups(
    conn: Connection, upto: int, years: set[str] | None, with_data: bool = True
) -> Iterator[list[tuple[str, list[Any], Any]]]:
    """Batches of ``(ocid, releases oldest first, stored compiled release)`` of the processes
    whose files are rebuilt (every process when ``years`` is None), in ocid order."""
    compiled_of = select(records.c.compiled).where(records.c.ocid == releases.c.ocid).scalar_subquery()
    columns = (
        _ROW if with_data else tuple(literal(b"").label("data") if c is releases.c.data else c for c in _ROW)
    )
    if years is None:
        yield from _every_release(conn, upto, with_data)
        return

    # Find the processes that have a release, or their compiled release, in a rebuilt year:
    # one pass over the (ocid, date) index, then their releases by ocid, a chunk at a time as
    # the pass finds them (memory stays bounded: every ocid of a large database, held at once,
    # took tens of megabytes).
    def chunk(ocids: list[str]) -> Iterator[list[tuple[str, list[Any], Any]]]:
        query = (
            select(*columns, compiled_of.label("compiled"))
            .where(releases.c.ocid.in_(ocids), releases.c.id <= upto)
            .order_by(releases.c.ocid, releases.c.date, releases.c.id)
        )
        return _batched(conn.execute(query))

    chosen: list[str] = []
    current: str | None = None
    dates: list[str] = []
    pairs = select(releases.c.ocid, releases.c.date).where(releases.c.id <= upto).order_by(releases.c.ocid)
    for ocid, date in conn.execution_options(stream_results=True, yield_per=5000).execute(pairs):
        if ocid != current:
            if current is not None and _touches(dates, years):
                chosen.append(current)
                if len(chosen) >= BATCH:
                    yield from chunk(chosen)
                    chosen = []
            current, dates = ocid, []
        dates.append(date)
    if current is not None and _touches(dates, years):
        chosen.append(current)
    if chosen:
        yield from chunk(chosen)


#: Rows fetched from the database cursor at a time by :func:`_every_release`.
FETCH = 2000


def _every_release(
    conn: Connection, upto: int, with_data: bool, low: str | None = None, high: str | None = None
) -> Iterator[list[tuple[str, list[Any], Any]]]:
    """Every release up to ``upto``, in ocid order, through the driver's cursor: batches of
    ``(ocid, its releases as Rel, the stored compiled release of its process)``, as
    :func:`_batched` makes them.

    A first export reads every release once: a million rows, where SQLAlchemy's result rows
    and its per-row processing were a visible share of the exporting process's time, and so
    was a generator per row between the cursor and the batches (one loop here). The values are
    the driver's own (SQLite gives integers for booleans: only their truth is used).
    PostgreSQL streams through a server-side cursor, as ``stream_results`` does.

    On SQLite the stored compiled releases are read apart, in ocid order too, and merged by
    ocid (SQLite's default ``BINARY`` order of text is Python's order of ``str``): a subquery
    per row cost about 3 µs of a row's 15-18. PostgreSQL's order of text follows its collation,
    which Python's need not: the subquery there.

    ``low`` and ``high`` limit the processes to ``low <= ocid < high`` (the database's order;
    None: no limit), a range of a sharded export (:func:`_sharded`). A stored compiled release
    newer than ``upto`` (a shard's transaction on SQLite may begin after an import committed) is
    not used: its process is compiled from its releases up to ``upto``."""
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    r, c = quote(releases.name), quote(records.name)
    names = [f"{r}.{quote(col.name)}" for col in _ROW]
    if not with_data:
        names[_ROW.index(releases.c.data)] = "NULL"
    sqlite = conn.dialect.name == "sqlite"
    fresh = f"{c}.{quote('last_release')} <= {mark}"
    stored_sql = (
        f"SELECT {c}.{quote('compiled')} FROM {c} WHERE {c}.{quote('ocid')} = {r}.{quote('ocid')} AND {fresh}"
    )
    ranged, bounds = "", []
    for bound, op in ((low, ">="), (high, "<")):
        if bound is not None:
            ranged += f" AND {r}.{quote('ocid')} {op} {mark}"
            bounds.append(bound)
    sql = (
        f"SELECT {', '.join(names)}{'' if sqlite else f', ({stored_sql})'} "
        f"FROM {r} WHERE {r}.{quote('id')} <= {mark}{ranged} "
        f"ORDER BY {r}.{quote('ocid')}, {r}.{quote('date')}, {r}.{quote('id')}"
    )
    params = (upto, upto, *bounds) if not sqlite else (upto, *bounds)
    driver = conn.connection.driver_connection
    assert driver is not None
    stored = None
    if sqlite:
        cursor = driver.cursor()
        stored = driver.cursor()
    else:
        cursor = driver.cursor(name="veraz_export")
        cursor.itersize = FETCH
    cursor.arraysize = FETCH
    fields = len(_ROW)
    new = tuple.__new__  # Rel._make without its Python frame: a million rows
    batch: list[tuple[str, list[Any], Any]] = []
    current: str | None = None
    group: list[Any] = []
    compiled = None
    ahead = None
    try:
        cursor.execute(sql, params)
        if stored is not None:
            stored.execute(
                f"SELECT {c}.{quote('ocid')}, {c}.{quote('compiled')} FROM {c} "
                f"WHERE {c}.{quote('compiled')} IS NOT NULL AND {fresh}"
                f"{ranged.replace(r + '.', c + '.')} ORDER BY {c}.{quote('ocid')}",
                (upto, *bounds),
            )
            ahead = stored.fetchone()
        while rows := cursor.fetchmany(FETCH):
            for row in rows:
                ocid = row[1]
                if ocid != current:
                    if current is not None:
                        batch.append((current, group, compiled))
                        if len(batch) >= BATCH:
                            yield batch
                            batch = []
                    current, group = ocid, []
                    if stored is None:
                        compiled = bytes(row[fields]) if row[fields] is not None else None
                    else:
                        while ahead is not None and ahead[0] < ocid:
                            ahead = stored.fetchone()
                        compiled = ahead[1] if ahead is not None and ahead[0] == ocid else None
                        if compiled is not None and type(compiled) is not bytes:
                            compiled = bytes(compiled)
                if stored is not None and type(row[4]) is bytes:
                    group.append(new(Rel, row))  # exactly the Rel fields
                else:  # without the JSON (None), or another buffer type (PostgreSQL's memoryview)
                    data = row[4]
                    group.append(new(Rel, (*row[:4], b"" if data is None else bytes(data), *row[5:fields])))
        if current is not None:
            batch.append((current, group, compiled))
        if batch:
            yield batch
    finally:
        cursor.close()
        if stored is not None:
            stored.close()


def _touches(dates: list[str], years: set[str]) -> bool:
    return layout.year_of(max(dates)) in years or any(layout.year_of(d) in years for d in dates)


def _batched(result) -> Iterator[list[tuple[str, list[Any], Any]]]:
    batch: list[tuple[str, list[Any], Any]] = []
    current: str | None = None
    rows: list[Any] = []
    stored = None
    for row in result:
        if row.ocid != current:
            if current is not None:
                batch.append((current, rows, stored))
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
            current, rows, stored = row.ocid, [], (bytes(row.compiled) if row.compiled is not None else None)
        rows.append(
            Rel(
                row.id,
                row.ocid,
                row.release_id,
                row.date,
                bytes(row.data),
                row.valid,
                row.problems,
                row.data_hash,
                row.splice,
            )
        )
    if current is not None:
        batch.append((current, rows, stored))
    if batch:
        yield batch


def _tee(
    batches: Iterator[Any],
    pending: deque,
    reuse: _Reuse,
    years: set[str] | None,
    fill: Any = None,
) -> Iterator[Any]:
    """What the workers compile of each of ``batches``; each batch is kept in ``pending``, with
    the compiled releases found otherwise and each process's latest date and year, until the
    workers' results come back.

    A process whose compiled release the previous export already wrote (:class:`_Reuse`) is
    not sent: that compiled release is copied. ``fill`` (when the releases were read without
    their JSON) reads the JSON of the releases still to compile. Processes of one release
    whose compiled release is spliced from their JSON (:mod:`portal.exports.splice`, most of
    them) are not sent either: sending a release to a worker and its compiled release back
    costs more than splicing it here."""
    flags = splice_allowed()
    year_of = layout.year_of
    for batch in batches:
        found: dict[int, bytes | None] = {}
        dated: list[tuple[str, str]] = []
        work = []
        places = []
        for i, (ocid, rows, stored) in enumerate(batch):
            if len(rows) == 1:
                row = rows[0]
                date = row.date
            else:
                row = None
                date = max(r.date for r in rows)
            year = year_of(date)
            dated.append((date, year))
            if years is not None and year not in years:
                found[i] = None  # its compiled release is in a file that is kept
                continue
            old = reuse.take(year, ocid, process_key(rows)) if reuse else None
            if old is not None:
                found[i] = old
            elif stored is not None:
                found[i] = stored  # stored at publication: not sent to a worker and back
            else:
                # Flagged at publication (and checked by the audit): no test over the bytes.
                if row is not None and row.splice and flags and fill is None:
                    made = spliced_flagged(row.data, ocid, date, row.release_id)
                    if made is not None:
                        found[i] = made
                        continue
                work.append((ocid, rows, stored))
                places.append(i)
        if fill is not None:
            work = fill(work)
        done = set()
        alone = []
        for k, (_ocid, rows, _stored) in enumerate(work):
            if len(rows) == 1:
                row = rows[0]
                made = None
                if row.splice and flags and fill is not None:
                    made = spliced_flagged(row.data, row.ocid, row.date, row.release_id)
                if made is not None:
                    found[places[k]] = made
                    done.add(k)
                else:
                    alone.append(k)
        spliced = spliced_compiled([work[k][1][0].data for k in alone]) if alone else []
        for k, made in zip(alone, spliced, strict=True):
            if made is not None:
                found[places[k]] = made
                done.add(k)
        if done:
            work = [item for k, item in enumerate(work) if k not in done]
        pending.append((batch, found, dated))
        yield work


def _merged(batch: list[Any], found: dict[int, bytes | None], compiled: list[bytes | None]) -> list[Any]:
    """The compiled release of each process of ``batch``: copied (``found``) or compiled."""
    if not compiled:
        return [found[i] for i in range(len(batch))]
    made = iter(compiled)
    return [found[i] if i in found else next(made) for i in range(len(batch))]


def _filler(conn: Connection):
    """``fill`` for :func:`_tee`: the releases' JSON of the processes to compile, read by key."""

    def fill(work: list[tuple[str, list[Rel], bytes | None]]) -> list[tuple[str, list[Rel], bytes | None]]:
        wanted = [r.id for _, rows, stored in work if stored is None for r in rows]
        data: dict[int, bytes] = {}
        for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
            chunk = wanted[i : i + IN_CLAUSE_CHUNK]
            query = select(releases.c.id, releases.c.data).where(releases.c.id.in_(chunk))
            data.update((pk, bytes(d)) for pk, d in conn.execute(query))
        return [
            (ocid, [r._replace(data=data[r.id]) for r in rows] if stored is None else rows, stored)
            for ocid, rows, stored in work
        ]

    return fill


def process_key(rows: list[Any]) -> str:
    """What a process's compiled release depends on, in a few bytes: how many releases it has,
    the newest one's key and the SHA-256 of its canonical JSON. Releases are never changed or
    removed, so the same key means the same releases, hence the same compiled release."""
    last = rows[0] if len(rows) == 1 else max(rows, key=lambda r: r.id)
    return f"{len(rows)}:{last.id}:{last.data_hash}"


class _OldYear:
    """The previous export's compiled releases of one year, line by line with their keys
    (``.state/YYYY-<sha256>.keys``: one ``[ocid, key]`` per line), both in ocid order."""

    def __init__(self, lines: Path, keys: Path) -> None:
        self._lines = igzip.open(lines, "rb")
        self._keys = open(keys, "rb")  # noqa: SIM115 - closed by close()
        self.current: tuple[str, str, bytes] | None = None
        self.reused = 0
        try:
            self._next()
        except BaseException:
            self.close()
            raise

    def _next(self) -> None:
        keys, line = self._keys.readline(), self._lines.readline()
        if not keys or not line.endswith(b"\n"):
            self.current = None
            return
        try:
            ocid, key = orjson.loads(keys)[:2]
        except (orjson.JSONDecodeError, ValueError, TypeError):
            self.current = None
            return
        self.current = (ocid, key, line[:-1])

    def take(self, ocid: str, key: str) -> bytes | None:
        while self.current is not None and self.current[0] < ocid:
            self._next()
        current = self.current
        if current is None or current[0] != ocid:
            return None
        self._next()
        if current[1] != key:
            return None
        self.reused += 1
        return current[2]

    def close(self) -> None:
        self._lines.close()
        self._keys.close()


class _Reuse:
    """The compiled releases of the previous export that still hold, by year.

    The previous export left, for each yearly compiled file, the key (:func:`process_key`) of
    each line's process under ``.state``, named after the file's SHA-256 in the manifest (a
    file changed since is not read). A process whose key is unchanged gets its compiled release
    copied from there instead of compiled again: compiling is the costly part of an export.
    Both are read in ocid order alongside the processes; a process not found (another order of
    ocids, a broken file) is compiled as usual, so reuse can only save work, never change it.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any] | None) -> None:
        self.years: dict[str, _OldYear] = {}
        if manifest is None:
            return
        for entry in manifest.get("files", []):
            if entry.get("kind") != layout.COMPILED or entry.get("year") is None:
                continue
            keys = folder / STATE / state_name(entry["year"], entry["sha256"])
            lines = folder / entry["name"]
            if keys.is_file() and lines.is_file():
                try:
                    self.years[entry["year"]] = _OldYear(lines, keys)
                except (OSError, EOFError, ValueError):  # a truncated or corrupt file: compile
                    continue

    def __bool__(self) -> bool:
        return bool(self.years)

    def take(self, year: str, ocid: str, key: str) -> bytes | None:
        old = self.years.get(year)
        if old is None:
            return None
        try:
            return old.take(ocid, key)
        except (OSError, EOFError, ValueError):  # a truncated or corrupt gzip file: compile
            old.close()
            del self.years[year]
            return None

    @property
    def reused(self) -> int:
        return sum(y.reused for y in self.years.values())

    def close(self) -> None:
        for old in self.years.values():
            old.close()


#: Where the export keeps what only the next export reads (never served).
STATE = ".state"


def state_name(year: str, sha256: str) -> str:
    return f"{year}-{sha256}.keys"


def segments_name(year: str, sha256: str) -> str:
    return f"{year}-{sha256}.segments"


#: Lines of compiled releases per gzip member ("segment") of a yearly file: about 7 MB of JSON,
#: far more than deflate's 32 KB window, so the members cost nothing in size.
SEGMENT_LINES = 1000
# A segment, as a JSON array: first and last ocid, offset and length of its gzip member in the
# file, its lines, offset and length of its lines in the keys file, first and last date.
_FIRST, _LAST, _OFFSET, _LENGTH, _LINES, _KEYS_OFFSET, _KEYS_LENGTH, _FIRST_DATE, _LAST_DATE = range(9)


def write_segments(path: Path, segments: list[list[Any]]) -> None:
    path.write_bytes(orjson.dumps({"segmentLines": SEGMENT_LINES, "segments": segments}))


def read_segments(path: Path) -> list[list[Any]] | None:
    """The segments of a yearly compiled file, or None when unknown or not usable (not in
    strict ocid order, as Python orders strings: the quick path looks ocids up by bisection)."""
    try:
        segments = orjson.loads(path.read_bytes())["segments"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(segments, list) or not all(isinstance(x, list) and len(x) == 9 for x in segments):
        return None
    bounds = [ocid for x in segments for ocid in (x[_FIRST], x[_LAST])]
    if (
        not all(isinstance(b, str) for b in bounds)
        or any(a > b for a, b in itertools.pairwise(bounds))
        or any(x[_LAST] >= y[_FIRST] for x, y in itertools.pairwise(segments))
    ):
        return None
    return segments


class _QuickUnusable(Exception):
    """The previous files do not allow the quick path (checked before anything is written)."""


def _quick_compiled(
    conn: Connection,
    folder: Path,
    old: dict[str, Any],
    since: int,
    upto: int,
    partial: Path,
    limits: Limits,
    years: set[str],
    timings: dict[str, float] | None = None,
) -> tuple[list[tuple[_Part, int, str]], int, int]:
    """The yearly compiled files of the years that changed since the snapshot ``since``, made
    from the previous ones: only the processes with new releases are read and compiled; each
    segment (gzip member) of the previous file without any of them is copied byte for byte,
    the others are decompressed, given their new lines and compressed again.

    The same files, line for line, as a rebuild gives (lines in ocid order, the same compiled
    releases), but not the same bytes: the members split elsewhere. Returns the files written,
    the compiled releases in them and how many of those were copied. Raises
    :class:`_QuickUnusable` when the previous export's state cannot be used (then nothing
    was written that counts)."""
    clock = time.perf_counter()
    previous = {
        e["year"]: e for e in old.get("files", []) if e.get("kind") == layout.COMPILED and e.get("year")
    }
    ocids = sorted(
        {
            ocid
            for (ocid,) in conn.execute(
                select(releases.c.ocid).where(releases.c.id > since, releases.c.id <= upto).distinct()
            )
        }
    )
    added: dict[str, dict[str, tuple[bytes, bytes]]] = {}  # year -> ocid -> (line, keys line)
    dropped: dict[str, set[str]] = {}
    for i in range(0, len(ocids), BATCH):
        query = (
            select(
                *_ROW, select(records.c.compiled).where(records.c.ocid == releases.c.ocid).scalar_subquery()
            )
            .where(releases.c.ocid.in_(ocids[i : i + BATCH]), releases.c.id <= upto)
            .order_by(releases.c.ocid, releases.c.date, releases.c.id)
        )
        grouped: dict[str, list[Any]] = {}
        stored_of: dict[str, bytes | None] = {}
        for row in conn.execute(query):
            grouped.setdefault(row.ocid, []).append(Rel(*row[:9]))
            stored_of[row.ocid] = bytes(row[9]) if row[9] is not None else None
        for ocid, rows in grouped.items():
            before = [r for r in rows if r.id <= since]
            if before:
                dropped.setdefault(_year_of(before), set()).add(ocid)
            compiled = compiled_bytes(rows, stored_of[ocid])
            if compiled is not None:
                date = max(r.date for r in rows)
                keys = orjson.dumps([ocid, process_key(rows), date]) + b"\n"
                added.setdefault(_year_of(rows), {})[ocid] = (compiled, keys)
    # Check every year first: nothing is written unless every one can be made this way. A
    # year that changed only for its packages (a new release dated in it, of a process whose
    # compiled release is of another year) gets its compiled file copied whole.
    plans: dict[str, tuple[dict[str, Any] | None, list[list[Any]]]] = {}
    for year in {*added, *dropped, *(y for y in years if y in previous)}:
        entry = previous.get(year)
        if entry is None:
            plans[year] = (None, [])
            continue
        segments = read_segments(folder / STATE / segments_name(year, entry["sha256"]))
        if segments is None or not (folder / STATE / state_name(year, entry["sha256"])).is_file():
            raise _QuickUnusable(year)
        plans[year] = (entry, segments)
    if timings is not None:
        timings["changed"] = time.perf_counter() - clock  # reading and compiling what changed
        clock = time.perf_counter()
    done: list[tuple[_Part, int, str]] = []
    total = copied = 0
    for year in sorted(plans, key=layout.year_order):
        entry, segments = plans[year]
        try:
            part, lines, kept = _quick_year(
                folder, partial, year, entry, segments, added.get(year, {}), dropped.get(year, set()), limits
            )
        # isal declares IsalError without an exception base in its type stubs.
        except (EOFError, ValueError, TypeError, IndexError, IsalError) as error:  # type: ignore[misc]
            raise _QuickUnusable(f"{year}: {error}") from error
        total += lines
        copied += kept
        if part is not None:
            done.append(part)
    if timings is not None:
        timings["segments"] = time.perf_counter() - clock  # the yearly files, segment by segment
    return done, total, copied


def _quick_year(
    folder: Path,
    partial: Path,
    year: str,
    entry: dict[str, Any] | None,
    segments: list[list[Any]],
    added: dict[str, tuple[bytes, bytes]],
    dropped: set[str],
    limits: Limits,
) -> tuple[tuple[_Part, int, str] | None, int, int]:
    """One year's compiled file for :func:`_quick_compiled`: (the file, its lines, copied lines)."""
    firsts = [x[_FIRST] for x in segments]
    touched: dict[int, list[str]] = {}
    for ocid in {*added, *dropped}:
        touched.setdefault(max(bisect.bisect_right(firsts, ocid) - 1, 0), []).append(ocid)
    name = layout.compiled_name(year)
    out = HashingFile(partial / name)
    keys_out = open(partial / f"keys-{year}", "wb")  # noqa: SIM115 - closed below
    new_segments: list[list[Any]] = []
    lines = copied = 0
    keys_size = 0

    def write_member(pairs: list[tuple[str, bytes, bytes]]) -> None:
        nonlocal keys_size
        for start in range(0, len(pairs), SEGMENT_LINES):
            chunk = pairs[start : start + SEGMENT_LINES]
            member = gzip_member(b"".join(line + b"\n" for _, line, _ in chunk), limits.compresslevel)
            keys = b"".join(k for _, _, k in chunk)
            dates = [d for d in (orjson.loads(k)[2] for _, _, k in chunk) if isinstance(d, str)]
            new_segments.append(
                [
                    chunk[0][0],
                    chunk[-1][0],
                    out.size,
                    len(member),
                    len(chunk),
                    keys_size,
                    len(keys),
                    min(dates, default=None),
                    max(dates, default=None),
                ]
            )
            out.write(member)
            keys_out.write(keys)
            keys_size += len(keys)

    old_lines = old_keys = None
    if entry is not None:
        old_lines = open(folder / entry["name"], "rb")  # noqa: SIM115 - closed below
        old_keys = open(folder / STATE / state_name(year, entry["sha256"]), "rb")  # noqa: SIM115
    try:
        if not segments:
            write_member(sorted((o, added[o][0], added[o][1]) for o in added))
            lines = len(added)
        for i, segment in enumerate(segments):
            assert old_lines is not None and old_keys is not None
            old_lines.seek(segment[_OFFSET])
            member = old_lines.read(segment[_LENGTH])
            old_keys.seek(segment[_KEYS_OFFSET])
            keys = old_keys.read(segment[_KEYS_LENGTH])
            if i not in touched:
                new_segments.append(
                    [
                        *segment[:_OFFSET],
                        out.size,
                        len(member),
                        segment[_LINES],
                        keys_size,
                        len(keys),
                        *segment[_FIRST_DATE:],
                    ]
                )
                out.write(member)
                keys_out.write(keys)
                keys_size += len(keys)
                lines += segment[_LINES]
                copied += segment[_LINES]
                continue
            text = igzip.decompress(member).split(b"\n")
            key_lines = keys.splitlines(keepends=True)
            if text[-1] != b"" or len(text) - 1 != segment[_LINES] or len(key_lines) != segment[_LINES]:
                raise ValueError(f"the previous {entry and entry['name']} does not match its state")
            pairs = []
            for line, key_line in zip(text[:-1], key_lines, strict=True):
                ocid = orjson.loads(key_line)[0]
                if ocid not in dropped and ocid not in added:
                    pairs.append((ocid, line, key_line))
            copied += len(pairs)
            pairs.extend((o, *added[o]) for o in touched[i] if o in added)
            pairs.sort(key=lambda p: p[0])
            lines += len(pairs)
            if pairs:
                write_member(pairs)
    except BaseException:
        out.abandon()
        raise
    finally:
        for f in (old_lines, old_keys):
            if f is not None:
                f.close()
        keys_out.close()
    sha = out.close()
    write_segments(partial / f"segments-{year}", new_segments)
    if not lines:
        (partial / name).unlink()
        return None, 0, 0
    part = _Part(name, layout.COMPILED, year, GzipPart.__new__(GzipPart))
    part.gzip.path = partial / name
    part.releases = part.records = lines
    firsts_dates = [x[_FIRST_DATE] for x in new_segments if isinstance(x[_FIRST_DATE], str)]
    lasts_dates = [x[_LAST_DATE] for x in new_segments if isinstance(x[_LAST_DATE], str)]
    part.first_date = min(firsts_dates, default=None)
    part.last_date = max(lasts_dates, default=None)
    return (part, out.size, sha), lines, copied


def compiled_bytes(rows: list[Any], stored: bytes | None, splice: bool = True) -> bytes | None:
    """The compiled release of a process, as ``portal.queries.compiled_release`` gives it (the
    same value): the stored one as stored (processes of several releases), otherwise compiled
    from the one release and written as RFC 8785 canonical JSON, which for most releases is
    their stored bytes with ``id`` and ``tag`` replaced (:mod:`portal.exports.splice`; the
    same bytes either way). None when the merge routine refuses the releases (imported OCDS
    is kept as published)."""
    if stored is not None:
        return bytes(stored)
    if len(rows) == 1:
        row = rows[0]
        if splice and getattr(row, "splice", None) and splice_allowed():
            made = spliced_flagged(row.data, row.ocid, row.date, row.release_id)
            if made is not None:
                return made
        if splice:
            made = spliced_compiled([row.data])[0]
            if made is not None:
                return made
        return compiled_canonical(rows[0].data)
    try:
        return orjson.dumps(compile_release([orjson.loads(r.data) for r in rows]))
    except (InputError, orjson.JSONDecodeError):
        return None


def _compile_step(
    years: set[str] | None, batch: list[tuple[str, list[Rel], bytes | None]]
) -> list[bytes | None]:
    """In a worker process: the compiled release of each process of ``batch`` whose compiled
    release is written (its year is rebuilt), None for the others and for those that cannot be
    compiled."""
    out: list[bytes | None] = []
    # Parsing a batch makes tens of thousands of dicts at once, which would make the cyclic
    # garbage collector scan them again and again (parsing 5 times slower); compiling makes
    # no reference cycles, so the collector waits until the batch is done.
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ocid, rows, stored in batch:
            year = _year_of(rows)
            # What reaches a worker was not spliced (see _tee): compiled, not tried again.
            out.append(compiled_bytes(rows, stored, splice=False) if years is None or year in years else None)
    finally:
        if enabled:
            gc.enable()
    return out


def _given(value: Any) -> Any:
    """A worker's context: the value it was made with (the rebuilt years). What the worker
    holds from now on (modules, the merge rules) is never scanned by the garbage collector
    (in a worker process only: the process that exports may live on)."""
    if multiprocessing.parent_process() is not None:
        gc.freeze()
    return value


# --- shards: the first export on every core ---------------------------------------------------

#: Ranges of ocids, of about as many processes each, whose bounds are the cuts (:func:`_cuts`);
#: a sharded export splits the processes at some of them, so it runs on up to this many cores.
CUT_RANGES = 8


def _cuts(conn: Connection, limits: Limits) -> list[str]:
    """The ocids at which every yearly compiled file starts a new gzip member: those that split
    the processes into CUT_RANGES ranges of about as many each (in the database's order of
    ocids), or none when there are fewer than ``limits.shard_min`` processes.

    They depend only on the data, so the files' bytes are the same whether one process writes
    them or shards of them are written by several and joined (:func:`_sharded`): a shard
    starts at a cut, where the members end anyway. A member more per range and year costs
    some bytes out of hundreds of megabytes."""
    count = conn.execute(select(func.count()).select_from(records)).scalar_one()
    if count < max(limits.shard_min, CUT_RANGES):
        return []
    cuts: list[str] = []
    position = -1  # of the last cut, in the order of ocids
    for k in range(1, CUT_RANGES):
        target = k * count // CUT_RANGES
        query = select(records.c.ocid).order_by(records.c.ocid).limit(1).offset(target - position - 1)
        if cuts:
            query = query.where(records.c.ocid > cuts[-1])
        ocid = conn.execute(query).scalar()
        if ocid is None:
            break
        cuts.append(ocid)
        position = target
    return cuts


def _shard_bounds(cuts: list[str], workers: int) -> list[str]:
    """The cuts at which ``workers`` shards split the processes (about as many in each)."""
    shards = min(workers, len(cuts) + 1)
    return [cuts[(k * (len(cuts) + 1)) // shards - 1] for k in range(1, shards)]


def _write_range(conn: Connection, writer: _Writer, upto: int, low: str | None, high: str | None) -> None:
    """Every process with ``low <= ocid < high``, compiled (or spliced) and written in this process."""
    pending: deque[tuple[list[Any], dict[int, bytes | None], list[tuple[str, str]]]] = deque()
    for work in _tee(
        _every_release(conn, upto, True, low, high), pending, _Reuse(writer.partial, None), None
    ):
        compiled = _compile_step(None, work) if work else []
        batch, found, dated = pending.popleft()
        writer.compiled_batch(batch, _merged(batch, found, compiled), dated)


_PG_SNAPSHOT = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")


def _shard_step(_context: Any, spec: tuple[Any, ...]) -> dict:
    """In a shard's process: the compiled files of the processes with ``low <= ocid < high``,
    read at the exporting process's snapshot (PostgreSQL: the same snapshot, exported; SQLite:
    releases up to the same id, which never change once published)."""
    from portal.db import make_engine  # the exporting process imports portal.db already

    url, pg_snapshot, low, high, folder, snapshot, publication, limits, cuts = spec
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                if pg_snapshot is None or not _PG_SNAPSHOT.fullmatch(pg_snapshot):
                    raise ExportFailed(f"no usable snapshot to share ({pg_snapshot!r})")
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{pg_snapshot}'")
            path = Path(folder)
            path.mkdir()
            writer = _Writer(path, snapshot, publication, limits, False, frozenset(cuts))
            try:
                clock, cpu = time.perf_counter(), time.process_time()
                _write_range(conn, writer, snapshot.release_id, low, high)
                done = writer.finish_shard()
                done["seconds"] = time.perf_counter() - clock
                done["cpu"] = time.process_time() - cpu
                return done
            except BaseException:
                writer.close()
                raise
    finally:
        engine.dispose()


def _sharded(
    engine: Engine, conn: Connection, writer: _Writer, bounds: list[str], seconds: dict[str, float]
) -> None:
    """Write every process's compiled release with one shard of the ocids per core: this
    process writes the first range and then appends the files the others wrote, in order.

    The first export (no previous files to copy, no packages) is bound by one process's CPU:
    reading each release from the database and splicing it cost about as much as everything
    else, and a thread reading ahead only took the same lock (``docs/bulk-downloads.md``).
    Each shard is a process of its own, with its own connection. Each range's wall and CPU
    seconds go to ``seconds``."""
    url = engine.url.render_as_string(hide_password=False)
    pg_snapshot = None
    if conn.dialect.name == "postgresql":
        pg_snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
    cuts = sorted(writer.cuts)
    with WorkerPool(functools.partial(_given, None), len(ranges) - 1, processes=True, niceness=0) as pool:
        shards = [
            pool.submit(
                _shard_step,
                (
                    url,
                    pg_snapshot,
                    low,
                    high,
                    str(writer.partial / f"shard-{i}"),
                    writer.snapshot,
                    writer.publication,
                    writer.limits,
                    cuts,
                ),
            )
            for i, (low, high) in enumerate(ranges[1:], 1)
        ]
        clock, cpu = time.perf_counter(), time.process_time()
        _write_range(conn, writer, writer.snapshot.release_id, None, ranges[0][1])
        seconds["range 1"] = time.perf_counter() - clock
        seconds["range 1 CPU"] = time.process_time() - cpu
        for i, shard in enumerate(shards, 2):
            done = shard.result()
            seconds[f"range {i}"], seconds[f"range {i} CPU"] = done["seconds"], done["cpu"]
            clock = time.perf_counter()
            writer.append_shard(done)
            seconds["join"] = seconds.get("join", 0.0) + time.perf_counter() - clock


# --- writing -------------------------------------------------------------------------------


@dataclass
class _Part:
    """A file being written: a gzip stream, what it holds, and where it will be published."""

    name: str
    kind: str
    year: str
    gzip: GzipPart
    publisher: str | None = None
    releases: int = 0
    records: int = 0
    first_date: str | None = None
    last_date: str | None = None
    invalid: list[dict[str, Any]] = field(default_factory=list)
    invalid_bytes: int = 0
    keys: Any = None  # compiled files: the open ``[ocid, key, date]`` lines (see _Reuse)
    keys_size: int = 0
    segments: list[list[Any]] = field(default_factory=list)  # compiled files: see _Segment
    segment: list[Any] | None = None  # the segment being written

    def dated(self, date: Any) -> None:
        if isinstance(date, str) and date:
            if self.first_date is None or date < self.first_date:
                self.first_date = date
            if self.last_date is None or date > self.last_date:
                self.last_date = date


class _Writer:
    """Every file of the rebuilt years, open at once (a handful per year)."""

    def __init__(
        self,
        partial: Path,
        snapshot: _Snapshot,
        publication: Publication,
        limits: Limits,
        packages: bool,
        cuts: frozenset[str] = frozenset(),
    ) -> None:
        self.partial = partial
        # Ocids at which every yearly file starts a new gzip member (see _cuts).
        self.cuts = cuts
        self.snapshot = snapshot
        self.publication = publication
        self.limits = limits
        self.packages = packages
        self.compiled: dict[str, _Part] = {}
        self.open: dict[tuple[str, str, Any], _Part] = {}
        self.numbers: dict[tuple[str, str], int] = {}
        self.done: list[tuple[_Part, int, str]] = []  # (part, size, sha256)
        self.releases = 0
        self.compiled_count = 0

    # compiled releases, one JSON per line
    def _compiled_part(self, year: str) -> _Part:
        part = self.compiled.get(year)
        if part is None:
            name = layout.compiled_name(year)
            part = self.compiled[year] = _Part(
                name, layout.COMPILED, year, GzipPart(self.partial / name, self.limits.compresslevel)
            )
            part.keys = open(self.partial / f"keys-{year}", "wb")  # noqa: SIM115 - closed in _close
        return part

    def cut(self) -> None:
        """Every yearly file's member ends here (the process about to be written is a cut)."""
        for part in self.compiled.values():
            self._end_segment(part)

    def compiled_release(self, year: str, data: bytes, ocid: str, key: str, date: Any = None) -> None:
        part = self._compiled_part(year)
        part.gzip.write_line(data)
        keys = orjson.dumps([ocid, key, date], option=orjson.OPT_APPEND_NEWLINE)
        part.keys.write(keys)
        segment = part.segment
        if segment is None:
            segment = part.segment = [ocid, ocid, 0, 0, 0, part.keys_size, 0, date, date]
        segment[_LAST] = ocid
        segment[_LINES] += 1
        segment[_KEYS_LENGTH] += len(keys)
        if isinstance(date, str):
            first, last = segment[_FIRST_DATE], segment[_LAST_DATE]
            if not isinstance(first, str) or date < first:
                segment[_FIRST_DATE] = date
            if not isinstance(last, str) or date > last:
                segment[_LAST_DATE] = date
            part.dated(date)
        part.keys_size += len(keys)
        if segment[_LINES] >= SEGMENT_LINES:
            self._end_segment(part)
        part.releases += 1
        part.records += 1
        part.gzip.count += 1
        self.compiled_count += 1

    def compiled_batch(
        self,
        batch: list[tuple[str, list[Rel], Any]],
        compiled: list[bytes | None],
        dated: list[tuple[str, str]],
    ) -> None:
        """The compiled release of each process of ``batch`` (None: not written), with each
        process's latest date and year (:func:`_tee`): :meth:`compiled_release` for each,
        its common case (a segment open, dates given) inline, as a first export writes a
        million of them."""
        parts = self.compiled
        cuts = self.cuts
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for (ocid, rows, _), data, (date, year) in zip(batch, compiled, dated, strict=True):
            if ocid in cuts:
                self.cut()
            if data is None:
                continue
            part = parts.get(year)
            segment = None if part is None else part.segment
            if (
                part is None
                or segment is None
                or type(date) is not str
                or not date
                or type(segment[_FIRST_DATE]) is not str
                or type(segment[_LAST_DATE]) is not str
                or part.first_date is None
                or part.last_date is None
            ):
                self.compiled_release(year, data, ocid, process_key(rows), date)
                continue
            keys = dumps([ocid, process_key(rows), date], option=newline)
            part.gzip.write_line(data)
            part.keys.write(keys)
            size = len(keys)
            segment[_LAST] = ocid
            segment[_LINES] += 1
            segment[_KEYS_LENGTH] += size
            if date < segment[_FIRST_DATE]:
                segment[_FIRST_DATE] = date
            elif date > segment[_LAST_DATE]:
                segment[_LAST_DATE] = date
            if date < part.first_date:
                part.first_date = date
            elif date > part.last_date:
                part.last_date = date
            part.keys_size += size
            if segment[_LINES] >= SEGMENT_LINES:
                self._end_segment(part)
            part.releases += 1
            part.records += 1
            part.gzip.count += 1
            self.compiled_count += 1

    def finish_shard(self) -> dict[str, Any]:
        """A shard's end (:func:`_shard_step`): its compiled files closed (not synced: they are
        copied into the exporting process's files) and what :meth:`append_shard` needs of them."""
        parts = []
        for part in self.compiled.values():
            self._end_segment(part)
            part.gzip.close(sync=False)
            part.keys.close()
            parts.append(
                {
                    "year": part.year,
                    "path": str(part.gzip.path),
                    "keys": str(self.partial / f"keys-{part.year}"),
                    "keys_size": part.keys_size,
                    "releases": part.releases,
                    "records": part.records,
                    "first_date": part.first_date,
                    "last_date": part.last_date,
                    "segments": part.segments,
                }
            )
        self.compiled.clear()
        return {"parts": parts, "compiled": self.compiled_count}

    def append_shard(self, shard: dict[str, Any]) -> None:
        """The compiled files of a shard of the next ocids (:meth:`finish_shard`) after these:
        each yearly file's members and keys copied after this one's, its segments moved by as
        much. The bytes are those one process writing both ranges makes, since a shard starts
        at a cut (:func:`_cuts`), where every member ends anyway."""
        self.cut()
        for got in shard["parts"]:
            part = self._compiled_part(got["year"])
            offset = part.gzip.append_file(Path(got["path"]))
            with open(got["keys"], "rb") as keys:
                shutil.copyfileobj(keys, part.keys, 1 << 20)
            for segment in got["segments"]:
                segment[_OFFSET] += offset
                segment[_KEYS_OFFSET] += part.keys_size
                part.segments.append(segment)
            part.keys_size += got["keys_size"]
            part.releases += got["releases"]
            part.records += got["records"]
            part.gzip.count += got["releases"]
            part.dated(got["first_date"])
            part.dated(got["last_date"])
        self.compiled_count += shard["compiled"]

    def _end_segment(self, part: _Part) -> None:
        segment = part.segment
        if segment is not None:
            segment[_OFFSET], segment[_LENGTH] = part.gzip.end_member()
            part.segments.append(segment)
            part.segment = None

    # release and record packages, split by size
    def package_item(
        self,
        kind: str,
        year: str,
        source: queries.ReleaseSource | None,
        data: bytes,
        rows: list[Any],
    ) -> None:
        key = (kind, year, source.who if source is not None else _VERAZ)
        part = self.open.get(key)
        invalid = queries.invalid_releases(
            [
                {"valid": r.valid, "problems": r.problems, "ocid": r.ocid, "release_id": r.release_id}
                for r in rows
                if not r.valid
            ]
        )
        extra = len(orjson.dumps(invalid)) if invalid else 0
        if part is not None and (
            part.gzip.count >= self.limits.max_package_items
            or part.gzip.raw_size + len(data) + 1 + part.invalid_bytes + extra + 64
            > self.limits.max_package_bytes
        ):
            self._close(part)
            del self.open[key]
            part = None
        if part is None:
            part = self.open[key] = self._open(kind, year, source)
        else:
            part.gzip.write(b",")
        part.gzip.write(data)
        part.gzip.count += 1
        part.releases += len(rows)
        part.records += 1 if kind == layout.RECORD_PACKAGE else 0
        part.invalid.extend(invalid)
        part.invalid_bytes += extra
        for r in rows:
            part.dated(r.date)

    def _open(self, kind: str, year: str, source: queries.ReleaseSource | None) -> _Part:
        number = self.numbers[(kind, year)] = self.numbers.get((kind, year), 0) + 1
        name = layout.package_name(kind, year, number)
        meta = self._metadata(name, source)
        part = _Part(
            name,
            kind,
            year,
            GzipPart(self.partial / name, self.limits.compresslevel),
            publisher=meta["publisher"].get("name"),
        )
        part.gzip.write(ocds_package.package_head(kind.split("-")[0], **meta))
        return part

    def _metadata(self, name: str, source: queries.ReleaseSource | None) -> dict[str, Any]:
        uri = f"{self.publication.base_url}/downloads/{name}"
        validity = [self.publication.validity_extension()] if self.snapshot.any_invalid else []
        if source is None:
            return {
                "uri": uri,
                "publisher": self.publication.publisher,
                "license": self.publication.license,
                "publication_policy": self.publication.publication_policy,
                "published_date": self.snapshot.published,
                "extensions": self.publication.extensions() + validity,
            }
        # Imported data keeps its publisher, terms and declared extensions (as the API serves it).
        publisher = source.publisher
        if not publisher.get("name"):
            publisher = {**publisher, "name": f"(publisher not named by {source.uri or 'its package'})"}
        return {
            "uri": uri,
            "publisher": publisher,
            "license": source.license,
            "publication_policy": source.publication_policy,
            "published_date": source.published_date or self.snapshot.published,
            "extensions": list(dict.fromkeys([*source.extensions, *validity])),
        }

    def _close(self, part: _Part) -> None:
        if part.kind != layout.COMPILED:
            part.gzip.write(ocds_package.package_tail(part.invalid or None))
        else:
            self._end_segment(part)
        size, sha = part.gzip.close()
        if part.keys is not None:
            part.keys.close()
            write_segments(self.partial / f"segments-{part.year}", part.segments)
        self.done.append((part, size, sha))

    def close(self) -> None:
        for part in [*self.compiled.values(), *self.open.values()]:
            self._close(part)
        self.compiled.clear()
        self.open.clear()


def _write_process(
    writer: _Writer,
    ocid: str,
    rows: list[Rel],
    compiled: bytes | None,
    sources: dict[int, queries.ReleaseSource],
    years: set[str] | None,
    date: str,
    year: str,
) -> None:
    """A process's compiled release and its releases and record in the packages (``date``, the
    latest of its releases' dates, and its ``year``)."""
    if ocid in writer.cuts:
        writer.cut()
    if compiled is not None:
        writer.compiled_release(year, compiled, ocid, process_key(rows), date)
    if not writer.packages:
        return
    for row in rows:
        release_year = layout.year_of(row.date)
        if years is None or release_year in years:
            writer.package_item(
                layout.RELEASE_PACKAGE, release_year, sources.get(row.id), bytes(row.data), [row]
            )
            writer.releases += 1
    if years is None or year in years:
        record = (
            b'{"ocid":'
            + orjson.dumps(ocid)
            + b',"releases":['
            + b",".join(bytes(r.data) for r in rows)
            + b"]"
        )
        if compiled is not None:
            record += b',"compiledRelease":' + compiled
        record += b"}"
        shared = [sources.get(r.id) for r in rows]
        first = shared[0]
        source = (
            first if first is not None and all(s is not None and s.who == first.who for s in shared) else None
        )
        writer.package_item(layout.RECORD_PACKAGE, year, source, record, rows)


# --- the export ----------------------------------------------------------------------------


class _Lock:
    """One export at a time per folder (an advisory lock on ``.lock``)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"

    def __enter__(self) -> _Lock:
        self.file = open(self.path, "a+")  # noqa: SIM115 - closed in __exit__
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise ExportFailed(
                f"another export is writing to {self.path.parent}; run again when it is done"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def export(
    engine: Engine,
    folder: Path,
    publication: Publication,
    *,
    full: bool = False,
    formats: frozenset[str] = frozenset({"compiled", "packages", "csv", "xlsx"}),
    limits: Limits | None = None,
    workers: int = 1,
    recompile: bool = False,
    headers: str = flatten.POINTERS,
) -> ExportSummary:
    """Export the published releases into ``folder`` (see the module docstring).

    ``full`` rebuilds every year even when a previous export's manifest says nothing changed.
    ``formats`` chooses among compiled releases (always written: the other formats read them),
    ``packages`` (release and record packages), ``csv`` and ``xlsx`` (benchmarks time them
    apart). ``workers`` processes compile the releases (1: this process). The compiled
    releases of processes without new releases are copied from the previous export (see
    :class:`_Reuse`), even with ``full``, unless ``recompile``. ``headers`` names the CSV and
    XLSX columns (``flatten.HEADERS``). Raises
    :class:`ExportFailed` with the reason when the export cannot finish; the previous files
    then stay in place."""
    limits = limits or Limits()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _Lock(folder):
            return _export(engine, folder, publication, full, formats, limits, workers, recompile, headers)
    except OSError as error:
        shutil.rmtree(folder / ".partial", ignore_errors=True)
        raise ExportFailed(
            f"could not write the export in {folder} ({error.strerror or error}); "
            "the previous files are still served"
        ) from error


def _export(
    engine: Engine,
    folder: Path,
    publication: Publication,
    full: bool,
    formats: frozenset[str],
    limits: Limits,
    workers: int,
    recompile: bool = False,
    headers: str = flatten.POINTERS,
) -> ExportSummary:
    if headers not in flatten.HEADERS:
        raise ExportFailed(f"unknown column headers {headers!r}; use one of {', '.join(flatten.HEADERS)}")
    summary = ExportSummary()
    previous = read_manifest(folder)
    old = None if full else previous
    clock = time.perf_counter()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        upto = queries.last_release_id(conn)
        if old is not None and (old["snapshot"]["release_id"] > upto or not _complete(folder, old)):
            # Another database, one restored from an older backup, or files removed by hand.
            old = None
        snapshot = _snapshot(conn, upto, old)
        summary.release_id, summary.tree_size = snapshot.release_id, snapshot.tree_size
        tables = formats & TABLES
        stale = stale_tables(old, tables, headers)
        packages = "packages" in formats
        # Years whose packages an export without them left behind their compiled releases.
        packages_behind = set((old or {}).get("packagesLeft", []))
        if (
            old is not None
            and old["snapshot"]["release_id"] == snapshot.release_id
            and not stale
            and not (packages and packages_behind)
        ):
            summary.up_to_date = True
            return summary
        years = None if old is None else dirty_years(conn, old["snapshot"]["release_id"], snapshot.release_id)
        if years is not None and packages:
            years |= packages_behind
        partial = partial_dir(folder)
        writer = _Writer(partial, snapshot, publication, limits, packages)
        quick = None
        if old is not None and not packages and not recompile:
            try:
                quick = _quick_compiled(
                    conn,
                    folder,
                    old,
                    old["snapshot"]["release_id"],
                    snapshot.release_id,
                    partial,
                    limits,
                    years or set(),
                    summary.seconds,
                )
            except _QuickUnusable:
                partial = partial_dir(folder)
                writer = _Writer(partial, snapshot, publication, limits, packages)
        cuts: list[str] = []
        if quick is None:
            clock = time.perf_counter()
            cuts = _cuts(conn, limits)
            writer.cuts = frozenset(cuts)
            summary.seconds["cuts"] = time.perf_counter() - clock
        reuse = _Reuse(folder, None if recompile or quick is not None else previous)
        # Without packages, a release's JSON is read only to compile its process (not for
        # processes whose compiled release is copied or stored), with the keys when nothing
        # is copied (a first export: nearly every release is compiled or spliced), otherwise
        # afterwards, by key.
        with_data = packages or not reuse
        batches = _groups(conn, snapshot.release_id, years, with_data)
        try:
            if quick is not None:
                writer.done, writer.compiled_count, copied = quick
                summary.quick = True
            elif years is None and not packages and not reuse and workers > 1 and cuts:
                _sharded(engine, conn, writer, _shard_bounds(cuts, workers), summary.seconds)
                summary.shards = min(workers, len(cuts) + 1)
            else:
                # Compiling is the costly part (parsing and merging every release): worker
                # processes do it while this one reads the database and writes the files.
                with WorkerPool(functools.partial(_given, years), workers) as pool:
                    pending: deque[
                        tuple[
                            list[tuple[str, list[Rel], bytes | None]],
                            dict[int, bytes | None],
                            list[tuple[str, str]],
                        ]
                    ] = deque()
                    fill = None if with_data else _filler(conn)
                    results = pool.map(_compile_step, _tee(batches, pending, reuse, years, fill))
                    for compiled_of_batch in results:
                        batch, found, dated = pending.popleft()
                        results_of_batch = _merged(batch, found, compiled_of_batch)
                        if not packages:
                            writer.compiled_batch(batch, results_of_batch, dated)
                            continue
                        sources = (
                            queries.release_sources(conn, [r.id for _, rows, _ in batch for r in rows])
                            if snapshot.any_imported
                            else {}
                        )
                        for (ocid, rows, _), one, (date, year) in zip(
                            batch, results_of_batch, dated, strict=True
                        ):
                            _write_process(writer, ocid, rows, one, sources, years, date, year)
        finally:
            summary.reused = copied if quick is not None else reuse.reused
            reuse.close()
            writer.close()
    summary.seconds["read"] = time.perf_counter() - clock
    summary.releases, summary.compiled = writer.releases, writer.compiled_count

    now = _now()
    entries: list[tuple[Path, FileEntry]] = []
    for part, size, sha in writer.done:
        entries.append(
            (
                part.gzip.path,
                FileEntry(
                    name=part.name,
                    kind=part.kind,
                    format="jsonl.gz" if part.kind == layout.COMPILED else "json.gz",
                    year=part.year,
                    size=size,
                    sha256=sha,
                    releases=part.releases,
                    records=part.records,
                    first_date=part.first_date,
                    last_date=part.last_date,
                    publisher=part.publisher,
                    release_id=snapshot.release_id,
                    tree_size=snapshot.tree_size,
                    exported_at=now,
                ),
            )
        )
    compiled_years = {e.year: (path, e) for path, e in entries if e.kind == layout.COMPILED}
    rebuilt = years if years is not None else set(compiled_years) | {e.year for _, e in entries}
    summary.rebuilt_years = sorted((y for y in rebuilt if y is not None), key=layout.year_order)

    # CSV and XLSX, from the compiled releases of each rebuilt year, and of the years whose
    # tables an export without them left behind their compiled releases.
    table_years: set[str] = set()
    if tables:
        table_sources = {
            e["year"]: (folder / e["name"], FileEntry(**e))
            for e in (old or {}).get("files", [])
            if e["kind"] == layout.COMPILED and e["year"] in stale and e["year"] not in rebuilt
        }
        table_sources.update({y: v for y, v in compiled_years.items() if y is not None})
        for year in sorted({*summary.rebuilt_years, *stale}, key=layout.year_order):
            if year not in table_sources:
                continue
            table_years.add(year)
            path, year_entry = table_sources[year]
            made, skipped = flatten.tables(
                path,
                partial,
                year,
                make_csv="csv" in formats,
                make_xlsx="xlsx" in formats,
                xlsx_max_rows=limits.xlsx_max_rows,
                timings=summary.seconds,
                titles=headers,
            )
            for made_path, kind in made:
                size, sha = _size_and_sha(made_path)
                entries.append(
                    (
                        made_path,
                        FileEntry(
                            name=made_path.name,
                            kind=kind,
                            format="csv.tar.gz" if kind == layout.CSV else "xlsx",
                            year=year,
                            size=size,
                            sha256=sha,
                            releases=year_entry.releases,
                            records=year_entry.records,
                            first_date=year_entry.first_date,
                            last_date=year_entry.last_date,
                            publisher=None,
                            # the snapshot of the compiled releases it was made from
                            release_id=year_entry.release_id,
                            tree_size=year_entry.tree_size,
                            exported_at=_now(),
                        ),
                    )
                )
            summary.skipped.extend(skipped)
    summary.tables_left = sorted(
        {e.year for e in _old_tables(old) if e.year and e.year in rebuilt and e.year not in table_years},
        key=layout.year_order,
    )

    # Files of the years not rebuilt stay; those of rebuilt years are replaced or removed, but
    # for tables not asked for this time: they stay as they were, each with its own snapshot.
    replaced = {e.name for _, e in entries}
    kept = [
        FileEntry(**e)
        for e in (old or {}).get("files", [])
        if e["year"] is not None
        and e["name"] not in replaced
        and (
            e["year"] not in rebuilt
            or (e["kind"] in TABLES and e["year"] not in table_years)
            or (e["kind"] in PACKAGES and not packages)
        )
    ]
    # The years whose packages are older than their compiled releases, said in the manifest.
    if packages:
        summary.packages_left = []
    else:
        summary.packages_left = sorted(
            packages_behind | {y for y in rebuilt if y is not None}, key=layout.year_order
        )
    kept_skips = [
        s
        for s in (old or {}).get("skipped", [])
        if s.get("year") not in table_years and (s.get("year") not in rebuilt or not tables)
    ]

    # full.jsonl.gz: the yearly compiled files' bytes, one after the other.
    clock = time.perf_counter()
    by_year: dict[str, tuple[Path, FileEntry]] = {
        e.year: (folder / e.name, e) for e in kept if e.kind == layout.COMPILED and e.year
    }
    by_year.update({y: v for y, v in compiled_years.items() if y is not None})
    full_path = partial / layout.FULL
    total = 0
    first: str | None = None
    last: str | None = None
    yearly: list[Path] = []
    for year in sorted(by_year, key=layout.year_order):
        path, e = by_year[year]
        yearly.append(path)
        total += e.releases
        first = min((d for d in (first, e.first_date) if d), default=None)
        last = max((d for d in (last, e.last_date) if d), default=None)
    full_size, sha = concatenate(yearly, full_path)
    entries.append(
        (
            full_path,
            FileEntry(
                name=layout.FULL,
                kind=layout.COMPILED,
                format="jsonl.gz",
                year=None,
                size=full_size,
                sha256=sha,
                releases=total,
                records=total,
                first_date=first,
                last_date=last,
                publisher=None,
                release_id=snapshot.release_id,
                tree_size=snapshot.tree_size,
                exported_at=_now(),
            ),
        )
    )
    summary.seconds["full"] = time.perf_counter() - clock

    # Publish: every new file in place, then the manifest; then what no longer exists goes.
    crash_point("export-before-publish")
    clock = time.perf_counter()
    state = folder / STATE
    state.mkdir(exist_ok=True)
    for path, entry in entries:
        publish(path, folder / entry.name)
        keys = partial / f"keys-{entry.year}"
        segments = partial / f"segments-{entry.year}"
        if entry.kind == layout.COMPILED and entry.year is not None and keys.is_file():
            os.replace(keys, state / state_name(entry.year, entry.sha256))
            if segments.is_file():
                os.replace(segments, state / segments_name(entry.year, entry.sha256))
        file_finished(engine, folder, entry)
        summary.written.append(entry.name)
        crash_point("export-publishing")
    files = sorted([*kept, *(e for _, e in entries)], key=lambda e: e.name)
    manifest = _manifest(snapshot, publication, files, [*kept_skips, *summary.skipped])
    # The tables' column headers, when every table listed has them.
    manifest["tableHeaders"] = headers if tables else (old or {}).get("tableHeaders", flatten.POINTERS)
    manifest["packagesLeft"] = summary.packages_left
    write_manifest(folder, manifest)
    listed = {e.name for e in files}
    for e in (old or {}).get("files", []):
        if e["name"] not in listed:
            (folder / e["name"]).unlink(missing_ok=True)
            summary.removed.append(e["name"])
    if old is None:  # a full rebuild: whatever an older export left under a public name goes
        for path in folder.iterdir():
            if path.is_file() and layout.is_export_name(path.name) and path.name not in listed:
                if path.name not in (layout.MANIFEST, layout.SHA256SUMS):
                    path.unlink()
                    summary.removed.append(path.name)
    wanted = {
        name(e.year, e.sha256)
        for e in files
        if e.kind == layout.COMPILED and e.year
        for name in (state_name, segments_name)
    }
    for path in state.iterdir():
        if path.name not in wanted:
            path.unlink(missing_ok=True)
    fsync_dir(folder)
    shutil.rmtree(partial, ignore_errors=True)
    summary.seconds["publish"] = time.perf_counter() - clock
    return summary


#: The formats made from the compiled releases of a year (by flatterer, the slow part).
TABLES = frozenset({layout.CSV, layout.XLSX})
#: The package kinds, written only with the "packages" format (see ``packagesLeft``).
PACKAGES = frozenset({layout.RELEASE_PACKAGE, layout.RECORD_PACKAGE})


def _old_tables(old: dict[str, Any] | None) -> list[FileEntry]:
    return [FileEntry(**e) for e in (old or {}).get("files", []) if e["kind"] in TABLES]


def stale_tables(
    old: dict[str, Any] | None, tables: frozenset[str], headers: str = flatten.POINTERS
) -> set[str]:
    """The years whose tables (of the kinds ``tables``) are older than their compiled releases,
    or missing without a note saying why (an export without tables left them so), or have
    other column headers than ``headers`` (every year, then)."""
    if old is None or not tables:
        return set()
    compiled = {
        e["year"]: e["release_id"] for e in old.get("files", []) if e["kind"] == layout.COMPILED and e["year"]
    }
    if old.get("tableHeaders", flatten.POINTERS) != headers and _old_tables(old):
        return set(compiled)
    noted = {(s.get("year"), s.get("name")) for s in old.get("skipped", [])}
    have = {(e.year, e.kind): e.release_id for e in _old_tables(old)}
    stale = set()
    for year, release_id in compiled.items():
        for kind in tables:
            name = layout.csv_name(year) if kind == layout.CSV else layout.xlsx_name(year)
            made = have.get((year, kind))
            if (made is None and (year, name) not in noted) or (made is not None and made < release_id):
                stale.add(year)
    return stale


def _size_and_sha(path: Path) -> tuple[int, str]:
    from portal.exports.files import sha256_of

    return path.stat().st_size, sha256_of(path)


def _complete(folder: Path, manifest: dict[str, Any]) -> bool:
    return all((folder / e["name"]).is_file() for e in manifest.get("files", []))


def _manifest(
    snapshot: _Snapshot,
    publication: Publication,
    files: list[FileEntry],
    skipped: list[dict[str, str]],
) -> dict[str, Any]:
    compiled = [f for f in files if f.kind == layout.COMPILED and f.year is not None]
    release_files = [f for f in files if f.kind == layout.RELEASE_PACKAGE]
    record_files = [f for f in files if f.kind == layout.RECORD_PACKAGE]
    firsts = [f.first_date for f in compiled if f.first_date]
    lasts = [f.last_date for f in compiled if f.last_date]
    return {
        "format": FORMAT,
        "generated": _now(),
        "snapshot": {
            "release_id": snapshot.release_id,
            "tree_size": snapshot.tree_size,
            "published": snapshot.published,
            "invalid": snapshot.any_invalid,
        },
        "publisher": publication.publisher,
        "license": publication.license,
        "publicationPolicy": publication.publication_policy,
        "ocdsVersion": OCDS_VERSION,
        "extensions": publication.extensions(),
        "counts": {
            "releases": sum(f.releases for f in release_files),
            "records": sum(f.records or 0 for f in record_files),
            "compiledReleases": sum(f.releases for f in compiled),
            "files": len(files),
            "bytes": sum(f.size for f in files),
        },
        "dateRange": {"first": min(firsts, default=None), "last": max(lasts, default=None)},
        "years": sorted({f.year for f in compiled if f.year}, key=layout.year_order),
        "files": [f.as_json() for f in files],
        "skipped": skipped,
    }


def default_folder(config: dict[str, Any]) -> Path:
    """The export folder: EXPORT_DIR, or ``exports`` in INSTANCE_PATH."""
    return Path(config.get("EXPORT_DIR") or os.path.join(config["INSTANCE_PATH"], "exports"))
