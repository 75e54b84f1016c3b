"""The one place that builds public links to an order.

Every link printed on paper (the QR code of an order PDF), published in OCDS (a document
``url``), or handed to a page (the verification page's proof, release and PDF) comes from here,
so there is exactly one way to spell them. Each id is percent-encoded once, as one path segment
or one query value: ocids and release ids may hold ``/``, ``?``, ``#``, spaces or non-ASCII
letters (the routes take them with Flask's ``path`` converter).

``base_url`` is the portal's BASE_URL for an absolute link, or ``""`` for a link relative to
the site's root (what a page fetches from the server that served it).
"""

from __future__ import annotations

from urllib.parse import quote


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _release(release_id: str | None) -> str:
    return f"?release={_segment(release_id)}" if release_id else ""


def verification_url(base_url: str, ocid: str, release_id: str | None = None) -> str:
    """``{BASE_URL}/verify/{ocid}``: the page a citizen reaches by scanning an order's QR code.

    STABLE FOREVER. This URL is printed as a QR code on paper orders that nobody can reprint;
    the route ``/verify/<ocid>`` and this spelling must keep answering for as long as the
    portal exists. Change the page behind it, never the URL. The ocid is percent-encoded
    (OCIDs are ``[A-Za-z0-9-]`` in practice, so in practice it is written as is). With
    ``release_id``, the page of that version (``?release=``).
    """
    return f"{_base(base_url)}/verify/{_segment(ocid)}{_release(release_id)}"


def verification_json_url(base_url: str, ocid: str, release_id: str | None = None) -> str:
    """``/verify/{ocid}.json``: the JSON twin of the verification page."""
    return f"{_base(base_url)}/verify/{_segment(ocid)}.json{_release(release_id)}"


def timestamp_check_url(base_url: str, ocid: str, release_id: str) -> str:
    """``/verify/{ocid}/timestamp.json?release=``: the portal's check of the RFC 3161 token of
    the checkpoint that proves the release (a phone cannot check it itself)."""
    return f"{_base(base_url)}/verify/{_segment(ocid)}/timestamp.json{_release(release_id)}"


def order_pdf_url(base_url: str, ocid: str, release_id: str | None = None) -> str:
    """``{BASE_URL}/contracts/{ocid}/order.pdf``: the order PDF listed in the order's release.

    Published inside OCDS releases (``contracts[0].documents[].url``), so it is as permanent
    as the releases that carry it. With ``release_id``, the PDF of that version.
    """
    return f"{_base(base_url)}/contracts/{_segment(ocid)}/order.pdf{_release(release_id)}"


def proof_bundle_url(base_url: str, ocid: str, release_id: str | None = None) -> str:
    """``/api/proofs/{ocid}``: the proof bundle of the latest release, or of ``release_id``."""
    return f"{_base(base_url)}/api/proofs/{_segment(ocid)}{_release(release_id)}"


def proforma_proof_url(base_url: str, ocid: str, proforma_id: str) -> str:
    """``/api/proofs/{ocid}/proformas/{proforma id}``: the proof bundle of one supplier quote."""
    return f"{_base(base_url)}/api/proofs/{_segment(ocid)}/proformas/{_segment(proforma_id)}"


def release_json_url(base_url: str, ocid: str, release_id: str) -> str:
    """``/api/releases/{release id}?ocid={ocid}``: the release package of one release."""
    return f"{_base(base_url)}/api/releases/{_segment(release_id)}?ocid={_segment(ocid)}"


def record_json_url(base_url: str, ocid: str) -> str:
    """``/api/records/{ocid}``: the record package of an order."""
    return f"{_base(base_url)}/api/records/{_segment(ocid)}"


def contract_url(base_url: str, ocid: str) -> str:
    """``/contracts/{ocid}``: the order's page."""
    return f"{_base(base_url)}/contracts/{_segment(ocid)}"


def contract_json_url(base_url: str, ocid: str) -> str:
    """``/contracts/{ocid}.json``: the JSON twin of the order's page."""
    return f"{_base(base_url)}/contracts/{_segment(ocid)}.json"


def token_base_url(base_url: str) -> str:
    """``{BASE_URL}/tokens/``: the order-token contract's base URI. Its ``tokenURI`` appends the
    percent-encoded ocid and ``.json``, giving exactly :func:`token_metadata_url`."""
    return f"{_base(base_url)}/tokens/"


def token_metadata_url(base_url: str, ocid: str, lang: str | None = None) -> str:
    """``/tokens/{ocid}.json``: the ERC-721 metadata of the order's token (docs/tokens.md);
    with ``lang`` (``es``, ``en``), in that language (``?lang=``)."""
    suffix = f"?lang={_segment(lang)}" if lang else ""
    return f"{token_base_url(base_url)}{_segment(ocid)}.json{suffix}"


def token_image_url(base_url: str, ocid: str) -> str:
    """``/tokens/{ocid}.svg``: the token's image, the QR code of :func:`verification_url`."""
    return f"{token_base_url(base_url)}{_segment(ocid)}.svg"
