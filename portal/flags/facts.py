"""The flags' per-process facts (``flag_facts``) and priced lines (``flag_prices``).

Most of what the flags read is the read model (``records``, ``item_lines``): copied here into
narrow rows with covering indexes. What the read model does not hold is read from each
process's releases with :func:`ocds.summary.process_facts` (quotes, the value of the first
release) and, for the delivery milestones' ``dateMet`` (which the one reading does not keep),
with :func:`delivery_facts`, as defensively: any value may be missing or of any type.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, case, delete, func, insert, literal, or_, select

from ocds.summary import process_facts
from portal.db import IN_CLAUSE_CHUNK
from portal.flags.tables import flag_facts, flag_prices
from portal.models import item_lines, records, releases
from portal.queries import compiled_release

#: Amounts the tables keep (NUMERIC(20, 2), with a margin), as the read model does.
_AMOUNT_LIMIT = Decimal(10) ** 17


def _day(value: Any) -> date | None:
    """The calendar day of an ISO 8601 date or date-time as published, or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value)).quantize(Decimal("0.01"))
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() and abs(number) < _AMOUNT_LIMIT else None


def _currency(value: Any) -> str | None:
    return value[:3] if isinstance(value, str) and value else None


def delivery_facts(compiled: Any) -> dict[str, int | None]:
    """Counts of the delivery milestones of the first contract: all, met, met after their due
    date, not met (``status: notMet``), and the most days one was met late (None: none was).

    A milestone counts as a delivery when its ``type`` is ``delivery`` (OCDS milestoneType)."""
    contracts = compiled.get("contracts") if isinstance(compiled, dict) else None
    contract = (
        contracts[0] if isinstance(contracts, list) and contracts and isinstance(contracts[0], dict) else {}
    )
    milestones = contract.get("milestones")
    out: dict[str, int | None] = {"deliveries": 0, "met": 0, "late": 0, "not_met": 0, "days_late": None}
    for milestone in milestones if isinstance(milestones, list) else []:
        if not isinstance(milestone, dict) or milestone.get("type") != "delivery":
            continue
        out["deliveries"] = (out["deliveries"] or 0) + 1
        status = milestone.get("status")
        if status == "notMet":
            out["not_met"] = (out["not_met"] or 0) + 1
        if status == "met" or milestone.get("dateMet") is not None:
            out["met"] = (out["met"] or 0) + 1
            due, met = _day(milestone.get("dueDate")), _day(milestone.get("dateMet"))
            if due is not None and met is not None and met > due:
                out["late"] = (out["late"] or 0) + 1
                days = (met - due).days
                out["days_late"] = max(out["days_late"] or 0, days)
    return out


def quotes_of(facts: dict, compiled: Any) -> int | None:
    """Bids published (``bids.details``), else ``tender.numberOfTenderers``, else None."""
    if facts["bids"]:
        return len(facts["bids"])
    tender = compiled.get("tender") if isinstance(compiled, dict) else None
    number = tender.get("numberOfTenderers") if isinstance(tender, dict) else None
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < 2**31:
        return number
    return None


def release_facts(compiled: Any, first: Any) -> dict[str, Any]:
    """The ``flag_facts`` columns read from releases: ``compiled`` (the process's compiled
    release) and ``first`` (its first release, or None when it has only one). Never raises."""
    facts = process_facts(compiled)
    first_value = process_facts(first)["value"] if first is not None else facts["value"]
    deliveries = delivery_facts(compiled)
    return {
        "quotes": quotes_of(facts, compiled),
        "first_amount": _amount(first_value["amount"]),
        "first_currency": _currency(first_value["currency"]),
        "deliveries": deliveries["deliveries"],
        "deliveries_met": deliveries["met"],
        "deliveries_late": deliveries["late"],
        "deliveries_not_met": deliveries["not_met"],
        "days_late": deliveries["days_late"],
    }


def _chunks(values: list[str], size: int = IN_CLAUSE_CHUNK) -> Iterable[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def stale_ocids(conn: Connection) -> list[str]:
    """Processes whose facts are missing or older than their record, and facts whose record is
    gone."""
    missing = (
        select(records.c.ocid)
        .outerjoin(flag_facts, flag_facts.c.ocid == records.c.ocid)
        .where(or_(flag_facts.c.ocid.is_(None), flag_facts.c.last_release != records.c.last_release))
    )
    gone = (
        select(flag_facts.c.ocid)
        .outerjoin(records, records.c.ocid == flag_facts.c.ocid)
        .where(records.c.ocid.is_(None))
    )
    return list(conn.execute(missing).scalars()) + list(conn.execute(gone).scalars())


def _first_releases(conn: Connection, ocids: list[str]) -> dict[str, dict]:
    """The first release (by date, then publication order) of each of ``ocids``."""
    firsts: dict[str, tuple] = {}
    query = select(releases.c.ocid, releases.c.date, releases.c.id, releases.c.data).where(
        releases.c.ocid.in_(ocids)
    )
    for ocid, when, pk, data in conn.execute(query):
        if ocid not in firsts or (when, pk) < firsts[ocid][:2]:
            firsts[ocid] = (when, pk, data)
    return {ocid: orjson.loads(row[2]) for ocid, row in firsts.items()}


def refresh_facts(conn: Connection, ocids: list[str]) -> int:
    """Replace the facts and priced lines of ``ocids`` with what their records and releases
    say now (a process without a record loses them). Returns the processes written."""
    written = 0
    for chunk in _chunks(sorted(set(ocids))):
        conn.execute(delete(flag_facts).where(flag_facts.c.ocid.in_(chunk)))
        conn.execute(delete(flag_prices).where(flag_prices.c.ocid.in_(chunk)))
        rows = [
            dict(r)
            for r in conn.execute(
                select(
                    records.c.ocid,
                    records.c.compiled,
                    records.c.release_count,
                    records.c.last_release,
                    records.c.kind,
                    records.c.status,
                    records.c.buyer_id,
                    records.c.supplier_id,
                    records.c.agreement_ocid,
                    records.c.amount,
                    records.c.currency,
                    records.c.date,
                    records.c.month,
                ).where(records.c.ocid.in_(chunk))
            ).mappings()
        ]
        if not rows:
            continue
        lone = [r["ocid"] for r in rows if r["compiled"] is None and r["release_count"] == 1]
        single: dict[str, dict] = {}
        if lone:
            query = select(releases.c.ocid, releases.c.data).where(releases.c.ocid.in_(lone))
            single = {ocid: orjson.loads(data) for ocid, data in conn.execute(query)}
        several = [r["ocid"] for r in rows if r["release_count"] > 1]
        firsts = _first_releases(conn, several) if several else {}
        out = []
        for row in rows:
            ocid = row["ocid"]
            if row["compiled"] is not None:
                compiled = orjson.loads(row["compiled"])
            elif ocid in single:
                # One release compiles to itself but for its id and tag, which no flag reads.
                compiled = single[ocid]
            else:
                compiled = compiled_release(conn, ocid)
            day = _day(row["date"])
            out.append(
                {
                    "ocid": ocid,
                    "last_release": row["last_release"],
                    "live": row["kind"] != "agreement",
                    "cancelled": row["status"] == "cancelled",
                    "buyer_id": row["buyer_id"],
                    "supplier_id": row["supplier_id"],
                    "agreement_ocid": row["agreement_ocid"],
                    "amount": row["amount"],
                    "currency": row["currency"],
                    "date": day.isoformat() if day else None,
                    "month": row["month"],
                    **release_facts(compiled, firsts.get(ocid)),
                }
            )
        conn.execute(insert(flag_facts), out)
        written += len(out)
        _insert_prices(conn, chunk)
    return written


def _product_key():
    """SQL: the product key of an item line joined with its record (see ``flag_prices``).

    A catalogue's products are told apart by their description too: one catalogue may sell
    two products under the same code and unit (A4 and A3 paper, by the ream), at different
    prices. Outside a framework agreement descriptions are free text, so code and unit alone
    make the product."""
    parts = [records.c.agreement_ocid, item_lines.c.scheme, item_lines.c.code, item_lines.c.unit]
    key = func.coalesce(parts[0], literal(""))
    for part in parts[1:]:
        key = key.op("||")(literal("|")).op("||")(func.coalesce(part, literal("")))
    described = key.op("||")(literal("|")).op("||")(func.coalesce(item_lines.c.description, literal("")))
    chosen = case((records.c.agreement_ocid.is_not(None), described), else_=key)
    return func.substr(chosen, 1, 600)


def _insert_prices(conn: Connection, ocids: list[str] | None) -> None:
    """Copy the item lines of live processes (of ``ocids``, or all) into ``flag_prices``.

    Cancelled orders' lines are kept: the price was quoted and agreed, and an overpriced order
    that was then cancelled is still worth a look."""
    source = (
        select(
            item_lines.c.ocid,
            item_lines.c.position,
            _product_key(),
            item_lines.c.currency,
            item_lines.c.unit_price,
            records.c.supplier_id,
            item_lines.c.segment,
        )
        .join(records, records.c.ocid == item_lines.c.ocid)
        .where(records.c.kind != "agreement", item_lines.c.code.is_not(None))
    )
    if ocids is not None:
        source = source.where(item_lines.c.ocid.in_(ocids))
    conn.execute(
        insert(flag_prices).from_select(
            ["ocid", "position", "product", "currency", "unit_price", "supplier_id", "segment"], source
        )
    )
