"""The one place that builds public links to an order: verification page and order PDF.

Every link printed on paper (the QR code of an order PDF) or published in OCDS (a document
``url``) comes from here, so there is exactly one way to spell them.
"""

from __future__ import annotations

from urllib.parse import quote


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def verification_url(base_url: str, ocid: str) -> str:
    """``{BASE_URL}/verify/{ocid}``: the page a citizen reaches by scanning an order's QR code.

    STABLE FOREVER. This URL is printed as a QR code on paper orders that nobody can reprint;
    the route ``/verify/<ocid>`` and this spelling must keep answering for as long as the
    portal exists. Change the page behind it, never the URL. The ocid is percent-encoded
    (OCIDs are ``[A-Za-z0-9-]`` in practice, so in practice it is written as is).
    """
    return f"{_base(base_url)}/verify/{quote(ocid, safe='')}"


def order_pdf_url(base_url: str, ocid: str) -> str:
    """``{BASE_URL}/contracts/{ocid}/order.pdf``: the order PDF listed in the order's release.

    Published inside OCDS releases (``contracts[0].documents[].url``), so it is as permanent
    as the releases that carry it.
    """
    return f"{_base(base_url)}/contracts/{quote(ocid, safe='')}/order.pdf"
