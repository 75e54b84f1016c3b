"""The charts' breakdowns under the shared filters, against sums recomputed from each order's
compiled release (not from the browse columns the queries read), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select

from ocds.catalogue.generate import write_orders
from portal.dashboards import filters as dfilters
from portal.dashboards.queries import breakdown, totals
from portal.models import records, releases
from portal.publishing import import_orders
from portal.queries import compiled_release

CENT = Decimal("0.01")


@pytest.fixture
def published(database_url, tmp_path):
    engine = create_engine(database_url)
    path = tmp_path / "o.jsonl"
    write_orders(path, 300, 21)
    summary = import_orders(engine, path, ocid_prefix="ocds-dash02", workers=1)
    assert summary.rejects == []
    yield engine
    engine.dispose()


def _orders(engine) -> list[dict]:
    """Each spending order's facts read straight from its releases: buyer, supplier, month of
    its first release, amount in soles, and its item lines (segment, quantity x unit price)."""
    out = []
    with engine.connect() as conn:
        ocids = list(conn.execute(select(records.c.ocid).where(records.c.kind == "order")).scalars())
        for ocid in ocids:
            compiled = compiled_release(conn, ocid)
            contract = compiled["contracts"][0]
            if contract.get("status") == "cancelled" or contract["value"]["currency"] != "PEN":
                continue
            first = conn.execute(
                select(releases.c.date).where(releases.c.ocid == ocid).order_by(releases.c.id).limit(1)
            ).scalar_one()
            award = compiled["awards"][0]
            lines = [
                (
                    item["classification"]["id"][:2],
                    Decimal(str(item["quantity"])) * Decimal(str(item["unit"]["value"]["amount"])),
                )
                for item in award["items"]
            ]
            out.append(
                {
                    "buyer": compiled["buyer"]["id"],
                    "supplier": award["suppliers"][0]["id"],
                    "month": first[:7],
                    "year": first[:4],
                    "amount": Decimal(str(contract["value"]["amount"])).quantize(CENT),
                    "lines": lines,
                }
            )
    assert len(out) > 200
    return out


def _sums(orders, key) -> dict:
    amounts: dict = defaultdict(Decimal)
    counts: dict = defaultdict(int)
    for order in orders:
        amounts[order[key]] += order["amount"]
        counts[order[key]] += 1
    return {k: (counts[k], amounts[k]) for k in amounts}


def test_breakdowns_match_the_releases(published):
    orders = _orders(published)
    with published.connect() as conn:
        for by in ("buyer", "supplier", "month", "year"):
            got = {g.key: (g.orders, g.amount) for g in breakdown(conn, by, [])}
            assert got == _sums(orders, by), by
        ranked = breakdown(conn, "buyer", [], limit=5)
        assert [g.amount for g in ranked] == sorted((g.amount for g in ranked), reverse=True)
        assert len(ranked) == 5 and ranked[0].amount == max(a for _, a in _sums(orders, "buyer").values())
        by_orders = breakdown(conn, "supplier", [], limit=7, rank="orders")
        every = sorted(_sums(orders, "supplier").items(), key=lambda kv: (-kv[1][0], kv[0]))
        assert [(g.key, (g.orders, g.amount)) for g in by_orders] == every[:7]
        assert all(g.label for g in by_orders)  # the supplier's name, looked up after grouping
        months = [g.key for g in breakdown(conn, "month", [])]
        assert months == sorted(months)
        whole = totals(conn, [])
        assert (whole.orders, whole.amount) == (len(orders), sum(o["amount"] for o in orders))
        with pytest.raises(ValueError, match="unknown breakdown"):
            breakdown(conn, "colour", [])


def test_segments_sum_their_item_lines(published):
    orders = _orders(published)
    expected: dict = defaultdict(Decimal)
    lines: dict = defaultdict(int)
    for order in orders:
        for segment, total in order["lines"]:
            expected[segment] += total
            lines[segment] += 1
    with published.connect() as conn:
        got = {g.key: g.amount for g in breakdown(conn, "segment", [])}
    assert set(got) == set(expected)
    for segment, amount in got.items():
        # each line is rounded to cents once published: at most half a cent each
        assert abs(amount - expected[segment]) <= lines[segment] * Decimal("0.005"), segment


def test_filters_restrict_every_breakdown_as_the_releases_say(published):
    orders = _orders(published)
    by_buyer = _sums(orders, "buyer")
    buyer = max(by_buyer, key=lambda b: by_buyer[b][0])  # the buyer with the most orders
    year = max({o["year"] for o in orders})
    chosen = [o for o in orders if o["buyer"] == buyer and o["year"] == year]
    assert chosen
    filters = dfilters.parse([("buyer", buyer), ("year", year)])
    conds = dfilters.conditions(filters)
    with published.connect() as conn:
        assert dfilters.unknown_values(conn, filters) == []
        got = {g.key: (g.orders, g.amount) for g in breakdown(conn, "supplier", conds)}
        assert got == _sums(chosen, "supplier")
        got_months = {g.key: (g.orders, g.amount) for g in breakdown(conn, "month", conds)}
        assert got_months == _sums(chosen, "month")
        assert totals(conn, conds).amount == sum(o["amount"] for o in chosen)
        unknown = dfilters.parse([("buyer", "PE-RUC-00000000000")])
        assert dfilters.unknown_values(conn, unknown) == [("buyer", "PE-RUC-00000000000")]
