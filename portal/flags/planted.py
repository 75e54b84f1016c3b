"""Measuring the flags on the demo generator's planted anomalies (recall per kind, and how many
other orders each flag raises), for ``veraz flags --planted`` and ``bench/flags.py``.

An anomaly is found when: ``split``, every one of its orders carries the ``split`` flag;
``overprice``, its order carries ``overprice``; ``dominance``, its buyer and supplier are a
flagged pair (``supplier_share`` or ``one_supplier``).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, select

from ocds.catalogue.generate import PlantedAnomaly
from portal.flags.tables import flag_hits
from portal.models import parties, records

#: Which flags find each planted kind.
FINDERS = {"split": ("split",), "overprice": ("overprice",), "dominance": ("supplier_share", "one_supplier")}


def _party_ids(conn: Connection) -> dict[str, str]:
    """RUC -> OCDS party id of every party."""
    query = (
        select(parties.c.identifier, parties.c.party_id).where(parties.c.identifier.is_not(None)).distinct()
    )
    return {ruc: pid for ruc, pid in conn.execute(query) if pid is not None}


def evaluate(conn: Connection, anomalies: list[PlantedAnomaly]) -> dict:
    """Recall per planted kind, and per flag the orders it raises outside the planted ones.

    Returns ``{"recall": {kind: {"planted", "found", "missed": [...]}}, "flags": {flag:
    {"orders", "planted", "other"}}}`` where a flag's ``orders`` are the distinct orders behind
    its hits (for entity flags, the orders of the flagged pair)."""
    numbers = {
        n: o
        for n, o in conn.execute(
            select(records.c.order_number, records.c.ocid).where(records.c.kind == "order")
        )
    }
    ids = _party_ids(conn)
    hits = defaultdict(set)  # flag -> ocids
    pairs = defaultdict(set)  # flag -> (buyer, supplier)
    for flag, ocid, buyer, supplier in conn.execute(
        select(flag_hits.c.flag, flag_hits.c.ocid, flag_hits.c.buyer_id, flag_hits.c.supplier_id)
    ):
        if ocid is not None:
            hits[flag].add(ocid)
        if buyer is not None and supplier is not None:
            pairs[flag].add((buyer, supplier))
    recall: dict[str, dict] = {}
    planted_ocids: dict[str, set[str]] = defaultdict(set)
    for anomaly in anomalies:
        entry = recall.setdefault(anomaly.kind, {"planted": 0, "found": 0, "missed": []})
        entry["planted"] += 1
        ocids = {numbers.get(n) for n in anomaly.orderNumbers} - {None}
        finders = FINDERS[anomaly.kind]
        if anomaly.kind == "dominance":
            pair = (ids.get(anomaly.buyer), ids.get(anomaly.supplier))
            found = any(pair in pairs[f] for f in finders)
        else:
            found = (
                bool(ocids)
                and len(ocids) == len(anomaly.orderNumbers)
                and all(any(o in hits[f] for f in finders) for o in ocids)
            )
        for f in finders:
            planted_ocids[f] |= {o for o in ocids if o}
        if found:
            entry["found"] += 1
        else:
            entry["missed"].append(anomaly.orderNumbers[0])
    flags = {}
    for flag, ocids in sorted(hits.items()):
        planted = ocids & planted_ocids[flag]
        flags[flag] = {"orders": len(ocids), "planted": len(planted), "other": len(ocids) - len(planted)}
    return {"recall": recall, "flags": flags}
