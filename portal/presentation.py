"""Turns a compiled release into what a person reads on an order's page.

Pure functions of OCDS data: which party is the buyer, the supplier, the framework agreement;
the items; the deliveries grouped by destination; the proformas. Works for Veraz's own call-off
orders and degrades gracefully for imported OCDS that has fewer fields.
"""

from __future__ import annotations

from collections import OrderedDict


def _party(release: dict, role: str) -> dict | None:
    for party in release.get("parties", []):
        if role in party.get("roles", []):
            return party
    return None


def _address_text(address: dict | None) -> str:
    if not address:
        return ""
    parts = [address.get(k) for k in ("streetAddress", "locality", "region", "countryName")]
    return ", ".join(p for p in parts if p)


def describe_order(release: dict) -> dict:
    """The facts an order page shows, from the compiled release."""
    contract = (release.get("contracts") or [{}])[0]
    award = (release.get("awards") or [{}])[0]
    tender = release.get("tender") or {}
    framework = next(
        (p for p in release.get("relatedProcesses", []) if "framework" in p.get("relationship", [])),
        None,
    )
    lines = award.get("items") or tender.get("items") or contract.get("items") or []
    items = []
    for item in lines:
        unit = item.get("unit") or {}
        value = unit.get("value") or {}
        quantity = item.get("quantity")
        amount = value.get("amount")
        items.append({
            "id": item.get("id"),
            "description": item.get("description"),
            "classification": item.get("classification") or {},
            "unit": unit.get("name"),
            "quantity": quantity,
            "unit_price": amount,
            "currency": value.get("currency"),
            "total": (quantity * amount) if quantity is not None and amount is not None else None,
        })
    milestones = {m.get("id"): m for m in contract.get("milestones", [])}
    destinations: OrderedDict[str, dict] = OrderedDict()
    for item in contract.get("items", []):
        address = item.get("deliveryAddress")
        if not address:
            continue
        key = _address_text(address)
        dest = destinations.setdefault(key, {"address": key, "region": address.get("region"),
                                             "deliveries": OrderedDict()})
        parts = str(item.get("id", "")).split("-")
        milestone_id = "-".join(parts[1:3]) if len(parts) >= 3 else None
        milestone = milestones.get(milestone_id) or {}
        delivery = dest["deliveries"].setdefault(
            milestone_id or "", {"id": milestone_id, "due": milestone.get("dueDate"),
                                 "status": milestone.get("status"), "title": milestone.get("title"),
                                 "items": []})
        delivery["items"].append({"description": item.get("description"),
                                  "quantity": item.get("quantity"),
                                  "unit": (item.get("unit") or {}).get("name")})
    for dest in destinations.values():
        dest["deliveries"] = list(dest["deliveries"].values())
    bids = (release.get("bids") or {}).get("details", [])
    value = contract.get("value") or award.get("value") or tender.get("value") or {}
    return {
        "title": contract.get("title") or award.get("title") or tender.get("title"),
        "buyer": _party(release, "buyer") or release.get("buyer"),
        "buyer_address": _address_text((_party(release, "buyer") or {}).get("address")),
        "supplier": _party(release, "supplier"),
        "framework": framework,
        "status": contract.get("status") or award.get("status") or tender.get("status"),
        "date_signed": contract.get("dateSigned") or award.get("date"),
        "period": contract.get("period") or {},
        "value": value,
        "items": items,
        "destinations": list(destinations.values()),
        "bids": bids,
        "amendments": contract.get("amendments", []),
        "documents": contract.get("documents", []) + tender.get("documents", []),
        "techniques": tender.get("techniques"),
        "awards": release.get("awards", []),
    }
