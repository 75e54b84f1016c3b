"""The in-memory facet tally counts exactly what SQL counts over the read model (SQLite and
PostgreSQL), for any combination of facet values, amount bounds and date ranges, and follows
the read model when records are written after it was loaded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from portal.db import make_engine
from portal.models import item_lines, records
from portal.readmodel import queries, tally
from portal.readmodel.facets import AMOUNT_RANGES, FACETS, Browse

EVERYTHING = 100_000  # values per facet: compare all of them, not only the largest


def _sql(conn, browse: Browse) -> tuple[int, dict]:
    conds = queries.conditions(browse, counting=True)
    return queries.count(conn, conds), {
        facet: {
            v["value"]: v["count"] for v in queries.facet_counts(conn, browse, conds, facet, limit=EVERYTHING)
        }
        for facet in FACETS
    }


def _tallied(found: tally.Tally, browse: Browse) -> tuple[int, dict]:
    total, counted = tally.counts(found, browse, None, dict.fromkeys(FACETS, EVERYTHING))
    return total, {facet: {v["value"]: v["count"] for v in values} for facet, values in counted.items()}


def _values(conn) -> dict[str, list[str]]:
    """Some values of each facet that occur (and one that occurs nowhere is never asked)."""
    out = {}
    for facet in FACETS:
        if facet == "amount":
            out[facet] = list(AMOUNT_RANGES)
            continue
        counted = queries.facet_counts(conn, Browse(), {}, facet, limit=8)
        out[facet] = [v["value"] for v in counted]
    return out


@pytest.fixture
def loaded(published):
    engine = make_engine(published)
    with engine.connect() as conn:
        yield conn, tally.load(conn), _values(conn)
    engine.dispose()


def _browse(data, values: dict[str, list[str]]) -> Browse:
    chosen = data.draw(st.lists(st.sampled_from([f for f in FACETS if values[f]]), max_size=3, unique=True))
    selected = {
        f: tuple(data.draw(st.lists(st.sampled_from(values[f]), min_size=1, max_size=2, unique=True)))
        for f in chosen
    }
    low = data.draw(st.none() | st.dates(date(2019, 1, 1), date(2027, 12, 31)))
    high = data.draw(st.none() | st.dates(low or date(2019, 1, 1), date(2028, 12, 31)))
    amount = st.none() | st.decimals(0, 2_000_000, places=2)
    return Browse(
        selected=selected,
        date_from=low,
        date_to=high,
        amount_min=data.draw(amount),
        amount_max=data.draw(amount),
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tally_counts_what_sql_counts(loaded, data):
    conn, found, values = loaded
    browse = _browse(data, values)
    assert _tallied(found, browse) == _sql(conn, browse)


def test_unfiltered_and_date_ranges(loaded):
    conn, found, _ = loaded
    assert found.size == len(conn.execute(select(records.c.ocid)).all()) > 400
    for browse in (
        Browse(),
        Browse(date_from=date(2024, 1, 1)),
        Browse(date_to=date(2024, 6, 30)),
        Browse(date_from=date(2024, 2, 29), date_to=date(2024, 3, 31)),
    ):
        total, counted = _tallied(found, browse)
        assert (total, counted) == _sql(conn, browse)
    dated = [d for d in conn.execute(select(records.c.date)).scalars()]
    inside = [d for d in dated if d and "2024-02-29" <= d[:10] <= "2024-03-31" and d[:4].isdigit()]
    assert _tallied(found, Browse(date_from=date(2024, 2, 29), date_to=date(2024, 3, 31)))[0] == len(inside)


def test_refresh_reads_only_what_changed(published, monkeypatch):
    engine = make_engine(published)
    with engine.connect() as conn:
        before = tally.load(conn)
        ocids = conn.execute(select(records.c.ocid).order_by(records.c.ocid).limit(3)).scalars().all()
    with engine.begin() as conn:  # as a recompile would: new columns and item lines, written now
        conn.execute(
            update(records)
            .where(records.c.ocid.in_(ocids))
            .values(
                buyer_id="PE-RUC-NEW",
                status="cancelled",
                amount=Decimal("123.45"),
                date="2031-01-02T10:00:00-05:00",
                month="2031-01",
                updated_at=datetime.now(UTC),
            )
        )
        conn.execute(
            update(item_lines).where(item_lines.c.ocid == ocids[0]).values(segment="99", family="9911")
        )

    def no_full_load(conn):
        raise AssertionError("refresh loaded everything again")

    with engine.connect() as conn:
        monkeypatch.setattr(tally, "load", no_full_load)
        after = tally.refresh(conn, before)
        monkeypatch.undo()
        fresh = tally.load(conn)
        assert after is not before and after.size == fresh.size
        for browse in (
            Browse(),
            Browse(selected={"buyer": ("PE-RUC-NEW",)}),
            Browse(date_from=date(2031, 1, 1)),
            Browse(selected={"segment": ("99",)}),
        ):
            assert _tallied(after, browse) == _tallied(fresh, browse) == _sql(conn, browse)
        assert _tallied(after, Browse(selected={"buyer": ("PE-RUC-NEW",)}))[0] == 3
    engine.dispose()


def _comparable(profile: dict) -> dict:
    """A profile without names and in one order (ties of a month are in no set order in SQL);
    a counterparty without an identifier is not one."""
    return {
        "orders": profile["orders"],
        "years": sorted(profile["years"], key=lambda r: (str(r["year"]), str(r["currency"]))),
        "months": sorted(profile["months"], key=lambda r: (r["month"], str(r["currency"]))),
        "counterparties": [
            {k: c[k] for k in ("id", "orders", "amount", "share")}
            for c in profile["counterparties"]
            if c["id"]
        ],
        "industries": profile["industries"],
        "regions": profile["regions"],
    }


def test_profiles_from_the_tally_are_those_sql_computes(loaded):
    conn, found, values = loaded
    for kind in ("buyer", "supplier", "agreement"):
        for key in values[kind][:3]:
            expected = queries.profile(conn, kind, key)
            assert expected is not None
            assert _comparable(tally.profile(found, kind, key)) == _comparable(expected), (kind, key)
    assert tally.profile(found, "buyer", "nobody") is None


def test_a_large_database_is_loaded_in_a_thread_while_sql_counts(published, monkeypatch):
    monkeypatch.setattr(tally, "INLINE_LOAD", 10)  # as if this database were large
    engine = make_engine(published)
    holder = tally.TallyHolder()
    with engine.connect() as conn:
        assert holder.get(conn) is None  # no request waits for the load
        loading = holder._loading
        assert loading is not None
        loading.join(timeout=300)
        loaded = holder.get(conn)
        assert loaded is not None and loaded.size == len(conn.execute(select(records.c.ocid)).all())
        assert _tallied(loaded, Browse()) == _sql(conn, Browse())
    engine.dispose()


@settings(max_examples=500, deadline=None)
@given(
    text=st.none() | st.text(max_size=14) | st.dates().map(lambda d: d.isoformat() + "T10:00:00-05:00"),
    bound=st.dates(date(1900, 1, 1), date(2099, 12, 31)),
)
def test_a_date_compares_with_a_bound_as_its_text_does(text, bound):
    """Whatever a publisher wrote as the date, the tally's number compares with a bound as the
    database compares the text (what the listing's SQL does)."""
    key, edge = tally._day(text), tally._day(bound.isoformat())
    if text is None:
        assert key < 0 <= edge
    else:
        assert (key >= edge) == (text >= bound.isoformat())
        assert (key < edge) == (text < bound.isoformat())
