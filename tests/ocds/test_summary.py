"""ocds.summary: one reading of a compiled release, on real OCDS, Veraz's examples and anything.

The reading must never raise and must return the documented types whatever it is given; on
well-formed data it must say what was published.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from builders import SHAPES, example_order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SHARED, need, replace_at_paths

from ocds.catalogue.mapping import map_order
from ocds.compile import compile_release
from ocds.errors import InputError
from ocds.summary import browse_columns, process_facts

REAL = SHARED / "real-ocds"
PREFIX = "ocds-test01"

TEXT_KEYS = (
    "ocid",
    "title",
    "status",
    "order_number",
    "category",
    "classification",
    "region",
    "agreement_ocid",
    "date",
    "date_signed",
    "method",
    "delivery_region",
    "delivery_district",
)
#: browse column -> largest length (None: not text)
COLUMNS = {
    "kind": 20,
    "order_number": 64,
    "title": 10_000,
    "status": 32,
    "category": 32,
    "classification": 32,
    "buyer_id": 255,
    "buyer_name": 10_000,
    "region": 64,
    "supplier_id": 255,
    "supplier_name": 10_000,
    "agreement_ocid": 255,
    "amount": None,
    "currency": 3,
    "date": 40,
    "procedure": 32,
    "agreement_title": 10_000,
    "delivery_region": 64,
    "delivery_district": 128,
    "month": 7,
}


def _text_or_none(value) -> bool:
    return value is None or (isinstance(value, str) and value != "")


def _published_scalar(value) -> bool:
    return value is None or (isinstance(value, int | float | str) and not isinstance(value, bool))


def _check_party(party) -> None:
    assert set(party) == {"id", "name", "identifier", "scale", "region", "address"}
    assert all(_text_or_none(party[k]) for k in ("id", "name", "scale", "region"))
    assert isinstance(party["address"], str)
    identifier = party["identifier"]
    assert identifier is None or (
        set(identifier) == {"scheme", "id"} and all(_text_or_none(v) for v in identifier.values())
    )


def assert_documented_types(facts: dict) -> None:
    """Every key of process_facts present, with the type its docstring promises."""
    assert set(facts) == set(TEXT_KEYS) | {
        "kind",
        "buyer",
        "supplier",
        "suppliers",
        "buyer_address",
        "framework",
        "period",
        "value",
        "items",
        "destinations",
        "bids",
        "amendments",
        "documents",
    }
    for key in TEXT_KEYS:
        assert _text_or_none(facts[key]), (key, facts[key])
    assert facts["kind"] in ("order", "agreement", "other")
    assert (facts["order_number"] is None) or facts["kind"] == "order"
    for party in [facts["buyer"], facts["supplier"], *facts["suppliers"]]:
        assert party is None or _check_party(party) is None
    assert (facts["supplier"] is None) == (facts["suppliers"] == [])
    assert isinstance(facts["buyer_address"], str)
    framework = facts["framework"]
    assert framework is None or (
        set(framework) == {"id", "title", "scheme", "identifier"}
        and all(_text_or_none(v) for v in framework.values())
    )
    assert (facts["kind"] == "order") == (framework is not None)
    assert set(facts["period"]) == {"startDate", "endDate"}
    assert all(_text_or_none(v) for v in facts["period"].values())
    assert set(facts["value"]) == {"amount", "currency"}
    assert _published_scalar(facts["value"]["amount"]) and _text_or_none(facts["value"]["currency"])
    for item in facts["items"]:
        assert set(item) == {
            "id",
            "description",
            "classification",
            "unit",
            "quantity",
            "unit_price",
            "currency",
            "total",
        }
        assert all(_text_or_none(item[k]) for k in ("id", "description", "unit", "currency"))
        assert set(item["classification"]) == {"scheme", "id", "description"}
        assert all(_published_scalar(item[k]) for k in ("quantity", "unit_price"))
        total = item["total"]
        assert total is None or (isinstance(total, int | float) and not isinstance(total, bool))
    for dest in facts["destinations"]:
        assert isinstance(dest["address"], str) and _text_or_none(dest["region"])
        assert dest["deliveries"]
        for delivery in dest["deliveries"]:
            assert all(_text_or_none(delivery[k]) for k in ("id", "due", "status", "title"))
            for item in delivery["items"]:
                assert _text_or_none(item["description"]) and _text_or_none(item["unit"])
                assert _published_scalar(item["quantity"])
    for bid in facts["bids"]:
        assert all(_text_or_none(bid[k]) for k in ("id", "date", "status"))
        assert all(_text_or_none(t["id"]) and _text_or_none(t["name"]) for t in bid["tenderers"])
        assert _published_scalar(bid["value"]["amount"])
    for amendment in facts["amendments"]:
        assert set(amendment) == {"id", "date", "rationale", "description"}
        assert all(_text_or_none(v) for v in amendment.values())
    for document in facts["documents"]:
        assert all(_text_or_none(document[k]) for k in ("id", "title", "url", "documentType"))
        assert all(_text_or_none(i["scheme"]) and _text_or_none(i["id"]) for i in document["integrity"])


def assert_browse_columns(columns: dict) -> None:
    """Exactly the records table's browse columns, each within its column's size."""
    assert set(columns) == set(COLUMNS)
    assert columns["kind"] in ("order", "agreement", "other")
    for key, limit in COLUMNS.items():
        if limit is not None:
            assert _text_or_none(columns[key]) and len(columns[key] or "") <= limit, key
    amount = columns["amount"]
    assert amount is None or (
        isinstance(amount, Decimal)
        and amount.is_finite()
        and abs(amount) < Decimal(10) ** 17
        and amount == amount.quantize(Decimal("0.01"))
    )


def read(compiled) -> dict:
    facts = process_facts(compiled)
    assert_documented_types(facts)
    assert_browse_columns(browse_columns(compiled))
    return facts


# --- real published OCDS --------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _real_compiled_releases() -> list[tuple[str, dict]]:
    """Every release, every published compiled release, and our compilation of every ocid."""
    out: list[tuple[str, dict]] = []
    by_ocid: dict[str, list[dict]] = {}
    for path in sorted(REAL.glob("*/releases.jsonl")):
        for i, release in enumerate(_jsonl(path)):
            out.append((f"{path}:{i}", release))
            by_ocid.setdefault(release.get("ocid"), []).append(release)
    records = [
        (f"{path}:{i}", record)
        for path in sorted(REAL.glob("*/records.jsonl"))
        for i, record in enumerate(_jsonl(path))
    ]
    for path in sorted(REAL.glob("*/raw/records/*.json")):
        package = json.loads(path.read_text(encoding="utf-8"))
        records += [(f"{path}:{i}", record) for i, record in enumerate(package.get("records") or [])]
    # a record may link its releases and publish no compiled release (Mexico GACM's do)
    out += [
        (f"{label}:compiledRelease", record["compiledRelease"])
        for label, record in records
        if "compiledRelease" in record
    ]
    for ocid, releases in sorted(by_ocid.items(), key=lambda kv: str(kv[0])):
        try:
            out.append((f"compiled {ocid}", compile_release(releases)))
        except InputError:
            continue  # the merge routine refuses some published data; its releases are read above
    return out


def test_every_real_release_and_compiled_record_reads():
    need(REAL.is_dir(), f"{REAL} (real published OCDS) is not present")
    readings = _real_compiled_releases()
    assert len(readings) > 400
    with_buyer = 0
    for label, compiled in readings:
        facts = read(compiled)
        assert facts["ocid"] == compiled["ocid"], label
        with_buyer += facts["buyer"] is not None and facts["buyer"]["name"] is not None
    # the data names its buyers: a reading that lost them all would still be well typed
    assert with_buyer > len(readings) / 2


def test_real_data_items_come_from_the_latest_stage_that_has_them():
    need(REAL.is_dir(), f"{REAL} (real published OCDS) is not present")
    checked = 0
    for label, compiled in _real_compiled_releases():
        # the award's lines, else the contract's, else the tender's (see ocds.summary)
        stages = [
            *(compiled.get("awards") or [{}])[:1],
            *(compiled.get("contracts") or [{}])[:1],
            compiled.get("tender") or {},
        ]
        published = next((s["items"] for s in stages if s.get("items")), [])
        facts = process_facts(compiled)
        assert [i["id"] for i in facts["items"]] == [
            str(i["id"]) if i.get("id") is not None else None for i in published
        ], label
        checked += bool(published)
    assert checked > 100


# --- Veraz's own orders ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_an_example_order_reads_as_published(shape):
    order = example_order(shape)
    mapped = map_order(order, ocid_prefix=PREFIX)
    compiled = compile_release([mapped.order_release])
    facts = read(compiled)
    contract = mapped.order_release["contracts"][0]

    assert facts["kind"] == "order" and facts["order_number"] == order["orderNumber"]
    assert facts["buyer"]["name"] == order["buyer"]["name"]
    assert facts["buyer"]["identifier"] == {"scheme": "PE-RUC", "id": order["buyer"]["identifier"]}
    assert facts["supplier"]["name"] == order["supplier"]["name"]
    assert facts["agreement_ocid"] == mapped.agreement_ocid == facts["framework"]["identifier"]
    assert facts["status"] == contract["status"]
    # the award's lines, one per order line; the contract splits them by destination and
    # delivery (the destinations below)
    award = mapped.order_release["awards"][0]
    assert [i["id"] for i in facts["items"]] == [i["id"] for i in award["items"]]
    assert sum(i["quantity"] for i in facts["items"]) == sum(
        part["quantity"] for dest in order["destinations"] for d in dest["deliveries"] for part in d["lines"]
    )
    assert round(sum(i["total"] for i in facts["items"]), 2) == facts["value"]["amount"]
    assert facts["value"] == contract["value"]
    assert len(facts["destinations"]) == len(order["destinations"])
    assert [len(d["deliveries"]) for d in facts["destinations"]] == [
        len(dest["deliveries"]) for dest in order["destinations"]
    ]
    assert len(facts["bids"]) == len(order.get("proformas", []))
    assert len(facts["amendments"]) == len(order.get("amendments", []))

    columns = browse_columns(compiled)
    assert columns["amount"] == Decimal(str(contract["value"]["amount"])).quantize(Decimal("0.01"))
    assert (columns["buyer_name"], columns["supplier_name"]) == (
        order["buyer"]["name"],
        order["supplier"]["name"],
    )
    assert columns["order_number"] == order["orderNumber"]

    agreement = read(compile_release([mapped.agreement_release]))
    assert agreement["kind"] == "agreement" and agreement["order_number"] is None


def test_items_precedence_is_award_then_contract_then_tender():
    def items(*ids):
        return [{"id": i, "quantity": 1} for i in ids]

    release = {
        "ocid": "ocds-x-1",
        "tender": {"items": items("t")},
        "awards": [{"items": items("a")}],
        "contracts": [{"items": items("c1", "c2")}],
    }
    assert [i["id"] for i in process_facts(release)["items"]] == ["a"]
    release["awards"] = [{"items": []}]
    assert [i["id"] for i in process_facts(release)["items"]] == ["c1", "c2"]
    release["contracts"] = [{"title": "no items"}]
    assert [i["id"] for i in process_facts(release)["items"]] == ["t"]


# --- malformed values, one at a time ----------------------------------------------------------


def _order() -> dict:
    """An order with every part the reading shows: quotes, two destinations, an amendment."""
    order = example_order("5-multi-destination-partial", proformas=example_order("3-partial")["proformas"])
    order["supplier"] = example_order("3-partial")["supplier"]
    return compile_release([map_order(order, ocid_prefix=PREFIX).order_release])


def test_a_quantity_or_price_as_a_string_is_kept_and_not_multiplied():
    compiled = _order()
    item = compiled["awards"][0]["items"][0]
    item["quantity"] = "25 cajas"
    item["unit"]["value"]["amount"] = "9.50"
    first = read(compiled)["items"][0]
    assert (first["quantity"], first["unit_price"], first["total"]) == ("25 cajas", "9.50", None)


def test_amounts_as_strings_huge_or_not_numbers():
    compiled = _order()
    value = compiled["contracts"][0]["value"]
    value["amount"] = "1500.456"
    assert read(compiled)["value"]["amount"] == "1500.456"
    assert browse_columns(compiled)["amount"] == Decimal("1500.46")
    for unusable in (10**30, "mil soles", "NaN", "Infinity", True, [1], {"v": 1}, 10**5000):
        value["amount"] = unusable
        assert browse_columns(compiled)["amount"] is None, unusable
        read(compiled)
    value["amount"] = 10**30
    assert process_facts(compiled)["value"]["amount"] == 10**30  # shown as published


def test_a_huge_quantity_times_a_float_price_is_no_total():
    compiled = _order()
    compiled["awards"][0]["items"][0]["quantity"] = 10**400
    assert read(compiled)["items"][0]["total"] is None
    compiled["awards"][0]["items"][0]["quantity"] = 1e308
    compiled["awards"][0]["items"][0]["unit"]["value"]["amount"] = 1e308
    assert read(compiled)["items"][0]["total"] is None


@pytest.mark.parametrize(
    "path, wrong",
    [
        (("contracts",), {"0": {"id": "x"}}),
        (("contracts",), "contract"),
        (("parties",), {"buyer": {"name": "B"}}),
        (("parties", 0, "roles"), "buyer"),
        (("parties", 0, "identifier"), "20168999926"),
        (("relatedProcesses",), [None, 3, "framework"]),
        (("relatedProcesses", 0, "relationship"), {"framework": True}),
        (("contracts", 0, "items"), {"1": {"quantity": 1}}),
        (("contracts", 0, "items", 0), None),
        (("contracts", 0, "items", 0, "unit"), "Caja"),
        (("contracts", 0, "items", 0, "deliveryAddress"), ["Piura"]),
        (("contracts", 0, "milestones"), [{"id": ["1-1"]}, {"id": None}]),
        (("contracts", 0, "period"), "2025"),
        (("contracts", 0, "value"), [1500]),
        (("contracts", 0, "dateSigned"), 20250305),
        (("contracts", 0, "status"), {"code": "active"}),
        (("bids",), [{"id": 1}]),
        (("bids", "details"), {"a": 1}),
        (("bids", "details", 0, "tenderers"), "Distribuidora"),
        (("tender",), ["t"]),
        (("buyer",), "Gobierno Regional"),
    ],
)
def test_a_value_of_the_wrong_type_is_absent_and_the_rest_still_reads(path, wrong):
    compiled = _order()
    node = compiled
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = wrong
    facts = read(compiled)
    assert facts["ocid"] == compiled["ocid"]


def test_an_unusable_document_is_not_a_release():
    for value in (None, [], "release", 3, [{"ocid": "x"}]):
        facts = read(value)
        assert facts["ocid"] is None and facts["items"] == [] and facts["kind"] == "other"


# --- generated and mutated releases ---------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "buyer", "supplier", "framework", "1-1-1", "1-1", "12", "1e400", "NaN"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "ocid",
    "id",
    "tender",
    "awards",
    "contracts",
    "parties",
    "buyer",
    "relatedProcesses",
    "bids",
    "items",
    "value",
    "amount",
    "currency",
    "quantity",
    "unit",
    "roles",
    "identifier",
    "relationship",
    "details",
    "tenderers",
    "milestones",
    "deliveryAddress",
    "documents",
    "integrity",
    "amendments",
    "title",
    "status",
    "date",
    "dateSigned",
    "period",
    "name",
    "techniques",
    "hasFrameworkAgreement",
    "classification",
    "region",
    "address",
]
OCDS_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(OCDS_LIKE)
def test_any_json_with_ocds_keys_reads_without_raising(document):
    read(document)


@st.composite
def mutated_orders(draw):
    compiled = compile_release(
        [map_order(example_order(draw(st.sampled_from(SHAPES))), ocid_prefix=PREFIX).order_release]
    )
    return replace_at_paths(draw, compiled, JSON, min_changes=1, max_changes=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_orders())
def test_a_mutated_order_reads_without_raising(compiled):
    facts = read(compiled)
    columns = browse_columns(compiled)
    # the browse columns are that same reading, cut to size
    assert columns["kind"] == facts["kind"]
    assert columns["title"] == (facts["title"][:10_000] if facts["title"] else None)
    assert columns["supplier_name"] == (((facts["supplier"] or {}).get("name") or "")[:10_000] or None)
