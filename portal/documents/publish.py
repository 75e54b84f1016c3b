"""Attach the order PDF to an order release at publication (hash 2 of the evidence).

Order matters (see ``docs/proof-format.md``, "Order PDF and the hash circle"): the PDF is
rendered from the release WITHOUT its own document entry, then the release lists the PDF with
its SHA-256 in ``integrity``, then the release is validated, canonicalised and hashed (hash 1
covers the PDF's hash). Runs in the publishing workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from anchoring.canonical import canonical_json
from anchoring.entries import proformas_hash_link
from portal.documents.listing import PDF_DOCUMENT_TYPE, pdf_document_id
from portal.documents.order_pdf import render_order_pdf
from portal.links import order_pdf_url, verification_url


def attach_order_pdf(
    order_release: dict,
    proformas: list[dict],
    *,
    base_url: str,
    catalogue: str | None = None,
    facts: dict | None = None,
    digests: Iterable[bytes] | None = None,
) -> tuple[bytes, str]:
    """Render the PDF of ``order_release``, list it in ``contracts[0].documents``; return
    ``(pdf bytes, sha256 hex)``. Mutates ``order_release`` (a fresh mapped release).

    A caller that has already read the release (``facts``: ``ocds.summary.process_facts`` of
    it, before this call) or hashed the quotes (``digests``: SHA-256 of each one's canonical
    JSON) passes them, and they are not computed again; publishing does both.
    """
    ocid = order_release["ocid"]
    if digests is None:
        digests = (hashlib.sha256(canonical_json(p)).digest() for p in proformas)
    link = proformas_hash_link(sorted(digests)).hex()
    pdf = render_order_pdf(
        order_release,
        verify_url=verification_url(base_url, ocid),
        proformas_hash_link=link,
        catalogue=catalogue,
        facts=facts,
    )
    digest = hashlib.sha256(pdf).hexdigest()
    contract = order_release["contracts"][0]
    number = str(contract["id"])
    contract["documents"] = [
        *contract.get("documents", ()),
        {
            "id": pdf_document_id(number),
            "documentType": PDF_DOCUMENT_TYPE,
            "title": f"Orden de compra {number} (PDF generado por Veraz)",
            "url": order_pdf_url(base_url, ocid),
            "format": "application/pdf",
            "language": "es",
            "integrity": [{"scheme": "sha256", "id": digest}],
        },
    ]
    return pdf, digest


def catalogue_name(agreement_release: dict) -> str | None:
    """The catalogue of a framework agreement release ("name (id)"), if it says."""
    techniques = (agreement_release.get("tender") or {}).get("techniques") or {}
    return (techniques.get("frameworkAgreement") or {}).get("description")


def store_order_pdfs(conn, pdfs: list) -> None:
    """Store ``[(prepared order release, pdf bytes, sha256 hex)]`` in ``order_pdfs`` (caller's
    transaction). The hash is the one ``attach_order_pdf`` listed (hash 2): computed once, in
    the worker, not again by the writer, the one serial step."""
    if not pdfs:
        return
    from portal.db import bulk_insert
    from portal.models import order_pdfs

    bulk_insert(
        conn,
        order_pdfs,
        [
            {"ocid": r.ocid, "release_id": r.release_id, "sha256": sha256, "data": pdf}
            for r, pdf, sha256 in pdfs
        ],
    )
