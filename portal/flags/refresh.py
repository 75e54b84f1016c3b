"""Keeping the flags current: a full refresh, or a partial one after new releases.

:func:`refresh` reads what changed since the last refresh (releases with a larger ``id`` than
the one it stored in ``flag_state``), refreshes those processes' facts and priced lines, and
recomputes the groups they belong to, before and after the change (their buyer, suppliers,
products, framework agreement). Everything happens in one transaction: a reader sees the flags
of one state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from portal.flags import compute, sums
from portal.flags.definitions import FLAGS
from portal.flags.facts import _chunks, _insert_prices, refresh_facts, stale_ocids
from portal.flags.queries import store_counts, update_counts
from portal.flags.tables import flag_facts, flag_hits, flag_prices, flag_state, flag_totals
from portal.models import releases


@dataclass
class RefreshSummary:
    """What a refresh did: ``full`` or partial, processes whose facts were read, hits stored,
    seconds per step, and which flags' counts it moved rather than counted again."""

    full: bool
    processes: int = 0
    hits: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    #: The flags whose stored counts a partial refresh moved by their changed hits (the others
    #: it counted again).
    counts_moved: list[str] = field(default_factory=list)


#: PostgreSQL's advisory lock of the flags' refresh.
REFRESH_LOCK_KEY = int.from_bytes(b"VERAZFLG", "big") & 0x7FFF_FFFF_FFFF_FFFF


def lock(conn: Connection) -> None:
    """Take the flags' write lock for the rest of ``conn``'s transaction, before the refresh
    reads anything: a partial refresh moves the stored counts by what it changed, so two at once
    must not both read the counts the other is about to move (on PostgreSQL, under READ
    COMMITTED, they would; SQLite's write lock, taken now rather than at the first write, keeps
    the second from failing halfway instead of waiting)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.execute(text("UPDATE flag_state SET name = name WHERE 0"))


def _state(conn: Connection) -> dict[str, Any]:
    return {
        name: json.loads(value) for name, value in conn.execute(select(flag_state.c.name, flag_state.c.value))
    }


def _set_state(conn: Connection, **values: Any) -> None:
    conn.execute(delete(flag_state).where(flag_state.c.name.in_(list(values))))
    conn.execute(insert(flag_state), [{"name": k, "value": json.dumps(v)} for k, v in values.items()])


def _scopes(conn: Connection, ocids: list[str]) -> dict[str, set[str]]:
    """The groups ``ocids`` belong to now: buyers, suppliers, buyer-supplier pairs, agreements,
    products."""
    out: dict[str, set[Any]] = {
        "buyers": set(),
        "suppliers": set(),
        "agreements": set(),
        "products": set(),
        "pairs": set(),
    }
    for chunk in _chunks(ocids):
        query = select(flag_facts.c.buyer_id, flag_facts.c.supplier_id, flag_facts.c.agreement_ocid).where(
            flag_facts.c.ocid.in_(chunk)
        )
        for buyer, supplier, agreement in conn.execute(query):
            if buyer is not None and supplier is not None:
                out["pairs"].add((buyer, supplier))
            for name, value in (("buyers", buyer), ("suppliers", supplier), ("agreements", agreement)):
                if value is not None:
                    out[name].add(value)
        query = select(flag_prices.c.product, flag_prices.c.supplier_id).where(flag_prices.c.ocid.in_(chunk))
        for row in conn.execute(query):
            product: str = row[0]
            supplier = row[1]
            out["products"].add(product)
            if supplier is not None:
                out["suppliers"].add(supplier)
    return out


def compute_all(conn: Connection, thresholds: dict, summary: RefreshSummary, lap=lambda name: None) -> dict:
    """Replace every flag, computed from the facts and priced lines as they stand; returns the
    figures that span every group (for later partial refreshes). ``lap(step)`` is called after
    each step (for timings)."""
    conn.execute(delete(flag_hits))
    sums.rebuild(conn, compute.year_end_start(thresholds["FLAG_YEAR_END_DAYS"]))
    stats = compute.supplier_statistics(conn, thresholds)
    summary.hits += compute.compute_orders(conn, thresholds, None)
    lap("orders")
    summary.hits += compute.compute_buyers(conn, thresholds, None)
    summary.hits += compute.compute_splits(conn, thresholds, None)
    lap("buyers")
    summary.hits += compute.compute_agreements(conn, thresholds, None)
    lap("agreements")
    summary.hits += compute.compute_prices(conn, thresholds, None)
    lap("prices")
    summary.hits += compute.compute_suppliers(conn, thresholds, None, stats)
    lap("suppliers")
    store_counts(conn)
    lap("counts")
    return stats


def _first_day(conn: Connection, ocids: list[str] | None) -> str | None:
    """The first order day (live, not cancelled) of ``ocids`` (None: of every order)."""
    conds = (flag_facts.c.live.is_(True), flag_facts.c.cancelled.is_(False))
    if ocids is None:
        return conn.execute(select(func.min(flag_facts.c.date)).where(*conds)).scalar()
    days = [
        conn.execute(select(func.min(flag_facts.c.date)).where(flag_facts.c.ocid.in_(chunk), *conds)).scalar()
        for chunk in _chunks(ocids)
    ]
    return min((d for d in days if d is not None), default=None)


def save_state(
    conn: Connection, last_release: int, stats: dict, thresholds: dict, full_release: int | None = None
) -> None:
    """Record what the flags were computed from (for the next partial refresh and the audit);
    ``full_release``: the last release a full refresh included, when this one was full."""
    values = {
        "last_release": last_release,
        "statistics": stats,
        "thresholds": dict(sorted(thresholds.items())),
    }
    if full_release is not None:
        values["full_release"] = full_release
    _set_state(conn, **values)


def refresh(engine: Engine, thresholds: dict, *, full: bool = False) -> RefreshSummary:
    """Bring the flags up to date with the published releases (see the module docstring).

    ``full`` recomputes everything (also the figures that span every group); so does the first
    refresh of a database, or one whose thresholds changed since the last."""
    with engine.begin() as conn:
        lock(conn)
        state = _state(conn)
        last = int(conn.execute(select(func.coalesce(func.max(releases.c.id), 0))).scalar_one())
        settings = {k: v for k, v in sorted(thresholds.items())}
        full = (
            full
            or "last_release" not in state
            or "full_release" not in state  # written since the audit checks the statistics
            or state.get("thresholds") != settings
        )
        summary = RefreshSummary(full=full)
        started = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal started
            now = time.perf_counter()
            summary.seconds[name] = round(now - started, 3)
            started = now

        if full:
            summary.processes = refresh_facts(conn, stale_ocids(conn))
            # Priced lines follow the read model as a whole (a reindex rewrites item lines).
            conn.execute(delete(flag_prices))
            _insert_prices(conn, None)
            lap("facts")
            stats = compute_all(conn, thresholds, summary, lap)
        else:
            stats = state["statistics"]
            changed = list(
                conn.execute(
                    select(releases.c.ocid).distinct().where(releases.c.id > state["last_release"])
                ).scalars()
            )
            before = _scopes(conn, changed)
            first_before = _first_day(conn, changed)
            start = compute.year_end_start(thresholds["FLAG_YEAR_END_DAYS"])
            delta = sums.contributions(conn, changed, start, -1)
            summary.processes = refresh_facts(conn, changed)
            sums.apply(conn, sums.contributions(conn, changed, start, 1, delta))
            after = _scopes(conn, changed)
            scopes: dict[str, set[Any]] = {name: before[name] | after[name] for name in before}
            lap("facts")
            # The data's first order day is kept exact (the audit compares it with the
            # published data's): the stored one is at most every unchanged order's, so only
            # the changed orders can lower it; when one of them held it, it may rise, and the
            # minimum over every order (a walk of every order's index entry) is taken again.
            stored = stats.get("first_day")
            if first_before is not None and (stored is None or first_before <= stored):
                stats["first_day"] = _first_day(conn, None)
            else:
                first = _first_day(conn, changed)
                if first is not None and (stored is None or first < stored):
                    stats["first_day"] = first
            with compute.recording_changes(conn) as hit_changes:
                summary.hits += compute.compute_orders(conn, thresholds, changed)
                lap("orders")
                summary.hits += compute.compute_buyers(conn, thresholds, scopes["buyers"])
                summary.hits += compute.compute_splits(conn, thresholds, scopes["pairs"])
                lap("buyers")
                summary.hits += compute.compute_agreements(conn, thresholds, scopes["agreements"])
                lap("agreements")
                summary.hits += compute.compute_prices(conn, thresholds, scopes["products"])
                lap("prices")
                # Which suppliers are new depends on the data's first day: when it moved, every
                # supplier's (rare: an order dated before every other, or the first one cancelled).
                suppliers = None if stats.get("first_day") != stored else scopes["suppliers"]
                summary.hits += compute.compute_suppliers(conn, thresholds, suppliers, stats)
                lap("suppliers")
            # A changed order can move any flag's counts (its month, its cancellation, the orders
            # of a flagged buyer): every flag is counted again, those counted from their hits
            # alone by the difference their changed hits make. With nothing changed, only the
            # flags never counted (a database migrated since its last refresh).
            if changed:
                summary.counts_moved = update_counts(conn, hit_changes)
            else:
                counted = set(conn.execute(select(flag_totals.c.flag)).scalars())
                store_counts(conn, [f.code for f in FLAGS if f.code not in counted])
            lap("counts")
        save_state(conn, last, stats, thresholds, last if full else None)
    if full and engine.dialect.name == "postgresql":
        # A full refresh rewrites every hit: until (auto)vacuum marks their pages all-visible,
        # the filtered views' index-only scans visit the table for each hit (an agreement's
        # summary 37 ms instead of 24 at a million orders). A partial refresh changes a few
        # pages, which autovacuum's threshold leaves to it.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE) flag_hits")
    return summary
