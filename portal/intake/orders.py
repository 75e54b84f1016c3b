"""Orders posted to the intake API, published by the pipeline ``veraz import-orders`` uses.

The worker step (:class:`portal.publishing.orders.OrderPreparer`: check, map, order PDF,
validate, canonicalise) runs in the web worker on the request's records; the writer
(:func:`portal.publishing.orders.write_orders`) stores them in one transaction that this module
owns, so a request is published whole or not at all: a record with problems (422) or an order
version, or a quote, already published with other content (409) leaves nothing written.
The receipt of each order lists the log entries its releases and quotes have: a quote that
arrived before through ``POST /api/intake/quotes`` keeps the entry it was logged with then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select

from portal import links
from portal.evidence import store
from portal.intake.quotes import RecordProblem, Refused
from portal.models import proformas, releases, source_orders
from portal.publishing.orders import OrderPreparer, write_orders
from portal.publishing.rejects import Summary
from portal.queries import lookup_pairs

#: The ``file`` that rejects and log lines of the intake name.
SOURCE = "intake"


@dataclass
class OrderReceipt:
    record: int
    order_number: str
    version: int
    ocid: str
    new: bool
    releases: list[dict[str, Any]]
    quotes: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "orderNumber": self.order_number,
            "version": self.version,
            "ocid": self.ocid,
            "status": "published" if self.new else "already published",
            "releases": self.releases,
            "quotes": self.quotes,
        }


def _proof(leaf: int | None, sealed: int | None) -> str:
    return "complete" if leaf is not None and sealed is not None and leaf < sealed else "pending"


def _leaf_hash(conn: Connection, leaf: int | None) -> str | None:
    return store.leaf_hashes(conn, leaf, leaf + 1)[0].hex() if leaf is not None else None


def publish_orders(
    engine: Engine, preparer: OrderPreparer, records: list[tuple[int, bytes]], base_url: str
) -> list[OrderReceipt]:
    """Publish the orders of one request, all or nothing; their receipts (or :class:`Refused`)."""
    batch = preparer.prepare(records)
    if batch.rejects:
        raise Refused(422, [_problem(r) for r in batch.rejects])
    summary = Summary()
    with engine.begin() as conn:
        store.lock(conn)
        before = lookup_pairs(
            conn,
            (source_orders.c.order_number, source_orders.c.version),
            source_orders.c.digest,
            [(p.order_number, p.version) for p in batch.orders],
        )
        write_orders(conn, batch.orders, SOURCE, summary)
        if summary.rejects:
            raise _Rollback(summary)
        sealed = store.newest_checkpoint_size(conn)
        receipts = []
        for p in batch.orders:
            rel = []
            for r in (p.order, p.agreement):
                row = conn.execute(
                    select(releases.c.leaf_index, releases.c.data_hash).where(
                        releases.c.ocid == r.ocid, releases.c.release_id == r.release_id
                    )
                ).first()
                leaf = row.leaf_index if row else None
                rel.append(
                    {
                        "ocid": r.ocid,
                        "releaseId": r.release_id,
                        "dataHash": row.data_hash if row else r.data_hash,
                        "leafIndex": leaf,
                        "leafHash": _leaf_hash(conn, leaf),
                        "proof": _proof(leaf, sealed),
                        "proofUrl": links.proof_bundle_url(base_url, r.ocid, r.release_id),
                    }
                )
            quotes = []
            stored = {
                row.proforma_id: row
                for row in conn.execute(
                    select(proformas.c.proforma_id, proformas.c.data_hash, proformas.c.leaf_index).where(
                        proformas.c.ocid == p.order.ocid
                    )
                )
            }
            for q in p.proformas:
                quote = stored.get(q.proforma_id)
                leaf = quote.leaf_index if quote else None
                quotes.append(
                    {
                        "quoteId": q.proforma_id,
                        "quoteHash": q.data_hash,
                        "leafIndex": leaf,
                        "leafHash": _leaf_hash(conn, leaf),
                        "proof": _proof(leaf, sealed),
                        "proofUrl": links.proforma_proof_url(base_url, p.order.ocid, q.proforma_id),
                    }
                )
            receipts.append(
                OrderReceipt(
                    p.line,
                    p.order_number,
                    p.version,
                    p.order.ocid,
                    (p.order_number, p.version) not in before,
                    rel,
                    quotes,
                )
            )
    return receipts


class _Rollback(Exception):
    def __init__(self, summary: Summary) -> None:
        super().__init__("rejected")
        self.summary = summary


def _problem(reject: Any) -> RecordProblem:
    try:
        number = int(reject.line)
    except ValueError:
        number = 0
    return RecordProblem(number, reject.record, reject.field, reject.reason)


def publish_or_refuse(
    engine: Engine, preparer: OrderPreparer, records: list[tuple[int, bytes]], base_url: str
) -> list[OrderReceipt]:
    """:func:`publish_orders`, with a conflict found by the writer turned into 409 (its
    transaction rolled back: nothing of the request was written)."""
    try:
        return publish_orders(engine, preparer, records, base_url)
    except _Rollback as rollback:
        raise Refused(409, [_problem(r) for r in rollback.summary.rejects]) from None
