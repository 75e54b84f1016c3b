"""``veraz audit``'s check of the red flags' tables: recomputed from the published data and
compared, row by row, and what they were computed from (``flag_state``) checked.

In one transaction that is rolled back, the stored ``flag_facts``, ``flag_prices`` and
``flag_hits`` are copied aside (temporary tables), then recomputed as a full refresh computes
them (every process's facts from its record and releases, every priced line, every flag) with
the thresholds and the statistics the stored flags were computed with (``flag_state``: a partial
refresh reuses the statistics that span every group, so a recomputation with fresh ones could
differ without anything being altered). The database then says which rows differ (``EXCEPT``
both ways), so memory stays small whatever the number of processes. A stored row that the
recomputation does not give, or a recomputed one that is not stored, is a problem named by its
ocid (facts, priced lines, an order's flag) or by ``flag <code> <scope>`` (a flag of a buyer,
supplier, pair or catalogue).

``flag_state`` itself (problems named ``flag_state <name>``): each of its rows must be there and
well formed; the thresholds must be the settings'; the data's first order day must be the
recomputed facts'; the other statistics (the fence of suppliers' segment counts, the amount from
which an order is large, per currency) are those of the last full refresh (``full_release``),
which partial refreshes reuse. They are recomputed from the facts of the processes that have no
release after it (their facts then are their facts now): when no process published before it
has changed since (new processes only), that is exactly what the full refresh read, and each
statistic must be equal. When ``c`` such processes changed, their facts then are unknown, and
each statistic must lie where ``c`` unknown values could put it (:func:`_order_bounds`).

Nothing is checked before the first refresh (no ``flag_state``, no flags) and, when releases
were published since the last refresh, one problem says the flags are behind (the comparison
would list every change since).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, select, text

from portal.flags import compute, sums
from portal.flags.facts import _chunks, _insert_prices, refresh_facts
from portal.flags.tables import (
    flag_buyer_pairs,
    flag_buyer_years,
    flag_facts,
    flag_hits,
    flag_prices,
    flag_state,
)
from portal.models import records, releases

Report = Callable[[str, str], None]

#: The compared columns of each table (a hit's ``id`` is its row key, nothing more).
_COMPARED = {
    "flag_facts": [c.name for c in flag_facts.c],
    "flag_prices": [c.name for c in flag_prices.c],
    "flag_hits": [c.name for c in flag_hits.c if c.name != "id"],
    "flag_buyer_pairs": [c.name for c in flag_buyer_pairs.c],
    "flag_buyer_years": [c.name for c in flag_buyer_years.c],
}

#: The rows a refresh writes in ``flag_state``.
STATE_NAMES = ("full_release", "last_release", "statistics", "thresholds")


def check(engine: Engine, report: Report, settings: dict[str, Any] | None = None) -> int:
    """Recompute the flags' tables and report each difference (module docstring); returns the
    number of processes whose facts were recomputed. ``settings``: the flags' thresholds as
    configured (``portal.flags.thresholds``), which the stored ones must equal."""
    with engine.connect() as conn:
        raw = dict(conn.execute(select(flag_state.c.name, flag_state.c.value)).all())
        if not raw:
            if (
                conn.execute(select(exists().select_from(flag_hits))).scalar()
                or conn.execute(select(exists().select_from(flag_facts))).scalar()
            ):
                report("flag_state", "missing: the flags are stored without what they were computed from")
            return 0
        state = _parse_state(raw, report)
        if state is None:
            return 0
        last = int(conn.execute(select(func.coalesce(func.max(releases.c.id), 0))).scalar_one())
        if state["last_release"] != last:
            report(
                "flag_state last_release",
                f"the flags are behind: computed up to release {state['last_release']} but release "
                f"{last} is published (run veraz flags refresh, then audit again)",
            )
            return 0
        if state["full_release"] > state["last_release"]:
            report(
                "flag_state full_release",
                f"release {state['full_release']} is after the last refresh's ({state['last_release']})",
            )
            return 0
        if settings is not None and not _same_thresholds(state["thresholds"], settings, report):
            return 0
        conn.rollback()  # the reads above began a transaction: the recomputation's is its own
        transaction = conn.begin()
        try:
            for table in _COMPARED:
                conn.execute(text(f"CREATE TEMPORARY TABLE audit_{table} AS SELECT * FROM {table}"))
            count = _recompute(conn, state)
            _compare(conn, report)
            check_counts(conn, report)
            for table in _COMPARED:
                conn.execute(text(f"DROP TABLE audit_{table}"))
            _check_statistics(conn, state, report)
        except ValueError as error:  # a stored record or release that does not parse
            report("red flags", f"not recomputed: {error} (the record checks name the row)")
            count = 0
        finally:
            transaction.rollback()
    return count


def _parse_state(raw: dict[str, str], report: Report) -> dict[str, Any] | None:
    """``flag_state``'s rows, decoded and checked for shape; None (each fault reported) when
    one is missing, unknown or malformed."""
    state: dict[str, Any] = {}
    ok = True
    for name in sorted(set(raw) - set(STATE_NAMES)):
        report(f"flag_state {name}", "not a row the flags' refresh writes")
        ok = False
    for name in STATE_NAMES:
        if name not in raw:
            report(f"flag_state {name}", "missing (run veraz flags refresh --full)")
            ok = False
            continue
        try:
            value = json.loads(raw[name])
        except ValueError:
            report(f"flag_state {name}", f"not JSON: {raw[name][:60]!r}")
            ok = False
            continue
        fault = _shape_fault(name, value)
        if fault:
            report(f"flag_state {name}", fault)
            ok = False
        state[name] = value
    return state if ok else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shape_fault(name: str, value: Any) -> str | None:
    if name in ("last_release", "full_release"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"not a release number: {value!r:.60}"
    if name == "thresholds":
        return None if isinstance(value, dict) else f"not an object: {value!r:.60}"
    if not isinstance(value, dict) or set(value) != {"segment_fence", "large", "first_day"}:
        return f"not the statistics a refresh writes: {value!r:.60}"
    large = value["large"]
    if not _is_number(value["segment_fence"]):
        return f"segment_fence is not a number: {value['segment_fence']!r:.60}"
    if not isinstance(large, dict) or not all(_is_number(v) for v in large.values()):
        return f"large is not an amount per currency: {large!r:.60}"
    if value["first_day"] is not None and not isinstance(value["first_day"], str):
        return f"first_day is not a day: {value['first_day']!r:.60}"
    return None


def _same_thresholds(stored: dict[str, Any], settings: dict[str, Any], report: Report) -> bool:
    """Whether the stored thresholds are the settings' (as JSON gives them back)."""
    wanted = json.loads(json.dumps(dict(sorted(settings.items()))))
    differing = sorted(set(stored) | set(wanted))
    differing = [name for name in differing if stored.get(name, "absent") != wanted.get(name, "absent")]
    for name in differing:
        report(
            "flag_state thresholds",
            f"the flags were computed with {name} = {stored.get(name, 'absent')!r} but the settings say "
            f"{wanted.get(name, 'absent')!r} (run veraz flags refresh, then audit again)",
        )
    return not differing


def _recompute(conn: Connection, state: dict) -> int:
    """Every fact, priced line, per-buyer sum and flag, as a full refresh computes them with
    the stored thresholds and statistics; returns the processes read."""
    conn.execute(delete(flag_facts))
    conn.execute(delete(flag_prices))
    count = refresh_facts(conn, list(conn.execute(select(records.c.ocid)).scalars()))
    conn.execute(delete(flag_prices))
    _insert_prices(conn, None)
    conn.execute(delete(flag_hits))
    th = state["thresholds"]
    sums.rebuild(conn, compute.year_end_start(th["FLAG_YEAR_END_DAYS"]))
    compute.compute_orders(conn, th, None)
    compute.compute_buyers(conn, th, None)
    compute.compute_splits(conn, th, None)
    compute.compute_agreements(conn, th, None)
    compute.compute_prices(conn, th, None)
    compute.compute_suppliers(conn, th, None, state["statistics"])
    return count


def _compare(conn: Connection, report: Report) -> None:
    for table, columns in _COMPARED.items():
        cols = ", ".join(columns)
        for source, other, what in (
            (f"audit_{table}", table, "stored but not what the published data gives (altered or stale)"),
            (table, f"audit_{table}", "missing: the published data gives it"),
        ):
            query = text(f"SELECT {cols} FROM {source} EXCEPT SELECT {cols} FROM {other}")
            for row in conn.execute(query).mappings():
                report(_subject(table, row), f"{_noun(table)} {_describe(table, row)} is {what}")


def _subject(table: str, row) -> str:
    if table.startswith("flag_buyer_"):
        return f"buyer sums {row['buyer_id']}"
    if table == "flag_hits" and row["ocid"] is None:
        return f"flag {row['flag']} {row['scope']}"
    return str(row["ocid"])


def _noun(table: str) -> str:
    nouns = {
        "flag_facts": "its red-flag facts",
        "flag_prices": "its priced line",
        "flag_hits": "the flag",
        "flag_buyer_pairs": "a sum per supplier",
        "flag_buyer_years": "a sum per year",
    }
    return nouns[table]


def _describe(table: str, row) -> str:
    if table == "flag_prices":
        return f"{row['position']} ({row['product'][:60]})"
    if table == "flag_hits":
        return f"{row['flag']} ({row['subject']} {row['scope'][:60]})"
    if table == "flag_buyer_pairs":
        return f"({row['supplier_id']}, {row['currency'] or 'no currency'})"
    if table == "flag_buyer_years":
        return f"({row['year']}, {row['currency']})"
    return "row"


def _changed_since(conn: Connection, release: int) -> tuple[list[str], int]:
    """The processes with a release after ``release``, and how many of them also have one
    before it (published then, changed since)."""
    changed = sorted(
        conn.execute(select(releases.c.ocid).distinct().where(releases.c.id > release)).scalars()
    )
    older = 0
    for chunk in _chunks(changed):
        older += int(
            conn.execute(
                select(func.count(func.distinct(releases.c.ocid))).where(
                    releases.c.ocid.in_(chunk), releases.c.id <= release
                )
            ).scalar_one()
        )
    return changed, older


def _at(values: list[float], index: int) -> float:
    """``values[index]``, with the values below and above the list taken as unbounded."""
    if index < 0:
        return -math.inf
    if index >= len(values):
        return math.inf
    return values[index]


def _order_bounds(values: list[float], q: float, unknown: int) -> tuple[float, float]:
    """Where the ``q`` quantile (:func:`compute.quantile`) of ``values`` plus ``unknown`` values
    of any size, some of ``values`` raised by any amount (at most ``unknown`` in all), can lie.

    Each order statistic of such a list lies between ``values``' statistics ``unknown`` places
    below and above it, and its length between ``len(values)`` and ``len(values) + unknown``;
    the quantile interpolates between two neighbouring statistics."""
    n = len(values)
    low_position = math.floor((n - 1) * q) if n else 0
    high_position = math.floor((n + unknown - 1) * q) + 1
    return _at(values, low_position - unknown), _at(values, high_position + unknown)


def _fence_bounds(counts: list[float], factor: float, unknown: int) -> tuple[float, float]:
    """Where Tukey's upper fence (``compute.upper_fence``) of sorted ``counts`` can lie with
    ``unknown`` of them raised or added (:func:`_order_bounds` of both quartiles)."""
    q1_low, q1_high = _order_bounds(counts, 0.25, unknown)
    q3_low, q3_high = _order_bounds(counts, 0.75, unknown)
    low = (1 + factor) * q3_low - factor * q1_high if math.isfinite(q3_low + q1_high) else -math.inf
    high = (1 + factor) * q3_high - factor * q1_low if math.isfinite(q3_high + q1_low) else math.inf
    return low, high


def _check_statistics(conn: Connection, state: dict[str, Any], report: Report) -> None:
    """Compare the stored statistics with the published data's (module docstring). Runs on
    the recomputed facts and priced lines, which it then changes (the transaction is rolled
    back)."""
    stored, th = state["statistics"], state["thresholds"]
    subject = "flag_state statistics"
    fresh_first = _first_day_now(conn)
    if stored["first_day"] != fresh_first:
        report(subject, f"first_day: stored {stored['first_day']!r}, the published data give {fresh_first!r}")
    changed, unknown = _changed_since(conn, state["full_release"])
    for chunk in _chunks(changed):
        conn.execute(delete(flag_facts).where(flag_facts.c.ocid.in_(chunk)))
        conn.execute(delete(flag_prices).where(flag_prices.c.ocid.in_(chunk)))
    inputs = compute.statistics_inputs(conn)
    then = compute.statistics_of(inputs, th)
    where = f"the full refresh at release {state['full_release']}"
    if unknown == 0:
        if stored["segment_fence"] != then["segment_fence"]:
            report(
                subject,
                f"segment_fence (every supplier): stored {stored['segment_fence']!r}, the published "
                f"data give {then['segment_fence']!r} ({where})",
            )
        for currency in sorted(set(stored["large"]) | set(then["large"])):
            a, b = stored["large"].get(currency), then["large"].get(currency)
            if a != b:
                report(
                    subject,
                    f"large ({currency}): stored {a!r}, the published data give {b!r} ({where})",
                )
        return
    since = f"{where}, {unknown} process(es) published before it changed since"
    counts = [float(n) for n in inputs.segment_counts]
    low, high = _fence_bounds(counts, th["FLAG_IQR_FACTOR"], unknown)
    fence = stored["segment_fence"]
    if not low <= fence <= high:
        report(
            subject,
            f"segment_fence (every supplier): stored {fence!r}, {_allowed(low, high, since)}",
        )
    for currency in sorted(set(stored["large"]) | set(inputs.amounts)):
        values = inputs.amounts.get(currency, [])
        value = stored["large"].get(currency)
        if value is None:  # a currency of orders that were there then has a large amount
            if values:
                report(
                    subject,
                    f"large ({currency}): missing, the published data give {then['large'][currency]!r} "
                    f"({since})",
                )
            continue
        low, high = _order_bounds(values, th["FLAG_LARGE_QUANTILE"], unknown)
        if not low <= value <= high:
            report(
                subject,
                f"large ({currency}): stored {value!r}, {_allowed(low, high, since)}",
            )


def _allowed(low: float, high: float, since: str) -> str:
    return f"the published data allow {low!r} to {high!r} ({since})"


def _first_day_now(conn: Connection) -> str | None:
    return conn.execute(
        select(func.min(flag_facts.c.date)).where(
            flag_facts.c.live.is_(True), flag_facts.c.cancelled.is_(False)
        )
    ).scalar()


#: The page's stored counts: each table's columns, and how a differing row is described.
_COUNT_TABLES = {
    "flag_counts": ("flag, month, orders", lambda row: f"month {row[1]}: {row[2]}"),
    "flag_totals": (
        "flag, hits, orders, buyers, suppliers",
        lambda row: "totals: " + ", ".join(map(str, row[1:])),
    ),
    "flag_month_firsts": (
        "flag, measure, month, previous, n",
        lambda row: f"{row[1]} first in {row[2]} after {row[3] or 'none'}: {row[4]}",
    ),
}


def check_counts(conn: Connection, report: Report) -> None:
    """The page's stored counts (``flag_counts``, ``flag_totals``, ``flag_month_firsts``)
    against those of the recomputed flags: called in the audit's transaction once the hits and
    facts are recomputed (the stored counts are still the refresh's). A differing row is named
    ``flag counts <code>``."""
    from portal.flags.queries import store_counts

    for table in _COUNT_TABLES:
        conn.execute(text(f"CREATE TEMPORARY TABLE audit_{table} AS SELECT * FROM {table}"))
    store_counts(conn)
    for table, (cols, describe) in _COUNT_TABLES.items():
        for source, other, what in (
            (f"audit_{table}", table, "stored but not what the published data gives (altered or stale)"),
            (table, f"audit_{table}", "missing: the published data gives it"),
        ):
            for row in conn.execute(text(f"SELECT {cols} FROM {source} EXCEPT SELECT {cols} FROM {other}")):
                report(f"flag counts {row[0]}", f"the page's count ({describe(row)}) is {what}")
        conn.execute(text(f"DROP TABLE audit_{table}"))
