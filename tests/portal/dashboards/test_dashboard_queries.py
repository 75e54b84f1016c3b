"""Dashboard aggregates against totals computed by hand from the published releases."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from builders import example_order, write_jsonl
from sqlalchemy import create_engine, insert, select

from ocds.catalogue.generate import planted_anomalies, write_orders
from portal.dashboards.queries import spending_by, spending_by_month, supplier_share_of_buyer
from portal.models import records
from portal.publishing import import_orders
from portal.queries import SPENDING, TotalsCache, compiled_release, totals


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


# --- what counts as spending, said once (portal.queries.SPENDING) ------------------------------


def _record(
    ocid: str, *, status: str | None, amount: str, currency: str = "PEN", kind: str = "order"
) -> dict:
    return {
        "ocid": ocid,
        "compiled": None,
        "release_count": 1,
        "last_release": 1,
        "updated_at": datetime.now(UTC),
        "kind": kind,
        "status": status,
        "amount": Decimal(amount),
        "currency": currency,
        "buyer_id": "PE-RUC-1",
        "buyer_name": "Municipalidad",
        "supplier_id": "PE-RUC-2",
        "supplier_name": "Proveedor",
        "region": "Piura",
        "category": "goods",
        "classification": "44121706",
        "agreement_ocid": "ocds-am-1",
        "date": "2025-03-04T10:15:00-05:00",
    }


SPENT = [
    _record("ocds-s-active", status="active", amount="100.00"),
    _record("ocds-s-unknown", status=None, amount="20.50"),  # no status published: still spent
    _record("ocds-s-cancelled", status="cancelled", amount="7.00"),
    _record("ocds-s-dollars", status="active", amount="1000.00", currency="USD"),
    _record("ocds-s-agreement", status="active", amount="5000.00", kind="agreement"),
]


@pytest.fixture
def spent(database_url):
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(insert(records), SPENT)
    yield engine
    engine.dispose()


def test_spending_is_orders_not_cancelled_null_status_included(spent):
    with spent.connect() as conn:
        ocids = conn.execute(select(records.c.ocid).where(SPENDING).order_by(records.c.ocid)).scalars()
        assert list(ocids) == ["ocds-s-active", "ocds-s-dollars", "ocds-s-unknown"]


def test_the_home_page_and_the_dashboards_add_up_the_same_spending(spent):
    with spent.connect() as conn:
        home = totals(conn)
        by_buyer = spending_by(conn, "buyer")
        by_month = spending_by_month(conn)
        shares = supplier_share_of_buyer(conn, "PE-RUC-1")
        dollars = spending_by(conn, "buyer", currency="USD")
    assert home.amount == 120.5 and home.orders == 4 and home.agreements == 1
    assert [(g.orders, g.amount) for g in by_buyer] == [(2, Decimal("120.50"))]
    assert [(g.key, g.amount) for g in by_month] == [("2025-03", Decimal("120.50"))]
    assert [(g.orders, g.amount, share) for g, share in shares] == [(2, Decimal("120.50"), 1.0)]
    assert [(g.orders, g.amount) for g in dollars] == [(1, Decimal("1000.00"))]
    with spent.connect() as conn:
        assert totals(conn, "USD").amount == 1000.0


def test_the_totals_cache_recomputes_exactly_when_a_release_is_published(spent, tmp_path):
    cache = TotalsCache()
    with spent.connect() as conn:
        first = cache.get(conn)
    with spent.begin() as conn:
        conn.execute(insert(records), [_record("ocds-s-late", status="active", amount="1.00")])
    with spent.connect() as conn:
        # records are derived from releases: without a new release the cached figures stand
        assert cache.get(conn) == first and totals(conn).amount == 121.5
    import_orders(
        spent,
        write_jsonl(tmp_path / "o.jsonl", [example_order("1-single")]),
        ocid_prefix="ocds-dash02",
        workers=1,
    )
    with spent.connect() as conn:
        fresh = cache.get(conn)
        assert fresh == totals(conn) and fresh.releases == first.releases + 2
        assert fresh.amount > first.amount + 1
