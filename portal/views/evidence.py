"""``/evidence``: the signed evidence PDF of every sealed checkpoint, and its JSON twin.

``/evidence/<size>.pdf`` serves the stored, signed bytes; ``/evidence/ca.pem`` the CA
certificate(s) to validate them with (``pyhanko sign validate --trust ca.pem``). Web workers
only read: the PDFs are made by the anchoring process (``portal.evidence.pdfs.sign_due``).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, url_for

from portal.db import app_engine
from portal.evidence.read import evidence_pdfs
from portal.evidence.read.trust import trust_pem
from portal.views.log import pem_response

bp = Blueprint("evidence", __name__)


def _checkpoints() -> list[dict]:
    with app_engine().connect() as conn:
        items = evidence_pdfs.listing(conn)
    for item in items:
        if item["pdf"] is not None:
            item["pdf"]["url"] = url_for("evidence.pdf", size=item["treeSize"])
    return items


@bp.get("/evidence")
def index():
    """Every sealed checkpoint, newest first, with its evidence PDF when signed."""
    return render_template("evidence.html", checkpoints=_checkpoints())


@bp.get("/evidence.json")
def index_json():
    return jsonify({"checkpoints": _checkpoints(), "ca": url_for("evidence.ca")})


@bp.get("/evidence/<whole:size>.pdf")
def pdf(size: int):
    """The signed evidence PDF of the checkpoint of tree size ``size``."""
    with app_engine().connect() as conn:
        data = evidence_pdfs.pdf_bytes(conn, size)
    if data is None:
        abort(
            404,
            description=f"No signed evidence PDF for checkpoint {size} (yet): it is made "
            "once the checkpoint's anchors are done.",
        )
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="veraz-evidence-{size}.pdf"'
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.get("/evidence/ca.pem")
def ca():
    """The CA certificate(s) that validate evidence PDFs: signer's CA and TSA's CA."""
    return pem_response(trust_pem(current_app.config), "No evidence PDF has been signed yet.")
