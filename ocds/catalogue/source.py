"""Read and check source orders: the JSON Lines export of a catalogue system.

One line holds one state of one purchase order (orden de compra); the format is specified by
``source-order.schema.json`` next to this module and explained in ``docs/source-orders.md``.

Checking happens in two layers, for speed:

1. JSON Schema (structure, types, required fields, closed lists). The verdict comes from
   jsonschema-rs, through the machinery of :mod:`ocds.validate` that makes it judge exactly as
   ``jsonschema``'s ``Draft7Validator`` does (Python ``re`` semantics for ``pattern``, NaN and
   lone surrogates left to jsonschema). It only says "valid" or "invalid"; when it says
   invalid, the (much slower) ``jsonschema`` validator reports *every* structural problem with
   a field path. A valid line therefore never pays for jsonschema.
2. Hand checks that JSON Schema cannot express: currencies against the OCDS codelist, one
   currency per order, item line numbers unique, delivery quantities adding up to the ordered
   quantity, proforma lines and delivery lines referring to existing item lines, suppliers
   belonging to the framework agreement, real calendar dates in a sensible order, and status
   consistent with the dates.

The agreement block is repeated verbatim in every order of the same agreement and is the
largest part of a line (its supplier list), so its verdict is cached by its serialised bytes.

Problem field paths are JSON Pointer-like paths with **0-based** array indexes
(``items/2/quantity`` is the third item), as everywhere in :mod:`ocds`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from math import isfinite
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from ocds.errors import Problem
from ocds.ingest import exact_numbers
from ocds.schema import codes
from ocds.validate import SchemaChecker

SCHEMA_PATH = Path(__file__).resolve().parent / "source-order.schema.json"
FORMAT_VERSION = "1.0"

#: Peru's regions as ubigeo department codes (INEI), plus "1501" for Lima Metropolitana, which
#: many agencies report apart from the rest of the Lima department (Lima Provincias, "15").
REGIONS: dict[str, str] = {
    "01": "Amazonas",
    "02": "Áncash",
    "03": "Apurímac",
    "04": "Arequipa",
    "05": "Ayacucho",
    "06": "Cajamarca",
    "07": "Callao",
    "08": "Cusco",
    "09": "Huancavelica",
    "10": "Huánuco",
    "11": "Ica",
    "12": "Junín",
    "13": "La Libertad",
    "14": "Lambayeque",
    "15": "Lima",
    "1501": "Lima Metropolitana",
    "16": "Loreto",
    "17": "Madre de Dios",
    "18": "Moquegua",
    "19": "Pasco",
    "20": "Piura",
    "21": "Puno",
    "22": "San Martín",
    "23": "Tacna",
    "24": "Tumbes",
    "25": "Ucayali",
}

#: Order shapes of Perú Compras catalogue orders, as returned by :func:`order_shape`.
SHAPES = (
    "single",  # (1) one destination, one delivery
    "package",  # (2) compra por paquete: several products bought as one package
    "partial",  # (3) one destination, partial deliveries
    "multiDestination",  # (4) several destinations, one delivery each
    "multiDestinationPartial",  # (5) several destinations, one or more deliveries each
)

# Relative tolerance when comparing sums of quantities, which may be decimals (kg, galones).
_QUANTITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SourceLine:
    """One line of a source file: its 1-based line number, the order and what is wrong with it.

    ``order`` is ``None`` when the line is not a JSON object at all, or holds a number (or a
    lone surrogate) canonical JSON cannot write as sent (its problems name each one). When ``problems`` is
    non-empty the order must not be published; it is still returned so that a report can name it.
    """

    line: int
    order: dict | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """Whether the order passed every check."""
        return not self.problems


@cache
def source_schema() -> dict:
    """The source-order JSON Schema (draft 7) as a dict; do not mutate it."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _checkers() -> tuple[SchemaChecker, SchemaChecker]:
    """Verdicts for (the order with any object as its agreement, the agreement alone).

    Each is jsonschema-rs's verdict made equal to ``jsonschema.Draft7Validator``'s (see
    :class:`ocds.validate.SchemaChecker`); no format is checked, as by :func:`_explainer`. Together
    they say what ``Draft7Validator(source_schema())`` says: the schema is the outer one and the
    agreement definition at ``agreement``. Split so that the agreement, the largest part of a
    line and the same for every order of an agreement, is judged once (see :func:`_check_agreement`).
    Every ``$ref`` is within the schema: never the network.
    """
    schema = source_schema()
    definitions = schema["definitions"]
    outer = dict(schema, properties=dict(schema["properties"], agreement={"type": "object"}))
    agreement = dict(definitions["agreement"], definitions=definitions)
    return (
        SchemaChecker(outer, draft=7, check_formats=False),
        SchemaChecker(agreement, draft=7, check_formats=False),
    )


@cache
def _explainer() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(source_schema())


@cache
def _pattern_hints() -> dict[str, str]:
    d = source_schema()["definitions"]
    return {
        d["ruc"]["pattern"]: "an 11-digit RUC starting with 10, 15, 16, 17 or 20",
        d["dateTime"]["pattern"]: "an RFC 3339 date-time with offset, e.g. 2025-03-04T10:15:00-05:00",
        d["date"]["pattern"]: "a date YYYY-MM-DD",
        d["currency"]["pattern"]: "a three-letter ISO 4217 code such as PEN",
        d["region"]["properties"]["code"]["pattern"]: "a 2-digit ubigeo department code or 1501",
        d["item"]["properties"]["classification"]["properties"]["code"]["pattern"]: (
            "an 8-digit UNSPSC code"
        ),
        d["document"]["properties"]["sha256"]["pattern"]: "64 lowercase hexadecimal digits",
        source_schema()["properties"]["orderNumber"]["pattern"]: "an order number like OC-2025-000123",
    }


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _path(parts: Iterable[Any]) -> str:
    return "/".join(str(p) for p in parts)


def _control_character(value: str) -> str:
    """Why an identifier holding a control character is refused, naming the first one."""
    at, char = next((i, c) for i, c in enumerate(value) if c < " " or c == "\x7f")
    return (
        "Must not contain control characters (U+0000 to U+001F, U+007F); "
        f"got U+{ord(char):04X} at position {at + 1} of {value!r}."
    )


def explain_schema_errors(order: Any) -> list[Problem]:
    """Every JSON Schema violation of ``order`` as a Problem, in a stable order.

    Slow (jsonschema); only called for lines that the fast verdict already rejected.
    """
    problems: dict[Problem, None] = {}
    hints = _pattern_hints()
    for error in _explainer().iter_errors(order):
        where = list(error.absolute_path)
        value = error.instance
        kind = error.validator
        if kind == "required":
            for name in error.validator_value:
                if isinstance(value, dict) and name not in value:
                    problems[Problem(_path([*where, name]), "Required field is missing.")] = None
            continue
        if kind == "additionalProperties" and isinstance(value, dict):
            known = error.schema.get("properties", {})
            for name in sorted(set(value) - set(known)):
                problems[Problem(_path([*where, name]), "Unknown field: the format does not define it.")] = (
                    None
                )
            continue
        if kind == "exclusiveMinimum" and where and where[-1] == "quantity":
            reason = f"Quantity must be greater than zero; got {value!r}."
        elif kind in ("minimum", "exclusiveMinimum"):
            op = "at least" if kind == "minimum" else "greater than"
            reason = f"Must be {op} {error.validator_value}; got {value!r}."
        elif kind == "type":
            wanted = error.validator_value
            wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
            reason = f"Must be of type {wanted}; got {_json_type(value)}."
        elif kind == "pattern":
            hint = hints.get(error.validator_value, f"text matching {error.validator_value}")
            reason = f"Must be {hint}; got {value!r}."
        elif kind == "enum":
            allowed = ", ".join(str(v) for v in error.validator_value)
            reason = f"Must be one of: {allowed}; got {value!r}."
        elif kind == "const":
            reason = f"Must be {error.validator_value!r}; got {value!r}."
        elif kind == "minItems":
            count = error.validator_value
            reason = f"Must have at least {count} entr{'y' if count == 1 else 'ies'}."
        elif kind == "minLength":
            reason = "Must not be empty."
        elif kind == "not" and isinstance(value, str):  # the schema's only "not": controlCharacter
            reason = _control_character(value)
        else:
            reason = error.message[:1].upper() + error.message[1:] + "."
        problems[Problem(_path(where), reason)] = None
    return sorted(problems, key=lambda p: p.field)


def _parse_dt(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _parse_d(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _not_a_datetime(field: str, value: str) -> Problem:
    return Problem(field, f"{value!r} is not a real date and time.")


def _not_a_date(field: str, value: str) -> Problem:
    return Problem(field, f"{value!r} is not a real calendar date.")


def _dt(value: str, field: str, problems: list[Problem]) -> datetime | None:
    parsed = _parse_dt(value)
    if parsed is None:
        problems.append(_not_a_datetime(field, value))
    return parsed


def _d(value: str, field: str, problems: list[Problem]) -> date | None:
    parsed = _parse_d(value)
    if parsed is None:
        problems.append(_not_a_date(field, value))
    return parsed


@dataclass(frozen=True)
class _AgreementVerdict:
    problems: tuple[Problem, ...]
    suppliers: frozenset[str]
    start: date | None
    end: date | None


_AGREEMENT_CACHE: dict[bytes, _AgreementVerdict] = {}
_AGREEMENT_CACHE_SIZE = 4096


def agreement_key(order: Any) -> bytes | None:
    """The bytes that the agreement caches of :func:`check_order` and
    :func:`ocds.catalogue.mapping.map_order` are keyed by (``orjson.dumps`` of the order's
    agreement block), or None when there are none. The block is about two thirds of a line and
    the same in every order of an agreement: a caller that checks and maps an order serialises
    it once by passing this to both."""
    agreement = order.get("agreement") if isinstance(order, dict) else None
    if agreement is None:
        return None
    try:
        return orjson.dumps(agreement)
    except TypeError:  # a lone surrogate, an integer beyond 64 bits: never from a JSON line
        return None


class LineReader:
    """Parses source order lines (``orjson.loads``) and gives each order's :func:`agreement_key`,
    parsing each agreement block once instead of once a line.

    The agreement block is about two thirds of a line, and the same bytes in every order of an
    agreement. When a line holds the bytes of a block met before as the value of its top-level
    ``agreement`` member, the rest of the line is parsed with a hole there and the block's
    dict, parsed once, put in its place. Equal to parsing the whole line because:

    * The member is found by the bytes ``"agreement":`` right after a ``{`` or a ``,``. Inside
      a JSON string a quote is always escaped (the byte before it is a backslash), so a quote
      after ``{`` or ``,`` belongs to the structure: this is a member name and the block's bytes
      that follow are its whole value (a JSON value is parsed the same wherever it stands).
    * The hole is the string ``"\\u0000"``, and the line must hold no ``\\u0000`` at all: the
      only way to write U+0000 in JSON is that escape, so after the parse the hole is the one
      value equal to ``"\\x00"``. Finding it as the top-level ``agreement`` proves that the
      member replaced was the top-level one, not a nested one and not one a later duplicate
      member overrides.
    * A line the hole makes unparsable, any check that fails, or a block not met before: the
      whole line is parsed as it is (errors are then orjson's own, at their true offsets).

    A block is remembered when a whole parse shows its bytes as ``orjson.dumps`` writes them
    (so ``agreement_key`` is those bytes). The block dicts are shared by the orders of every
    batch: readers must not change them; :meth:`check_unchanged` proves they did not.
    """

    _MEMBER = b'"agreement":'
    _HOLE = b'"\\u0000"'
    _ESCAPED_NUL = b"\\u0000"
    _PREFIX = 64  # bytes of a block that index it (blocks of one catalogue share their start)

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        # first bytes of a block -> {block bytes: its dict}, in the order last met
        self._blocks: dict[bytes, dict[bytes, dict]] = {}
        self._count = 0
        self._lent: dict[bytes, dict] = {}  # blocks handed out since the last check_unchanged
        self.shared = 0  # lines read with a block parsed before

    def read(self, raw: bytes) -> tuple[Any, bytes | None]:
        """``(orjson.loads(raw), agreement_key(that))``; raises orjson's error for a line that
        is not JSON."""
        at = raw.find(self._MEMBER)
        start = at + len(self._MEMBER)
        if at > 0 and raw[at - 1] in b"{," and type(raw) is bytes:
            candidates = self._blocks.get(raw[start : start + self._PREFIX])
            if candidates and self._ESCAPED_NUL not in raw:
                for block, agreement in candidates.items():
                    if raw.startswith(block, start):
                        try:
                            order = orjson.loads(raw[:start] + self._HOLE + raw[start + len(block) :])
                        except orjson.JSONDecodeError:
                            break  # the whole line says what is wrong with it, and where
                        if type(order) is dict and order.get("agreement") == "\x00":
                            order["agreement"] = agreement
                            self._lent[block] = agreement
                            self.shared += 1
                            return order, block
                        break
        order = orjson.loads(raw)
        key = agreement_key(order)
        if key is not None and at > 0 and raw[at - 1] in b"{," and raw.startswith(key, start):
            self._remember(key)
        return order, key

    def _remember(self, block: bytes) -> None:
        prefix = block[: self._PREFIX]
        candidates = self._blocks.setdefault(prefix, {})
        if block in candidates:
            return
        if self._count >= self.capacity:  # crude but bounded, as the other agreement caches
            self._blocks.clear()
            self._count = 0
            candidates = self._blocks.setdefault(prefix, {})
        candidates[block] = orjson.loads(block)
        self._count += 1

    def check_unchanged(self) -> None:
        """Raise if a block dict handed out since the last call no longer serialises to its
        bytes (a reader changed it: a bug that would hand later orders a different agreement)."""
        lent, self._lent = self._lent, {}
        for block, agreement in lent.items():
            if orjson.dumps(agreement) != block:
                raise AssertionError("a shared agreement block was changed by its reader")


def _check_agreement(agreement: Any, key: bytes | None = None) -> _AgreementVerdict:
    """Schema and hand checks of the agreement block, cached by its serialised bytes (``key``:
    :func:`agreement_key`, when the caller has it)."""
    if key is None:
        try:
            key = orjson.dumps(agreement)
        except TypeError:  # a lone surrogate, an integer beyond 64 bits: never from a JSON line
            return _judge_agreement(agreement)
    verdict = _AGREEMENT_CACHE.get(key)
    if verdict is not None:
        return verdict
    verdict = _judge_agreement(agreement)
    # orjson writes NaN and Infinity as null, so such a key may also stand for another, different
    # agreement. A valid agreement holds no null at all: only bad ones can be ambiguous.
    if verdict.problems and b"null" in key:
        return verdict
    if len(_AGREEMENT_CACHE) >= _AGREEMENT_CACHE_SIZE:
        _AGREEMENT_CACHE.clear()  # crude but bounded; exports are grouped by agreement anyway
    _AGREEMENT_CACHE[key] = verdict
    return verdict


def _judge_agreement(agreement: Any) -> _AgreementVerdict:
    if not _checkers()[1].is_valid(agreement):
        problems = explain_schema_errors({"agreement": agreement})
        problems = [p for p in problems if p.field.startswith("agreement")]
        if problems:
            return _AgreementVerdict(tuple(problems), frozenset(), None, None)
        # jsonschema, the reference, finds nothing wrong: the agreement is valid, as it says.
    problems = []
    start = _d(agreement["period"]["startDate"], "agreement/period/startDate", problems)
    end = _d(agreement["period"]["endDate"], "agreement/period/endDate", problems)
    if start and end and end < start:
        problems.append(Problem("agreement/period/endDate", "Ends before the agreement starts."))
    ids = [s["identifier"] for s in agreement["suppliers"]]
    suppliers = frozenset(ids)
    if len(suppliers) != len(ids):
        seen: set[str] = set()
        for i, ruc in enumerate(ids):
            if ruc in seen:
                problems.append(
                    Problem(
                        f"agreement/suppliers/{i}/identifier",
                        f"Supplier {ruc} is listed twice.",
                    )
                )
            seen.add(ruc)
    return _AgreementVerdict(tuple(problems), suppliers, start, end)


def check_order(order: Any, *, agreement_key: bytes | None = None) -> list[Problem]:
    """Every problem with one decoded source order (``[]`` if it may be published).

    ``agreement_key``: :func:`agreement_key` of this very order, if the caller has it."""
    if not isinstance(order, dict):
        return [Problem("", f"Line must be a JSON object; got {_json_type(order)}.")]
    if not _checkers()[0].is_valid(order):
        problems = explain_schema_errors(order)
        if problems:
            return problems
        # jsonschema, the reference, finds nothing wrong: the order is valid, as it says.
    verdict = _check_agreement(order["agreement"], agreement_key)
    if verdict.problems:
        return list(verdict.problems)
    problems = []
    _check_parties(order, verdict, problems)
    lines = _check_items(order, problems)
    _check_deliveries(order, lines, problems)
    _check_proformas(order, lines, verdict, problems)
    _check_dates(order, verdict, problems)
    _check_ids(order, problems)
    return problems


def _unknown_region(field: str, code: str) -> Problem:
    return Problem(field, f"Unknown region code {code!r}: use a ubigeo department code (01-25) or 1501.")


def _check_parties(order: dict, verdict: _AgreementVerdict, problems: list[Problem]) -> None:
    code = order["buyer"]["region"]["code"]
    if code not in REGIONS:
        problems.append(_unknown_region("buyer/region/code", code))
    for i, dest in enumerate(order["destinations"]):
        code = dest["address"]["region"]["code"]
        if code not in REGIONS:
            problems.append(_unknown_region(f"destinations/{i}/address/region/code", code))
    ruc = order["supplier"]["identifier"]
    if ruc not in verdict.suppliers:
        problems.append(Problem("supplier/identifier", _not_in_agreement(ruc, order)))


def _not_in_agreement(ruc: str, order: dict) -> str:
    return f"Supplier {ruc} is not a supplier of framework agreement {order['agreement']['id']}."


def _check_items(order: dict, problems: list[Problem]) -> dict[int, float]:
    """Check item lines; return ordered quantity by line number."""
    currency_codes = codes("currency.csv")
    lines: dict[int, float] = {}
    items = order["items"]
    first_currency = items[0]["currency"]
    for i, item in enumerate(items):
        line = item["line"]
        quantity = item["quantity"]
        if line in lines:
            problems.append(Problem(f"items/{i}/line", f"Line number {line} is used by more than one item."))
        lines[line] = quantity
        currency = item["currency"]
        if currency not in currency_codes:
            problems.append(
                Problem(
                    f"items/{i}/currency",
                    f"Unknown currency {currency!r}: use an ISO 4217 code such as PEN.",
                )
            )
        elif currency != first_currency:
            problems.append(
                Problem(
                    f"items/{i}/currency",
                    f"Mixed currencies: this item is in {currency} but items/0 is in "
                    f"{first_currency}; an order has one currency.",
                )
            )
        if not isfinite(item["unitPrice"]) or not isfinite(quantity):
            problems.append(Problem(f"items/{i}", "Quantity and unit price must be finite numbers."))
    return lines


def _check_deliveries(order: dict, lines: dict[int, float], problems: list[Problem]) -> None:
    delivered: dict[int, float] = dict.fromkeys(lines, 0.0)
    for d, dest in enumerate(order["destinations"]):
        for k, delivery in enumerate(dest["deliveries"]):
            seen: set[int] = set()
            for j, part in enumerate(delivery["lines"]):
                line = part["line"]
                if line not in lines:
                    problems.append(
                        Problem(
                            f"destinations/{d}/deliveries/{k}/lines/{j}/line",
                            f"Refers to item line {line}, which the order does not have.",
                        )
                    )
                    continue
                if line in seen:
                    problems.append(
                        Problem(
                            f"destinations/{d}/deliveries/{k}/lines/{j}/line",
                            f"Item line {line} appears twice in the same delivery.",
                        )
                    )
                seen.add(line)
                delivered[line] += part["quantity"]
    for i, item in enumerate(order["items"]):
        line, ordered = item["line"], item["quantity"]
        total = delivered.get(line, 0.0)
        if abs(total - ordered) > _QUANTITY_TOLERANCE * max(1.0, abs(ordered)):
            more_less = "more" if total > ordered else "less"
            problems.append(
                Problem(
                    f"items/{i}/quantity",
                    f"Deliveries of line {line} add up to {total:g}, "
                    f"{more_less} than the {ordered:g} ordered.",
                )
            )


def _check_proformas(
    order: dict, lines: dict[int, float], verdict: _AgreementVerdict, problems: list[Problem]
) -> None:
    proformas = order.get("proformas")
    if not proformas:
        return
    currency = order["items"][0]["currency"]
    suppliers = verdict.suppliers
    for p, proforma in enumerate(proformas):
        ruc = proforma["supplier"]["identifier"]
        if ruc not in suppliers:
            problems.append(Problem(f"proformas/{p}/supplier/identifier", _not_in_agreement(ruc, order)))
        if proforma["currency"] != currency:
            problems.append(
                Problem(
                    f"proformas/{p}/currency",
                    f"Mixed currencies: the proforma is in {proforma['currency']} "
                    f"but the order is in {currency}.",
                )
            )
        for j, part in enumerate(proforma["lines"]):
            if part["line"] not in lines:
                problems.append(
                    Problem(
                        f"proformas/{p}/lines/{j}/line",
                        f"Quotes item line {part['line']}, which the order does not have.",
                    )
                )


def _check_dates(order: dict, verdict: _AgreementVerdict, problems: list[Problem]) -> None:
    dates = order["dates"]
    issued = _dt(dates["issued"], "dates/issued", problems)
    if issued is None:
        return
    day = issued.date()
    start, end = verdict.start, verdict.end
    if start and end and not start <= day <= end:
        problems.append(
            Problem(
                "dates/issued",
                f"Issued on {day}, outside the agreement period {start} to {end}.",
            )
        )
    accepted = _dt(dates["accepted"], "dates/accepted", problems) if "accepted" in dates else None
    delivered = _dt(dates["delivered"], "dates/delivered", problems) if "delivered" in dates else None
    if accepted and accepted < issued:
        problems.append(Problem("dates/accepted", "Accepted before the order was issued."))
    if delivered and delivered < (accepted or issued):
        problems.append(Problem("dates/delivered", "Delivered before the order was issued or accepted."))
    status = order["status"]
    if status in ("accepted", "delivered") and "accepted" not in dates:
        problems.append(Problem("dates/accepted", f"Required when status is {status!r}."))
    if status == "delivered" and "delivered" not in dates:
        problems.append(Problem("dates/delivered", "Required when status is 'delivered'."))
    cancellation = order.get("cancellation")
    if (status == "cancelled") != (cancellation is not None):
        problems.append(Problem("cancellation", "Must be present exactly when status is 'cancelled'."))
    if cancellation is not None:
        when = _dt(cancellation["date"], "cancellation/date", problems)
        if when and when < issued:
            problems.append(Problem("cancellation/date", "Cancelled before the order was issued."))
    amendments = order.get("amendments")
    if amendments:
        for a, amendment in enumerate(amendments):
            when = _dt(amendment["date"], f"amendments/{a}/date", problems)
            if when and when < issued:
                problems.append(Problem(f"amendments/{a}/date", "Amended before the order was issued."))
            if amendment.get("version", 0) > order["version"]:
                problems.append(
                    Problem(
                        f"amendments/{a}/version",
                        f"Later than the order's own version {order['version']}.",
                    )
                )
    proformas = order.get("proformas")
    if proformas:
        for p, proforma in enumerate(proformas):
            text = proforma["date"]
            when = _parse_dt(text)
            if when is None:
                problems.append(_not_a_datetime(f"proformas/{p}/date", text))
            elif when > issued:
                problems.append(Problem(f"proformas/{p}/date", "Quoted after the order was issued."))
    for d, dest in enumerate(order["destinations"]):
        for k, delivery in enumerate(dest["deliveries"]):
            text = delivery["dueDate"]
            due = _parse_d(text)
            if due is None:
                problems.append(_not_a_date(f"destinations/{d}/deliveries/{k}/dueDate", text))
            elif due < day:
                problems.append(
                    Problem(
                        f"destinations/{d}/deliveries/{k}/dueDate",
                        "Due before the order was issued.",
                    )
                )
            if "deliveredDate" in delivery:
                text = delivery["deliveredDate"]
                done = _parse_d(text)
                if done is None:
                    problems.append(_not_a_date(f"destinations/{d}/deliveries/{k}/deliveredDate", text))
                elif done < day:
                    problems.append(
                        Problem(
                            f"destinations/{d}/deliveries/{k}/deliveredDate",
                            "Delivered before the order was issued.",
                        )
                    )


def _report_repeats(values: list[Any], field: str, what: str, problems: list[Problem]) -> None:
    """One problem per repeat of a value (``field`` has a ``{}`` for the index)."""
    seen: set[Any] = set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(Problem(field.format(i), f"{what} {value!r} is used twice."))
        seen.add(value)


def _check_ids(order: dict, problems: list[Problem]) -> None:
    """Numbers and ids that become OCDS ids must be unique where OCDS needs them unique.

    A list of one value has no repeat: most orders only build and compare the short ones.
    """
    dests = order["destinations"]
    if len(dests) > 1:
        numbers = [d["number"] for d in dests]
        if len(set(numbers)) != len(numbers):
            _report_repeats(numbers, "destinations/{}/number", "Destination number", problems)
    for d, dest in enumerate(dests):
        deliveries = dest["deliveries"]
        if len(deliveries) > 1:
            numbers = [k["number"] for k in deliveries]
            if len(set(numbers)) != len(numbers):
                _report_repeats(
                    numbers,
                    f"destinations/{d}/deliveries/{{}}/number",
                    "Delivery number",
                    problems,
                )
    for key, field, what in _UNIQUE_IDS:
        entries = order.get(key)
        if entries and len(entries) > 1:
            ids = [x["id"] for x in entries]
            if len(set(ids)) != len(ids):
                _report_repeats(ids, field, what, problems)


_UNIQUE_IDS = (
    ("proformas", "proformas/{}/id", "Proforma id"),
    ("amendments", "amendments/{}/id", "Amendment id"),
    ("documents", "documents/{}/id", "Document id"),
)


def _numbered_lines(
    source: str | os.PathLike | Iterable[str | bytes],
) -> Iterator[tuple[int, bytes | str]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield from enumerate(f, start=1)
    else:
        yield from enumerate(source, start=1)


# orjson reads an integer beyond 64 bits, or a decimal with more digits than a double holds, as
# the nearest double without a word, so the value would be published altered. A line with a run
# of 16 digits (2**53 has 16) or one orjson refuses (1E400, a lone surrogate) is read again
# exactly, and a number RFC 8785 cannot write as sent is that line's problem, at its field.
_LONG_DIGITS = re.compile(rb"[0-9]{16}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads_exact(raw: bytes | str) -> tuple[Any, list[Problem]]:
    """One JSON text parsed with every number as sent: ``(value, problems)``. Problems name
    each number (and, in strings, each lone surrogate) canonical JSON cannot hold exactly.
    Raises ``orjson.JSONDecodeError`` (orjson's message) when the text is not JSON."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if not _LONG_DIGITS.search(data):
        try:
            return orjson.loads(data), []
        except orjson.JSONDecodeError as error:
            refused = error
    else:
        refused = None
    try:
        value = json.loads(data, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        if refused is not None:
            raise refused from None
        orjson.loads(data)  # not JSON: orjson's message, as for every other line
        raise
    if isinstance(value, dict | list):
        return value, exact_numbers(value, strings=True)
    return value, []


def parse_orders(path_or_lines: str | os.PathLike | Iterable[str | bytes]) -> Iterator[SourceLine]:
    """Stream a JSON Lines export, one :class:`SourceLine` per non-blank line.

    ``path_or_lines`` is a file path or any iterable of lines (``str`` or ``bytes``). Memory use
    does not grow with the file. One bad line never stops the stream: its problems are reported
    and the next line is read.
    """
    for number, raw in _numbered_lines(path_or_lines):
        if not raw.strip():
            continue
        try:
            order, problems = loads_exact(raw)
        except orjson.JSONDecodeError as error:
            yield SourceLine(number, None, [Problem("", f"Line is not valid JSON: {error}.")])
            continue
        if problems:
            yield SourceLine(number, None, problems)
            continue
        problems = check_order(order)
        yield SourceLine(number, order if isinstance(order, dict) else None, problems)


def order_shape(order: dict) -> str:
    """Which of the five catalogue order shapes (see :data:`SHAPES`) a checked order has."""
    if "package" in order:
        return "package"
    dests = order["destinations"]
    if len(dests) == 1:
        return "single" if len(dests[0]["deliveries"]) == 1 else "partial"
    if all(len(d["deliveries"]) == 1 for d in dests):
        return "multiDestination"
    return "multiDestinationPartial"
