"""The flags page's stored counts (``flag_totals``, ``flag_counts``, ``flag_month_firsts``) and
its faster filtered paths: what ``summary`` and ``counts_by_month`` read without filters, with
months alone, or per buyer, supplier or agreement (with and without months) equals what their
queries count over the hits and their orders (``_totals``, ``_by_month``), after a full refresh
and after a partial one over generated orders, amended and cancelled ones and mutated imported
OCDS; a database never counted falls back to the queries; the audit finds an altered count
(SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import json
import random

import orjson
from builders import SHAPES, example_order
from flags_support import SEED, publish_lines, with_flag_tables
from sqlalchemy import delete, func, select, update
from support import json_paths

from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from portal.flags import FLAGS, Filters, counts_by_month, refresh, summary, thresholds
from portal.flags import audit as flags_audit
from portal.flags.queries import MONTHS_IN_HITS, _by_month, _hits_by_month, _totals, store_counts
from portal.flags.tables import flag_counts, flag_facts, flag_hits, flag_month_firsts, flag_totals
from portal.publishing import import_ocds

ORDERS = 900
HOSTILE = [None, True, -1, 10**30, 1.5e300, "", "x", "2024-13-01", "2024-02-30", [], {}, {"amount": "1e400"}]


def _mutated(engine, tmp_path, count: int) -> None:
    """Example releases with up to eight fields replaced by odd values (dates too), as another
    publisher's file may hold them, written for ``import_ocds``."""
    rng = random.Random(25)
    lines = []
    for n in range(count):
        release = copy.deepcopy(
            map_order(example_order(SHAPES[n % len(SHAPES)]), ocid_prefix="ocds-test01").order_release
        )
        paths = list(json_paths(release))
        for _ in range(rng.randint(1, 8)):
            path, node = rng.choice(paths), release
            try:
                for step in path[:-1]:
                    node = node[step]
                node[path[-1]] = rng.choice(HOSTILE)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier replacement removed this path
        release["ocid"], release["id"] = f"ocds-cnt001-{n}", f"r{n}"
        if n % 2:  # half keep a date the importer takes; the others' may be anything
            release["date"] = f"2024-{1 + n % 12:02d}-15T00:00:00Z"
        lines.append(json.dumps(release).encode() + b"\n")  # orjson refuses integers past 64 bits
    path = tmp_path / "mutated.jsonl"
    path.write_bytes(b"".join(lines))
    import_ocds(engine, [path])


def _ranges(conn) -> list[Filters]:
    """Month-only filters over the data's months: open at either end, one month, none."""
    months = sorted(m for m in conn.execute(select(flag_facts.c.month).distinct()).scalars() if m is not None)
    middle = months[len(months) // 2]
    return [
        Filters(month_from=middle),
        Filters(month_to=middle),
        Filters(month_from=months[1], month_to=months[-2]),
        Filters(month_from=middle, month_to=middle),
        Filters(month_from="2999-01"),
    ]


def _filters(conn) -> list[Filters]:
    """Per buyer, supplier and agreement: the two with the most hits, and one with an entity
    flag (no ocid) when there is one; each alone and with ranges of months."""
    keys = []
    for name, column in (
        ("buyer", flag_hits.c.buyer_id),
        ("supplier", flag_hits.c.supplier_id),
        ("agreement", flag_hits.c.agreement_ocid),
    ):
        busiest = (
            select(column).where(column.is_not(None)).group_by(column).order_by(func.count().desc(), column)
        )
        chosen = list(conn.execute(busiest.limit(2)).scalars())
        entity = conn.execute(
            select(column).where(column.is_not(None), flag_hits.c.ocid.is_(None)).order_by(column).limit(1)
        ).scalar()
        keys += [{name: value} for value in dict.fromkeys([*chosen, entity]) if value is not None]
    keys.append({"buyer": "no such buyer"})
    out = []
    for key in keys:
        out.append(Filters(**key))
        for months in _ranges(conn)[:3]:
            out.append(Filters(**key, month_from=months.month_from, month_to=months.month_to))
    return out


def _filtered_same_as_the_queries(conn) -> None:
    """Under every filter of :func:`_filters` and :func:`_ranges`, ``summary`` and
    ``counts_by_month`` (whatever path they take) equal the queries over the hits and their
    orders; the flags counted from the hits alone are, with any filter or none."""
    filters = [*_ranges(conn), *_filters(conn)]
    assert (
        any(f.buyer for f in filters)
        and any(f.supplier for f in filters)
        and any(f.agreement for f in filters)
    )
    nonzero = 0
    for f in filters:
        live = _totals(conn, f)
        for row in summary(conn, f):
            expected = live.get(row["code"], (0, 0, 0, 0))
            assert (row["count"], row["orders"], row["buyers"], row["suppliers"]) == expected, (row, f)
            nonzero += bool(row["count"])
        for flag in FLAGS:
            assert counts_by_month(conn, flag.code, f) == _by_month(conn, flag.code, f), (flag.code, f)
    for code in MONTHS_IN_HITS:
        assert _hits_by_month(conn, code, Filters()) == _by_month(conn, code, Filters()), code
    assert nonzero >= 20  # the comparisons are not of zeros


def _same_as_the_queries(conn) -> dict:
    """Assert that every stored reading equals the queries' count; return the unfiltered
    readings."""
    assert conn.execute(select(func.count()).select_from(flag_totals)).scalar_one() == len(FLAGS)
    live = _totals(conn, Filters())
    read = {row["code"]: row for row in summary(conn)}
    for flag in FLAGS:
        expected = live.get(flag.code, (0, 0, 0, 0))
        row = read[flag.code]
        assert (row["count"], row["orders"], row["buyers"], row["suppliers"]) == expected, flag.code
    months = {flag.code: counts_by_month(conn, flag.code) for flag in FLAGS}
    for flag in FLAGS:
        assert months[flag.code] == _by_month(conn, flag.code, Filters()), flag.code
        for filters in _ranges(conn):
            assert counts_by_month(conn, flag.code, filters) == _by_month(conn, flag.code, filters)
    _filtered_same_as_the_queries(conn)
    return {"summary": read, "months": months}


def _stored(conn) -> dict:
    """Every row of the stored counts, per table."""
    return {
        t.name: sorted(tuple(row) for row in conn.execute(select(t)))
        for t in (flag_totals, flag_counts, flag_month_firsts)
    }


def test_stored_counts_equal_the_queries_after_full_and_partial_refreshes(database_url, tmp_path):
    engine = with_flag_tables(database_url)
    th = thresholds()
    lines = [orjson.dumps(o) + b"\n" for o in generate_orders(ORDERS, SEED)]
    publish_lines(engine, lines[: ORDERS * 2 // 3], tmp_path, "first.jsonl")
    assert refresh(engine, th).full
    with engine.connect() as conn:
        first = _same_as_the_queries(conn)
    # Flags of every subject counted, over several months: the comparison is not of zeros.
    assert sum(1 for row in first["summary"].values() if row["count"]) >= 5
    assert sum(len(m) > 1 for m in first["months"].values()) >= 5

    publish_lines(engine, lines[ORDERS * 2 // 3 :], tmp_path, "rest.jsonl")
    _mutated(engine, tmp_path, 40)
    partial = refresh(engine, th)
    assert not partial.full and partial.processes > 0
    assert "single_quote" in partial.counts_moved
    with engine.connect() as conn:
        second = _same_as_the_queries(conn)
        # The flags counted from their hits alone were moved by their changed hits, not
        # counted again: every stored row is what counting them whole writes.
        moved = _stored(conn)
        store_counts(conn)
        assert _stored(conn) == moved
        conn.rollback()
    assert second != first  # the partial refresh wrote the new counts

    # A database migrated since its last refresh (nothing counted): the queries answer, and
    # the next refresh, with nothing new to read, counts what is missing.
    with engine.begin() as conn:
        uncounted = ["single_quote", "split", "buyer_hhi"]
        conn.execute(delete(flag_totals).where(flag_totals.c.flag.in_(uncounted)))
        conn.execute(delete(flag_counts).where(flag_counts.c.flag == "single_quote"))
        conn.execute(delete(flag_month_firsts).where(flag_month_firsts.c.flag == "single_quote"))
        assert summary(conn) == list(second["summary"].values())
        _filtered_same_as_the_queries(conn)  # ranges of months counted over the hits
        assert counts_by_month(conn, "single_quote") == second["months"]["single_quote"]
    assert refresh(engine, th).processes == 0
    with engine.connect() as conn:
        assert _same_as_the_queries(conn) == second

    # The audit recomputes the flags as a full refresh would and finds the partial refresh's
    # counts right; an altered count is named.
    problems: list[tuple[str, str]] = []
    flags_audit.check(engine, lambda subject, text: problems.append((subject, text)))
    assert [p for p in problems if p[0].startswith("flag counts")] == []
    problems.clear()
    with engine.begin() as conn:
        code, month = conn.execute(select(flag_counts.c.flag, flag_counts.c.month).limit(1)).one()
        conn.execute(
            update(flag_counts)
            .where(flag_counts.c.flag == code, flag_counts.c.month == month)
            .values(orders=flag_counts.c.orders + 1)
        )
        other = next(f.code for f in FLAGS if f.code != code)
        conn.execute(
            update(flag_totals).where(flag_totals.c.flag == other).values(hits=flag_totals.c.hits + 1)
        )
        firsts = flag_month_firsts
        third, measure, month, previous = conn.execute(
            select(firsts.c.flag, firsts.c.measure, firsts.c.month, firsts.c.previous)
            .where(firsts.c.flag.not_in([code, other]))
            .limit(1)
        ).one()
        conn.execute(
            update(firsts)
            .where(
                firsts.c.flag == third,
                firsts.c.measure == measure,
                firsts.c.month == month,
                firsts.c.previous == previous,
            )
            .values(n=firsts.c.n + 1)
        )
    flags_audit.check(engine, lambda subject, text: problems.append((subject, text)))
    counted = [p for p in problems if p[0].startswith("flag counts")]
    assert {subject for subject, _ in counted} == {f"flag counts {c}" for c in (code, other, third)}
    assert len(counted) == 6  # each row stored altered, and missing as recomputed
    engine.dispose()


def test_a_refresh_waits_for_the_one_under_way(database_url):
    """Two refreshes never interleave (a partial one moves the stored counts by what it
    changed): a refresh waits while another transaction holds the flags' lock, then runs."""
    import threading

    from portal.flags.refresh import lock

    engine = with_flag_tables(database_url)
    th = thresholds()
    assert refresh(engine, th).full  # the first: nothing published, every flag counted
    finished = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            refresh(engine, th)
            finished.set()
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    with engine.connect() as holder:
        holder.begin()
        lock(holder)
        thread = threading.Thread(target=second)
        thread.start()
        assert not finished.wait(1.0), "the refresh ran while another held the lock"
        holder.rollback()
    thread.join(60)
    assert errors == [] and finished.is_set()
    engine.dispose()
