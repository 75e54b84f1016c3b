"""How an order release lists its Veraz order PDF: the one place that names and finds it.

The order PDF is a document of the order's contract with id ``<orderNumber>-veraz-pdf``,
``documentType`` ``contractSummary`` and ``integrity: [{"scheme": "sha256", "id": <hex>}]``
(``docs/proof-format.md``, "Order PDF and the hash circle"). Publishing writes it, the evidence
log reads its hash (hash 2), the verification page links it: all through these functions, so
they cannot disagree about which document is the PDF.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PDF_DOCUMENT_SUFFIX = "-veraz-pdf"
#: OCDS documentType of the Veraz order PDF: a rendering of the order, not the signed original.
PDF_DOCUMENT_TYPE = "contractSummary"


def pdf_document_id(order_number: str) -> str:
    """The id of the Veraz order PDF in the order's ``contracts[].documents``."""
    return f"{order_number}{PDF_DOCUMENT_SUFFIX}"


def is_order_pdf(document: Any) -> bool:
    """Whether an OCDS document entry is a Veraz order PDF."""
    # A dict first: an ABC's isinstance costs more than the rest (every order PDF asks it of
    # each of the order's documents).
    if type(document) is not dict and not isinstance(document, Mapping):
        return False
    found = document.get("id", "")
    return (found if type(found) is str else str(found)).endswith(PDF_DOCUMENT_SUFFIX)


def order_pdf_document(release: Any) -> dict | None:
    """The Veraz order PDF document of a release (first match over every contract), or None.

    Defensive: imported OCDS may hold anything where a list or an object is expected."""
    contracts = release.get("contracts") if isinstance(release, Mapping) else None
    for contract in contracts if isinstance(contracts, list) else ():
        documents = contract.get("documents") if isinstance(contract, Mapping) else None
        for doc in documents if isinstance(documents, list) else ():
            if is_order_pdf(doc):
                return dict(doc)
    return None


def order_pdf_sha256(release: Any) -> str | None:
    """The SHA-256 (hex) the release declares for its order PDF (hash 2), or None."""
    doc = order_pdf_document(release)
    found = (doc or {}).get("integrity")
    for integrity in found if isinstance(found, list) else ():
        if isinstance(integrity, Mapping) and integrity.get("scheme") == "sha256":
            return str(integrity.get("id"))
    return None


def without_own_pdf(release: dict) -> dict:
    """The release minus its Veraz PDF document entry: the input the PDF is rendered from.

    A shallow copy: only ``contracts[0]`` and its ``documents`` list are rebuilt (the PDF is
    listed in the first contract, where publishing puts it).
    """
    contracts = release.get("contracts") or []
    if not contracts or not any(is_order_pdf(d) for d in contracts[0].get("documents") or ()):
        return release
    first = dict(contracts[0])
    docs = [d for d in first["documents"] if not is_order_pdf(d)]
    if docs:
        first["documents"] = docs
    else:
        del first["documents"]
    return {**release, "contracts": [first, *contracts[1:]]}
