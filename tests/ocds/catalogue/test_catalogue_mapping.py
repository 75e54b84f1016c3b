"""Mapping source orders to OCDS: schema validity, shapes, tags, ids and determinism."""

from __future__ import annotations

import copy

import pytest
import rfc8785
from catalogue_support import EXAMPLE_FILES, PREFIX, load_example, release_errors

from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from ocds.catalogue.source import check_order, order_shape


def _map(order: dict):
    return map_order(order, ocid_prefix=PREFIX)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_map_to_valid_releases(path):
    mapped = _map(load_example(path.stem))
    assert release_errors(mapped.order_release) == []
    assert release_errors(mapped.agreement_release) == []


def test_generated_releases_are_valid_ocds():
    seen_agreements = set()
    for order in generate_orders(600, seed=11):
        mapped = _map(order)
        assert release_errors(mapped.order_release) == [], order["orderNumber"]
        if mapped.agreement_release["id"] not in seen_agreements:
            seen_agreements.add(mapped.agreement_release["id"])
            assert release_errors(mapped.agreement_release) == []
    assert len(seen_agreements) > 10


def test_must_fail_release_is_caught():
    # The validator must be strict enough to matter: a bad scale and a bad hash fail.
    release = copy.deepcopy(_map(load_example("1-single")).order_release)
    release["parties"][1]["details"]["scale"] = "huge"
    release["contracts"][0]["documents"][0]["integrity"][0]["id"] = "not-hex"
    release["date"] = "yesterday"
    errors = release_errors(release)
    assert len(errors) == 3


def _contract(mapped) -> dict:
    return mapped.order_release["contracts"][0]


def _deliveries(mapped) -> list[tuple[str, float, str]]:
    return [(i["id"], i["quantity"], i["deliveryAddress"]["locality"]) for i in _contract(mapped)["items"]]


def test_shape_1_single_destination_single_delivery():
    mapped = _map(load_example("1-single"))
    assert _deliveries(mapped) == [("1-1-1", 40, "Ayacucho")]
    assert [m["id"] for m in _contract(mapped)["milestones"]] == ["1-1"]
    assert _contract(mapped)["milestones"][0]["type"] == "delivery"


def test_shape_2_package_is_one_lot():
    mapped = _map(load_example("2-package"))
    tender = mapped.order_release["tender"]
    assert [lot["id"] for lot in tender["lots"]] == ["PAQ-CD-03"]
    assert {i["relatedLot"] for i in tender["items"]} == {"PAQ-CD-03"}
    assert {i["relatedLot"] for i in _contract(mapped)["items"]} == {"PAQ-CD-03"}
    assert mapped.order_release["awards"][0]["relatedLots"] == ["PAQ-CD-03"]
    assert [i["id"] for i in _contract(mapped)["items"]] == ["1-1-1", "2-1-1", "3-1-1"]


def test_shape_3_partial_deliveries():
    mapped = _map(load_example("3-partial"))
    assert [(i, q) for i, q, _ in _deliveries(mapped)] == [
        ("2-1-1", 80),
        ("2-1-2", 60),
        ("2-1-3", 60),
    ]
    milestones = _contract(mapped)["milestones"]
    assert [(m["id"], m["status"]) for m in milestones] == [
        ("1-1", "met"),
        ("1-2", "met"),
        ("1-3", "met"),
    ]
    assert milestones[0]["dueDate"] == "2025-03-20T23:59:59-05:00"
    assert milestones[0]["dateMet"] == "2025-03-19T00:00:00-05:00"


def test_shape_4_several_destinations_one_delivery_each():
    mapped = _map(load_example("4-multi-destination"))
    assert _deliveries(mapped) == [
        ("1-1-1", 25, "Piura"),
        ("2-1-1", 120, "Piura"),
        ("1-2-1", 15, "Sullana"),
        ("2-2-1", 80, "Sullana"),
    ]
    assert [m["id"] for m in _contract(mapped)["milestones"]] == ["1-1", "2-1"]


def test_shape_5_several_destinations_several_deliveries():
    mapped = _map(load_example("5-multi-destination-partial"))
    assert [i for i, _, _ in _deliveries(mapped)] == [
        "1-1-1",
        "2-1-1",
        "1-1-2",
        "2-1-2",
        "1-2-1",
        "2-2-1",
    ]
    regions = {i["deliveryAddress"]["region"] for i in _contract(mapped)["items"]}
    assert regions == {"Lima Metropolitana", "Callao"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_contract_items_add_up_to_ordered_quantities(path):
    order = load_example(path.stem)
    contract = _contract(_map(order))
    for item in order["items"]:
        delivered = sum(
            i["quantity"] for i in contract["items"] if i["id"].split("-")[0] == str(item["line"])
        )
        assert delivered == item["quantity"]


def test_framework_link_and_ids():
    order = load_example("1-single")
    mapped = _map(order)
    release = mapped.order_release
    assert mapped.order_ocid == release["ocid"] == "ocds-test01-OC-2025-000123"
    assert release["id"] == "ocds-test01-OC-2025-000123-v1"
    assert mapped.agreement_ocid == "ocds-test01-AM-EXT-CE-2024-11"
    assert release["relatedProcesses"] == [
        {
            "id": "1",
            "relationship": ["framework"],
            "title": order["agreement"]["title"],
            "scheme": "ocid",
            "identifier": "ocds-test01-AM-EXT-CE-2024-11",
        }
    ]
    import hashlib

    digest = hashlib.sha256(rfc8785.dumps(order["agreement"])).hexdigest()[:16]
    agreement = mapped.agreement_release
    assert agreement["id"] == f"ocds-test01-AM-EXT-CE-2024-11-{digest}"
    assert agreement["tag"] == ["tender", "award"]
    assert agreement["tender"]["techniques"]["hasFrameworkAgreement"] is True
    assert (
        agreement["tender"]["techniques"]["frameworkAgreement"]["method"]
        == "withAndWithoutReopeningCompetition"
    )
    assert len(agreement["awards"]) == len(order["agreement"]["suppliers"])


def test_parties_roles_and_scale():
    mapped = _map(load_example("3-partial"))
    parties = {
        p["id"]: (p["roles"], p.get("details", {}).get("scale")) for p in mapped.order_release["parties"]
    }
    assert parties == {
        "PE-RUC-20131370998": (["buyer", "procuringEntity"], None),
        "PE-RUC-20512345671": (["supplier", "tenderer"], "small"),
        "PE-RUC-20100234567": (["tenderer"], "large"),
    }
    bids = mapped.order_release["bids"]
    assert [b["id"] for b in bids["details"]] == ["PF-1", "PF-2"]
    assert mapped.order_release["awards"][0]["relatedBid"] == "PF-1"
    assert mapped.order_release["tender"]["competitive"] is True
    assert bids["details"][0]["documents"][0]["integrity"] == [
        {
            "scheme": "sha256",
            "id": load_example("3-partial")["proformas"][0]["documents"][0]["sha256"],
        }
    ]


def test_proforma_evidence():
    order = load_example("2-package")
    mapped = _map(order)
    assert mapped.proformas == [{"orderNumber": "OC-2025-000124", **p} for p in order["proformas"]]
    assert list(mapped.proformas[0])[0] == "orderNumber"


def test_tags_for_versions():
    first = load_example("1-single")
    assert _map(first).order_release["tag"] == ["tender", "award", "contract"]
    assert _map(load_example("3-partial")).order_release["tag"] == ["contractUpdate"]
    amended = _map(load_example("5-multi-destination-partial")).order_release
    assert amended["tag"] == ["contractAmendment"]
    assert amended["date"] == "2025-03-10T12:00:00-05:00"
    (amendment,) = amended["contracts"][0]["amendments"]
    assert amendment["releaseID"].endswith("-v2") and amendment["amendsReleaseID"].endswith("-v1")

    cancelled = dict(
        first,
        version=2,
        status="cancelled",
        cancellation={"date": "2025-03-07T09:00:00-05:00", "reason": "Error en la emisión."},
    )
    assert check_order(cancelled) == []
    release = _map(cancelled).order_release
    assert release["tag"] == ["contractTermination"]
    assert release["id"].endswith("-v2")
    assert release["date"] == "2025-03-07T09:00:00-05:00"
    assert release["contracts"][0]["status"] == "cancelled"
    assert release["contracts"][0]["milestones"][0]["status"] == "notMet"


def test_mapping_is_deterministic_and_does_not_mutate():
    order = load_example("5-multi-destination-partial")
    before = copy.deepcopy(order)
    a = _map(order)
    b = _map(copy.deepcopy(order))
    assert rfc8785.dumps(a.order_release) == rfc8785.dumps(b.order_release)
    assert rfc8785.dumps(a.agreement_release) == rfc8785.dumps(b.agreement_release)
    assert order == before


def test_generated_amendments_and_cancellations_tagged():
    tags = {}
    for order in generate_orders(2000, seed=5):
        release = _map(order).order_release
        if order["version"] > 1:
            expected = {"cancelled": ["contractTermination"]}.get(order["status"])
            if expected:
                assert release["tag"] == expected
            tags.setdefault(tuple(release["tag"]), 0)
            tags[tuple(release["tag"])] += 1
        else:
            assert release["tag"][:3] == ["tender", "award", "contract"]
        assert order_shape(order)
    assert set(tags) == {("contractTermination",), ("contractAmendment",), ("contractUpdate",)}
