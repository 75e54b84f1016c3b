"""The QR target ``/verify/<ocid>``, the lookup ``/verify``, the order PDF, and the lookup of
an order PDF by its SHA-256 (``/api/documents/<sha256>``).

The page says what the order is (its status and since when, its version among all versions,
items, deliveries, quotes) and leaves the proof to ``static/verify.js``, which fetches the
proof bundle, the release and the PDF at the URLs the server gives it (``portal.links``) and
checks them on the visitor's device (WebCrypto). The server adds only what a phone cannot check
itself (the RFC 3161 token against the TSA's CA), and the page shows those steps as reported by
the portal, not as checked on the device.

``/verify/<ocid>`` is printed in QR codes (``portal.links.verification_url``): it must answer
forever. Ocids may contain ``/``: the routes take them with the ``path`` converter.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import orjson
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from portal import links
from portal.db import app_engine
from portal.documents.listing import order_pdf_sha256
from portal.evidence import record
from portal.evidence.read import log_api, verification
from portal.evidence.read.witnesses import witness_keys
from portal.presentation import describe_order
from portal.tokens.metadata import token_state

bp = Blueprint("verify", __name__)
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

# The words static/verify.js writes on the page ({name} placeholders are filled there).
PAGE_WORDS = {
    "verified": _l("Authentic"),
    "verified_detail_device": _l(
        "This device checked it against the public evidence log: what is published is exactly "
        "what the portal logged."
    ),
    "verified_detail_phone": _l(
        "This phone checked it against the public evidence log: what is published is exactly what"
        " the portal logged."
    ),
    "verified_reported": _l(
        "The anchor on the public chain and the timestamp are reported by the portal (in blue below)."
    ),
    "pending": _l("Pending anchoring"),
    "pending_detail": _l("The order is published and logged, but not yet sealed and anchored."),
    "pending_when": _l("Expected by"),
    "mismatch": _l("Does not match"),
    "mismatch_detail": _l("Something does not match the evidence. Do not rely on this order. Failed step:"),
    "checking": _l("Checking…"),
    "ok": _l("OK"),
    "fail": _l("does not match"),
    "skip": _l("not checked"),
    "wait": _l("pending"),
    "reported": _l("reported by the portal"),
    "by_device": _l("checked by this device"),
    "by_portal": _l("reported by the portal"),
    "by_portal_why": _l(
        "This step is checked by the portal, not by this device; you can check it yourself at"
    ),
    "by_portal_why_plain": _l("This step is checked by the portal, not by this device."),
    "read_chain": _l("read from the public chain by this device"),
    "not_logged": _l("This version is not in the evidence log."),
    "no_webcrypto": _l("This browser cannot do the checks itself (no WebCrypto Ed25519)."),
    "pdf_match_current": _l("Authentic: this is the PDF of the current version of this order."),
    "pdf_match_old": _l(
        "Authentic, but not the latest: this is the PDF of version {n} of this order, replaced on {date}."
    ),
    "pdf_match_other_version": _l("Authentic: this is the PDF of version {n} of this order."),
    "pdf_other_order": _l("This is the authentic PDF of another order: {ocid} (version {n})."),
    "pdf_unknown": _l(
        "This file is not a PDF published by this portal: it does not match this order nor any "
        "other. Do not rely on it."
    ),
    "pdf_see": _l("See it"),
    "pdf_found": _l("Authentic: this is the PDF of order {ocid}, version {n} of {total}."),
    "pdf_found_old": _l("It was replaced on {date}: see the latest version on its page."),
    "pdf_checking": _l("Computing the file's fingerprint on this device…"),
    "computed": _l("computed here"),
    "expected": _l("logged"),
    "tx": _l("transaction"),
    "block": _l("block"),
    "time": _l("time"),
    "explorer": _l("the chain explorer"),
    "tsa_ca": _l("the timestamp authority's certificate (openssl ts -verify)"),
    "timestamp_ok": _l("The timestamp authority {tsa} certifies that this record existed on {date}."),
    "timestamp_not_revoked": _l(
        "Its certificate was not revoked at that time: the authority's revocation answer, kept "
        "with the timestamp, was checked again."
    ),
    "anchored_on": _l("Recorded on the public chain on {date}."),
    "leaf": _l("entry"),
    "of": _l("of"),
    "root": _l("fingerprint"),
    "signed_by": _l("signed by"),
    "quotes_linked": _l("quotes linked"),
    "quote_check": _l("Check this quote"),
    "quote_ok": _l("Authentic: this quote is in the public evidence log, entry {i}, logged with the order."),
    "quote_pending": _l("Logged, not yet sealed: check again later."),
    "quote_fail": _l("This quote does not match the evidence log."),
    "quote_not_linked": _l("This quote is not among those the order links."),
    "witnesses_confirmed": _l("Confirmed by {n} independent witnesses"),
    "witnesses_short": _l(
        "{n} of the {required} independent witnesses required have confirmed it so far; the others"
        " may not have seen this checkpoint yet."
    ),
    "witnesses_invalid": _l("A cosignature does not verify with the key of witness"),
    "copied": _l("Copied"),
    "copy": _l("Copy"),
}
_words_by_locale: dict[str, Markup] = {}


def page_words() -> Markup:
    """:data:`PAGE_WORDS` in the reader's language as JSON safe inside a script element,
    translated once per language: sixty gettext calls per page were a third of its time."""
    locale = str(get_locale() or "es")
    words = _words_by_locale.get(locale)
    if words is None:
        words = Markup(
            htmlsafe_json_dumps({"lang": locale[:2], **{k: str(v) for k, v in PAGE_WORDS.items()}})
        )
        _words_by_locale[locale] = words
    return words


def verification_facts(ocid: str, release_id: str | None) -> dict:
    """What the page and its JSON twin show; 404 when the ocid or release is unknown."""
    with app_engine().connect() as conn:
        every = verification.versions(conn, ocid)
        if not every:
            abort(404, description=f"No published order with ocid {ocid!r}.")
        current = every[-1]
        chosen = (
            current if release_id is None else next((v for v in every if v.release_id == release_id), None)
        )
        if chosen is None:
            abort(404, description=f"No release {release_id!r} of {ocid!r}.")
        stored_quotes = verification.quotes(conn, ocid)
        next_seal = log_api.next_seal(conn, current_app.config["CHECKPOINT_INTERVAL"])
        # The order's token as the page shows it (_order_token.html), null when not minted.
        token = token_state(conn, current_app.config, ocid)
    release = orjson.loads(chosen.data)
    config = current_app.config
    base = config["BASE_URL"]
    rid = chosen.release_id
    stored_pdf = chosen.pdf_sha256 is not None
    statuses = [verification.version_status(v) for v in every]
    number = every.index(chosen) + 1
    history = [
        {
            "number": i,
            "releaseId": v.release_id,
            "date": v.date,
            "status": statuses[i - 1],
            "pdfSha256": v.pdf_sha256,
            "url": links.verification_url("", ocid, v.release_id),
        }
        for i, v in enumerate(every, 1)
    ]
    return {
        "ocid": ocid,
        "releaseId": rid,
        "dataHash": chosen.data_hash,
        "current": rid == current.release_id,
        "currentReleaseId": current.release_id,
        "versions": [v.release_id for v in every],
        "version": number,
        "history": history,
        # The order's status now (its latest version), and since when: shown on every version.
        "status": {"code": statuses[-1], "since": verification.status_since(every, statuses)},
        "replacedBy": history[number] if number < len(every) else None,
        "verificationUrl": links.verification_url(base, ocid),
        "pdfUrl": links.order_pdf_url(base, ocid) if stored_pdf else None,
        # Site-relative: the page fetches them from the server that served it.
        "pdfPath": links.order_pdf_url("", ocid, rid) if stored_pdf else None,
        "documentHash": order_pdf_sha256(release),
        "bundleUrl": links.proof_bundle_url("", ocid, rid),
        "releaseUrl": links.release_json_url("", ocid, rid),
        "currentUrl": links.verification_url("", ocid),
        "contractUrl": links.contract_url("", ocid),
        "documentLookupUrl": "/api/documents/",
        "tsaCaUrl": "/api/log/tsa-ca.pem",
        "rpcUrl": config.get("VERIFY_PUBLIC_RPC_URL") or None,
        "explorerTxUrl": config.get("EVM_EXPLORER_URL") or None,
        "timezone": config["TIMEZONE"],
        "nextSeal": next_seal.isoformat() if next_seal else None,
        "timestampUrl": links.timestamp_check_url("", ocid, rid),
        "quotes": _quotes(ocid, release, stored_quotes),
        # The independent witnesses whose cosignatures the page checks (docs/witnesses.md).
        "witnesses": witness_keys(config),
        "witnessesRequired": int(config.get("WITNESSES_REQUIRED") or 0),
        "token": token,
        "release": release,
    }


def _quotes(ocid: str, release: dict, stored: list[verification.Quote]) -> list[dict]:
    """The order's quotes as a citizen reads them, each with the link to its own proof; the
    quotes the release links (its ``bids.details``) first, in their order."""
    linked = record.bid_ids(release)
    order = {pid: i for i, pid in enumerate(linked)}
    out = []
    for q in sorted(stored, key=lambda q: (order.get(q.proforma_id, len(order)), q.proforma_id)):
        data = orjson.loads(q.data)
        data = data if isinstance(data, dict) else {}
        supplier = data.get("supplier")
        out.append(
            {
                "id": q.proforma_id,
                "supplier": supplier.get("name") if isinstance(supplier, dict) else None,
                "date": data.get("date"),
                "amount": data.get("total"),
                "currency": data.get("currency"),
                "hash": q.data_hash,
                "receivedAt": q.received_at.isoformat() if q.received_at else None,
                "linked": q.proforma_id in order,
                "proofUrl": links.proforma_proof_url("", ocid, q.proforma_id) if q.logged else None,
            }
        )
    return out


@bp.get("/api/documents/<sha256>")
def document(sha256: str):
    """The published order PDFs with this SHA-256: ``{"sha256", "documents": [{ocid, releaseId,
    version, versions, current, date, replacedAt, url}]}``, an empty list when the portal
    published none (an answer, not an error: the page asks about any file a citizen holds).
    The page sends only the hash: the file stays on the device."""
    if not verification.HEX64.match(sha256.lower()):
        abort(400, description="Give the SHA-256 of the file as 64 hexadecimal digits.")
    with app_engine().connect() as conn:
        found = verification.pdf_owner(conn, sha256)
    documents = []
    if found is not None:
        ocid, release_id, number, every = found
        documents.append(
            {
                "ocid": ocid,
                "releaseId": release_id,
                "version": number,
                "versions": len(every),
                "current": number == len(every),
                "date": every[number - 1].date if number else None,
                "replacedAt": every[number].date if 0 < number < len(every) else None,
                "url": links.verification_url("", ocid, release_id),
            }
        )
    return Response(
        orjson.dumps({"sha256": sha256.lower(), "documents": documents}), mimetype="application/json"
    )


@bp.get("/verify/<path:ocid>/timestamp.json")
def verify_timestamp(ocid: str):
    """The portal's check of the RFC 3161 token of the release's checkpoint (null if none yet)."""
    release_id = request.args.get("release") or None
    check = None
    if release_id:
        with app_engine().connect() as conn:
            check = verification.timestamp_check(conn, current_app.config, ocid, release_id)
    return Response(orjson.dumps(check), mimetype="application/json")


@bp.get("/verify/<path:ocid>.json")
def verify_json(ocid: str):
    facts = verification_facts(ocid, request.args.get("release") or None)
    facts.pop("release")
    return Response(orjson.dumps(facts), mimetype="application/json")


@bp.get("/verify/<path:ocid>")
def verify(ocid: str):
    facts = verification_facts(ocid, request.args.get("release") or None)
    order = describe_order(facts["release"])
    page_facts = {k: v for k, v in facts.items() if k != "release"}
    return render_template(
        "verify.html", facts=facts, order=order, page_facts=page_facts, page_words=page_words()
    )


@bp.get("/verify")
def lookup():
    """Find an order by number, ocid or hash (data, PDF, proforma) and go to its page."""
    q = request.args.get("q", "").strip()
    if not q:
        return render_template(
            "verify_lookup.html",
            q=q,
            missing=False,
            page_words=page_words(),
            lookup_facts={"documentLookupUrl": "/api/documents/", "timezone": current_app.config["TIMEZONE"]},
        )
    with app_engine().connect() as conn:
        found = verification.find_order(conn, q)
        waiting = verification.quote_before_its_order(conn, q) if found else None
    if waiting:  # a quote sealed on arrival, before the order citing it exists: no order page yet
        proof = links.proforma_proof_url("", waiting.ocid, waiting.proforma_id)
        return render_template("verify_lookup.html", q=q, missing=False, waiting=waiting, proof=proof)
    if found:
        return redirect(links.verification_url("", *found))
    return render_template("verify_lookup.html", q=q, missing=True), 404


@bp.get("/contracts/<path:ocid>/order.pdf")
def order_pdf(ocid: str):
    """The published order PDF (exact stored bytes) of the latest release, or ``?release=``."""
    with app_engine().connect() as conn:
        found = verification.order_pdf(conn, ocid, request.args.get("release") or None)
    if found is None:
        abort(404, description=f"No order PDF for {ocid!r}.")
    data, release_id = found
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": _inline(f"{ocid}-{release_id}.pdf"),
            "Cache-Control": "public, max-age=86400",
        },
    )


def _inline(name: str) -> str:
    """A Content-Disposition naming the file ``name``, whatever characters the ids hold."""
    plain = _UNSAFE_IN_FILENAME.sub("_", name)
    if plain == name:
        return f'inline; filename="{name}"'
    # RFC 6266: an ASCII fallback, and the exact name for the clients that read filename*.
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
