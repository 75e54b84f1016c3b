"""A frozen copy of ``check_order`` as it was before jsonschema-rs (git 4297a642), the reference
the differential tests compare ``ocds.catalogue.source`` with.

Only two things differ from that code: the schema verdicts (fastjsonschema's there) are
python-jsonschema's ``Draft7Validator``'s, which the verdict must equal (fastjsonschema's differed
from it: it reads ``$`` in a pattern as the very end, jsonschema as also before a final newline),
and the agreement verdict is memoised by a key that tells every value apart, so that the reference
is a pure function (the old cache, keyed by orjson's bytes, took NaN for null). Since the schema
refuses control characters in identifiers ("not controlCharacter"), the explanation of a ``not``
error is the new one too (:func:`_control_character`). Everything else (explanations, hand checks,
messages, their order) is the old code, verbatim: keep it so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import jsonschema

from ocds.catalogue.source import REGIONS, source_schema
from ocds.errors import Problem
from ocds.schema import codes

_QUANTITY_TOLERANCE = 1e-9


@cache
def _outer_validator() -> jsonschema.Draft7Validator:
    """The whole schema, but any object for the agreement (as the old outer fastjsonschema)."""
    schema = source_schema()
    return jsonschema.Draft7Validator(
        dict(schema, properties=dict(schema["properties"], agreement={"type": "object"}))
    )


@cache
def _agreement_validator() -> jsonschema.Draft7Validator:
    definitions = source_schema()["definitions"]
    return jsonschema.Draft7Validator(dict(definitions["agreement"], definitions=definitions))


def outer_valid(order: Any) -> bool:
    """jsonschema's verdict on the order, its agreement only required to be an object."""
    return _outer_validator().is_valid(order)


def agreement_valid(agreement: Any) -> bool:
    """jsonschema's verdict on the agreement block alone (memoised, see _check_agreement)."""
    key = json.dumps(agreement)
    if key not in _AGREEMENT_VALID:
        _AGREEMENT_VALID[key] = _agreement_validator().is_valid(agreement)
    return _AGREEMENT_VALID[key]


_AGREEMENT_VALID: dict[str, bool] = {}


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

    Slow (jsonschema); only called for lines that fastjsonschema already rejected.
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


def _dt(value: str, field: str, problems: list[Problem]) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        problems.append(Problem(field, f"{value!r} is not a real date and time."))
        return None


def _d(value: str, field: str, problems: list[Problem]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(Problem(field, f"{value!r} is not a real calendar date."))
        return None


@dataclass(frozen=True)
class _AgreementVerdict:
    problems: tuple[Problem, ...]
    suppliers: frozenset[str]
    start: date | None
    end: date | None


def _check_agreement(agreement: Any) -> _AgreementVerdict:
    """Schema and hand checks of the agreement block (memoised: jsonschema takes ~5 ms on one)."""
    key = json.dumps(agreement)  # unlike orjson's, one text per value: NaN, "\\ud800", 2**70...
    verdict = _AGREEMENTS.get(key)
    if verdict is None:
        verdict = _AGREEMENTS[key] = _judge_agreement(agreement)
    return verdict


_AGREEMENTS: dict[str, _AgreementVerdict] = {}


def _judge_agreement(agreement: Any) -> _AgreementVerdict:
    problems: list[Problem] = []
    start = end = None
    suppliers: frozenset[str] = frozenset()
    if not agreement_valid(agreement):
        problems = explain_schema_errors({"agreement": agreement})
        problems = [p for p in problems if p.field.startswith("agreement")]
    else:
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


def check_order(order: Any) -> list[Problem]:
    """Every problem with one decoded source order (``[]`` if it may be published)."""
    if not isinstance(order, dict):
        return [Problem("", f"Line must be a JSON object; got {_json_type(order)}.")]
    agreement = order.get("agreement")
    if not outer_valid(order):
        return explain_schema_errors(order)
    verdict = _check_agreement(agreement)
    if verdict.problems:
        return list(verdict.problems)
    problems: list[Problem] = []
    _check_parties(order, verdict, problems)
    lines = _check_items(order, problems)
    _check_deliveries(order, lines, problems)
    _check_proformas(order, lines, verdict, problems)
    _check_dates(order, verdict, problems)
    _check_ids(order, problems)
    return problems


def _check_parties(order: dict, verdict: _AgreementVerdict, problems: list[Problem]) -> None:
    for field in (
        "buyer/region",
        *(f"destinations/{i}/address/region" for i in range(len(order["destinations"]))),
    ):
        region = order
        for part in field.split("/"):
            region = region[int(part)] if part.isdigit() else region[part]
        if region["code"] not in REGIONS:
            problems.append(
                Problem(
                    f"{field}/code",
                    f"Unknown region code {region['code']!r}: use a ubigeo department code (01-25) or 1501.",
                )
            )
    ruc = order["supplier"]["identifier"]
    if ruc not in verdict.suppliers:
        problems.append(
            Problem(
                "supplier/identifier",
                _not_in_agreement(ruc, order),
            )
        )


def _not_in_agreement(ruc: str, order: dict) -> str:
    return f"Supplier {ruc} is not a supplier of framework agreement {order['agreement']['id']}."


def _check_items(order: dict, problems: list[Problem]) -> dict[int, float]:
    """Check item lines; return ordered quantity by line number."""
    currency_codes = codes("currency.csv")
    lines: dict[int, float] = {}
    first_currency = order["items"][0]["currency"]
    for i, item in enumerate(order["items"]):
        line = item["line"]
        if line in lines:
            problems.append(Problem(f"items/{i}/line", f"Line number {line} is used by more than one item."))
        lines[line] = item["quantity"]
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
        if not math.isfinite(item["unitPrice"]) or not math.isfinite(item["quantity"]):
            problems.append(Problem(f"items/{i}", "Quantity and unit price must be finite numbers."))
    return lines


def _check_deliveries(order: dict, lines: dict[int, float], problems: list[Problem]) -> None:
    delivered: dict[int, float] = dict.fromkeys(lines, 0.0)
    for d, dest in enumerate(order["destinations"]):
        for k, delivery in enumerate(dest["deliveries"]):
            seen: set[int] = set()
            for j, part in enumerate(delivery["lines"]):
                line = part["line"]
                where = f"destinations/{d}/deliveries/{k}/lines/{j}"
                if line not in lines:
                    problems.append(
                        Problem(
                            f"{where}/line",
                            f"Refers to item line {line}, which the order does not have.",
                        )
                    )
                    continue
                if line in seen:
                    problems.append(
                        Problem(f"{where}/line", f"Item line {line} appears twice in the same delivery.")
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
    currency = order["items"][0]["currency"]
    for p, proforma in enumerate(order.get("proformas", ())):
        ruc = proforma["supplier"]["identifier"]
        if ruc not in verdict.suppliers:
            problems.append(
                Problem(
                    f"proformas/{p}/supplier/identifier",
                    _not_in_agreement(ruc, order),
                )
            )
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
    if verdict.start and verdict.end and not verdict.start <= day <= verdict.end:
        problems.append(
            Problem(
                "dates/issued",
                f"Issued on {day}, outside the agreement period {verdict.start} to {verdict.end}.",
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
    for a, amendment in enumerate(order.get("amendments", ())):
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
    for p, proforma in enumerate(order.get("proformas", ())):
        when = _dt(proforma["date"], f"proformas/{p}/date", problems)
        if when and when > issued:
            problems.append(Problem(f"proformas/{p}/date", "Quoted after the order was issued."))
    for d, dest in enumerate(order["destinations"]):
        for k, delivery in enumerate(dest["deliveries"]):
            where = f"destinations/{d}/deliveries/{k}"
            due = _d(delivery["dueDate"], f"{where}/dueDate", problems)
            if due and due < day:
                problems.append(Problem(f"{where}/dueDate", "Due before the order was issued."))
            if "deliveredDate" in delivery:
                done = _d(delivery["deliveredDate"], f"{where}/deliveredDate", problems)
                if done and done < day:
                    problems.append(
                        Problem(f"{where}/deliveredDate", "Delivered before the order was issued.")
                    )


def _check_ids(order: dict, problems: list[Problem]) -> None:
    """Numbers and ids that become OCDS ids must be unique where OCDS needs them unique."""

    def unique(values: list[Any], where: str, what: str) -> None:
        if len(set(values)) != len(values):
            seen: set[Any] = set()
            for i, value in enumerate(values):
                if value in seen:
                    problems.append(Problem(where.format(i), f"{what} {value!r} is used twice."))
                seen.add(value)

    dests = order["destinations"]
    unique([d["number"] for d in dests], "destinations/{}/number", "Destination number")
    for d, dest in enumerate(dests):
        unique(
            [k["number"] for k in dest["deliveries"]],
            f"destinations/{d}/deliveries/{{}}/number",
            "Delivery number",
        )
    unique([p["id"] for p in order.get("proformas", ())], "proformas/{}/id", "Proforma id")
    unique([a["id"] for a in order.get("amendments", ())], "amendments/{}/id", "Amendment id")
    unique([x["id"] for x in order.get("documents", ())], "documents/{}/id", "Document id")
