"""``veraz audit``'s check of the red flags' tables: recomputed from the published data and
compared, row by row.

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

Nothing is checked before the first refresh (no ``flag_state``) and, when releases were
published since the last refresh, one problem says the flags are behind (the comparison would
list every change since).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import Connection, Engine, delete, func, select, text

from portal.flags import compute, sums
from portal.flags.facts import _insert_prices, refresh_facts
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


def check(engine: Engine, report: Report) -> int:
    """Recompute the flags' tables and report each difference (module docstring); returns the
    number of processes whose facts were recomputed."""
    with engine.connect() as conn:
        state = {
            name: json.loads(value)
            for name, value in conn.execute(select(flag_state.c.name, flag_state.c.value))
        }
        if "last_release" not in state:
            return 0
        last = int(conn.execute(select(func.coalesce(func.max(releases.c.id), 0))).scalar_one())
        if last != state["last_release"] or "thresholds" not in state or "statistics" not in state:
            report(
                "red flags",
                f"computed up to release {state['last_release']} but release {last} is published "
                "(run veraz flags refresh, then audit again)",
            )
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
        except ValueError as error:  # a stored record or release that does not parse
            report("red flags", f"not recomputed: {error} (the record checks name the row)")
            count = 0
        finally:
            transaction.rollback()
    return count


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


def check_counts(conn: Connection, report: Report) -> None:
    """The unfiltered page's counts (``flag_counts``, ``flag_totals``) against those of the
    recomputed flags: called in the audit's transaction once the hits and facts are
    recomputed (the stored counts are still the refresh's). A differing row is named
    ``flag counts <code>``."""
    from portal.flags.queries import store_counts

    names = ("flag_counts", "flag_totals")
    for table in names:
        conn.execute(text(f"CREATE TEMPORARY TABLE audit_{table} AS SELECT * FROM {table}"))
    store_counts(conn)
    for table in names:
        cols = "flag, month, orders" if table == "flag_counts" else "flag, hits, orders, buyers, suppliers"
        for source, other, what in (
            (f"audit_{table}", table, "stored but not what the published data gives (altered or stale)"),
            (table, f"audit_{table}", "missing: the published data gives it"),
        ):
            for row in conn.execute(text(f"SELECT {cols} FROM {source} EXCEPT SELECT {cols} FROM {other}")):
                where = f"month {row[1]}" if table == "flag_counts" else "totals"
                values = ", ".join(map(str, row[1:]))
                report(f"flag counts {row[0]}", f"the page's count ({where}: {values}) is {what}")
        conn.execute(text(f"DROP TABLE audit_{table}"))
