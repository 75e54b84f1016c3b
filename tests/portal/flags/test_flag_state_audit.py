"""``veraz audit``'s check of what the flags were computed from (``flag_state``): its thresholds
against the settings, its statistics against the published data's, after a full refresh and
after partial ones (new processes only: exact; changed processes: within their bounds).

On a real SQLite file and a real PostgreSQL database, with generated orders published through
the pipeline. The bounds themselves are checked against brute force (hypothesis)."""

from __future__ import annotations

import json
import math
import random
from datetime import date
from decimal import Decimal

import orjson
import pytest
from flags_support import PREFIX, SEED, publish_lines, with_flag_tables
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from support import make_app

from ocds.catalogue.generate import generate_orders
from portal.db import app_engine
from portal.flags import refresh, sums, thresholds
from portal.flags.audit import _fence_bounds, _order_bounds, check
from portal.flags.compute import quantile, upper_fence
from portal.flags.tables import flag_facts, flag_hits, flag_state

ORDERS = 240
FIRST = 150


def _state(engine) -> dict:
    with engine.connect() as conn:
        return {n: json.loads(v) for n, v in conn.execute(select(flag_state.c.name, flag_state.c.value))}


def _set(engine, name: str, value) -> None:
    with engine.begin() as conn:
        conn.execute(update(flag_state).where(flag_state.c.name == name).values(value=json.dumps(value)))


#: The flags' settings the test runs with (the audit compares the stored thresholds with them).
SETTINGS: dict = {}


def _audit(engine) -> list[str]:
    found: list[str] = []
    check(engine, lambda subject, detail: found.append(f"{subject}: {detail}"), SETTINGS)
    return found


def _new_supplier_window(engine, cancelled: str, untouched_by: list[str]) -> tuple[str, int]:
    """An order and a FLAG_NEW_SUPPLIER_DAYS with which the order is flagged ``new_supplier``
    while the data's first day is that of ``cancelled`` (the earliest order), and no longer
    once that order is cancelled; its supplier has none of ``untouched_by``'s orders (a partial
    refresh of those would recompute its flags anyway)."""
    with engine.connect() as conn:
        stats = json.loads(
            conn.execute(select(flag_state.c.value).where(flag_state.c.name == "statistics")).scalar()
        )
        rows = conn.execute(
            select(flag_facts.c.ocid, flag_facts.c.supplier_id, flag_facts.c.date, flag_facts.c.amount)
            .where(
                flag_facts.c.live.is_(True), flag_facts.c.cancelled.is_(False), flag_facts.c.date.is_not(None)
            )
            .order_by(flag_facts.c.date, flag_facts.c.ocid)
        ).all()
        touched = set(
            conn.execute(
                select(flag_facts.c.supplier_id).where(flag_facts.c.ocid.in_(untouched_by))
            ).scalars()
        )
    assert rows[0].ocid == cancelled and rows[1].date > rows[0].date
    old_first = date.fromisoformat(rows[0].date)
    firsts: dict[str, date] = {}
    for row in rows:
        firsts.setdefault(row.supplier_id, date.fromisoformat(row.date))
    for row in rows[1:]:
        first = firsts[row.supplier_id]
        days = (first - old_first).days
        large = float(row.amount or 0) >= stats["large"].get("PEN", math.inf)
        within = (date.fromisoformat(row.date) - first).days <= days
        if (
            row.supplier_id not in touched
            and row.supplier_id != rows[0].supplier_id
            and large
            and days > 0
            and within
        ):
            return row.ocid, days
    raise AssertionError("no order whose new_supplier flag depends on the data's first day")


def _edited(engine, name: str, change) -> list[str]:
    """The audit's problems about ``flag_state`` with its row ``name`` changed by ``change``
    (then put back). (The flags recomputed with an edited statistic differ too: named apart.)"""
    original = _state(engine)[name]
    _set(engine, name, change(json.loads(json.dumps(original))))
    try:
        return [f for f in _audit(engine) if f.startswith("flag_state")]
    finally:
        _set(engine, name, original)


def _new_supplier_hits(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(flag_hits.c.ocid).where(flag_hits.c.flag == "new_supplier")).scalars())


def _lines(orders: list[dict]) -> list[bytes]:
    return [orjson.dumps(o) + b"\n" for o in orders]


@pytest.fixture
def engine(database_url):
    engine = with_flag_tables(database_url)
    yield engine
    engine.dispose()


def _pages(app) -> tuple[dict, str, str]:
    """/api/flags's ``computed``, and /flags in Spanish and in English."""
    client = app.test_client()
    computed = client.get("/api/flags?flag=split").get_json()["computed"]
    es = client.get("/flags?flag=split").get_data(as_text=True)
    en = client.get("/flags?flag=split&lang=en").get_data(as_text=True)
    return computed, es, en


def test_statistics_checked_after_full_and_partial_refreshes(engine, database_url, tmp_path):
    orders = list(generate_orders(ORDERS, SEED))
    first, rest = orders[:FIRST], orders[FIRST:]
    known = {o["orderNumber"] for o in first}
    new = [o for o in rest if o["orderNumber"] not in known]
    updates = [o for o in rest if o["orderNumber"] in known]
    assert new and updates
    th = thresholds()

    # FLAG_NEW_SUPPLIER_DAYS chosen so that an order is flagged new_supplier only while the
    # earliest order (cancelled below) sets the data's first day.
    earliest = min(first, key=lambda o: (o["dates"]["issued"], o["orderNumber"]))
    latest = max(
        (o for o in orders if o["orderNumber"] == earliest["orderNumber"]), key=lambda o: o["version"]
    )
    publish_lines(engine, _lines(first), tmp_path, "first.jsonl")
    assert refresh(engine, th).full
    flagged, days = _new_supplier_window(
        engine, f"{PREFIX}-{earliest['orderNumber']}", [f"{PREFIX}-{o['orderNumber']}" for o in updates[:3]]
    )
    th = {**th, "FLAG_NEW_SUPPLIER_DAYS": days}
    SETTINGS.clear()
    SETTINGS.update(th)
    assert refresh(engine, th).full  # another threshold: everything again
    assert flagged in _new_supplier_hits(engine)
    assert _audit(engine) == []
    full = _state(engine)
    assert full["full_release"] == full["last_release"]

    # New processes only: the statistics are the full refresh's, checked exactly. The pages
    # say which release the flags include, and that they are behind until the refresh.
    app = make_app(database_url, tmp_path)
    app.config["FLAG_NEW_SUPPLIER_DAYS"] = days
    publish_lines(engine, _lines(new), tmp_path, "new.jsonl")
    computed, es, en = _pages(app)
    assert computed["release"] == full["last_release"] and computed["newer"] > 0
    assert not computed["thresholdsChanged"]
    assert "Las alertas están desactualizadas: no incluyen lo publicado después" in es
    assert "The flags are behind: they do not include the releases published since" in en
    assert f"up to release {full['last_release']} (published" in en  # under 1,000: no separator
    assert not refresh(engine, th).full
    computed, es, en = _pages(app)
    assert computed["newer"] == 0 and computed["release"] > full["last_release"]
    assert 'id="flags-behind"' not in es and "The flags are behind" not in en
    assert f"hasta la publicación {computed['release']} (publicada el" in es
    _set(engine, "thresholds", {**_state(engine)["thresholds"], "FLAG_IQR_FACTOR": 3.0})
    computed, es, en = _pages(app)
    assert computed["thresholdsChanged"]
    assert "se calcularon con umbrales distintos de los que se muestran" in es
    assert "they were computed with other thresholds than those shown" in en
    _set(engine, "thresholds", th)
    app_engine(app).dispose()
    state = _state(engine)
    assert state["full_release"] == full["full_release"] < state["last_release"]
    assert _audit(engine) == []
    (currency, large), *_ = state["statistics"]["large"].items()

    def times(factor):
        def change(stats):
            stats["large"][currency] *= factor
            return stats

        return change

    found = _edited(engine, "statistics", times(1.001))
    assert found == [
        f"flag_state statistics: large ({currency}): stored {large * 1.001!r}, the published data "
        f"give {large!r} (the full refresh at release {full['full_release']})"
    ]
    fence = state["statistics"]["segment_fence"]
    found = _edited(engine, "statistics", lambda s: {**s, "segment_fence": fence + 0.5})
    assert found == [
        f"flag_state statistics: segment_fence (every supplier): stored {fence + 0.5!r}, the "
        f"published data give {fence!r} (the full refresh at release {full['full_release']})"
    ]
    day = state["statistics"]["first_day"]
    found = _edited(engine, "statistics", lambda s: {**s, "first_day": "2000-01-01"})
    assert found == [
        f"flag_state statistics: first_day: stored '2000-01-01', the published data give {day!r}"
    ]
    found = _edited(engine, "thresholds", lambda t: {**t, "FLAG_IQR_FACTOR": 3.0})
    assert found == [
        "flag_state thresholds: the flags were computed with FLAG_IQR_FACTOR = 3.0 but the settings "
        "say 1.5 (run veraz flags refresh, then audit again)"
    ]
    found = _edited(engine, "full_release", lambda r: r - 1)  # claims older statistics
    assert found and all(f.startswith("flag_state statistics: ") for f in found), found

    # Processes published before the full refresh change (and its first order is cancelled):
    # their facts then are unknown, the statistics are checked within their bounds, and the
    # partial refresh keeps the first order day exact.
    cancellation = {"date": "2024-01-09T10:00:00-05:00", "reason": "Pedido duplicado."}
    cancelled = {
        **latest,
        "version": latest["version"] + 1,
        "status": "cancelled",
        "cancellation": cancellation,
    }
    # A few: each changed process widens the bounds by one place on each side.
    publish_lines(engine, _lines([*updates[:3], cancelled]), tmp_path, "updates.jsonl")
    assert not refresh(engine, th).full
    state = _state(engine)
    assert state["statistics"]["first_day"] > full["statistics"]["first_day"]  # it rose
    assert state["statistics"]["large"] == full["statistics"]["large"]  # carried over
    assert flagged not in _new_supplier_hits(engine)  # its supplier is no longer new
    assert _audit(engine) == []
    found = _edited(engine, "statistics", times(10))
    assert len(found) == 1 and found[0].startswith(
        f"flag_state statistics: large ({currency}): stored {large * 10!r}, the published data allow "
    ), found
    assert "4 process(es) published before it changed since" in found[0]

    # A full refresh makes the check exact again.
    assert refresh(engine, th, full=True).full
    assert _audit(engine) == []
    assert _edited(engine, "statistics", times(1.001)) != []


def _modified(values: list[int], changes: list[tuple[bool, int, int]]) -> list[int]:
    """``values`` with each change applied: a value added, or one raised."""
    out = list(values)
    for add, index, amount in changes:
        if add or not out:
            out.append(amount)
        else:
            out[index % len(out)] += abs(amount)
    return sorted(out)


changes = st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), st.integers(-50, 50)), max_size=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=40), changes, st.sampled_from([0.25, 0.5, 0.75, 0.9]))
def test_order_bounds_hold_whatever_the_unknown_values(values, edits, q):
    """The quantile of the values as they were (up to ``len(edits)`` of them added or raised)
    lies within the bounds computed from the values as they are."""
    now = sorted(values)
    then = _modified(now, edits)
    if not then:
        return
    low, high = _order_bounds([float(v) for v in now], q, len(edits))
    assert low <= quantile(then, q) <= high
    if now:
        fence = upper_fence(then, 1.5)[3]
        low, high = _fence_bounds([float(v) for v in now], 1.5, len(edits))
        assert low <= fence <= high
    if not edits:  # nothing unknown: the two statistics the quantile lies between
        k = math.floor((len(now) - 1) * q)
        low, high = _order_bounds([float(v) for v in now], q, 0)
        assert low == now[k] and high == (now[k + 1] if k + 1 < len(now) else math.inf)


def test_order_bounds_are_tight_enough_to_catch_an_edit():
    """With a few unknown values among many, the bounds stay near the quantile."""
    rng = random.Random(SEED)
    values = sorted(rng.lognormvariate(8, 1) for _ in range(10_000))
    low, high = _order_bounds(values, 0.9, 10)
    value = quantile(values, 0.9)
    assert low < value < high and (high - low) / value < 0.05


def test_a_sum_reads_the_same_however_it_was_reached():
    """The per-buyer sums' text: a partial refresh that adds an amount and takes it out again
    (``Decimal("0.00")``, or ``-0.00``) stores what a full refresh's sum of nothing
    (``Decimal(0)``) stores, so the audit does not take one for the other."""
    reached = [Decimal(0), Decimal("0.00"), Decimal("-0.00"), Decimal("245.99") - Decimal("245.99")]
    assert {sums._text(v) for v in reached} == {"0.00"}
    assert sums._text(Decimal("245.9") + Decimal("0.00")) == sums._text(Decimal("245.90")) == "245.90"
