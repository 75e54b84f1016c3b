"""The QR target ``/verify/<ocid>``, the lookup ``/verify``, and the order PDF.

The page is a shell: ``static/verify.js`` fetches the proof bundle, the release and the PDF at
the URLs the server gives it (``portal.links``), and checks them on the visitor's device
(WebCrypto). The server adds only what a phone cannot check itself (the RFC 3161 token against
the TSA's CA), and says so.

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
from portal.evidence.read import log_api, verification
from portal.presentation import describe_order

bp = Blueprint("verify", __name__)
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def verification_facts(ocid: str, release_id: str | None) -> dict:
    """What the page and its JSON twin show; 404 when the ocid or release is unknown."""
    with app_engine().connect() as conn:
        versions = verification.versions(conn, ocid)
        if not versions:
            abort(404, description=f"No published order with ocid {ocid!r}.")
        current = versions[-1]
        chosen = current if release_id is None else next(
            (v for v in versions if v.release_id == release_id), None)
        if chosen is None:
            abort(404, description=f"No release {release_id!r} of {ocid!r}.")
        next_seal = log_api.next_seal(conn, current_app.config["CHECKPOINT_INTERVAL"])
    release = orjson.loads(chosen.data)
    base = current_app.config["BASE_URL"]
    rid = chosen.release_id
    stored_pdf = chosen.pdf_sha256 is not None
    return {
        "ocid": ocid,
        "releaseId": rid,
        "dataHash": chosen.data_hash,
        "current": rid == current.release_id,
        "currentReleaseId": current.release_id,
        "versions": [v.release_id for v in versions],
        "verificationUrl": links.verification_url(base, ocid),
        "pdfUrl": links.order_pdf_url(base, ocid) if stored_pdf else None,
        # Site-relative: the page fetches them from the server that served it.
        "pdfPath": links.order_pdf_url("", ocid, rid) if stored_pdf else None,
        "documentHash": order_pdf_sha256(release),
        "bundleUrl": links.proof_bundle_url("", ocid, rid),
        "releaseUrl": links.release_json_url("", ocid, rid),
        "currentUrl": links.verification_url("", ocid),
        "contractUrl": links.contract_url("", ocid),
        "rpcUrl": current_app.config.get("VERIFY_PUBLIC_RPC_URL") or None,
        "nextSeal": next_seal.isoformat() if next_seal else None,
        "timestampUrl": links.timestamp_check_url("", ocid, rid),
        "release": release,
    }


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
