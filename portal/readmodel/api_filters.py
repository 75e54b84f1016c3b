"""What the OCDS API's lists ask of the database: releases and records in publication order,
filtered by the read model.

Both lists page by the same key, the primary key of ``releases``: it is immutable, and it grows
in the order releases commit, because every writer takes the evidence log's lock before it
inserts releases and holds it until it commits (``anchoring.log``: ``BEGIN IMMEDIATE`` on
SQLite, a transaction-level advisory lock on PostgreSQL). So a harvester that resumes after
the last key it saw misses nothing that commits later, and sees nothing twice.

A record is listed once, at its newest release (``records.last_release``): when a process gets
a new release its record moves to the end, so following the cursor of the last page later
gives every record that changed since, in its new state.

The filters on the process (buyer, supplier, agreement, procedure, region) are the listing's
own conditions (:func:`portal.readmodel.queries.conditions`), evaluated per release as a
correlated subquery on the record's primary key: the page walks the releases' primary key and
stops after ``limit`` matches, instead of collecting every match first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, and_, func, literal, select

from portal.db import IN_CLAUSE_CHUNK
from portal.models import records, releases
from portal.readmodel import queries
from portal.readmodel.facets import Browse

#: API parameter → the read model's facet it filters (values of one are alternatives, OR).
PROCESS_FILTERS = {
    "buyer": "buyer",
    "supplier": "supplier",
    "agreement": "agreement",
    "procurement_method": "procedure",
    "region": "region",
}

#: Most processes a filter may match for its pages to be found from those processes.
FEW = 5000
#: Releases a filtered page walks before it looks for the few processes that match.
WINDOW = 2_000


@dataclass(frozen=True)
class Harvest:
    """What a harvester asked of a list: filters on the process, its ocid, its date, and
    when it was published. Dates are ``YYYY-MM-DD`` (inclusive bounds, compared with the
    published date's calendar day as written); ``since`` is a UTC moment."""

    selected: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ocid: str | None = None
    ocid_prefix: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    since: datetime | None = None


def _date_bounds(column, date_from: str | None, date_to: str | None) -> list[ColumnElement[bool]]:
    """``column`` (an ISO 8601 text) within the days ``date_from`` .. ``date_to``.

    Compared as text: a date-time written ``2024-03-31T18:00:00-05:00`` starts with its own
    calendar day, which is the day the publisher meant, whatever its offset. ``date_to`` is
    inclusive: anything that starts with that day sorts below the day followed by ``~`` (which
    sorts after every character a date-time holds)."""
    out: list[ColumnElement[bool]] = []
    if date_from is not None:
        out.append(column >= date_from)
    if date_to is not None:
        out.append(column < date_to + "~")
    return out


def _ocid_conditions(column, harvest: Harvest) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if harvest.ocid is not None:
        out.append(column == harvest.ocid)
    if harvest.ocid_prefix is not None:
        # Exact and case-sensitive on both databases (SQLite's LIKE ignores case).
        out.append(func.substr(column, 1, len(harvest.ocid_prefix)) == harvest.ocid_prefix)
    return out


def _process_conditions(harvest: Harvest) -> list:
    if not harvest.selected:
        return []
    return list(queries.conditions(Browse(selected=harvest.selected)).values())


RELEASE_COLUMNS = (
    releases.c.id,
    releases.c.ocid,
    releases.c.release_id,
    releases.c.data,
    releases.c.published_at,
    releases.c.valid,
    releases.c.problems,
)


def _checked_per_release(*conditions) -> ColumnElement[bool]:
    """``conditions`` on the record of each release walked, tested release by release.

    Written as a scalar subquery rather than ``EXISTS``: PostgreSQL turns an ``EXISTS`` into a
    semi-join, and then found a page of a common supplier by joining all its 39,188 processes
    to their releases and sorting them (1 s at a million), instead of walking the key and
    stopping at the page's end. A scalar subquery is never flattened; SQLite runs both the
    same way."""
    found = select(literal(1)).select_from(records).where(records.c.ocid == releases.c.ocid, *conditions)
    return found.limit(1).scalar_subquery().is_not(None)


#: Windows of keys a filtered page may expect to walk after its first WINDOW before its
#: processes are counted instead (see :func:`_walk_on`).
WALK_ON_WINDOWS = 4


def _walk_on(found: int, limit: int) -> bool:
    """Whether a page whose first WINDOW keys held ``found`` of its ``limit`` matches walks on
    over the next WALK_ON_WINDOWS windows of keys before it counts the processes the filters
    match: at the rate of the first window, the rest is expected there. (A filter whose
    matches were bunched in the first window, and rare after, is then counted as before.)

    Counting reads the processes until FEW + 1 match, and a filter that is not on an index of
    ``records`` alone checks each process it passes: the most common supplier's count (via
    ``parties``) took 69 ms at a million, for a page whose first window had held 91 of its 100
    releases."""
    return found > 0 and limit - found <= WALK_ON_WINDOWS * found


def _on_or_few(
    conn: Connection,
    harvest: Harvest,
    walk: Callable[..., list[dict]],
    rows: list[dict],
    after: int,
    limit: int,
) -> tuple[list[dict], list[str] | None]:
    """How a page filtered on the process goes on from ``rows``, what ``walk(start, most,
    *bounds)`` found in the first WINDOW keys after ``after``: ``(page, None)`` when walking
    the key finds it (walking on for WALK_ON_WINDOWS windows when the first held matches,
    :func:`_walk_on`; to the end when the filters match more than FEW processes), or
    ``(rows, ocids)`` when the page is to be found from the few processes the filters match."""
    if len(rows) >= limit or after + WINDOW >= _last_key(conn):
        return rows, None
    walked = after + WINDOW
    if _walk_on(len(rows), limit):
        walked += WALK_ON_WINDOWS * WINDOW
        rows = rows + walk(after + WINDOW, limit - len(rows), releases.c.id <= walked)
        if len(rows) >= limit or walked >= _last_key(conn):
            return rows, None
    few = few_processes(conn, harvest)
    if few is None:  # on from where the walks ended
        return rows + walk(walked, limit - len(rows)), None
    return rows, few


def few_processes(conn: Connection, harvest: Harvest) -> list[str] | None:
    """The ocids of the processes the process filters match, when there are at most
    :data:`FEW` of them; None when there are more, or no such filter.

    A page of a rare match is then found from those processes (their releases by the
    ``(ocid, date)`` index), not by walking every release until ``limit`` match: for a buyer
    with one process among a million, the walk would read them all. A frequent match is found
    by the walk, which then stops within about ``limit / share`` releases."""
    process = _process_conditions(harvest)
    if not process:
        return None
    # Counted first: a common buyer's count comes from its index alone, where reading the
    # ocids of FEW + 1 processes read as many rows of ``records``.
    matching = select(literal(1)).select_from(records).where(*process).limit(FEW + 1).subquery()
    if conn.execute(select(func.count()).select_from(matching)).scalar_one() > FEW:
        return None
    return list(conn.execute(select(records.c.ocid).where(*process)).scalars())


def _chunks(values: list[str]):
    for i in range(0, len(values), IN_CLAUSE_CHUNK):
        yield values[i : i + IN_CLAUSE_CHUNK]


def since_floor(conn: Connection, since: datetime | None, after: int) -> int:
    """Where a page filtered by ``since`` starts its walk: ``after``, or the key just before
    the first release published at or after ``since`` when that is further on.

    The walk by key reads every release it passes; a harvester asking for what was published
    since yesterday would otherwise read a million older ones to find none. When the release
    right after ``after`` already matches (``since`` is old, or a later page), the walk starts
    well and nothing more is asked. Otherwise the smallest matching key is found on the
    ``published_at`` index (migration 0021), reading only the matching entries. It is the exact
    smallest key, so the walk skips only releases that cannot match, whatever order the
    clock gave the publication times. ``id + 0`` keeps SQLite from answering ``min(id)`` by
    walking the primary key instead of the index."""
    if since is None:
        return after
    following = conn.execute(
        select(releases.c.published_at).where(releases.c.id > after).order_by(releases.c.id).limit(1)
    ).scalar()
    if following is None or _aware(following) >= since:
        return after
    first = conn.execute(select(func.min(releases.c.id + 0)).where(releases.c.published_at >= since)).scalar()
    if first is None:
        return _last_key(conn)
    return max(after, int(first) - 1)


def _prefix_upper(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix`` (in code point
    order), or None when there is none."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


def _ordered_like_python(conn: Connection) -> bool:
    """Whether text compares in code point order (SQLite's BINARY; PostgreSQL's "C" collations),
    so that a range of ocids holds exactly those that start with a prefix."""
    if conn.dialect.name == "sqlite":
        return True
    collation = conn.exec_driver_sql(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    ).scalar()
    # glibc's C.UTF-8 (PostgreSQL's libc provider) orders by code point too.
    return collation in ("C", "POSIX", "C.UTF-8", "C.utf8")


def harvest_floor(conn: Connection, harvest: Harvest, after: int) -> int:
    """Where a page of releases filtered by ``ocid_prefix`` or a date range starts its walk:
    ``after``, or the key just before the first release after it that these filters match.

    As :func:`since_floor`: the walk by key reads every release it passes, and a harvester
    asking for one month, or one publisher's prefix, of a million releases would read all those
    before it. The smallest matching key is found on the ``date`` index (migration 0029) and on
    the ``(ocid, date)`` index (a range of ocids, where text compares in code point order;
    otherwise the prefix gives no floor), both exact: each matching release has a key at least
    that large. ``id + 0`` keeps SQLite from walking the primary key to answer ``min``."""
    floors: list[ColumnElement[bool]] = []
    if harvest.date_from is not None or harvest.date_to is not None:
        floors.append(and_(*_date_bounds(releases.c.date, harvest.date_from, harvest.date_to)))
    if harvest.ocid_prefix and _ordered_like_python(conn):
        ranged = [releases.c.ocid >= harvest.ocid_prefix, *_ocid_conditions(releases.c.ocid, harvest)]
        upper = _prefix_upper(harvest.ocid_prefix)
        if upper is not None:
            ranged.append(releases.c.ocid < upper)
        floors.append(and_(*ranged))
    if not floors:
        return after
    # The release right after the cursor matches (a later page, or a filter that matches
    # most): the walk starts well.
    following = select(releases.c.id).where(releases.c.id > after).order_by(releases.c.id).limit(1)
    key = conn.execute(following).scalar()
    if key is None or conn.execute(select(releases.c.id).where(releases.c.id == key, *floors)).first():
        return after
    floor = after
    for condition in floors:
        first = conn.execute(
            select(func.min(releases.c.id + 0)).where(condition, releases.c.id + 0 > after)
        ).scalar()
        if first is None:
            return _last_key(conn)
        floor = max(floor, int(first) - 1)
    return floor


def _aware(moment: datetime) -> datetime:
    # SQLite gives naive date-times back (stored in UTC); PostgreSQL gives aware ones.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _last_key(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(releases.c.id), 0))).scalar_one())


def releases_page(conn: Connection, harvest: Harvest, after: int, limit: int) -> list[dict]:
    """At most ``limit`` releases matching ``harvest`` after the key ``after``, in key order
    (the order they were published).

    With filters on the process, the next :data:`WINDOW` keys are walked first: a filter that
    matches often fills its page there. Otherwise, a filter matching few processes finds the
    page from them (:func:`few_processes`), and only one matching many processes, rarely
    among these keys, walks on. Date bounds and an ocid prefix start the walk at their first
    match (:func:`harvest_floor`); a page by dates alone that these keys do not fill goes on
    from the date index (:func:`_by_date_index`)."""
    dates = _date_bounds(releases.c.date, harvest.date_from, harvest.date_to)
    where = [*_ocid_conditions(releases.c.ocid, harvest), *dates]
    if harvest.since is not None:
        where.append(releases.c.published_at >= harvest.since)
        after = since_floor(conn, harvest.since, after)
    after = harvest_floor(conn, harvest, after)
    process = _process_conditions(harvest)
    if process:
        where.append(_checked_per_release(*process))

    def walk(start: int, most: int, *bounds) -> list[dict]:
        query = (
            select(*RELEASE_COLUMNS)
            .where(and_(releases.c.id > start, *bounds, *where))
            .order_by(releases.c.id)
            .limit(most)
        )
        return [dict(r) for r in conn.execute(query).mappings()]

    if not process and not dates:
        return walk(after, limit)
    rows = walk(after, limit, releases.c.id <= after + WINDOW)
    if not process:
        if len(rows) >= limit or after + WINDOW >= _last_key(conn):
            return rows
        return rows + _by_date_index(conn, dates, where, after + WINDOW, limit - len(rows))
    rows, few = _on_or_few(conn, harvest, walk, rows, after, limit)
    if few is None:
        return rows
    keys: list[int] = []
    for chunk in _chunks(few):
        keys += conn.execute(
            select(releases.c.id).where(releases.c.ocid.in_(chunk), releases.c.id > after, *where[:-1])
        ).scalars()
    keys = sorted(keys)[:limit]
    if not keys:
        return []
    query = select(*RELEASE_COLUMNS).where(releases.c.id.in_(keys)).order_by(releases.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


#: Keys taken from the date index at a time by :func:`_by_date_index`, and rounds before it
#: walks on instead (other filters leaving out most of what the dates match).
DATE_KEYS = 500
DATE_ROUNDS = 4


def _by_date_index(conn: Connection, dates: list, where: list, after: int, limit: int) -> list[dict]:
    """At most ``limit`` releases after the key ``after`` matching ``where``, among the keys the
    date bounds ``dates`` match, taken in key order from the ``date`` index.

    A month's releases are spread over the key order (a month in the middle of a million: the
    first 100 of them among 21,000 keys), so walking the key reads hundreds of releases for
    each match; the index gives the month's next keys (the smallest of its 29,000 entries,
    sorted as they are read: ``id + 0`` keeps SQLite on the date index), and only those
    releases are read. When other filters leave most of them out, it walks on from there."""
    out: list[dict] = []
    for _ in range(DATE_ROUNDS):
        keys = list(
            conn.execute(
                select(releases.c.id)
                .where(*dates, releases.c.id + 0 > after)
                .order_by(releases.c.id + 0)
                .limit(DATE_KEYS)
            ).scalars()
        )
        if not keys:
            return out
        query = (
            select(*RELEASE_COLUMNS)
            .where(releases.c.id.in_(keys), *where)
            .order_by(releases.c.id)
            .limit(limit - len(out))
        )
        out += [dict(r) for r in conn.execute(query).mappings()]
        after = keys[-1]
        if len(out) >= limit:
            return out
    query = (
        select(*RELEASE_COLUMNS)
        .where(releases.c.id > after, *where)
        .order_by(releases.c.id)
        .limit(limit - len(out))
    )
    return out + [dict(r) for r in conn.execute(query).mappings()]


def records_page(conn: Connection, harvest: Harvest, after: int, limit: int) -> list[dict]:
    """At most ``limit`` records matching ``harvest`` whose newest release's key is after
    ``after``, in that key's order: ``[{"ocid", "last_release", "published_at"}]``; found as
    :func:`releases_page` finds releases.

    ``date_from``/``date_to`` bound the process's date (the date of its first release, the
    read model's ``records.date``); ``since`` bounds when its newest release was published.

    The conditions on the record are in the correlated subquery that finds its newest release
    (as releases pages check the process per release): with the filters on a joined record,
    SQLite chose to start from a filter's index (every process of the most common region, then
    their releases, then sorted) over the walk by key, 4.9 s for a page at a million releases."""
    after = harvest_floor(conn, Harvest(ocid_prefix=harvest.ocid_prefix), after)
    on_record = _ocid_conditions(records.c.ocid, harvest)
    where = []
    if harvest.since is not None:
        where.append(releases.c.published_at >= harvest.since)
        after = since_floor(conn, harvest.since, after)
    process = _process_conditions(harvest)
    if harvest.date_from is not None or harvest.date_to is not None:
        return _records_by_date(conn, harvest, after, limit, [*on_record, *process])
    # The walk by key, each release kept when it is its record's newest and the record meets
    # the conditions: one lookup of the record per release walked (as two subqueries, the
    # record was read twice). As a join, PostgreSQL estimated one row from the two equal
    # columns and joined both tables whole before sorting (0.8 s for the first page).
    newest = (
        select(records.c.last_release)
        .where(records.c.ocid == releases.c.ocid, *on_record, *process)
        .scalar_subquery()
    )
    where.append(releases.c.id == newest)
    query = select(releases.c.ocid, releases.c.id.label("last_release"), releases.c.published_at)

    def walk(start: int, most: int, *bounds) -> list[dict]:
        found = query.where(and_(releases.c.id > start, *bounds, *where))
        return [dict(r) for r in conn.execute(found.order_by(releases.c.id).limit(most)).mappings()]

    if not process:
        return walk(after, limit)
    rows = walk(after, limit, releases.c.id <= after + WINDOW)
    rows, few = _on_or_few(conn, harvest, walk, rows, after, limit)
    if few is None:
        return rows
    out: list[dict] = []
    for chunk in _chunks(few):
        found = query.where(releases.c.ocid.in_(chunk), releases.c.id > after, *where)
        out += [dict(r) for r in conn.execute(found).mappings()]
    return sorted(out, key=lambda row: row["last_release"])[:limit]


def _records_by_date(
    conn: Connection, harvest: Harvest, after: int, limit: int, conditions: list
) -> list[dict]:
    """:func:`records_page` when dates bound the process: the records of those dates (their
    ``(date, ocid)`` index) that match ``conditions``, in the order of their newest release's
    key, read from ``records`` alone; only the page's newest releases are read then, for the
    time each was published.

    Joined to ``releases`` for that time, SQLite read the newest release of every process of
    those dates (24,000 for a month at a million) before it sorted them: p95 153 ms a page of
    100, now 86 ms."""
    query = select(records.c.ocid, records.c.last_release).where(
        *_date_bounds(records.c.date, harvest.date_from, harvest.date_to),
        records.c.last_release > after,
        *conditions,
    )
    if harvest.since is not None:
        published = select(releases.c.published_at).where(releases.c.id == records.c.last_release)
        query = query.where(published.scalar_subquery() >= harvest.since)
    found = conn.execute(query.order_by(records.c.last_release).limit(limit)).all()
    keys = [key for _, key in found]
    published_at: dict[int, datetime] = {}
    for i in range(0, len(keys), IN_CLAUSE_CHUNK):
        chunk = keys[i : i + IN_CLAUSE_CHUNK]
        query_chunk = select(releases.c.id, releases.c.published_at).where(releases.c.id.in_(chunk))
        published_at.update((key, moment) for key, moment in conn.execute(query_chunk))
    # A record's newest release is always stored (the audit checks it); one that is not is
    # left out, as the join to it would have.
    return [
        {"ocid": ocid, "last_release": key, "published_at": published_at[key]}
        for ocid, key in found
        if key in published_at
    ]
