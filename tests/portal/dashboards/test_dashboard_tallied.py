"""The charts' breakdowns counted from the facet tally (``portal.dashboards.tallied``) are the
SQL breakdowns (``portal.dashboards.queries.breakdown``): the same groups, order, counts,
amounts to the cent and names, under any combination of the dashboards' filters, on demo
orders plus hostile rows (NULL, negative and odd amounts, other currencies, cancelled orders,
no region, no supplier, no month, a date in another year than its month, several suppliers,
orders of two segments, lines in other currencies or without an amount), on a tally loaded
before those rows were written and brought up to date after (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, update

from ocds.catalogue.generate import write_orders
from portal.dashboards import filters as dfilters
from portal.dashboards import tallied as counted
from portal.dashboards.queries import BREAKDOWNS, breakdown, tallied, totals
from portal.db import make_engine
from portal.models import item_lines, parties, records
from portal.publishing import import_orders
from portal.readmodel import tally


def _hostile(conn) -> None:
    """Rewrite some published orders' read model as odd publishers would have it."""
    ocids = list(
        conn.execute(
            select(records.c.ocid).where(records.c.kind == "order").order_by(records.c.ocid)
        ).scalars()
    )
    now = datetime.now(UTC)
    rows = {
        0: {"amount": None},
        1: {"amount": Decimal("0.10")},
        2: {"amount": Decimal("0.20")},
        3: {"amount": Decimal("-5.00")},
        4: {"currency": "USD"},
        5: {"currency": None},
        6: {"status": "cancelled"},
        7: {"status": None},
        8: {"delivery_region": None},
        9: {"supplier_id": None},
        10: {"month": None, "date": None},
        11: {"month": "2024-12", "date": "2025-01-01T01:00:00Z"},  # local month in the year before
        12: {"buyer_id": None},
        13: {"agreement_ocid": None},
        14: {"amount": Decimal("12345678.99")},
    }
    for at, values in rows.items():
        conn.execute(update(records).where(records.c.ocid == ocids[at]).values(updated_at=now, **values))
    suppliers = list(
        conn.execute(
            select(parties.c.party_id).where(parties.c.role == "supplier").distinct().limit(3)
        ).scalars()
    )
    for at, supplier in ((15, suppliers[0]), (16, suppliers[1])):  # a second supplier
        conn.execute(
            insert(parties).values(
                ocid=ocids[at], position=99, role="supplier", party_id=supplier, name="Otro"
            )
        )
    segments = sorted(set(conn.execute(select(item_lines.c.segment).distinct()).scalars()) - {None})
    extra = [
        (17, segments[0], Decimal("100.50"), "PEN"),  # an order of two segments
        (17, segments[-1], Decimal("7.25"), "PEN"),
        (18, segments[-1], Decimal("99.00"), "USD"),  # a line in another currency
        (19, segments[0], None, "PEN"),  # a line without an amount
        (20, None, Decimal("3.00"), "PEN"),  # a line without a segment
        (21, "99", Decimal("1.00"), "USD"),  # a segment only in dollars
    ]
    for i, (at, segment, amount, currency) in enumerate(extra):
        conn.execute(
            insert(item_lines).values(
                ocid=ocids[at],
                position=100 + i,
                segment=segment,
                family=segment + "10" if segment else None,
                amount=amount,
                currency=currency,
            )
        )
    touched = [ocids[at] for at in (15, 16, 17, 18, 19, 20, 21)]
    conn.execute(update(records).where(records.c.ocid.in_(touched)).values(updated_at=now))


def _choices(conn) -> dict[str, list[str]]:
    def top(column, where=True, n=4) -> list[str]:
        query = select(column).where(where, column.is_not(None)).group_by(column)
        return list(conn.execute(query.order_by(func.count().desc(), column).limit(n)).scalars())

    years = sorted({m[:4] for m in conn.execute(select(records.c.month)).scalars() if m})
    return {
        "year": years + ["2019"],
        "region": top(records.c.delivery_region) + ["Nowhere"],
        "buyer": top(records.c.buyer_id),
        "supplier": top(parties.c.party_id, parties.c.role == "supplier"),
        "segment": top(item_lines.c.segment) + ["99"],
        "family": top(item_lines.c.family, n=3),
        "agreement": top(records.c.agreement_ocid, n=3),
    }


@pytest.fixture
def loaded(database_url, tmp_path):
    """Demo orders published, a tally loaded, hostile rows written and the tally refreshed."""
    write_orders(tmp_path / "o.jsonl", 120, 11)
    engine = make_engine(database_url)
    assert import_orders(engine, tmp_path / "o.jsonl", ocid_prefix="ocds-tal001", workers=1).rejects == []
    with engine.connect() as conn:
        before = tally.load(conn)
    with engine.begin() as conn:
        _hostile(conn)
    with engine.connect() as conn:
        refreshed = tally.refresh(conn, before, reload=False)
        assert refreshed is not None and refreshed.size == before.size  # brought up to date in place
        yield conn, refreshed, _choices(conn)
    engine.dispose()


def _same(conn, found: tally.Tally, by: str, filters: dfilters.Filters, limit, rank) -> None:
    selected = dict(filters.selected)
    got = tallied(conn, found, by, selected, limit=limit, rank=rank)
    conds = dfilters.conditions(filters)
    expected = [totals(conn, conds)] if by == "total" else breakdown(conn, by, conds, limit=limit, rank=rank)
    assert got == expected, (by, rank, limit, selected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tallied_breakdowns_are_the_sql_breakdowns(loaded, data):
    conn, found, choices = loaded
    names = data.draw(st.lists(st.sampled_from(sorted(choices)), max_size=3, unique=True))
    filters = dfilters.Filters.of(
        {
            n: data.draw(st.lists(st.sampled_from(choices[n]), min_size=1, max_size=2, unique=True))
            for n in names
        }
    )
    by = data.draw(st.sampled_from((*BREAKDOWNS, "total")))
    limit = None if by in ("month", "year", "total") else data.draw(st.sampled_from((None, 3, 15)))
    _same(conn, found, by, filters, limit, data.draw(st.sampled_from(("amount", "orders"))))


def test_every_breakdown_under_each_hostile_case_and_big_sums_left_to_sql(loaded):
    conn, found, choices = loaded
    assert found.segment_lines is not None and found.segment_lines.complete
    for filters in (
        dfilters.Filters(),
        dfilters.Filters.of({"year": ["2024"]}),  # the order dated 2025 in December 2024's month
        dfilters.Filters.of({"year": ["2025"]}),
        dfilters.Filters.of({"segment": ["99"]}),  # lines in dollars only: no group
        dfilters.Filters.of({"region": choices["region"][:1], "supplier": choices["supplier"][:2]}),
    ):
        for by in (*BREAKDOWNS, "total"):
            for rank in ("amount", "orders"):
                _same(conn, found, by, filters, None if by in ("month", "year") else 15, rank)
    # A freshly loaded tally (not refreshed) counts the same.
    again = tally.load(conn)
    for by in BREAKDOWNS:
        assert tallied(conn, again, by, {}) == tallied(conn, found, by, {}) == breakdown(conn, by, [])
    # Sums the tally cannot keep exact in float64 are left to SQL.
    assert counted.breakdown(found, "buyer", {}) is not None
    ocid = conn.execute(select(records.c.ocid).where(records.c.kind == "order").limit(1)).scalar_one()
    with conn.begin_nested() if conn.in_transaction() else conn.begin():
        conn.execute(
            update(records)
            .where(records.c.ocid == ocid)
            .values(amount=Decimal("9" * 15), currency="PEN", status=None, updated_at=datetime.now(UTC))
        )
    big = tally.refresh(conn, found, reload=False)
    assert big is not None
    assert counted.breakdown(big, "buyer", {}) is None  # the caller reads SQL
    assert counted.breakdown(big, "segment", {}) is not None  # lines are bounded on their own
