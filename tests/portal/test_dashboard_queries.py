"""Dashboard aggregates against totals computed by hand from the published releases."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select

from ocds.catalogue.generate import planted_anomalies, write_orders
from portal.dashboards.queries import spending_by, spending_by_month, supplier_share_of_buyer
from portal.models import records
from portal.publishing import import_orders
from portal.queries import compiled_release


@pytest.fixture
def published(database_url, tmp_path):
    engine = create_engine(database_url)
    path = tmp_path / "o.jsonl"
    write_orders(path, 2000, 5)
    summary = import_orders(engine, path, ocid_prefix="ocds-dash01", workers=1)
    assert summary.rejects == []
    yield engine
    engine.dispose()


def _expected(engine, key):
    """Sum per group straight from each order's compiled release (not the browse columns)."""
    sums: dict = defaultdict(Decimal)
    with engine.connect() as conn:
        ocids = conn.execute(select(records.c.ocid).where(records.c.kind == "order")).scalars()
        for ocid in list(ocids):
            compiled = compiled_release(conn, ocid)
            contract = compiled["contracts"][0]
            if contract.get("status") == "cancelled" or contract["value"]["currency"] != "PEN":
                continue
            sums[key(compiled)] += Decimal(str(contract["value"]["amount"])).quantize(Decimal("0.01"))
    return sums


def test_spending_by_buyer_and_region_match_the_releases(published):
    def buyer(c):
        return next(p["id"] for p in c["parties"] if "buyer" in p["roles"])

    def region(c):
        return next(p for p in c["parties"] if "buyer" in p["roles"])["address"].get("region")

    with published.connect() as conn:
        by_buyer = spending_by(conn, "buyer", limit=10_000)
        by_region = spending_by(conn, "region", limit=10_000)
        months = spending_by_month(conn)
    assert {g.key: g.amount for g in by_buyer} == dict(_expected(published, buyer))
    assert {g.key: g.amount for g in by_region} == dict(_expected(published, region))
    assert [g.amount for g in by_buyer] == sorted((g.amount for g in by_buyer), reverse=True)
    assert sum(g.amount for g in months) == sum(g.amount for g in by_buyer)
    with pytest.raises(ValueError, match="unknown dimension"):
        spending_by(conn, "colour")


def test_a_planted_dominant_supplier_shows_in_its_buyers_shares(published):
    dominant = [a for a in planted_anomalies(2000, 5) if a.kind == "dominance"]
    assert dominant, "seed 5 plants dominant suppliers"
    checked = 0
    with published.connect() as conn:
        for anomaly in dominant:
            shares = supplier_share_of_buyer(conn, f"PE-RUC-{anomaly.buyer}", limit=1000)
            assert abs(sum(share for _, share in shares) - 1.0) < 1e-9
            orders = {g.key: g.orders for g, _ in shares}
            if sum(orders.values()) < 3:
                continue  # too few orders yet for "nearly every order" to show
            checked += 1
            # "wins nearly every order": the planted supplier has most of the buyer's orders
            top = max(orders, key=orders.get)
            assert top == f"PE-RUC-{anomaly.supplier}", (anomaly, orders)
            assert orders[top] > sum(orders.values()) / 2
    assert checked, "no planted dominance with enough orders in this sample"
