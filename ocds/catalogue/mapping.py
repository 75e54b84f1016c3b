"""Map one checked source order to OCDS 1.1.5 releases: the one place that decides this.

Follows the OCDS guidance on framework agreements: the framework agreement (acuerdo marco) and
each call-off (orden de compra) are separate contracting processes with separate ocids, and the
call-off links back to the agreement through ``relatedProcesses`` with relationship
``framework``. The full field-by-field table is in ``docs/source-orders.md``; changing anything
here changes published data, so record it in the CHANGELOG.

Everything is deterministic: the same order and settings give byte-identical releases (after
canonical serialisation). Release ids are derived, never random:

* call-off release: ``{order ocid}-v{version}`` (the agency's (orderNumber, version) identity);
* agreement release: ``{agreement ocid}-{first 16 hex digits of the SHA-256 of the RFC 8785
  canonical agreement block}``, so the same agreement block repeated in every order gives one
  release, and any change to it (a new supplier) gives a new one.

Source calendar dates (``YYYY-MM-DD``) become Lima-time date-times: start-of-day
``T00:00:00-05:00`` for events, end-of-day ``T23:59:59-05:00`` for due dates and period ends.

Speed matters (the pipeline maps millions of orders), so releases are built as fresh dicts
directly, without deepcopy, and the agreement release is cached per agreement block. The cached
agreement release is shared between results: treat returned releases as read-only.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import orjson
import rfc8785

from ocds.errors import InputError, Problem

PARTY_SCHEME = "PE-RUC"
PRODUCT_SCHEME = "x_catalogueProduct"
LIMA_OFFSET = "-05:00"
COUNTRY_NAME = "Perú"

#: Supplier size in the source → ``partyScale`` code. The codelist has ``small`` and ``medium``
#: separately, so ``sme`` (for when the two cannot be told apart) is never needed.
SCALE = {"micro": "micro", "small": "small", "medium": "medium", "large": "large"}

#: Order status → OCDS contract status. A delivered order has run its course ("terminated"); a
#: cancelled (anulada) order is "cancelled" as the OCDS guidance for terminations before
#: performance asks.
CONTRACT_STATUS = {
    "issued": "pending",
    "accepted": "active",
    "delivered": "terminated",
    "cancelled": "cancelled",
}

#: Source document type → OCDS documentType (open codelist; only listed codes are used).
DOCUMENT_TYPE = {
    "purchaseOrder": "contractSigned",
    "proforma": "submissionDocuments",
    "deliveryReceipt": "completionCertificate",
    "amendment": "contractAnnexe",
    "cancellationNotice": "cancellationDetails",
}

# Which event wins when several happen at the same instant (higher wins).
_EVENT_PRIORITY = {
    "issued": 0,
    "accepted": 1,
    "delivery": 2,
    "delivered": 3,
    "amendment": 4,
    "cancellation": 5,
}


@dataclass(frozen=True)
class MappedOrder:
    """The OCDS releases and evidence produced from one source order state."""

    order_ocid: str
    order_release: dict
    agreement_ocid: str
    agreement_release: dict
    proformas: list[dict]


def order_ocid(order: dict, *, ocid_prefix: str) -> str:
    """The call-off's ocid: ``{prefix}-{orderNumber}``."""
    return f"{ocid_prefix}-{order['orderNumber']}"


def agreement_ocid(agreement: dict, *, ocid_prefix: str) -> str:
    """The framework agreement's ocid: ``{prefix}-AM-{agreement id}``."""
    return f"{ocid_prefix}-AM-{agreement['id']}"


def _start_of_day(day: str) -> str:
    return f"{day}T00:00:00{LIMA_OFFSET}"


def _end_of_day(day: str) -> str:
    return f"{day}T23:59:59{LIMA_OFFSET}"


def _party_id(ruc: str) -> str:
    return f"{PARTY_SCHEME}-{ruc}"


def _ref(org: dict) -> dict:
    return {"id": _party_id(org["identifier"]), "name": org["name"]}


def _party(org: dict, roles: list[str]) -> dict:
    party = {
        "id": _party_id(org["identifier"]),
        "name": org["name"],
        "identifier": {"scheme": PARTY_SCHEME, "id": org["identifier"], "legalName": org["name"]},
        "roles": roles,
    }
    if "size" in org:
        party["details"] = {"scale": SCALE[org["size"]]}
    return party


def _document(doc: dict) -> dict:
    out = {"id": doc["id"], "title": doc["title"], "url": doc["url"]}
    kind = DOCUMENT_TYPE.get(doc["type"])
    if kind:
        out["documentType"] = kind
    out["integrity"] = [{"scheme": "sha256", "id": doc["sha256"]}]
    return out


# --------------------------------------------------------------------------- agreement


def map_agreement(agreement: dict, *, ocid_prefix: str, key: bytes | None = None) -> dict:
    """The framework agreement as its own contracting process (tags ``tender`` and ``award``).

    One award per agreement supplier. Memoised by the block's bytes (a bounded LRU): the block
    repeats in every order, and its canonical digest is the costly part. The release returned
    is shared between calls with the same block: callers must not change it.

    ``key``: ``orjson.dumps(agreement)`` when the caller has it
    (:func:`ocds.catalogue.source.agreement_key`).
    """
    return _mapped_agreement(key if key is not None else orjson.dumps(agreement), ocid_prefix)


@functools.lru_cache(maxsize=1024)
def _mapped_agreement(block: bytes, ocid_prefix: str) -> dict:
    agreement = orjson.loads(block)
    ocid = agreement_ocid(agreement, ocid_prefix=ocid_prefix)
    # RFC 8785 through the library itself: ``ocds`` may not import ``anchoring`` (whose fast
    # path is proven byte-identical to it), and this digest only names the agreement's release.
    digest = hashlib.sha256(rfc8785.dumps(agreement)).hexdigest()[:16]
    period = {
        "startDate": _start_of_day(agreement["period"]["startDate"]),
        "endDate": _end_of_day(agreement["period"]["endDate"]),
    }
    catalogue = agreement["catalogue"]
    framework = {"period": period, "description": f"{catalogue['name']} ({catalogue['id']})"}
    if "method" in agreement:
        framework["method"] = agreement["method"]
    parties: list[dict] = []
    tender: dict = {
        "id": agreement["id"],
        "title": agreement["title"],
        "status": "complete",
        "procurementMethod": "open",
        "mainProcurementCategory": "goods",
        "techniques": {"hasFrameworkAgreement": True, "frameworkAgreement": framework},
        "contractPeriod": period,
    }
    release: dict = {
        "ocid": ocid,
        "id": f"{ocid}-{digest}",
        "date": period["startDate"],
        "tag": ["tender", "award"],
        "initiationType": "tender",
        "language": "es",
        "parties": parties,
    }
    entity = agreement.get("procuringEntity")
    if entity:
        parties.append(_party(entity, ["buyer", "procuringEntity"]))
        release["buyer"] = _ref(entity)
        tender["procuringEntity"] = _ref(entity)
    release["tender"] = tender
    awards = []
    for supplier in agreement["suppliers"]:
        parties.append(_party(supplier, ["supplier"]))
        awards.append(
            {
                "id": f"{agreement['id']}-{supplier['identifier']}",
                "title": agreement["title"],
                "status": "active",
                "date": period["startDate"],
                "suppliers": [_ref(supplier)],
                "contractPeriod": period,
            }
        )
    release["awards"] = awards
    return release


# --------------------------------------------------------------------------- call-off


def _latest_event(order: dict) -> tuple[str, str]:
    """The (date-time, kind) of the most recent event in the order: the event of this version.

    The agency's system makes a new version at each change, so the latest dated event in the
    order is the change this version records.
    """
    dates = order["dates"]
    events = [(dates["issued"], "issued")]
    if "accepted" in dates:
        events.append((dates["accepted"], "accepted"))
    if "delivered" in dates:
        events.append((dates["delivered"], "delivered"))
    for dest in order["destinations"]:
        for delivery in dest["deliveries"]:
            if "deliveredDate" in delivery:
                events.append((_start_of_day(delivery["deliveredDate"]), "delivery"))
    for amendment in order.get("amendments", ()):
        events.append((amendment["date"], "amendment"))
    if "cancellation" in order:
        events.append((order["cancellation"]["date"], "cancellation"))
    if len(events) == 1:
        return events[0]
    return max(events, key=lambda e: (datetime.fromisoformat(e[0]), _EVENT_PRIORITY[e[1]]))


def release_tags(order: dict, event: str) -> list[str]:
    """OCDS release tags for an order state whose latest event is ``event``."""
    if order["version"] == 1:
        tags = ["tender", "award", "contract"]
        if order.get("amendments"):
            tags.append("contractAmendment")
        if order["status"] == "cancelled":
            tags.append("contractTermination")
        return tags
    if order["status"] == "cancelled":
        return ["contractTermination"]
    if event == "amendment":
        return ["contractAmendment"]
    return ["contractUpdate"]


def _item(item: dict, currency: str, lot: str | None, item_id: str, quantity: float) -> dict:
    out = {
        "id": item_id,
        "description": item["description"],
        "classification": {
            "scheme": "UNSPSC",
            "id": item["classification"]["code"],
            "description": item["classification"]["description"],
        },
        "additionalClassifications": [{"scheme": PRODUCT_SCHEME, "id": item["productId"]}],
        "quantity": quantity,
        "unit": {
            "scheme": "UNCEFACT",
            "id": item["unit"]["code"],
            "name": item["unit"]["name"],
            "value": {"amount": item["unitPrice"], "currency": currency},
        },
    }
    if lot is not None:
        out["relatedLot"] = lot
    return out


def _address(address: dict) -> dict:
    out = {
        "streetAddress": address["street"],
        "locality": address["district"],
        "region": address["region"]["name"],
        "countryName": COUNTRY_NAME,
    }
    if "postalCode" in address:
        out["postalCode"] = address["postalCode"]
    return out


def _amendment(amendment: dict, ocid: str) -> dict:
    changes = "; ".join(f"{c['field']}: {c['previous']} → {c['new']}" for c in amendment["changes"])
    out = {
        "id": amendment["id"],
        "date": amendment["date"],
        "rationale": amendment["rationale"],
        "description": changes,
    }
    if "version" in amendment:
        out["releaseID"] = f"{ocid}-v{amendment['version']}"
        out["amendsReleaseID"] = f"{ocid}-v{amendment['version'] - 1}"
    return out


def map_order(order: dict, *, ocid_prefix: str, agreement_key: bytes | None = None) -> MappedOrder:
    """Map one source order that passed :func:`ocds.catalogue.source.check_order`.

    ``agreement_key``: :func:`ocds.catalogue.source.agreement_key` of this very order, if the
    caller has it (the agreement's mapping is cached by those bytes).

    Keys the format does not define are ignored. An order the mapping cannot read (one that was
    not checked first) raises :class:`~ocds.errors.InputError`, its cause the exception met.
    """
    try:
        return _map_order(order, ocid_prefix, agreement_key)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as error:
        reason = f"not a checked source order ({type(error).__name__}: {error}); run check_order"
        raise InputError([Problem("", reason)]) from error


def _map_order(order: dict, ocid_prefix: str, agreement_key: bytes | None = None) -> MappedOrder:
    number = order["orderNumber"]
    ocid = order_ocid(order, ocid_prefix=ocid_prefix)
    agreement = order["agreement"]
    agreement_release = map_agreement(agreement, ocid_prefix=ocid_prefix, key=agreement_key)
    status = order["status"]
    cancelled = status == "cancelled"
    items = order["items"]
    currency = items[0]["currency"]
    package = order.get("package")
    lot = package["id"] if package else None
    total = round(sum(i["quantity"] * i["unitPrice"] for i in items), 2)
    value = {"amount": total, "currency": currency}
    date, event = _latest_event(order)
    buyer, supplier = order["buyer"], order["supplier"]
    buyer_ref, supplier_ref = _ref(buyer), _ref(supplier)
    proformas = order.get("proformas", [])

    # Parties: the buyer, the chosen supplier, and every other supplier that quoted.
    quoting = {p["supplier"]["identifier"]: p["supplier"] for p in proformas}
    buyer_party = _party(buyer, ["buyer", "procuringEntity"])
    buyer_party["address"] = {"region": buyer["region"]["name"], "countryName": COUNTRY_NAME}
    parties = [buyer_party]
    supplier_roles = ["supplier", "tenderer"] if supplier["identifier"] in quoting else ["supplier"]
    parties.append(_party(supplier, supplier_roles))
    for ruc, quoter in quoting.items():
        if ruc != supplier["identifier"] and ruc != buyer["identifier"]:
            parties.append(_party(quoter, ["tenderer"]))

    competitive = len(quoting) > 1
    tender: dict = {
        "id": number,
        "title": f"Orden de compra {number}",
        "description": f"{agreement['catalogue']['name']}: {buyer['name']}",
        "status": "complete",
        "procuringEntity": buyer_ref,
        "procurementMethod": "selective" if competitive else "limited",
        "procurementMethodDetails": "Orden de compra de catálogo electrónico (acuerdo marco)",
        "mainProcurementCategory": "goods",
        "competitive": competitive,
        "items": [_item(i, currency, lot, str(i["line"]), i["quantity"]) for i in items],
        "value": value,
    }
    if package:
        tender["lots"] = [
            {
                "id": lot,
                "title": package["name"],
                "description": f"Compra por paquete: {package['quantity']} paquete(s)",
                "status": "complete",
                "value": dict(value),
            }
        ]
    if quoting:
        tender["tenderers"] = [_ref(q) for q in quoting.values()]
        tender["numberOfTenderers"] = len(quoting)

    release: dict = {
        "ocid": ocid,
        "id": f"{ocid}-v{order['version']}",
        "date": date,
        "tag": release_tags(order, event),
        "initiationType": "tender",
        "language": "es",
        "parties": parties,
        "buyer": buyer_ref,
        "tender": tender,
    }

    award: dict = {
        "id": number,
        "title": f"Orden de compra {number}",
        "status": "cancelled" if cancelled else "active",
        "date": order["dates"]["issued"],
        "value": dict(value),
        "suppliers": [supplier_ref],
        "items": [_item(i, currency, lot, str(i["line"]), i["quantity"]) for i in items],
    }
    if lot:
        award["relatedLots"] = [lot]

    if proformas:
        details = []
        winning = None
        for p in proformas:
            bid = {
                "id": p["id"],
                "date": p["date"],
                "status": "valid",
                "tenderers": [_ref(p["supplier"])],
                "value": {"amount": p["total"], "currency": p["currency"]},
            }
            if lot:
                bid["relatedLots"] = [lot]
            if p.get("documents"):
                bid["documents"] = [_document(d) for d in p["documents"]]
            details.append(bid)
            if p["supplier"]["identifier"] == supplier["identifier"]:
                winning = p["id"]
        totals = [p["total"] for p in proformas]
        release["bids"] = {
            "statistics": [
                {"id": "bids", "measure": "bids", "value": len(proformas)},
                {"id": "bidders", "measure": "bidders", "value": len(quoting)},
                {
                    "id": "lowestValidBidValue",
                    "measure": "lowestValidBidValue",
                    "value": min(totals),
                    "currency": currency,
                },
                {
                    "id": "highestValidBidValue",
                    "measure": "highestValidBidValue",
                    "value": max(totals),
                    "currency": currency,
                },
            ],
            "details": details,
        }
        if winning:
            award["relatedBid"] = winning
    release["awards"] = [award]

    # Contract items: one per (order line, destination, delivery), so that every order shape is
    # machine readable: where each quantity goes and in which delivery.
    by_line = {i["line"]: i for i in items}
    contract_items = []
    milestones = []
    last_due: str | None = None
    for dest in order["destinations"]:
        address = _address(dest["address"])
        place = dest.get("name") or dest["address"]["street"]
        for delivery in dest["deliveries"]:
            suffix = f"{dest['number']}-{delivery['number']}"
            for part in delivery["lines"]:
                item = _item(
                    by_line[part["line"]],
                    currency,
                    lot,
                    f"{part['line']}-{suffix}",
                    part["quantity"],
                )
                item["deliveryAddress"] = dict(address)
                contract_items.append(item)
            due = delivery["dueDate"]
            if last_due is None or due > last_due:
                last_due = due
            milestone = {
                "id": suffix,
                "title": f"Entrega {delivery['number']} en {place}",
                "type": "delivery",
                "dueDate": _end_of_day(due),
            }
            if "deliveredDate" in delivery:
                milestone["status"] = "met"
                milestone["dateMet"] = _start_of_day(delivery["deliveredDate"])
            else:
                milestone["status"] = "notMet" if cancelled else "scheduled"
            milestones.append(milestone)

    contract: dict = {
        "id": number,
        "awardID": number,
        "title": f"Orden de compra {number}",
        "status": CONTRACT_STATUS[status],
        "period": {"startDate": order["dates"]["issued"], "endDate": _end_of_day(cast(str, last_due))},
        "value": dict(value),
        "suppliers": [dict(supplier_ref)],
        "items": contract_items,
        "milestones": milestones,
    }
    if cancelled:
        # OCDS 1.1.5 has no statusDetails on contracts; the reason goes in the description.
        cancellation = order["cancellation"]
        contract["description"] = f"Orden anulada el {cancellation['date'][:10]}: {cancellation['reason']}"
    if "accepted" in order["dates"]:
        contract["dateSigned"] = order["dates"]["accepted"]
    if order.get("amendments"):
        contract["amendments"] = [_amendment(a, ocid) for a in order["amendments"]]
    if order.get("documents"):
        contract["documents"] = [_document(d) for d in order["documents"]]
    release["contracts"] = [contract]

    release["relatedProcesses"] = [
        {
            "id": "1",
            "relationship": ["framework"],
            "title": agreement["title"],
            "scheme": "ocid",
            "identifier": agreement_release["ocid"],
        }
    ]

    evidence = [{"orderNumber": number, **p} for p in proformas]
    return MappedOrder(ocid, release, agreement_release["ocid"], agreement_release, evidence)
