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

from portal import links
from portal.db import app_engine
from portal.documents.listing import order_pdf_sha256
from portal.evidence import record
from portal.evidence.read import log_api, verification
from portal.presentation import describe_order

bp = Blueprint("verify", __name__)
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def verification_facts(ocid: str, release_id: str | None) -> dict:
    """What the page and its JSON twin show; 404 when the ocid or release is unknown."""
    with app_engine().connect() as conn:
        every = verification.versions(conn, ocid)
        if not every:
            abort(404, description=f"No published order with ocid {ocid!r}.")
        current = every[-1]
        chosen = current if release_id is None else next(
            (v for v in every if v.release_id == release_id), None)
        if chosen is None:
            abort(404, description=f"No release {release_id!r} of {ocid!r}.")
        stored_quotes = verification.quotes(conn, ocid)
        next_seal = log_api.next_seal(conn, current_app.config["CHECKPOINT_INTERVAL"])
    release = orjson.loads(chosen.data)
    config = current_app.config
    base = config["BASE_URL"]
    rid = chosen.release_id
    stored_pdf = chosen.pdf_sha256 is not None
    statuses = [verification.version_status(v) for v in every]
    number = every.index(chosen) + 1
    history = [{
        "number": i,
        "releaseId": v.release_id,
        "date": v.date,
        "status": statuses[i - 1],
        "pdfSha256": v.pdf_sha256,
        "url": links.verification_url("", ocid, v.release_id),
    } for i, v in enumerate(every, 1)]
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
        out.append({
            "id": q.proforma_id,
            "supplier": supplier.get("name") if isinstance(supplier, dict) else None,
            "date": data.get("date"),
            "amount": data.get("total"),
            "currency": data.get("currency"),
            "hash": q.data_hash,
            "receivedAt": q.received_at.isoformat() if q.received_at else None,
            "linked": q.proforma_id in order,
            # TODO(links.py): one builder for this link, beside proof_bundle_url.
            "proofUrl": (f"{links.proof_bundle_url('', ocid)}/proformas/{quote(q.proforma_id, safe='')}"
                         if q.logged else None),
        })
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
        documents.append({
            "ocid": ocid,
            "releaseId": release_id,
            "version": number,
            "versions": len(every),
            "current": number == len(every),
            "date": every[number - 1].date if number else None,
            "replacedAt": every[number].date if 0 < number < len(every) else None,
            "url": links.verification_url("", ocid, release_id),
        })
    return Response(orjson.dumps({"sha256": sha256.lower(), "documents": documents}),
                    mimetype="application/json")


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
    return render_template("verify.html", facts=facts, order=order, page_facts=page_facts)


@bp.get("/verify")
def lookup():
    """Find an order by number, ocid or hash (data, PDF, proforma) and go to its page."""
    q = request.args.get("q", "").strip()
    if not q:
        return render_template("verify_lookup.html", q=q, missing=False)
    with app_engine().connect() as conn:
        found = verification.find_order(conn, q)
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
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": _inline(f"{ocid}-{release_id}.pdf"),
                             "Cache-Control": "public, max-age=86400"})


def _inline(name: str) -> str:
    """A Content-Disposition naming the file ``name``, whatever characters the ids hold."""
    plain = _UNSAFE_IN_FILENAME.sub("_", name)
    if plain == name:
        return f'inline; filename="{name}"'
    # RFC 6266: an ASCII fallback, and the exact name for the clients that read filename*.
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
