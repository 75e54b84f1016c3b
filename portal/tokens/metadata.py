"""What the portal says about an order's token: its ERC-721 metadata JSON and its mint state.

Read side (web workers): no chain library, no key. The metadata is built from the one reading
of the order (``records`` row, the compiled release through ``ocds.summary.process_facts``) and
from the entry the evidence log holds for the order's latest release (its three hashes), so a
metadata document says nothing the log does not. Format: docs/tokens.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select

from anchoring.chains.token_id import token_id
from anchoring.entries import ReleaseEntry, decode_entry
from anchoring.errors import EntryError, LogError
from ocds.summary import process_facts
from portal import links, queries
from portal.codes import status_word
from portal.documents.listing import order_pdf_sha256
from portal.evidence import store
from portal.models import releases
from portal.tokens.tables import DONE, PENDING, order_tokens, token_batches

LANGUAGES = ("es", "en")

#: The metadata's words, Spanish first (the default), as ``{key: {language: text}}``.
WORDS: dict[str, dict[str, str]] = {
    "name": {"es": "Orden de compra {number}", "en": "Purchase order {number}"},
    "name_plain": {"es": "Orden de compra {ocid}", "en": "Purchase order {ocid}"},
    "description": {
        "es": "Token intransferible (ERC-721, bloqueado según ERC-5192) de la orden de compra {ocid}"
        " publicada en el portal de datos abiertos Veraz. Registra en una cadena de bloques la "
        "huella SHA-256 de la orden tal como se publicó; compruébela en {url}.",
        "en": "Non-transferable token (ERC-721, locked per ERC-5192) of purchase order {ocid} "
        "published on the Veraz open data portal. It records on a blockchain the SHA-256 "
        "fingerprint of the order as published; check it at {url}.",
    },
    "title": {"es": "Objeto", "en": "Title"},
    "order_number": {"es": "Número de orden", "en": "Order number"},
    "buyer": {"es": "Entidad compradora", "en": "Buyer"},
    "supplier": {"es": "Proveedor", "en": "Supplier"},
    "agreement": {"es": "Acuerdo marco", "en": "Framework agreement"},
    "amount": {"es": "Monto", "en": "Amount"},
    "currency": {"es": "Moneda", "en": "Currency"},
    "status": {"es": "Estado", "en": "Status"},
    "release_id": {"es": "Versión publicada", "en": "Published release"},
    "data_hash": {"es": "Huella de los datos (SHA-256)", "en": "Data hash (SHA-256)"},
    "document_hash": {"es": "Huella del PDF (SHA-256)", "en": "PDF hash (SHA-256)"},
    "proformas_hash": {"es": "Enlace de huellas de las cotizaciones", "en": "Quotes hash link"},
}


def word(key: str, lang: str, **values: str) -> str:
    text = WORDS[key].get(lang) or WORDS[key]["es"]
    return text.format(**values) if values else text


class NotAnOrder(LookupError):
    """The ocid is published but is no catalogue order (an agreement, another process)."""


_LATEST = (
    select(releases.c.release_id, releases.c.data, releases.c.data_hash, releases.c.leaf_index)
    .where(releases.c.ocid == bindparam("ocid"))
    .order_by(releases.c.date.desc(), releases.c.id.desc())
    .limit(1)
)
_TOKEN = (
    select(
        order_tokens.c.token_id,
        order_tokens.c.release_id,
        order_tokens.c.data_hash,
        token_batches.c.chain_id,
        token_batches.c.contract,
        token_batches.c.holder,
        token_batches.c.status,
        token_batches.c.tx_hash,
        token_batches.c.block_number,
    )
    .select_from(order_tokens.join(token_batches, token_batches.c.id == order_tokens.c.batch_id))
    .where(order_tokens.c.ocid == bindparam("ocid"))
)


def token_state(conn: Connection, config: dict, ocid: str) -> dict | None:
    """The order's token as the portal recorded it, or None when it is not (being) minted:
    ``{"status": "minted"|"minting", "tokenId" (decimal text), "tokenIdHex", "chainId",
    "contract", "holder", "txHash", "blockNumber", "releaseId", "dataHash", "explorerUrl"}``."""
    row = conn.execute(_TOKEN, {"ocid": ocid}).first()
    if row is None or row.status not in (DONE, PENDING):
        return None
    explorer = None
    template = config.get("EVM_EXPLORER_URL") or None
    if template and row.status == DONE:
        try:
            explorer = template.format(
                tx_hash=row.tx_hash,
                chain_id=row.chain_id,
                block_number=row.block_number,
                contract=row.contract,
            )
        except (KeyError, IndexError, ValueError):
            explorer = None  # a template naming other fields: no link rather than an error
    return {
        "status": "minted" if row.status == DONE else "minting",
        "tokenId": str(int(row.token_id, 16)),
        "tokenIdHex": row.token_id,
        "chainId": int(row.chain_id),
        "contract": row.contract,
        "holder": row.holder,
        "txHash": row.tx_hash,
        "blockNumber": row.block_number,
        "releaseId": row.release_id,
        "dataHash": row.data_hash,
        "explorerUrl": explorer,
    }


def _logged_entry(conn: Connection, index: Any, ocid: str, release_id: str) -> ReleaseEntry | None:
    """The log's entry of that release at ``index``, or None (not logged, or not its entry)."""
    if not isinstance(index, int):
        return None
    try:
        value = decode_entry(store.entries(conn, index, index + 1)[0])
    except (EntryError, LogError, IndexError):
        return None
    if not isinstance(value, ReleaseEntry) or (value.ocid, value.release_id) != (ocid, release_id):
        return None
    return value


def _amount_text(value: Any) -> str | None:
    """An amount as decimal text (exact: JSON numbers lose digits in most readers)."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            return None
        return format(number, "f") if number.is_finite() else None
    return None


def metadata(conn: Connection, config: dict, ocid: str, lang: str = "es") -> dict | None:
    """The ERC-721 metadata of the order's token (docs/tokens.md); None for an unknown ocid.

    Raises :class:`NotAnOrder` when the ocid is published but is not a catalogue order. What an
    order lacks (or publishes with the wrong type) is left out of ``attributes``, never guessed.
    """
    latest = conn.execute(_LATEST, {"ocid": ocid}).first()
    if latest is None:
        return None
    row = queries.record_row(conn, ocid)
    compiled = queries.compiled_release(conn, ocid, row) if row is not None else None
    facts = process_facts(compiled if compiled is not None else _loads(latest.data))
    kind = row["kind"] if row is not None else facts["kind"]
    if kind != "order":
        raise NotAnOrder(ocid)
    base = config["BASE_URL"]
    entry = _logged_entry(conn, latest.leaf_index, ocid, latest.release_id)
    number = (row or {}).get("order_number") or facts.get("order_number")
    supplier = (row or {}).get("supplier_name") or (facts.get("supplier") or {}).get("name")
    buyer = (row or {}).get("buyer_name") or (facts.get("buyer") or {}).get("name")
    agreement = (
        (row or {}).get("agreement_title") or (row or {}).get("agreement_ocid") or facts.get("agreement_ocid")
    )
    value = facts.get("value") or {}
    amount = _amount_text((row or {}).get("amount")) or _amount_text(value.get("amount"))
    currency = (row or {}).get("currency") or value.get("currency")
    status = facts.get("status")
    document_hash = (
        entry.document_hash.hex() if entry and entry.document_hash else order_pdf_sha256(_loads(latest.data))
    )
    traits: list[tuple[str, Any]] = [
        ("order_number", number),
        ("title", facts.get("title")),
        ("buyer", buyer),
        ("supplier", supplier),
        ("agreement", agreement),
        ("amount", amount),
        ("currency", currency),
        ("status", status_word(status, lang) if isinstance(status, str) else None),
        ("release_id", latest.release_id),
        ("data_hash", latest.data_hash),
        ("document_hash", document_hash),
        ("proformas_hash", entry.proformas_hash.hex() if entry else None),
    ]
    verify_url = links.verification_url(base, ocid)
    name = word("name", lang, number=str(number)) if number else word("name_plain", lang, ocid=ocid)
    return {
        "name": name,
        "description": word("description", lang, ocid=ocid, url=verify_url),
        "external_url": verify_url,
        "image": links.token_image_url(base, ocid),
        "attributes": [
            {"trait_type": word(key, lang), "value": str(v)} for key, v in traits if v not in (None, "")
        ],
        "localization": {
            # ERC-1155's convention: the client puts the locale in place of "{locale}".
            "uri": links.token_metadata_url(base, ocid) + "?lang={locale}",
            "default": "es",
            "locales": list(LANGUAGES),
        },
        "veraz": {
            "ocid": ocid,
            "tokenId": str(token_id(ocid)),
            "releaseId": latest.release_id,
            "logged": entry is not None,
            "token": token_state(conn, config, ocid),
        },
    }


def _loads(data: Any) -> Any:
    try:
        return orjson.loads(bytes(data))
    except orjson.JSONDecodeError:
        return None
