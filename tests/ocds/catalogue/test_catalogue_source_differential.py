"""check_order's schema verdict (jsonschema-rs) is python-jsonschema's, and its problems are those of
the old check_order (source_reference.py), on generated, hand-made and mutated orders.

Every comparison goes through ``catalogue_support.assert_source_agrees``, which fails if the
verdict (with its fallbacks, or jsonschema-rs alone on plain JSON) differs from jsonschema's, or
if the problems differ from the reference's in any field, message or position.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import pytest
from catalogue_support import EXAMPLE_FILES, assert_source_agrees, load_example
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ocds.catalogue import source
from ocds.catalogue.generate import generate_orders
from ocds.catalogue.source import check_order
from ocds.errors import Problem

# --- (a) every generated order, several seeds --------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_orders_agree(seed):
    orders = list(generate_orders(1000, seed))
    for i, order in enumerate(orders):
        # The whole schema's verdict costs ~5 ms (the agreement has dozens of suppliers): on every
        # 50th order; the others are judged as outer part and (memoised) agreement.
        assert assert_source_agrees(order, full_schema=i % 50 == 0), order["orderNumber"]


# --- (b) the examples (the bad inputs of test_catalogue_source.py go through conftest) --------


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_agree(path):
    assert assert_source_agrees(load_example(path.stem)) is True


# --- must-agree cases: where jsonschema-rs, fastjsonschema and jsonschema could judge apart -----

SHA = "a" * 64
ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
FULLWIDTH = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
DEVANAGARI = str.maketrans("0123456789", "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f")

ITEM = ["items", 0]
DELIVERY = ["destinations", 0, "deliveries", 0]
DOC = ["documents", 0]
AGREEMENT = ["agreement"]

# Every identifier field (those with a pattern and the free-text ids), and a value that fits it.
PATTERNED: dict[str, tuple[list, str]] = {
    "orderNumber": (["orderNumber"], "OC-2025-000123"),
    "buyer ruc": (["buyer", "identifier"], "20131370645"),
    "issued": (["dates", "issued"], "2025-03-04T10:15:00-05:00"),
    "due date": ([*DELIVERY, "dueDate"], "2025-03-20"),
    "currency": ([*ITEM, "currency"], "PEN"),
    "region code": (["buyer", "region", "code"], "15"),
    "region code 1501": (["buyer", "region", "code"], "1501"),
    "classification": ([*ITEM, "classification", "code"], "44121618"),
    "unit code": ([*ITEM, "unit", "code"], "NIU"),
    "postal code": (["destinations", 0, "address", "postalCode"], "15001"),
    "url": ([*DOC, "url"], "https://x.pe/a"),
    "sha256": ([*DOC, "sha256"], SHA),
    "agreement id": ([*AGREEMENT, "id"], "EXT-CE-2024-11"),
    "agreement start": ([*AGREEMENT, "period", "startDate"], "2024-06-01"),
    "product id": ([*ITEM, "productId"], "PRD-0001"),
    "catalogue id": ([*AGREEMENT, "catalogue", "id"], "CAT-01"),
    "document id": ([*DOC, "id"], "d1"),
}


def _text_variants() -> dict[str, tuple[list, Any]]:
    cases: dict[str, tuple[list, Any]] = {}
    for name, (path, text) in PATTERNED.items():
        for variant, value in [
            ("ok", text),
            ("final newline", text + "\n"),
            ("two final newlines", text + "\n\n"),
            ("final CR", text + "\r"),
            ("final CRLF", text + "\r\n"),
            ("leading newline", "\n" + text),
            ("inner newline", text[:2] + "\n" + text[2:]),
            ("final tab", text + "\t"),
            ("final NUL", text + "\x00"),
            ("inner DEL", text[:2] + "\x7f" + text[2:]),
            ("Arabic-Indic digits", text.translate(ARABIC)),
            ("fullwidth digits", text.translate(FULLWIDTH)),
            ("Devanagari digits", text.translate(DEVANAGARI)),
            ("lower case", text.lower()),
            ("space", text + " "),
            ("NEL", text + "\x85"),
            ("empty", ""),
            ("lone surrogate", text + "\ud800"),
        ]:
            cases[f"{name}: {variant}"] = (path, value)
    return cases


MUST_AGREE: dict[str, tuple[list, Any]] = {
    **_text_variants(),
    # URL: [^\s] with Python's \s (\x1c-\x1f, \x85 are space; \ufeff is not, unlike ECMA's \s).
    **{
        f"url with {hex(ord(c))}": ([*DOC, "url"], f"https://x.pe/a{c}b")
        for c in "\t\x0b\x1c\x1f\x85\xa0\u1680\u180e\u2000\u2028\u202f\u3000\ufeff\U0001f600"
    },
    # Integers (draft 7: 1.0 is one), minimums, exclusive minimums.
    **{
        f"version {value!r}": (["version"], value)
        for value in [1, 2, 1.0, 2.0, 1e300, 2**70, 0, -(2**70), 1.5, True, False, "1", None]
    },
    **{f"line {value!r}": ([*ITEM, "line"], value) for value in [1, 1.0, 2**64, 2**64 + 1, 0, -1, True, 1.5]},
    **{
        f"quantity {value!r}": ([*ITEM, "quantity"], value)
        for value in [40, 40.0, 0, -0.0, 5e-324, -5e-324, -3, 2**70, 1e308, True, "40", None]
    },
    **{
        f"unit price {value!r}": ([*ITEM, "unitPrice"], value)
        for value in [0, -0.0, -5e-324, 2**70, -(2**70), False, 1e308, "1"]
    },
    # Values json.loads reads and JSON cannot hold: jsonschema judges them.
    "quantity NaN": ([*ITEM, "quantity"], math.nan),
    "quantity Infinity": ([*ITEM, "quantity"], math.inf),
    "quantity -Infinity": ([*ITEM, "quantity"], -math.inf),
    "unit price NaN": ([*ITEM, "unitPrice"], math.nan),
    "version NaN": (["version"], math.nan),
    "NaN for a string": (["buyer", "name"], math.nan),
    "NaN in an extra field": (["buyer", "x"], math.nan),
    "amendment change NaN": (
        ["amendments"],
        [
            {
                "id": "a",
                "date": "2025-03-05T10:00:00-05:00",
                "rationale": "r",
                "changes": [{"field": "f", "previous": math.nan, "new": math.inf}],
            }
        ],
    ),  # fmt: skip
    "lone surrogate key": (["buyer", "\udc80"], 1),
    "lone surrogate name": (["buyer", "name"], "\ud800"),
    # Constants and enums.
    "formatVersion 1.0 number": (["formatVersion"], 1.0),
    "formatVersion final newline": (["formatVersion"], "1.0\n"),
    "status final newline": (["status"], "issued\n"),
    "status true": (["status"], True),
    "status cancelled without cancellation": (["status"], "cancelled"),
    "size Medium": (["supplier", "size"], "Medium"),
    "document type null": ([*DOC, "type"], None),
    # Required, extra, empty.
    "items empty": (["items"], []),
    "deliveries empty": (["destinations", 0, "deliveries"], []),
    "agreement suppliers empty": ([*AGREEMENT, "suppliers"], []),
    "agreement not an object": (AGREEMENT, ["x"]),
    "agreement extra field": ([*AGREEMENT, "x"], 1),
    "agreement supplier size huge": ([*AGREEMENT, "suppliers", 1, "size"], "huge"),
    "agreement supplier twice": ([*AGREEMENT, "suppliers", 1], lambda suppliers: suppliers[0]),
    "agreement ends before it starts": ([*AGREEMENT, "period", "endDate"], "2024-01-01"),
    "agreement Feb 30": ([*AGREEMENT, "period", "endDate"], "2025-02-30"),
    "agreement huge int": ([*AGREEMENT, "x"], 2**70),
    "agreement NaN": ([*AGREEMENT, "title"], math.nan),
    "agreement null": ([*AGREEMENT, "title"], None),
    "agreement lone surrogate": ([*AGREEMENT, "title"], "Acuerdo \udfff"),
    "agreement lone surrogate, bad": ([*AGREEMENT, "title"], ["\udfff"]),
    "extra top-level field": (["colour"], "azul"),
    "changes previous list": (
        ["amendments"],
        [
            {
                "id": "a",
                "date": "2025-03-05T10:00:00-05:00",
                "rationale": "r",
                "changes": [{"field": "f", "previous": [1], "new": True}],
            }
        ],
    ),  # fmt: skip
    "amendment version later": (
        ["amendments"],
        [
            {
                "id": "a",
                "version": 9,
                "date": "2025-03-05T10:00:00-05:00",
                "rationale": "r",
                "changes": [{"field": "f", "previous": None, "new": "x"}],
            }
        ],
    ),  # fmt: skip
}


def _with(order: dict, path: list, value: Any) -> dict:
    order = copy.deepcopy(order)
    node = order
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value(node) if callable(value) else value
    return order


def _base() -> dict:
    """The partial-delivery example, with a postal code and a document to doctor."""
    order = load_example("3-partial")
    order["destinations"][0]["address"]["postalCode"] = "15001"
    order["documents"] = [
        {"id": "d1", "type": "other", "title": "Acta", "url": "https://x.pe/a", "sha256": SHA}
    ]
    return order


def test_base_is_valid():
    assert check_order(_base()) == []


# The verdicts of a few cases, so that the table is seen to go both ways.
EXPECTED = {
    "orderNumber: ok": True,
    # Python's "$" matches before a final newline: the schema refuses control characters apart.
    "orderNumber: final newline": False,
    "product id: final newline": False,
    "document id: final NUL": False,
    "url: final tab": False,
    "orderNumber: two final newlines": False,
    "orderNumber: final CRLF": False,
    "orderNumber: Arabic-Indic digits": False,  # [0-9], not \d
    "url with 0x1c": False,  # Python's \s has the information separators...
    "url with 0xfeff": True,  # ... and not the byte order mark, unlike ECMA 262's
    "version 1.0": True,  # draft 7: an integer
    "version 1e+300": True,
    "version True": False,
    "quantity -0.0": False,
    "quantity 5e-324": True,
    "quantity NaN": True,  # a number for jsonschema (the hand checks then object to it)
    "version NaN": False,
    "lone surrogate name": True,
    "lone surrogate key": False,
    "agreement lone surrogate": True,
    "agreement NaN": False,
}


@pytest.mark.parametrize("case", sorted(MUST_AGREE))
def test_must_agree(case):
    path, value = MUST_AGREE[case]
    verdict = assert_source_agrees(_with(_base(), path, value))
    if case in EXPECTED:
        assert verdict is EXPECTED[case]


def test_expected_cases_exist():
    assert set(EXPECTED) <= set(MUST_AGREE)


def test_not_an_object():
    for value in ([], "x", 1, None, True, 1.5, math.nan):
        assert assert_source_agrees(value) is False


# --- problems of every kind at once: the order of the checks ---------------------------------


def _every_kind() -> dict:
    order = load_example("5-multi-destination-partial")
    order["buyer"]["region"]["code"] = "99"
    order["destinations"][1]["address"]["region"]["code"] = "98"
    order["supplier"]["identifier"] = "20999999999"
    order["items"][1]["currency"] = "USD"
    order["destinations"][1]["deliveries"][0]["lines"][0]["line"] = 9
    order["destinations"][0]["deliveries"][0]["lines"][1]["line"] = 1
    order["dates"]["accepted"] = "2025-03-01T09:00:00-05:00"
    order["amendments"][0]["version"] = 3
    order["destinations"][1]["deliveries"][0]["dueDate"] = "2025-02-30"
    order["destinations"][1]["number"] = 1
    order["documents"].append(copy.deepcopy(order["documents"][0]))
    supplier = order["agreement"]["suppliers"][1]
    order["proformas"] = [
        {"id": "PF-1", "supplier": supplier, "date": "2025-03-09T09:30:00-05:00",
         "currency": "USD", "lines": [{"line": 7, "unitPrice": 1}], "total": 1},
        {"id": "PF-1", "supplier": {**supplier, "identifier": "20888888888"},
         "date": "2025-03-01T09:30:00-05:00", "currency": "PEN",
         "lines": [{"line": 1, "unitPrice": 9}], "total": 9},
    ]  # fmt: skip
    return order


def test_problems_of_every_kind_in_order():
    order = _every_kind()
    assert assert_source_agrees(order) is True
    outside = "is not a supplier of framework agreement EXT-CE-2024-11."
    region = "use a ubigeo department code (01-25) or 1501."
    assert check_order(order) == [
        Problem("buyer/region/code", f"Unknown region code '99': {region}"),
        Problem("destinations/1/address/region/code", f"Unknown region code '98': {region}"),
        Problem("supplier/identifier", f"Supplier 20999999999 {outside}"),
        Problem(
            "items/1/currency",
            "Mixed currencies: this item is in USD but items/0 is in PEN; an order has one currency.",
        ),
        Problem(
            "destinations/0/deliveries/0/lines/1/line",
            "Item line 1 appears twice in the same delivery.",
        ),
        Problem(
            "destinations/1/deliveries/0/lines/0/line",
            "Refers to item line 9, which the order does not have.",
        ),
        Problem("items/0/quantity", "Deliveries of line 1 add up to 70, more than the 40 ordered."),
        Problem("items/1/quantity", "Deliveries of line 2 add up to 150, less than the 200 ordered."),
        Problem(
            "proformas/0/currency",
            "Mixed currencies: the proforma is in USD but the order is in PEN.",
        ),
        Problem("proformas/0/lines/0/line", "Quotes item line 7, which the order does not have."),
        Problem("proformas/1/supplier/identifier", f"Supplier 20888888888 {outside}"),
        Problem("dates/accepted", "Accepted before the order was issued."),
        Problem("amendments/0/version", "Later than the order's own version 2."),
        Problem("proformas/0/date", "Quoted after the order was issued."),
        Problem("destinations/1/deliveries/0/dueDate", "'2025-02-30' is not a real calendar date."),
        Problem("destinations/1/number", "Destination number 1 is used twice."),
        Problem("proformas/1/id", "Proforma id 'PF-1' is used twice."),
        Problem("documents/1/id", "Document id 'OC-2025-000127-pdf' is used twice."),
    ]


# --- where the old verdict (fastjsonschema) was not jsonschema's: now it is ----------------------


def test_a_final_newline_is_refused_as_a_control_character(single):
    # Python's "$" matches before a final newline, so the patterns alone let these through (and
    # made ocids with a newline); ECMA 262's does not. The schema's "not controlCharacter" makes
    # both engines refuse them, with the same problem.
    reason = "Must not contain control characters (U+0000 to U+001F, U+007F); got U+000A at position"
    for path, value in [
        (["orderNumber"], "OC-2025-000123\n"),
        ([*ITEM, "currency"], "PEN\n"),
        ([*AGREEMENT, "id"], "EXT-CE-2024-11\n"),
    ]:
        (problem,) = check_order(_with(single, path, value))
        assert problem.field == "/".join(map(str, path))
        assert problem.reason.startswith(reason)


# --- the agreement cache ------------------------------------------------------------------------


def test_agreement_cache_tells_nan_from_null(single):
    # orjson writes NaN as null: the cache must not hand one's problems to the other.
    with_nan = _with(single, [*AGREEMENT, "title"], math.nan)
    with_null = _with(single, [*AGREEMENT, "title"], None)
    for order in (with_nan, with_null, with_nan):
        assert_source_agrees(order)
    assert check_order(with_nan) != check_order(with_null)


def test_agreement_orjson_cannot_write(single):
    # The old cache key (orjson) raised on these; json.loads can give them.
    for value in ("Acuerdo \udfff", 2**70, ["\ud800"]):
        assert_source_agrees(_with(single, [*AGREEMENT, "title"], value))


def test_agreement_changed_after_a_check(single):
    assert check_order(single) == []
    single["agreement"]["suppliers"][1]["size"] = "huge"
    (problem,) = check_order(single)
    assert problem.field == "agreement/suppliers/1/size"
    single["agreement"]["suppliers"][1]["size"] = "small"
    assert check_order(single) == []


def test_agreement_key_order_does_not_matter(single):
    reordered = dict(reversed(list(single["agreement"].items())))
    assert check_order(_with(single, AGREEMENT, reordered)) == []


def test_a_wrong_fast_verdict_is_never_silently_valid(monkeypatch, single):
    outer, agreement = source._checkers()
    monkeypatch.setattr(outer, "_fast", lambda order: True)  # a fast path gone wrong
    bad = _with(single, ["version"], 0)
    assert check_order(bad) == []  # what a wrong "valid" does: the tests above must catch it
    with pytest.raises(AssertionError, match="verdict differs"):
        assert_source_agrees(bad)


def test_a_wrong_invalid_is_judged_by_jsonschema(monkeypatch, single):
    outer, agreement = source._checkers()
    monkeypatch.setattr(outer, "_fast", lambda order: False)
    monkeypatch.setattr(agreement, "_fast", lambda agreement: False)
    source._AGREEMENT_CACHE.clear()
    try:
        assert check_order(single) == []  # jsonschema explains nothing: valid, hand checks run
        outside = _with(single, ["supplier", "identifier"], "20999999999")
        assert [p.field for p in check_order(outside)] == ["supplier/identifier"]
    finally:
        source._AGREEMENT_CACHE.clear()


# --- (c) mutated orders -------------------------------------------------------------------------


@cache
def _bases() -> tuple[dict, ...]:
    """The examples and generated orders of every kind (amended, cancelled, packaged...)."""
    generated = list(generate_orders(400, seed=11))

    def first(pred):
        return next(o for o in generated if pred(o))

    picked = [
        first(lambda o: "amendments" in o),
        first(lambda o: "cancellation" in o),
        first(lambda o: "package" in o),
        first(lambda o: o["status"] == "delivered"),
        first(lambda o: len(o["destinations"]) > 1),
        first(lambda o: any(len(d["deliveries"]) > 1 for d in o["destinations"])),
    ]
    return (*(load_example(p.stem) for p in EXAMPLE_FILES), _base(), *picked)


_DIGIT_SETS = [ARABIC, FULLWIDTH, DEVANAGARI]
_TEXT_POOL = [
    "", " ", "x", "\n", "PEN", "USD", "XYZ", "pen", "EUR", "PEN\n", "15", "1501", "99", "15\n",
    "20131370645", "20999999999", "2013137064", "10131370645\n", "2025-03-04", "2025-02-30",
    "2024-02-29", "2030-01-01", "2025-13-01", "2025-03-04T10:15:00-05:00",
    "2025-03-04T10:15:00Z", "2025-02-30T10:15:00-05:00", "2025-03-04T24:00:00Z",
    "2025-03-04T10:15:00+24:00", "2025-03-04T10:15:00.1234567-05:00", "2025-03-04T10:15:60-05:00",
    "2023-01-01T00:00:00-05:00", "2025-03-04T10:15:00-05:00\n", "issued", "accepted", "delivered",
    "cancelled", "micro", "huge", "other", "purchaseOrder", "https://x.pe/a", "https://x.pe/a b",
    "ftp://x", SHA, SHA.upper(), "OC-2025-000123", "OC-2025-000123-2", "oc-2025-1",
    "\u0661\u0665", "\uff11\uff15", "\ud800",
]  # fmt: skip
# Plausible texts by field name: mostly valid for the schema, often wrong for the hand checks.
_DATE_TIMES = [
    "2025-03-04T10:15:00-05:00", "2025-03-01T09:00:00-05:00", "2025-03-09T09:30:00Z",
    "2024-05-31T23:00:00-05:00", "2026-07-01T10:00:00-05:00", "2025-02-30T10:00:00-05:00",
    "2025-03-04T10:15:00.5+00:00", "2025-03-04T15:15:00Z",
]  # fmt: skip
_DATES = ["2025-03-04", "2025-03-03", "2024-06-01", "2026-05-31", "2025-02-29", "2024-02-29"]
_TEXTS_BY_FIELD: dict[str, list[str]] = {
    "currency": ["PEN", "USD", "XYZ", "EUR"],
    "code": ["15", "1501", "07", "99", "0", "44121706", "NIU"],
    "identifier": ["20512345671", "20498765432", "20100234567", "20999999999", "10131370645"],
    "issued": _DATE_TIMES, "accepted": _DATE_TIMES, "delivered": _DATE_TIMES,
    "date": _DATE_TIMES, "dueDate": _DATES, "deliveredDate": _DATES, "startDate": _DATES,
    "endDate": _DATES, "status": ["issued", "accepted", "delivered", "cancelled"],
    "id": ["PF-1", "AD-1", "d1", "EXT-CE-2024-11", "x"],
}  # fmt: skip
_NUMBER_POOL = [1, 2, 3, 5, 7, 40, 1000, 0.5, 2.5, 1e-12, 39.999999999, 1e300]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, -1, 1.0, 2.0, -0.0, 0.5, 1e308, 5e-324, 2**64, math.nan, math.inf]),
    st.floats(allow_nan=False),
    st.sampled_from(_TEXT_POOL),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["id", "line", "quantity", "code", "x"]), inner, max_size=3),
    ),
    max_leaves=5,
)
_KEYS = ["x", "colour", "id", "name", "line", "quantity", "version", "currency", "Quantity", "id\n"]


def _paths(node: Any, prefix: tuple = ()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _at(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def _text_actions(text: str) -> dict[str, Any]:
    return {
        "final newline": text + "\n",
        "two final newlines": text + "\n\n",
        "final CR": text + "\r",
        "leading newline": "\n" + text,
        "upper": text.upper(),
        "lower": text.lower(),
        "shorter": text[:-1],
        "longer": text + "0",
        **{f"digits {i}": text.translate(t) for i, t in enumerate(_DIGIT_SETS)},
    }


def _number_actions(number: float) -> dict[str, Any]:
    return {
        "negate": -number,
        "zero": 0,
        "negative zero": -0.0,
        "float": float(number) if abs(number) < 2**1000 else number,
        "plus a half": number + 0.5,
        "true": True,
        "text": str(number),
        "NaN": math.nan,
        "Infinity": math.inf,
        "huge": number * 2**70,
    }


def _mutate(order: dict, data: st.DataObject, *, plausible_only: bool = False) -> dict:
    paths = [p for p in _paths(order) if p]
    if plausible_only:  # leaves and lists: dropping a field of an object mostly breaks the schema
        paths = [p for p in paths if not isinstance(_at(order, p), dict)]
    agreement = [p for p in paths if p[0] == "agreement"]
    rest = [p for p in paths if p[0] != "agreement"]
    # The agreement's supplier list has most of the paths: mutate it one time in five.
    pool = agreement if data.draw(st.integers(0, 4), label="in agreement") == 0 else rest
    pool = pool or paths
    path = data.draw(st.sampled_from(pool), label="path")
    parent = order
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    node = parent[key]
    # New values for the node, by the name of the change; and changes that draw more.
    changes: dict[str, Any] = {}
    special = ["replace", "drop"]
    plausible = ["drop"]  # changes that often keep the order valid, for the hand checks
    if isinstance(node, str):
        changes = _text_actions(node)
        plausible = ["other text"]
    elif isinstance(node, int | float) and not isinstance(node, bool):
        changes = _number_actions(node)
        plausible = ["other number"]
    elif isinstance(node, dict):
        special.append("add")
    elif isinstance(node, list):
        changes = {"empty": []}
        special += ["duplicate", "append"] if node else ["append"]
        plausible = ["duplicate"] if node else ["drop"]
    every = sorted({*changes, *special, *plausible})
    plausibly = plausible_only or data.draw(st.booleans(), label="plausible")
    action = data.draw(st.sampled_from(plausible if plausibly else every), label="action")
    if action in changes:
        parent[key] = changes[action]
    elif action == "other text":
        texts = _TEXTS_BY_FIELD.get(key, _TEXT_POOL) if isinstance(key, str) else _TEXT_POOL
        parent[key] = data.draw(st.sampled_from(texts), label="text")
    elif action == "other number":
        parent[key] = data.draw(st.sampled_from(_NUMBER_POOL), label="number")
    elif action == "replace":
        parent[key] = data.draw(_values, label="value")
    elif action == "drop":
        del parent[key]
    elif action == "add":
        name = data.draw(st.sampled_from(_KEYS) | st.text(max_size=6), label="key")
        node[name] = data.draw(_values, label="value")
    elif action == "duplicate":
        node.append(copy.deepcopy(data.draw(st.sampled_from(node), label="item")))
    else:
        node.append(data.draw(_values, label="item"))
    return order


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_orders_agree(data):
    bases = _bases()
    order = copy.deepcopy(bases[data.draw(st.integers(0, len(bases) - 1), label="base")])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="count")):
        order = _mutate(order, data)
    valid = assert_source_agrees(order)
    # --hypothesis-show-statistics: how many mutants each layer rejects.
    if not valid:
        event("schema: invalid")
    else:
        event("hand checks: " + ("problems" if check_order(order) else "none"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_several_plausible_changes_agree(data):
    # Changes that mostly keep the schema happy, several at once: many hand-check problems, of
    # several kinds, whose order must be the reference's.
    bases = _bases()
    order = copy.deepcopy(bases[data.draw(st.integers(0, len(bases) - 1), label="base")])
    for _ in range(data.draw(st.integers(min_value=2, max_value=6), label="count")):
        order = _mutate(order, data, plausible_only=True)
    if not assert_source_agrees(order):
        event("schema: invalid")
    else:
        count = len(check_order(order))
        event(f"hand-check problems: {'3+' if count >= 3 else count}")
