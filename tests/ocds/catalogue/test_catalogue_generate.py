"""The synthetic generator: determinism, streaming, realism, planted anomalies."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from datetime import date

import orjson
import pytest

from ocds.catalogue.generate import (
    SPLIT_THRESHOLD,
    generate_orders,
    planted_anomalies,
    write_orders,
)
from ocds.catalogue.source import SHAPES, check_order, order_shape, parse_orders


@pytest.fixture(scope="module")
def orders() -> list[dict]:
    return list(generate_orders(2000, seed=42))


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert write_orders(a, 300, 9) == 300
    write_orders(b, 300, 9)
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.jsonl"
    write_orders(c, 300, 10)
    assert hashlib.sha256(c.read_bytes()).digest() != hashlib.sha256(a.read_bytes()).digest()
    assert len(a.read_bytes().splitlines()) == 300


def test_written_file_parses_clean(tmp_path):
    path = tmp_path / "o.jsonl"
    write_orders(path, 400, 3)
    assert all(line.ok for line in parse_orders(path))


def test_every_generated_order_passes_checks(orders):
    assert len(orders) == 2000
    bad = {o["orderNumber"]: check_order(o) for o in orders if check_order(o)}
    assert bad == {}


def test_every_shape_present(orders):
    shapes = Counter(order_shape(o) for o in orders)
    assert set(shapes) == set(SHAPES)
    assert min(shapes.values()) >= 10


def test_realistic_population(orders):
    assert len({o["agreement"]["id"] for o in orders}) >= 20
    assert len({o["buyer"]["identifier"] for o in orders}) >= 500
    assert len({o["supplier"]["identifier"] for o in orders}) >= 300
    assert {o["supplier"]["size"] for o in orders} == {"micro", "small", "medium", "large"}
    assert len({o["buyer"]["region"]["code"] for o in orders}) == 26
    for o in orders:
        assert o["buyer"]["identifier"].startswith("20") and len(o["buyer"]["identifier"]) == 11
        assert 1 <= len(o["proformas"]) <= 6
        for when in (
            o["dates"]["issued"],
            *(k["dueDate"] for d in o["destinations"] for k in d["deliveries"]),
        ):
            assert date(2024, 1, 1) <= date.fromisoformat(when[:10]) <= date(2026, 12, 31)


def test_later_versions_follow_earlier_ones(orders):
    position = {}
    for i, o in enumerate(orders):
        key = (o["orderNumber"], o["version"])
        assert key not in position
        position[key] = i
        if o["version"] > 1:
            assert position[(o["orderNumber"], o["version"] - 1)] < i
    statuses = Counter(o["status"] for o in orders if o["version"] > 1)
    assert statuses["cancelled"] and statuses["delivered"]
    assert any(o.get("amendments") for o in orders)


def test_streams_without_building_a_list():
    # A lazy iterator even for a million orders: the first ones come out at once, and they are
    # the same whichever way the stream is consumed.
    first = list(itertools.islice(generate_orders(1_000_000, seed=1), 50))
    assert len(first) == 50
    assert next(iter(generate_orders(1_000_000, seed=1))) == first[0]


def test_planted_anomalies(orders):
    anomalies = planted_anomalies(2000, 42)
    assert anomalies == planted_anomalies(2000, 42)
    kinds = Counter(a.kind for a in anomalies)
    assert kinds["split"] >= 1 and kinds["overprice"] >= 1 and kinds["dominance"] >= 1
    by_number = {o["orderNumber"]: o for o in orders if o["version"] == 1}
    for a in anomalies:
        planted = [by_number[n] for n in a.orderNumbers]
        assert all(o["buyer"]["identifier"] == a.buyer for o in planted)
        assert all(o["supplier"]["identifier"] == a.supplier for o in planted)
        if a.kind == "split":
            assert len(planted) >= 3
            totals = [sum(i["quantity"] * i["unitPrice"] for i in o["items"]) for o in planted]
            assert all(0.5 * SPLIT_THRESHOLD < t < SPLIT_THRESHOLD for t in totals)
            days = sorted(date.fromisoformat(o["dates"]["issued"][:10]) for o in planted)
            assert (days[-1] - days[0]).days <= 10


def test_dominated_buyer_mostly_buys_from_one_supplier(orders):
    for a in planted_anomalies(2000, 42):
        if a.kind != "dominance":
            continue
        suppliers = Counter(
            o["supplier"]["identifier"]
            for o in orders
            if o["version"] == 1 and o["buyer"]["identifier"] == a.buyer
        )
        assert suppliers.most_common(1)[0][0] == a.supplier
        assert suppliers[a.supplier] / sum(suppliers.values()) >= 0.6


def test_overpriced_orders_stand_out(orders):
    medians = defaultdict(list)
    for o in orders:
        for item in o["items"]:
            medians[item["productId"]].append(item["unitPrice"])
    for a in planted_anomalies(2000, 42):
        if a.kind == "overprice":
            (number,) = a.orderNumbers
            order = next(o for o in orders if o["orderNumber"] == number)
            for item in order["items"]:
                prices = sorted(medians[item["productId"]])
                assert item["unitPrice"] > 2 * prices[len(prices) // 2]


def test_generated_lines_are_json(tmp_path):
    path = tmp_path / "o.jsonl"
    write_orders(path, 20, 1)
    for line in path.read_bytes().splitlines():
        assert isinstance(orjson.loads(line), dict)
