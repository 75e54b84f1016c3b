"""The source-order checker: every kind of bad input yields the right Problem."""

from __future__ import annotations

import json

import orjson
import pytest
from catalogue_support import EXAMPLE_FILES, load_example

from ocds.catalogue.source import (
    SHAPES,
    SourceLine,
    check_order,
    order_shape,
    parse_orders,
    source_schema,
)
from ocds.errors import Problem


def _line(order: dict) -> bytes:
    return orjson.dumps(order)


def test_schema_is_valid_draft7():
    import jsonschema

    jsonschema.Draft7Validator.check_schema(source_schema())


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_pass(path):
    order = json.loads(path.read_text(encoding="utf-8"))
    assert check_order(order) == []


def test_examples_cover_every_shape():
    shapes = {order_shape(json.loads(p.read_text(encoding="utf-8"))) for p in EXAMPLE_FILES}
    assert shapes == set(SHAPES)


def _problems(order: dict) -> list[Problem]:
    return check_order(order)


def test_malformed_json_reported_and_neighbours_parse(single):
    good = _line(single)
    lines = [good, b'{"formatVersion": "1.0", oops}', b"", good]
    result = list(parse_orders(lines))
    assert [r.line for r in result] == [1, 2, 4]  # the blank line is skipped
    assert result[0].ok and result[2].ok
    bad = result[1]
    assert bad.order is None
    assert len(bad.problems) == 1
    assert bad.problems[0].field == ""
    assert bad.problems[0].reason.startswith("Line is not valid JSON:")


def test_not_an_object():
    (result,) = parse_orders([b"[1, 2]"])
    assert result == SourceLine(1, None, [Problem("", "Line must be a JSON object; got an array.")])


def test_missing_required_field(single):
    del single["items"][0]["quantity"]
    del single["buyer"]["name"]
    assert _problems(single) == [
        Problem("buyer/name", "Required field is missing."),
        Problem("items/0/quantity", "Required field is missing."),
    ]


@pytest.mark.parametrize("quantity", [0, -3, -0.5])
def test_zero_or_negative_quantity(single, quantity):
    single["items"][0]["quantity"] = quantity
    assert _problems(single) == [
        Problem("items/0/quantity", f"Quantity must be greater than zero; got {quantity!r}.")
    ]


def test_negative_delivery_quantity(single):
    single["destinations"][0]["deliveries"][0]["lines"][0]["quantity"] = -1
    problems = _problems(single)
    assert problems == [
        Problem(
            "destinations/0/deliveries/0/lines/0/quantity",
            "Quantity must be greater than zero; got -1.",
        )
    ]


def test_unknown_currency(single):
    single["items"][0]["currency"] = "XYZ"
    assert _problems(single) == [
        Problem("items/0/currency", "Unknown currency 'XYZ': use an ISO 4217 code such as PEN.")
    ]


def test_malformed_currency(single):
    single["items"][0]["currency"] = "soles"
    (problem,) = _problems(single)
    assert problem.field == "items/0/currency"
    assert "three-letter ISO 4217" in problem.reason


def test_mixed_currencies(multi):
    multi["items"][1]["currency"] = "USD"
    problems = _problems(multi)
    assert problems == [
        Problem(
            "items/1/currency",
            "Mixed currencies: this item is in USD but items/0 is in PEN; an order has one currency.",
        )
    ]


def test_proforma_in_other_currency():
    order = load_example("3-partial")
    order["proformas"][1]["currency"] = "USD"
    assert _problems(order) == [
        Problem(
            "proformas/1/currency",
            "Mixed currencies: the proforma is in USD but the order is in PEN.",
        )
    ]


def test_delivery_refers_to_unknown_line(multi):
    multi["destinations"][1]["deliveries"][0]["lines"][0]["line"] = 9
    problems = _problems(multi)
    assert (
        Problem(
            "destinations/1/deliveries/0/lines/0/line",
            "Refers to item line 9, which the order does not have.",
        )
        in problems
    )
    # ... and line 1 is now short of 20 units.
    assert (
        Problem("items/0/quantity", "Deliveries of line 1 add up to 20, less than the 40 ordered.")
        in problems
    )


def test_deliveries_sum_to_more_than_ordered(single):
    single["destinations"][0]["deliveries"][0]["lines"][0]["quantity"] = 41
    assert _problems(single) == [
        Problem("items/0/quantity", "Deliveries of line 1 add up to 41, more than the 40 ordered.")
    ]


def test_deliveries_sum_to_less_than_ordered():
    order = load_example("3-partial")
    order["destinations"][0]["deliveries"][2]["lines"][0]["quantity"] = 10
    assert _problems(order) == [
        Problem("items/0/quantity", "Deliveries of line 2 add up to 150, less than the 200 ordered.")
    ]


def test_proforma_line_unknown():
    order = load_example("3-partial")
    order["proformas"][0]["lines"][0]["line"] = 7
    assert _problems(order) == [
        Problem("proformas/0/lines/0/line", "Quotes item line 7, which the order does not have.")
    ]


def test_dates_out_of_order(single):
    single["dates"]["accepted"] = "2025-03-01T09:00:00-05:00"
    assert _problems(single) == [Problem("dates/accepted", "Accepted before the order was issued.")]


def test_due_date_before_issue(single):
    single["destinations"][0]["deliveries"][0]["dueDate"] = "2025-02-01"
    assert _problems(single) == [
        Problem("destinations/0/deliveries/0/dueDate", "Due before the order was issued.")
    ]


def test_impossible_calendar_date(single):
    single["destinations"][0]["deliveries"][0]["dueDate"] = "2025-02-30"
    assert _problems(single) == [
        Problem("destinations/0/deliveries/0/dueDate", "'2025-02-30' is not a real calendar date.")
    ]


def test_proforma_after_issue():
    order = load_example("3-partial")
    order["proformas"][0]["date"] = "2025-03-09T09:30:00-05:00"
    assert _problems(order) == [Problem("proformas/0/date", "Quoted after the order was issued.")]


def test_issued_outside_agreement(single):
    single["dates"] = {
        "issued": "2026-07-01T10:00:00-05:00",
        "accepted": "2026-07-02T10:00:00-05:00",
    }
    single["destinations"][0]["deliveries"][0]["dueDate"] = "2026-07-10"
    assert _problems(single) == [
        Problem(
            "dates/issued",
            "Issued on 2026-07-01, outside the agreement period 2024-06-01 to 2026-05-31.",
        )
    ]


def test_cancelled_needs_cancellation(single):
    single["status"] = "cancelled"
    assert _problems(single) == [
        Problem("cancellation", "Must be present exactly when status is 'cancelled'.")
    ]


def test_supplier_outside_agreement(single):
    single["supplier"] = {"identifier": "20999999999", "name": "Otro S.A.C.", "size": "small"}
    assert _problems(single) == [
        Problem(
            "supplier/identifier",
            "Supplier 20999999999 is not a supplier of framework agreement EXT-CE-2024-11.",
        )
    ]


def test_duplicate_item_line(multi):
    multi["items"][1]["line"] = 1
    problems = _problems(multi)
    assert Problem("items/1/line", "Line number 1 is used by more than one item.") in problems


def test_unknown_region_and_unknown_field(single):
    single["buyer"]["region"]["code"] = "99"
    assert _problems(single) == [
        Problem(
            "buyer/region/code",
            "Unknown region code '99': use a ubigeo department code (01-25) or 1501.",
        )
    ]
    single["buyer"]["region"]["code"] = "05"
    single["items"][0]["colour"] = "azul"
    assert _problems(single) == [Problem("items/0/colour", "Unknown field: the format does not define it.")]


def test_bad_agreement_reported_with_path(single):
    single["agreement"]["suppliers"][1]["size"] = "huge"
    (problem,) = _problems(single)
    assert problem.field == "agreement/suppliers/1/size"
    assert problem.reason.startswith("Must be one of: micro, small, medium, large")


def test_parse_file(tmp_path, single, multi):
    path = tmp_path / "orders.jsonl"
    bad = dict(single, version=0)
    path.write_bytes(b"\n".join([_line(single), _line(bad), _line(multi)]) + b"\n")
    result = list(parse_orders(path))
    assert [r.ok for r in result] == [True, False, True]
    assert result[1].problems == [Problem("version", "Must be at least 1; got 0.")]
    assert result[1].order["orderNumber"] == single["orderNumber"]


def test_doc_embeds_every_example():
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "source-orders.md").read_text(encoding="utf-8")
    for path in EXAMPLE_FILES:
        assert path.read_text(encoding="utf-8").rstrip() in doc, path.name


# Every identifier of a source order: what becomes an ocid, an OCDS id, a code or a date.
IDENTIFIERS = {
    "5-multi-destination-partial": [
        "orderNumber",
        "buyer/identifier",
        "buyer/region/code",
        "supplier/identifier",
        "dates/issued",
        "items/0/productId",
        "items/0/currency",
        "items/0/classification/code",
        "items/0/unit/code",
        "destinations/0/address/postalCode",
        "destinations/0/address/region/code",
        "destinations/0/deliveries/0/dueDate",
        "agreement/id",
        "agreement/catalogue/id",
        "agreement/period/startDate",
        "agreement/suppliers/0/identifier",
        "amendments/0/id",
        "amendments/0/date",
        "documents/0/id",
        "documents/0/url",
        "documents/0/sha256",
    ],
    "2-package": ["package/id", "proformas/0/id", "proformas/0/date", "proformas/0/currency"],
}


@pytest.mark.parametrize("example", sorted(IDENTIFIERS))
@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x7f"], ids=repr)
def test_identifiers_refuse_control_characters_anywhere(example, char):
    order = load_example(example)
    for field in IDENTIFIERS[example]:
        *parents, last = [int(p) if p.isdigit() else p for p in field.split("/")]
        node = order
        for part in parents:
            node = node[part]
        text = node[last]
        assert isinstance(text, str) and check_order(order) == [], field
        for position, value in [
            (1, char + text),
            (len(text) // 2 + 1, text[: len(text) // 2] + char + text[len(text) // 2 :]),
            (len(text) + 1, text + char),
        ]:
            node[last] = value
            reason = (
                "Must not contain control characters (U+0000 to U+001F, U+007F); "
                f"got U+{ord(char):04X} at position {position} of {value!r}."
            )
            assert Problem(field, reason) in check_order(order), (field, value)
        node[last] = text
