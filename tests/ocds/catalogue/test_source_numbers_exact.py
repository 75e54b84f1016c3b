"""Source lines are read with every number as sent: orjson alone reads an integer beyond 64 bits
(and a decimal longer than a double) as the nearest double without a word, which would publish an
altered amount. Such a number is the line's problem, at its field, never a changed value."""

from __future__ import annotations

import json

import pytest

from ocds.catalogue.generate import generate_orders
from ocds.catalogue.source import loads_exact, parse_orders


def _order_line(**quantity) -> str:
    order = next(iter(generate_orders(1, seed=7)))
    line = json.dumps(order)
    marker = json.dumps(order["items"][0]["quantity"])
    return line.replace(f'"quantity": {marker}', f'"quantity": {quantity["raw"]}', 1)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("1180591620717411303424", "2**53 - 1"),  # beyond 64 bits: orjson makes it a double
        ("9007199254740993", "2**53 - 1"),  # 2**53 + 1: a double cannot hold it
        ("1.00000000000000001", "would become 1.0"),
        ("1E400", "out of range"),
    ],
)
def test_a_number_canonical_json_cannot_hold_is_the_lines_problem(raw, says):
    line = _order_line(raw=raw)
    assert f'"quantity": {raw}' in line
    [parsed] = parse_orders([line])
    assert parsed.order is None
    assert [p.field for p in parsed.problems] == ["items/0/quantity"]
    assert says in parsed.problems[0].reason


def test_exact_numbers_are_kept_as_sent():
    value, problems = loads_exact(b'{"a": 9007199254740991, "b": 25.50, "c": 0.1, "d": "1234567890123456"}')
    assert problems == []
    assert value == {"a": 9007199254740991, "b": 25.5, "c": 0.1, "d": "1234567890123456"}
    assert type(value["b"]) is float


def test_not_json_keeps_orjsons_message():
    [parsed] = parse_orders(['{"a": NaN, "n": 12345678901234567}'])
    assert parsed.order is None
    assert parsed.problems[0].reason.startswith("Line is not valid JSON: ")
