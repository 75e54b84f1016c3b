"""Each flag's measure at its threshold's boundary (just below, at, just above), on hand-made
orders: the pure functions of portal.flags.compute, with the default settings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.flags import thresholds
from portal.flags.compute import (
    Order,
    buyer_hits,
    catalogue_hits,
    concentration_hits,
    heterogeneous_hits,
    new_supplier_hits,
    one_supplier_hits,
    order_hits,
    price_hits,
    quantile,
    split_hits,
    upper_fence,
    year_end_hits,
)

TH = thresholds()
DAY = date(2025, 3, 3)


def order(n: int, amount: float | None = 1000.0, *, supplier: str = "S1", day: date = DAY, **kw) -> Order:
    return Order(
        ocid=f"o{n}",
        buyer_id=kw.pop("buyer", "B"),
        supplier_id=supplier,
        agreement_ocid=kw.pop("agreement", "A"),
        amount=amount,
        currency=kw.pop("currency", "PEN"),
        day=day,
        month=day.strftime("%Y-%m") if day else None,
        **kw,
    )


def flagged(hits: list[dict], flag: str) -> set[str]:
    return {h["ocid"] or h["supplier_id"] or h["buyer_id"] for h in hits if h["flag"] == flag}


# --- split -----------------------------------------------------------------------------------
T = TH["FLAG_SPLIT_THRESHOLD"]


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ((T * 0.9, T * 0.1 + 0.01), set()),  # the second is far under the threshold: not "near"
        ((T / 2 + 0.01, T / 2), set()),  # under FLAG_SPLIT_NEAR x T = 0.8 T
        ((T * 0.8, T * 0.8), {"o0", "o1"}),  # at the near bound, sum above
        ((T - 0.01, T * 0.8), {"o0", "o1"}),  # just under the threshold
        ((T, T * 0.8), set()),  # at the threshold: not under it
        ((T + 0.01, T * 0.9), set()),
    ],
)
def test_split_amount_boundaries(amounts, expected):
    orders = [order(i, a) for i, a in enumerate(amounts)]
    assert flagged(split_hits(orders, TH), "split") == expected


@pytest.mark.parametrize(("second", "found"), [(T / 2 - 0.01, False), (T / 2, False), (T / 2 + 0.01, True)])
def test_split_sum_boundary(second, found):
    # Every order under the threshold counts (FLAG_SPLIT_NEAR 0): the sum must exceed it.
    orders = [order(0, T / 2), order(1, second)]
    assert bool(split_hits(orders, {**TH, "FLAG_SPLIT_NEAR": 0.0})) is found


@pytest.mark.parametrize(("gap", "found"), [(6, True), (7, True), (8, False)])
def test_split_window_boundary(gap, found):
    orders = [order(0, T * 0.9), order(1, T * 0.9, day=DAY + timedelta(days=gap))]
    assert bool(split_hits(orders, TH)) is found


def test_split_needs_the_same_supplier_and_currency():
    assert split_hits([order(0, T * 0.9), order(1, T * 0.9, supplier="S2")], TH) == []
    assert split_hits([order(0, T * 0.9), order(1, T * 0.9, currency="USD")], TH) == []


def test_split_counts_cancelled_orders_and_the_rest_do_not():
    orders = [order(0, T * 0.9), order(1, T * 0.9, cancelled=True)]
    hits = buyer_hits(orders, {**TH, "FLAG_MIN_BUYER_ORDERS": 1})
    assert flagged(hits, "split") == {"o0", "o1"}
    share = [h for h in hits if h["flag"] == "supplier_share"]
    assert share and share[0]["orders"] == 1  # the cancelled order spent nothing


# --- concentration ---------------------------------------------------------------------------


def _shares(top: float, rest: int = 4) -> list[Order]:
    """Five orders: supplier S1 gets ``top`` of 100, the others share what is left."""
    other = (100 - top) / rest
    return [order(0, top)] + [order(i + 1, other, supplier=f"S{i + 2}") for i in range(rest)]


@pytest.mark.parametrize(("top", "found"), [(49.99, False), (50.0, False), (50.01, True)])
def test_supplier_share_boundary(top, found):
    hits = concentration_hits(_shares(top), TH)
    assert any(h["flag"] == "supplier_share" and h["supplier_id"] == "S1" for h in hits) is found


def test_concentration_needs_enough_orders():
    assert concentration_hits(_shares(90)[:4], {**TH, "FLAG_MIN_BUYER_ORDERS": 5}) == []
    assert concentration_hits(_shares(90, rest=3), {**TH, "FLAG_MIN_BUYER_ORDERS": 4})


@pytest.mark.parametrize(("delta", "found"), [(-1e-6, False), (0.0, False), (1e-6, True)])
def test_buyer_hhi_boundary(delta, found):
    # Two suppliers with 50% each: HHI = 2 x 50^2 = 5000; the threshold is moved around it.
    orders = [order(i, 10.0, supplier=f"S{i % 2}") for i in range(6)]
    hits = concentration_hits(orders, {**TH, "FLAG_HHI_THRESHOLD": 5000.0 - delta})
    hhi = [h for h in hits if h["flag"] == "buyer_hhi"]
    assert bool(hhi) is found
    if found:
        assert hhi[0]["value"] == pytest.approx(5000.0)


@pytest.mark.parametrize(("top", "found"), [(7, False), (8, True), (9, True)])
def test_one_supplier_boundary(top, found):
    # 10 orders, ``top`` of them to S1: the share is top / 10 against 0.8 ("from": at counts).
    orders = [order(i, 1.0, supplier="S1" if i < top else f"X{i}") for i in range(10)]
    hits = one_supplier_hits(orders, TH)
    assert bool(hits) is found
    if found:
        assert hits[0]["supplier_id"] == "S1" and hits[0]["value"] == pytest.approx(top / 10)


@pytest.mark.parametrize(("late", "found"), [(29.99, False), (30.0, False), (30.01, True)])
def test_year_end_boundary(late, found):
    # 100 spent in 2025, ``late`` of it in the last 31 days (from 1 December).
    orders = [order(i, (100 - late) / 4, day=date(2025, 6, 1)) for i in range(4)]
    orders.append(order(9, late, day=date(2025, 12, 1)))
    assert bool(year_end_hits(orders, TH)) is found


def test_year_end_window_starts_on_the_first_of_december_with_31_days():
    orders = [order(i, 10.0, day=date(2025, 6, 1)) for i in range(4)]
    assert year_end_hits([*orders, order(9, 100.0, day=date(2025, 11, 30))], TH) == []
    assert year_end_hits([*orders, order(9, 100.0, day=date(2025, 12, 1))], TH)


@pytest.mark.parametrize(("orders", "found"), [(19, False), (20, True)])
def test_catalogue_hhi_needs_enough_orders(orders, found):
    sums = {"S1": (orders - 1, 90.0), "S2": (1, 10.0)}  # HHI 8200
    assert bool(catalogue_hits("A", "PEN", sums, TH)) is found


@pytest.mark.parametrize(("share", "found"), [(0.5, False), (0.5001, True)])
def test_catalogue_hhi_boundary(share, found):
    # Two suppliers: HHI = (100 s)^2 + (100 (1 - s))^2 = 5000 at s = 0.5.
    sums = {"S1": (10, share), "S2": (10, 1 - share)}
    assert bool(catalogue_hits("A", "PEN", sums, {**TH, "FLAG_HHI_THRESHOLD": 5000.0})) is found


# --- per order -------------------------------------------------------------------------------


@pytest.mark.parametrize(("quotes", "found"), [(0, False), (1, True), (2, False), (None, False)])
def test_single_quote(quotes, found):
    assert bool(flagged(order_hits([order(0, quotes=quotes)], TH), "single_quote")) is found


@pytest.mark.parametrize(("current", "found"), [(119.99, False), (120.0, False), (120.01, True)])
def test_amendment_raise_boundary(current, found):
    o = order(0, current, first_amount=100.0, first_currency="PEN")
    assert bool(flagged(order_hits([o], TH), "amendment_raise")) is found


def test_amendment_raise_needs_the_same_currency_and_a_positive_first_value():
    assert order_hits([order(0, 500.0, first_amount=100.0, first_currency="USD")], TH) == []
    assert order_hits([order(0, 500.0, first_amount=0.0, first_currency="PEN")], TH) == []


@pytest.mark.parametrize(("days", "found"), [(None, False), (0, False), (1, True)])
def test_late_delivery_boundary(days, found):
    assert bool(flagged(order_hits([order(0, days_late=days)], TH), "late_delivery")) is found


@pytest.mark.parametrize(("met", "not_met", "found"), [(1, 0, False), (0, 1, False), (1, 1, True)])
def test_partial_delivery(met, not_met, found):
    o = order(0, deliveries_met=met, deliveries_not_met=not_met)
    assert bool(flagged(order_hits([o], TH), "partial_delivery")) is found


def test_cancelled_orders_raise_no_order_flag():
    assert order_hits([order(0, quotes=1, days_late=9, cancelled=True)], TH) == []


# --- per supplier ----------------------------------------------------------------------------

FIRST = date(2024, 1, 8)


@pytest.mark.parametrize(("since", "found"), [(89, True), (90, True), (91, False)])
def test_new_supplier_days_boundary(since, found):
    first = FIRST + timedelta(days=200)
    orders = [order(0, 5000.0, day=first + timedelta(days=since))]
    assert bool(new_supplier_hits(orders, first, FIRST, {"PEN": 5000.0}, TH)) is found


@pytest.mark.parametrize(("amount", "found"), [(4999.99, False), (5000.0, True)])
def test_new_supplier_large_boundary(amount, found):
    first = FIRST + timedelta(days=200)
    assert bool(new_supplier_hits([order(0, amount, day=first)], first, FIRST, {"PEN": 5000.0}, TH)) is found


@pytest.mark.parametrize(("offset", "found"), [(89, False), (90, True)])
def test_new_supplier_is_not_judged_at_the_start_of_the_data(offset, found):
    first = FIRST + timedelta(days=offset)
    assert bool(new_supplier_hits([order(0, 9e9, day=first)], first, FIRST, {"PEN": 1.0}, TH)) is found


@pytest.mark.parametrize(("segments", "found"), [(2, False), (3, False), (4, True)])
def test_heterogeneous_boundary(segments, found):
    assert bool(heterogeneous_hits("S", segments, 3.0, TH)) is found


# --- per product -----------------------------------------------------------------------------


def test_quantiles_interpolate_linearly():
    values = [1.0, 2.0, 3.0, 4.0]
    assert quantile(values, 0.25) == pytest.approx(1.75)
    assert quantile(values, 0.5) == pytest.approx(2.5)
    assert quantile(values, 0.75) == pytest.approx(3.25)
    assert upper_fence(values, 1.5)[3] == pytest.approx(3.25 + 1.5 * 1.5)


@pytest.mark.parametrize(("lines", "computed"), [(9, False), (10, True)])
def test_price_fence_needs_enough_lines(lines, computed):
    assert (price_hits("p", "PEN", [float(i) for i in range(lines)], TH) is not None) is computed
