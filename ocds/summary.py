"""One reading of a compiled release: the facts of a contracting process, and its browse columns.

Every page, document and table that shows a contracting process reads it here, so that they
cannot disagree. The reading is pure and fully defensive: imported OCDS is kept as published,
however malformed, so any value may be missing, null, of the wrong type, or an array where an
object belongs (and the reverse). The reading never raises; what is absent or unusable is ``None``
(or an empty list or string where documented); a scalar of an unexpected type is kept as
published when it can be shown as text (a quantity ``"12"``), and dropped when it cannot (an
object where a name belongs).

Where several stages of the process publish the same thing (value, title, status), the latest
stage wins: contract, then award, then tender; an award or a tender only speaks for a process
that has not reached a contract. The item lines are the exception: they are read from the award,
then the contract, then the tender, because the award lists what was bought line by line while
a contract may split those lines by destination and delivery (a catalogue order does: those
splits are its ``destinations``, read from the contract). "Wins" means the first stage that
publishes a non-empty value. Of several awards or contracts, the first is read (Veraz publishes
one of each per order; the browse columns have always read the first).

:func:`process_facts` returns a dict with these keys (types as documented, always present):

``ocid``, ``title``, ``status``, ``order_number``, ``category``, ``classification``, ``region``,
``agreement_ocid``, ``date``, ``date_signed``, ``method`` (``tender.procurementMethod``),
``delivery_region``, ``delivery_district`` (the first contract item's delivery address:
``region`` and ``locality``): ``str | None``.
``kind``: ``"order"`` (a call-off: links to its framework agreement), ``"agreement"`` (a first
stage with a framework agreement) or ``"other"``.
``buyer``, ``supplier``: a party (below) or ``None``; ``suppliers``: every supplier, as parties.
``buyer_address``: ``str`` (``""`` when unknown).
``framework``: ``{"id", "title", "scheme", "identifier"}`` (``str | None`` each) or ``None``.
``period``: ``{"startDate", "endDate"}`` (``str | None`` each).
``value``: ``{"amount", "currency"}``: amount a number or a string as published, or ``None``.
``items``: ``[{"id", "description", "classification": {"scheme", "id", "description"}, "unit",
"quantity", "unit_price", "currency", "total"}]``; ``quantity`` and ``unit_price`` are numbers or
strings as published, or ``None``; ``total`` is their product when both are finite numbers.
``destinations``: ``[{"address": str, "region", "deliveries": [{"id", "due", "status", "title",
"items": [{"description", "quantity", "unit"}]}]}]``, from the contract's items that have a
delivery address, grouped by address and by delivery milestone.
``bids``: ``[{"id", "date", "status", "tenderers": [{"id", "name"}], "value": {"amount",
"currency"}}]``.
``amendments``: ``[{"id", "date", "rationale", "description"}]``.
``documents``: ``[{"id", "title", "url", "documentType", "integrity": [{"scheme", "id"}]}]``, the
contract's then the tender's.

A party is ``{"id", "name", "identifier": {"scheme", "id"} | None, "scale", "region",
"address"}`` with ``str | None`` values except ``address`` (``str``, ``""`` when unknown).

:func:`browse_columns` derives the ``records`` table's columns from that same reading (or
:func:`browse_columns_of` from facts already read), and
:func:`read_model_rows` the rows of the read model's other tables (item lines, parties).
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from typing import Any

__all__ = [
    "READ_MODEL_COLUMNS",
    "READ_MODEL_TABLES",
    "browse_columns",
    "browse_columns_of",
    "drawn_facts",
    "process_facts",
    "read_model_rows",
    "row_facts",
    "read_model_rows_of",
    "read_model_values_of",
    "unspsc_levels",
]

# The records table keeps amounts below this magnitude (NUMERIC(20, 2), with a margin); a larger
# one is shown on the page as published but left out of the sums.
_AMOUNT_LIMIT = Decimal(10) ** 17
_CENT = Decimal("0.01")


# Type tuples for isinstance, built once: ``int | float`` builds a union object at every call,
# several times slower than the check itself (these run about 40 times an order).
_CONTAINER_TYPES = (dict, list)
_NUMBER_TYPES = (int, float)
_SCALAR_TYPES = (int, float, str)


def _obj(value: Any) -> dict:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _objs(value: Any) -> list[dict]:
    """The JSON objects of ``value`` if it is an array, else none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _first_obj(value: Any) -> dict:
    """``(_objs(value) or [{}])[0]``: the first JSON object of an array, without the list."""
    if isinstance(value, list):
        for v in value:
            if isinstance(v, dict):
                return v
    return {}


def _text(value: Any, limit: int | None = None) -> str | None:
    """``value`` as text (cut to ``limit``), or None when absent, empty or not a scalar.

    A NUL character (U+0000) is left out: no page can show it, and PostgreSQL cannot store it
    in text, so the browse columns and read model would refuse the whole process."""
    if type(value) is str:  # nearly every call: what the general path gives, without str()
        if "\x00" in value:
            value = value.replace("\x00", "")
        return (value[:limit] if limit is not None else value) or None
    if value is None or value == "" or isinstance(value, _CONTAINER_TYPES):
        return None
    try:
        text = str(value)
    except ValueError:  # an integer beyond Python's digit limit for str()
        return None
    if "\x00" in text:
        text = text.replace("\x00", "")
    return (text[:limit] if limit is not None else text) or None


def _scalar(value: Any) -> int | float | str | None:
    """A number or string as published; anything else (object, array, boolean) is None."""
    kind = type(value)  # the exact JSON types first: no isinstance against a tuple
    if kind is str or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, _SCALAR_TYPES):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: Any) -> int | float | None:
    """``value`` if it is a finite JSON number (booleans are not numbers)."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_ADDRESS_PARTS = ("streetAddress", "locality", "region", "countryName")


def _address_text(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    # A loop rather than nested generators: read for every party and delivery of every order.
    parts = []
    for key in _ADDRESS_PARTS:
        part = _text(address.get(key))
        if part:
            parts.append(part)
    return ", ".join(parts)


def _party(party: dict) -> dict:
    identifier = party.get("identifier")
    details = party.get("details")
    address = party.get("address")  # read once for its region and its text
    return {
        "id": _text(party.get("id")),
        "name": _text(party.get("name")),
        "identifier": (
            {"scheme": _text(identifier.get("scheme")), "id": _text(identifier.get("id"))}
            if isinstance(identifier, dict)
            else None
        ),
        "scale": _text(details.get("scale")) if isinstance(details, dict) else None,
        "region": _text(address.get("region")) if isinstance(address, dict) else None,
        "address": _address_text(address),
    }


def _copy_party(party: dict) -> dict:
    """A copy of a party read by :func:`_party` (its identifier too), for a second place."""
    identifier = party["identifier"]
    return {**party, "identifier": None if identifier is None else {**identifier}}


def _money(value: Any) -> dict:
    value = _obj(value)
    return {"amount": _scalar(value.get("amount")), "currency": _text(value.get("currency"))}


def _framework(compiled: dict) -> dict | None:
    for process in _objs(compiled.get("relatedProcesses")):
        relationship = process.get("relationship")
        if (isinstance(relationship, list) and "framework" in relationship) or relationship == "framework":
            return {
                "id": _text(process.get("id")),
                "title": _text(process.get("title")),
                "scheme": _text(process.get("scheme")),
                "identifier": _text(process.get("identifier")),
            }
    return None


def _product(quantity: Any, price: Any) -> int | float | None:
    quantity, price = _number(quantity), _number(price)
    if quantity is None or price is None:
        return None
    try:
        total = quantity * price
    except OverflowError:  # an integer too large to meet a float
        return None
    return total if _number(total) is not None else None


def _item(item: dict) -> dict:
    # _obj written out: three calls an item.
    unit = item.get("unit")
    if not isinstance(unit, dict):
        unit = {}
    price = unit.get("value")
    if not isinstance(price, dict):
        price = {}
    classification = item.get("classification")
    if not isinstance(classification, dict):
        classification = {}
    quantity, unit_price = _scalar(item.get("quantity")), _scalar(price.get("amount"))
    return {
        "id": _text(item.get("id")),
        "description": _text(item.get("description")),
        "classification": {
            "scheme": _text(classification.get("scheme")),
            "id": _text(classification.get("id")),
            "description": _text(classification.get("description")),
        },
        "unit": _text(unit.get("name")),
        "quantity": quantity,
        "unit_price": unit_price,
        "currency": _text(price.get("currency")),
        "total": _product(quantity, unit_price),
    }


def _destinations(contract: dict) -> list[dict]:
    """The contract's items with a delivery address, by address, then by delivery milestone.

    Veraz names a contract item ``<line>-<destination>-<delivery>`` and its delivery milestone
    ``<destination>-<delivery>``; items named otherwise are grouped under one unnamed delivery.
    """
    milestones: dict[str, dict] = {}
    for milestone in _objs(contract.get("milestones")):
        key = _text(milestone.get("id"))
        if key is not None:
            milestones.setdefault(key, milestone)
    destinations: dict[str, dict] = {}
    # A destination and a delivery are made when first met (a contract lists an item per line,
    # destination and delivery: most items meet both again).
    for item in _objs(contract.get("items")):
        address = _obj(item.get("deliveryAddress"))
        if not address:
            continue
        key = _address_text(address)
        dest = destinations.get(key)
        if dest is None:
            dest = destinations[key] = {
                "address": key,
                "region": _text(address.get("region")),
                "deliveries": {},
            }
        parts = (_text(item.get("id")) or "").split("-")
        milestone_id = "-".join(parts[1:3]) if len(parts) >= 3 else None
        delivery = dest["deliveries"].get(milestone_id or "")
        if delivery is None:
            milestone = milestones.get(milestone_id or "", {})
            delivery = dest["deliveries"][milestone_id or ""] = {
                "id": milestone_id,
                "due": _text(milestone.get("dueDate")),
                "status": _text(milestone.get("status")),
                "title": _text(milestone.get("title")),
                "items": [],
            }
        delivery["items"].append(
            {
                "description": _text(item.get("description")),
                "quantity": _scalar(item.get("quantity")),
                "unit": _text(_obj(item.get("unit")).get("name")),
            }
        )
    return [{**dest, "deliveries": list(dest["deliveries"].values())} for dest in destinations.values()]


def _bid(bid: dict) -> dict:
    return {
        "id": _text(bid.get("id")),
        "date": _text(bid.get("date")),
        "status": _text(bid.get("status")),
        "tenderers": [
            {"id": _text(t.get("id")), "name": _text(t.get("name"))} for t in _objs(bid.get("tenderers"))
        ],
        "value": _money(bid.get("value")),
    }


def _amendment(amendment: dict) -> dict:
    return {key: _text(amendment.get(key)) for key in ("id", "date", "rationale", "description")}


def _document(document: dict) -> dict:
    return {
        **{key: _text(document.get(key)) for key in ("id", "title", "url", "documentType")},
        "integrity": [
            {"scheme": _text(i.get("scheme")), "id": _text(i.get("id"))}
            for i in _objs(document.get("integrity"))
        ],
    }


def process_facts(compiled: Any) -> dict:
    """The facts of a contracting process, from its compiled release (see the module docstring)."""
    return _reading(compiled, complete=True)


def row_facts(compiled: Any) -> dict:
    """:func:`process_facts` as the stored rows read it: the same reading, with ``destinations``,
    ``bids``, ``amendments`` and ``documents`` left empty, which neither :func:`browse_columns_of`,
    :func:`read_model_rows_of` nor the search document reads (they cost about a third of the
    reading). For a writer that derives only those rows (publishing without order PDFs,
    record recompiles); a page or a PDF reads :func:`process_facts`."""
    return _reading(compiled, complete=True, lines_only=True)


def drawn_facts(compiled: Any) -> dict:
    """:func:`process_facts` as the order PDF and the stored rows read it: ``documents`` left
    empty (the PDF lists no documents, and is itself listed among them only afterwards). For
    a publishing worker that draws the PDF and derives the rows from one reading."""
    return _reading(compiled, complete=True, documents=False)


def _reading(compiled: Any, *, complete: bool, lines_only: bool = False, documents: bool = True) -> dict:
    """The one reading. ``complete=False`` stops at the facts the browse columns need (every
    key present; lists hold only what those facts read): publishing workers compute the columns
    of every order, and the lists (items, deliveries, quotes) cost most of the reading.
    ``lines_only`` reads every item and supplier but leaves deliveries, quotes, amendments and
    documents empty: what the read model's rows need (:func:`read_model_rows`)."""
    extras = complete and not lines_only
    compiled = _obj(compiled)
    tender = _obj(compiled.get("tender"))
    contract = _first_obj(compiled.get("contracts"))
    award = _first_obj(compiled.get("awards"))
    framework = _framework(compiled)
    has_agreement = _obj(tender.get("techniques")).get("hasFrameworkAgreement") is True
    kind = "order" if framework else "agreement" if has_agreement else "other"

    # The first party with the buyer role and every one with the supplier role, in one pass.
    buyer = None
    listed_suppliers = []
    for party in _objs(compiled.get("parties")):
        roles = party.get("roles")
        if isinstance(roles, list):
            if buyer is None and "buyer" in roles:
                buyer = party
            if "supplier" in roles:
                listed_suppliers.append(party)
    buyer = buyer or _obj(compiled.get("buyer"))
    suppliers = listed_suppliers or _objs(contract.get("suppliers")) or _objs(award.get("suppliers"))
    # The first stage with items, the later stages' lists made only when needed (a contract
    # lists an item per line, destination and delivery).
    contract_items = _objs(contract.get("items"))
    lines = _objs(award.get("items")) or contract_items or _objs(tender.get("items"))
    items = [_item(i) for i in (lines if complete else lines[:1])]
    period = _obj(contract.get("period"))
    delivery: dict = {}
    for contract_item in contract_items:
        address = contract_item.get("deliveryAddress")
        if isinstance(address, dict) and address:
            delivery = address
            break
    # Of several stages' values, the first that is not empty: None, "", {}, [] and 0 count as
    # empty, as in OCDS practice (a stage that publishes nothing does not hide the stage before
    # it). ``a or b or None`` is that value.
    date_signed = _text(contract.get("dateSigned") or award.get("date") or None)
    # The first supplier read once, for ``supplier`` and ``suppliers`` (copied: two objects, as
    # when it was read twice).
    supplier_facts = [_party(s) for s in (suppliers if complete else suppliers[:1])]
    buyer_facts = _party(buyer) if buyer else None  # its address and region are the process's
    value = None  # the first stage's value that is a non-empty object
    for stage in (contract, award, tender):
        candidate = stage.get("value")
        if isinstance(candidate, dict) and candidate:
            value = candidate
            break
    return {
        "ocid": _text(compiled.get("ocid")),
        "kind": kind,
        "order_number": _text(contract.get("id") or tender.get("id") or None) if kind == "order" else None,
        "title": _text(contract.get("title") or award.get("title") or tender.get("title") or None),
        "status": _text(contract.get("status") or award.get("status") or tender.get("status") or None),
        "category": _text(tender.get("mainProcurementCategory")),
        "method": _text(tender.get("procurementMethod")),
        "classification": items[0]["classification"]["id"] if items else None,
        "buyer": buyer_facts,
        "buyer_address": buyer_facts["address"] if buyer_facts else "",
        "region": buyer_facts["region"] if buyer_facts else None,
        "delivery_region": _text(delivery.get("region")),
        "delivery_district": _text(delivery.get("locality")),
        "supplier": _copy_party(supplier_facts[0]) if supplier_facts else None,
        "suppliers": supplier_facts,
        "framework": framework,
        "agreement_ocid": framework["identifier"] if framework else None,
        "date_signed": date_signed,
        "date": _text(
            date_signed or _obj(tender.get("tenderPeriod")).get("startDate") or compiled.get("date") or None
        ),
        "period": {"startDate": _text(period.get("startDate")), "endDate": _text(period.get("endDate"))},
        "value": _money(value),
        "items": items,
        "destinations": _destinations(contract) if extras else [],
        "bids": [_bid(b) for b in _objs(_obj(compiled.get("bids")).get("details"))] if extras else [],
        "amendments": [_amendment(a) for a in _objs(contract.get("amendments"))] if extras else [],
        "documents": [_document(d) for d in _objs(contract.get("documents")) + _objs(tender.get("documents"))]
        if extras and documents
        else [],
    }


def _amount(value: int | float | str | None) -> Decimal | None:
    """An amount for NUMERIC(19, 2): rounded to cents, None when not a number or too large."""
    if value is None:
        return None
    try:
        number = Decimal(str(value)).quantize(_CENT)
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() and abs(number) < _AMOUNT_LIMIT else None


# :func:`_amount` once per process and value, for the amounts that recur from order to order
# (an item's quantity and unit price: a catalogue's prices, a few hundred quantities), whose
# rounding (str, Decimal, quantize) costs several times the lookup. Not for totals, nearly all
# different: there the cache would only be missed and churned. typed: 1 and 1.0 are one key
# otherwise (both 1.00 today, but nothing needs them to be).
_cached_amount = functools.lru_cache(maxsize=4096, typed=True)(_amount)


def _recurring_amount(value: int | float | None) -> Decimal | None:
    """:func:`_amount` of a number (:func:`_number`'s), through the cache but for zero: 0.0
    and -0.0 are one key, and round to 0.00 and -0.00."""
    if value:
        return _cached_amount(value)
    return _amount(value)


def browse_columns(compiled: Any) -> dict:
    """The browse and dashboard columns of the ``records`` table, from the same reading as
    :func:`process_facts`, cut to the columns' sizes."""
    return browse_columns_of(_reading(compiled, complete=False))


def browse_columns_of(facts: dict) -> dict:
    """:func:`browse_columns` from facts already read (:func:`process_facts` of the same
    release): a publishing worker reads each order once for its PDF and its columns. The
    columns read no documents, so the facts of the release without its order PDF entry do."""
    buyer = facts["buyer"] or {}
    supplier = facts["supplier"] or {}
    return {
        "kind": facts["kind"],
        "order_number": _text(facts["order_number"], 64),
        "title": _text(facts["title"], 10_000),
        "status": _text(facts["status"], 32),
        "category": _text(facts["category"], 32),
        "classification": _text(facts["classification"], 32),
        "buyer_id": _text(buyer.get("id"), 255),
        "buyer_name": _text(buyer.get("name"), 10_000),
        "region": _text(facts["region"], 64),
        "supplier_id": _text(supplier.get("id"), 255),
        "supplier_name": _text(supplier.get("name"), 10_000),
        "agreement_ocid": _text(facts["agreement_ocid"], 255),
        "amount": _amount(facts["value"]["amount"]),
        "currency": _text(facts["value"]["currency"], 3),
        "date": _text(facts["date"], 40),
        "procedure": _text(_procedure(facts), 32),
        "agreement_title": _text((facts["framework"] or {}).get("title"), 10_000),
        "delivery_region": _text(facts["delivery_region"] or facts["region"], 64),
        "delivery_district": _text(facts["delivery_district"], 128),
        "month": _month(facts["date"]),
    }


#: What :func:`browse_columns` calls the two kinds of process Veraz itself publishes; any other
#: process (imported OCDS) is named by its ``tender.procurementMethod`` as published.
CATALOGUE_ORDER = "catalogue_order"
FRAMEWORK_AGREEMENT = "framework_agreement"


def _procedure(facts: dict) -> str | None:
    if facts["kind"] == "order":
        return CATALOGUE_ORDER
    if facts["kind"] == "agreement":
        return FRAMEWORK_AGREEMENT
    return facts["method"]


def _month(date: str | None) -> str | None:
    """``YYYY-MM`` of an ISO 8601 date as published (its local calendar month), or None."""
    if date is None or len(date) < 7 or date[4] != "-":
        return None
    year, month = date[:4], date[5:7]
    if year.isascii() and year.isdigit() and month.isascii() and month.isdigit() and "01" <= month <= "12":
        return f"{year}-{month}"
    return None


#: The read model's tables besides ``records`` (whose columns are :func:`browse_columns`).
READ_MODEL_TABLES = ("item_lines", "parties")


def unspsc_levels(scheme: str | None, code: str | None) -> dict:
    """The UNSPSC ``segment``, ``family``, ``class`` and ``commodity`` (the first 2, 4, 6, 8
    digits) of a classification; all None unless the scheme is UNSPSC and the code is digits.
    A level written as a pair of zeros ends the code ("43210000" is the family 4321 itself)."""
    levels: dict = {"segment": None, "family": None, "class": None, "commodity": None}
    if scheme is None or code is None or scheme.strip().upper() != "UNSPSC":
        return levels
    digits = code.strip()
    if not (2 <= len(digits) <= 8 and digits.isascii() and digits.isdigit()):
        return levels
    for name, size in (("segment", 2), ("family", 4), ("class", 6), ("commodity", 8)):
        if len(digits) < size or digits[size - 2 : size] == "00":
            break
        levels[name] = digits[:size]
    return levels


def read_model_rows(compiled: Any) -> dict[str, list[dict]]:
    """The rows of the read model's tables (:data:`READ_MODEL_TABLES`) for one process, from
        the same reading as :func:`process_facts`: ``item_lines`` (one per item of the stage that
        wins, in published order) and ``parties`` (the buyer, then every supplier, each once; each
    row's ``position`` is its place in that list).
        Every row carries the process's ``ocid``; text is cut to the columns' sizes; amounts are
        rounded to cents and left out (None) when not a number or too large, as in
        :func:`browse_columns`. Never raises.

        Publishing, ``veraz reindex`` and ``veraz audit`` all derive the rows here, so what is
        stored can always be checked against the logged releases.
    """
    return read_model_rows_of(row_facts(compiled))


#: The columns of each read-model table in the order :func:`read_model_values_of` gives them
#: (and :func:`read_model_rows_of` names them).
READ_MODEL_COLUMNS = {
    "item_lines": (
        "ocid",
        "position",
        "scheme",
        "code",
        "segment",
        "family",
        "class",
        "commodity",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "amount",
        "currency",
    ),
    "parties": ("ocid", "role", "party_id", "scheme", "identifier", "name", "region", "scale", "position"),
}


def read_model_rows_of(facts: dict) -> dict[str, list[dict]]:
    """:func:`read_model_rows` from facts already read (by :func:`process_facts`): publishing
    workers read each order once, for its PDF, its browse columns and these rows."""
    return {
        name: [dict(zip(READ_MODEL_COLUMNS[name], row, strict=True)) for row in rows]
        for name, rows in read_model_values_of(facts).items()
    }


@functools.lru_cache(maxsize=4096)
def _unspsc_values(scheme: str | None, code: str | None) -> tuple:
    # The levels of a code, once per process: catalogue orders repeat a few thousand products.
    return tuple(unspsc_levels(scheme, code).values())


def read_model_values_of(facts: dict) -> dict[str, list[tuple]]:
    """:func:`read_model_rows_of` as tuples of the values of :data:`READ_MODEL_COLUMNS`: what a
    publishing worker packs for the database driver, without a dict per row."""
    ocid = _text(facts["ocid"], 255)
    lines = []
    position = 0
    for item in facts["items"]:
        classification = item["classification"]
        scheme, code = _text(classification["scheme"], 64), _text(classification["id"], 64)
        lines.append(
            (
                ocid,
                position,
                scheme,
                code,
                *_unspsc_values(scheme, code),
                _text(item["description"], 10_000),
                _recurring_amount(_number(item["quantity"])),
                _text(item["unit"], 128),
                _recurring_amount(_number(item["unit_price"])),
                _amount(item["total"]),
                _text(item["currency"], 3),
            )
        )
        position += 1
    parties: list[tuple] = []
    seen: set[tuple] = set()
    buyer = facts["buyer"]
    for role, party in [("buyer", buyer), *(("supplier", s) for s in facts["suppliers"])]:
        if not party:
            continue
        identifier = party["identifier"] or {}
        row = (
            ocid,
            role,
            _text(party["id"], 255),
            _text(identifier.get("scheme"), 64),
            _text(identifier.get("id"), 255),
            _text(party["name"], 10_000),
            _text(party["region"], 64),
            _text(party["scale"], 32),
        )
        if row in seen:  # a supplier listed twice is still one supplier of the process
            continue
        seen.add(row)
        parties.append((*row, len(parties)))
    return {"item_lines": lines, "parties": parties}
