"""Quotes sealed on arrival: each checked, logged in the evidence log and stored, atomically.

A quote is a proforma of the source format (``docs/source-orders.md``, ``proformas[]``) with
the ``orderNumber`` of the order it is for: exactly the object ``veraz import-orders`` logs for
each proforma of an order (``ocds.catalogue.mapping``: ``{"orderNumber": ..., **proforma}``).
It is stored in ``proformas`` under the order's ocid, hashed (SHA-256 of its RFC 8785 form) and
logged with the ``proforma`` entry kind, so the order that later cites it (same ocid and
proforma id, same content) links that entry instead of logging the quote again; an order
quoting other content under that id is refused by the publishing writer.

A request is all or nothing: every quote valid and none changed, or nothing is stored. A quote
id received before with the same content is answered with its first receipt; with other
content, the request is refused (409) and the attempt reported in ``intake_refusals``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, insert, select

from anchoring.merkle import leaf_hash
from ocds.catalogue.mapping import order_ocid
from ocds.catalogue.source import explain_schema_errors, loads_exact, source_schema
from ocds.errors import Problem
from ocds.validate import SchemaChecker
from portal.db import bulk_insert
from portal.evidence import log_evidence, record, store
from portal.intake.tables import refusals
from portal.models import proformas
from portal.publishing.prepared import prepare_proforma

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordProblem:
    """A problem of one record of a request: its number, its id when known, field, reason."""

    record: int
    id: str
    field: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record, "id": self.id, "field": self.field, "reason": self.reason}


class Refused(Exception):
    """The request is refused: ``status`` (422 invalid records, 409 a changed quote or order)
    with every problem found. Nothing was written (but the report of a refused change)."""

    def __init__(self, status: int, problems: list[RecordProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.status = status
        self.problems = problems


@cache
def _quote_schema() -> dict:
    """The source format's proforma with the order number: what a quote is."""
    schema = source_schema()
    proforma = schema["definitions"]["proforma"]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["orderNumber", *proforma["required"]],
        "properties": {"orderNumber": schema["properties"]["orderNumber"], **proforma["properties"]},
        "definitions": schema["definitions"],
    }


@cache
def _checker() -> SchemaChecker:
    return SchemaChecker(_quote_schema(), draft=7, check_formats=False)


_PREFIX = "proformas/0/"


def check_quote(quote: Any) -> list[Problem]:
    """Every problem of a quote, with the reasons ``veraz import-orders`` gives for the same
    proforma inside an order (field paths relative to the quote)."""
    if not isinstance(quote, dict):
        return [Problem("", "A quote must be a JSON object.")]
    problems: list[Problem] = []
    if not _checker().is_valid(quote):
        # The order schema's own explanations, for the quote placed where it sits in an order.
        rest = {k: v for k, v in quote.items() if k != "orderNumber"}
        order = {"proformas": [rest]}
        if "orderNumber" in quote:
            order["orderNumber"] = quote["orderNumber"]
        for p in explain_schema_errors(order):
            if p.field == "orderNumber" or p.field.startswith("orderNumber/"):
                problems.append(p)
            elif p.field.startswith(_PREFIX):
                problems.append(Problem(p.field[len(_PREFIX) :], p.reason))
            elif p.field == "proformas/0":
                problems.append(Problem("", p.reason))
        if problems:
            return problems
    try:
        datetime.fromisoformat(quote["date"])
    except ValueError:
        problems.append(Problem("date", f"{quote['date']!r} is not a real date and time."))
    seen: set[int] = set()
    for j, part in enumerate(quote["lines"]):
        if part["line"] in seen:
            problems.append(Problem(f"lines/{j}/line", f"Line {part['line']} is quoted twice."))
        seen.add(part["line"])
    return problems


@dataclass
class QuoteReceipt:
    """What the portal answers for one accepted quote: the entry it was logged as."""

    record: int
    ocid: str
    quote_id: str
    quote_hash: str
    leaf_index: int | None  # None only for a stored row that lost its index (the audit names it)
    new: bool
    entry: bytes = field(repr=False)

    def to_json(self, proof_url: str, sealed_size: int | None) -> dict[str, Any]:
        sealed = sealed_size is not None and self.leaf_index is not None and self.leaf_index < sealed_size
        return {
            "record": self.record,
            "ocid": self.ocid,
            "quoteId": self.quote_id,
            "status": "logged" if self.new else "already logged",
            "quoteHash": self.quote_hash,
            "leafIndex": self.leaf_index,
            "leafHash": leaf_hash(self.entry).hex(),
            "entry": self.entry.decode("utf-8"),
            "proof": "complete" if sealed else "pending",
            "proofUrl": proof_url,
        }


_ONE = select(proformas.c.data_hash, proformas.c.leaf_index).where(
    proformas.c.ocid == bindparam("ocid"), proformas.c.proforma_id == bindparam("ident")
)


def _stored(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int | None]]:
    """``{(ocid, proforma id): (data_hash, leaf_index)}`` of the stored quotes among ``keys``:
    rows selected by both columns (the unique index), the pairs filtered here."""
    found: dict[tuple[str, str], tuple[str, int | None]] = {}
    if len(keys) == 1:  # the common request: one statement built once, no expanding IN
        ((ocid, ident),) = keys
        one = conn.execute(_ONE, {"ocid": ocid, "ident": ident}).first()
        return {(ocid, ident): (one.data_hash, one.leaf_index)} if one else {}
    ocids, ids = sorted({o for o, _ in keys}), sorted({i for _, i in keys})
    query = select(proformas.c.ocid, proformas.c.proforma_id, proformas.c.data_hash, proformas.c.leaf_index)
    for i in range(0, len(ocids), 500):
        for j in range(0, len(ids), 500):
            chunk = query.where(
                proformas.c.ocid.in_(ocids[i : i + 500]), proformas.c.proforma_id.in_(ids[j : j + 500])
            )
            for row in conn.execute(chunk):
                if (row.ocid, row.proforma_id) in keys:
                    found[(row.ocid, row.proforma_id)] = (row.data_hash, row.leaf_index)
    return found


def accept_quotes(
    engine: Engine, records: list[tuple[int, bytes]], *, ocid_prefix: str, token_id: int
) -> tuple[list[QuoteReceipt], int | None]:
    """Check, log and store the quotes of one request, all or nothing; their receipts, and the
    size of the newest checkpoint as of the commit (what is below it is provable already).

    Raises :class:`Refused` (422) when a record is invalid and (409) when a quote id already
    received comes with other content; then nothing is stored, and the refused changes are
    reported in ``intake_refusals``.
    """
    problems: list[RecordProblem] = []
    prepared = []
    for number, raw in records:
        try:
            quote, found = loads_exact(raw)
        except orjson.JSONDecodeError as error:
            problems.append(RecordProblem(number, "", "", f"Line is not valid JSON: {error}."))
            continue
        ident = str(quote.get("id", "")) if isinstance(quote, dict) else ""
        found = found or check_quote(quote)
        if found:
            problems += [RecordProblem(number, ident, p.field, p.reason) for p in found]
            continue
        prepared.append((number, order_ocid(quote, ocid_prefix=ocid_prefix), prepare_proforma(quote)))
    if problems:
        raise Refused(422, problems)

    conflicts: list[tuple[int, str, str, str, str]] = []
    with engine.begin() as conn:
        store.lock(conn)  # before reading what is stored: no concurrent request logs it too
        known = _stored(conn, {(ocid, q.proforma_id) for _, ocid, q in prepared})
        receipts: list[QuoteReceipt] = []
        fresh: list[dict[str, Any]] = []
        pending: dict[tuple[str, str], list[QuoteReceipt]] = {}
        now = datetime.now(UTC)
        for number, ocid, q in prepared:
            key = (ocid, q.proforma_id)
            entry = record.proforma_entry(ocid, q.proforma_id, q.data_hash)
            if key in known:
                stored_hash, leaf = known[key]
                if stored_hash != q.data_hash:
                    conflicts.append((number, ocid, q.proforma_id, q.data_hash, stored_hash))
                    continue
                receipt = QuoteReceipt(number, ocid, q.proforma_id, q.data_hash, leaf, False, entry)
                if key in pending:  # stored by this request: its index comes with the append
                    pending[key].append(receipt)
                receipts.append(receipt)
                continue
            known[key] = (q.data_hash, None)
            fresh.append(
                {
                    "ocid": ocid,
                    "proforma_id": q.proforma_id,
                    "data": q.data,
                    "data_hash": q.data_hash,
                    "received_at": now,
                }
            )
            receipt = QuoteReceipt(number, ocid, q.proforma_id, q.data_hash, 0, True, entry)
            pending.setdefault(key, []).append(receipt)
            receipts.append(receipt)
        if not conflicts:
            leaves, _ = log_evidence(conn, (), fresh)
            for row, leaf in zip(fresh, leaves, strict=True):
                row["leaf_index"] = leaf
                for receipt in pending[(row["ocid"], row["proforma_id"])]:
                    receipt.leaf_index = leaf
            bulk_insert(conn, proformas, fresh)
        sealed = store.newest_checkpoint_size(conn)
    # With a conflict nothing was written: the transaction read and then ended, committing none.
    if conflicts:
        _report(engine, conflicts, token_id)
        raise Refused(
            409,
            [
                RecordProblem(
                    number,
                    quote_id,
                    "id",
                    f"quote {quote_id} of {ocid} was already received with different content (SHA-256 "
                    f"{stored}, now {offered}); quotes are immutable once received",
                )
                for number, ocid, quote_id, offered, stored in conflicts
            ],
        )
    return receipts, sealed


def _report(engine: Engine, conflicts: list[tuple[int, str, str, str, str]], token_id: int) -> None:
    """Keep the refused changes for the operator (``veraz tokens refusals``) and say so in
    the log (the token's id, never the token)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(refusals),
            [
                {
                    "token_id": token_id,
                    "ocid": ocid,
                    "proforma_id": quote_id,
                    "offered_hash": offered,
                    "stored_hash": stored,
                    "refused_at": now,
                }
                for _, ocid, quote_id, offered, stored in conflicts
            ],
        )
    for _, ocid, quote_id, offered, stored in conflicts:
        log.warning(
            "intake: token %s sent quote %s of %s with content %s, but it arrived as %s; refused",
            token_id,
            quote_id,
            ocid,
            offered,
            stored,
        )
