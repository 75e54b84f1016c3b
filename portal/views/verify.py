"""The QR target ``/verify/<ocid>``, the lookup ``/verify``, and the order PDF.

The page is a shell: ``static/verify.js`` fetches the proof bundle (``/api/proofs/<ocid>``),
the release and the PDF, and checks them on the visitor's device (WebCrypto). The server adds
only what a phone cannot check itself (the RFC 3161 token against the TSA's CA), and says so.

``/verify/<ocid>`` is printed in QR codes (``portal.links.verification_url``): it must answer
forever.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, timedelta

import orjson
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from sqlalchemy import bindparam, select

from portal.db import app_engine
from portal.documents.listing import order_pdf_document
from portal.links import order_pdf_url, verification_url
from portal.models import order_pdfs, proformas, records, releases
from portal.presentation import describe_order

bp = Blueprint("verify", __name__)
HEX64 = re.compile(r"^[0-9a-f]{64}$")



# Every version of an ocid with its order PDF's hash (if stored), oldest first: one query,
# built once (building the expression per request cost as much as running it).
_VERSIONS = (
    select(releases.c.release_id, releases.c.date, releases.c.data, releases.c.data_hash,
           order_pdfs.c.sha256.label("pdf_sha256"))
    .select_from(releases.outerjoin(order_pdfs, (order_pdfs.c.ocid == releases.c.ocid)
                                    & (order_pdfs.c.release_id == releases.c.release_id)))
    .where(releases.c.ocid == bindparam("ocid"))
    .order_by(releases.c.date, releases.c.id)
)


def _versions(conn, ocid: str) -> list:
    return conn.execute(_VERSIONS, {"ocid": ocid}).all()


def _pdf_document(release: dict) -> dict | None:
    return order_pdf_document(release)


@functools.lru_cache(maxsize=256)
def _checked_token(checkpoint: str, token: str, ca_pem: bytes | None) -> tuple[str, str]:
    # A token and its checkpoint never change once sealed: check each pair once per process.
    from anchoring.bundle import AnchorRecord, ProofBundle
    from anchoring.bundle_network import verify_timestamps

    bundle = ProofBundle(ocid="-", release_id="-", status="complete", hashes={}, proformas=(),
                         entry=b"", leaf_index=0, leaf_hash=b"", checkpoint=checkpoint,
                         anchors=(AnchorRecord("rfc3161", "done", (("token", token),)),))
    step = verify_timestamps(bundle, ca_pem)[0]
    return step.status, step.detail


def _timestamp_facts(ocid: str, release_id: str) -> dict | None:
    """The RFC 3161 check the server does for the page (a phone has no ASN.1/CMS verifier)."""
    from portal.evidence import proofs
    from portal.evidence.backends import tsa_ca_pem

    with app_engine().connect() as conn:
        bundle = proofs.build_bundle(conn, current_app.config, ocid, release_id)
    if bundle is None or bundle.status != "complete" or bundle.checkpoint is None:
        return None
    token = next((a for a in bundle.anchors if a.type == "rfc3161" and a.status == "done"), None)
    if token is None:
        return None
    status, detail = _checked_token(bundle.checkpoint, token.get("token") or "",
                                    tsa_ca_pem(current_app.config))
    return {"status": status, "detail": detail}


def _next_seal(conn) -> str | None:
    from portal.evidence import store

    interval = timedelta(seconds=current_app.config["CHECKPOINT_INTERVAL"])
    last = store.latest(conn)  # one row, not every checkpoint ever sealed
    if last is not None:
        return (last.sealed_at + interval).isoformat()
    # Nothing sealed yet: the first checkpoint is due at most one interval after the first
    # entry was logged (the watcher also seals at start and when enough entries wait).
    first = store.first_appended_at(conn)
    if first is None:
        return None
    if first.tzinfo is None:  # SQLite returns naive UTC
        first = first.replace(tzinfo=UTC)
    return (first + interval).isoformat()


def verification_facts(ocid: str, release_id: str | None) -> dict:
    """What the page and its JSON twin show; 404 when the ocid or release is unknown."""
    with app_engine().connect() as conn:
        versions = _versions(conn, ocid)
        if not versions:
            abort(404, description=f"No published order with ocid {ocid!r}.")
        current = versions[-1]
        chosen = current if release_id is None else next(
            (v for v in versions if v.release_id == release_id), None)
        if chosen is None:
            abort(404, description=f"No release {release_id!r} of {ocid!r}.")
        pdf = chosen.pdf_sha256
        next_seal = _next_seal(conn)
    release = orjson.loads(chosen.data)
    document = _pdf_document(release)
    base = current_app.config["BASE_URL"]
    return {
        "ocid": ocid,
        "releaseId": chosen.release_id,
        "dataHash": chosen.data_hash,
        "current": chosen.release_id == current.release_id,
        "currentReleaseId": current.release_id,
        "versions": [v.release_id for v in versions],
        "verificationUrl": verification_url(base, ocid),
        "pdfUrl": order_pdf_url(base, ocid) if pdf else None,
        "pdfPath": f"/contracts/{ocid}/order.pdf?release={chosen.release_id}" if pdf else None,
        "documentHash": ((document or {}).get("integrity") or [{}])[0].get("id"),
        "bundleUrl": f"/api/proofs/{ocid}?release={chosen.release_id}",
        "releaseUrl": f"/api/releases/{chosen.release_id}?ocid={ocid}",
        "rpcUrl": current_app.config.get("VERIFY_PUBLIC_RPC_URL") or None,
        "nextSeal": next_seal,
        "timestampUrl": f"/verify/{ocid}/timestamp.json?release={chosen.release_id}",
        "release": release,
    }


@bp.get("/verify/<ocid>/timestamp.json")
def verify_timestamp(ocid: str):
    """The portal's check of the RFC 3161 token of the release's checkpoint (null if none yet)."""
    release_id = request.args.get("release") or None
    return Response(orjson.dumps(_timestamp_facts(ocid, release_id) if release_id else None),
                    mimetype="application/json")


@bp.get("/verify/<ocid>.json")
def verify_json(ocid: str):
    facts = verification_facts(ocid, request.args.get("release") or None)
    facts.pop("release")
    return Response(orjson.dumps(facts), mimetype="application/json")


@bp.get("/verify/<ocid>")
def verify(ocid: str):
    facts = verification_facts(ocid, request.args.get("release") or None)
    order = describe_order(facts["release"])
    page_facts = {k: v for k, v in facts.items() if k != "release"}
    return render_template("verify.html", facts=facts, order=order, page_facts=page_facts)


def _lookup(conn, q: str) -> str | None:
    """The verification path for an order number, an ocid, or a hash (data, PDF, proforma)."""
    if HEX64.match(q.lower()):
        h = q.lower()
        row = conn.execute(select(releases.c.ocid, releases.c.release_id)
                           .where(releases.c.data_hash == h).limit(1)).first() \
            or conn.execute(select(order_pdfs.c.ocid, order_pdfs.c.release_id)
                            .where(order_pdfs.c.sha256 == h).limit(1)).first()
        if row:
            return f"/verify/{row.ocid}?release={row.release_id}"
        row = conn.execute(select(proformas.c.ocid).where(proformas.c.data_hash == h)
                           .limit(1)).first()
        return f"/verify/{row.ocid}" if row else None
    row = conn.execute(select(records.c.ocid).where(
        (records.c.ocid == q) | (records.c.order_number == q)).limit(1)).first()
    return f"/verify/{row.ocid}" if row else None


@bp.get("/verify")
def lookup():
    q = request.args.get("q", "").strip()
    if not q:
        return render_template("verify_lookup.html", q=q, missing=False)
    with app_engine().connect() as conn:
        target = _lookup(conn, q)
    if target:
        return redirect(target)
    return render_template("verify_lookup.html", q=q, missing=True), 404


@bp.get("/contracts/<ocid>/order.pdf")
def order_pdf(ocid: str):
    """The published order PDF (exact stored bytes) of the latest release, or ``?release=``."""
    release_id = request.args.get("release") or None
    query = (select(order_pdfs.c.data, order_pdfs.c.release_id)
             .join(releases, (releases.c.ocid == order_pdfs.c.ocid)
                   & (releases.c.release_id == order_pdfs.c.release_id))
             .where(order_pdfs.c.ocid == ocid))
    if release_id:
        query = query.where(order_pdfs.c.release_id == release_id)
    query = query.order_by(releases.c.date.desc(), releases.c.id.desc()).limit(1)
    with app_engine().connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        abort(404, description=f"No order PDF for {ocid!r}.")
    name = f"{ocid}-{row.release_id}.pdf"
    return Response(row.data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"',
                             "Cache-Control": "public, max-age=86400"})
