"""The public evidence log and proofs: what anyone needs to mirror, audit and verify Veraz.

``/api/log/key`` and ``/api/log/checkpoint`` answer ``text/plain`` in the C2SP formats (a
verifier key; a signed note). Everything else is JSON. Web workers only read the database:
sealing and anchoring are the ``veraz anchor --watch`` process's job, so a chain or TSA that is
down never slows a page; its anchors simply show as pending.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, abort, current_app, request

from portal.db import app_engine
from portal.evidence.read import log_api, proofs
from portal.evidence.read.trust import tsa_ca_pem
from portal.views import params

bp = Blueprint("log", __name__)


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _text(body: str) -> Response:
    # Flask adds "; charset=utf-8" to text/* mimetypes itself: naming it here sent it twice.
    return Response(body, mimetype="text/plain")


def pem_response(pem: bytes | None, missing: str) -> Response:
    """``pem`` (certificates) as ``application/x-pem-file``; 404 saying ``missing`` if None."""
    if pem is None:
        abort(404, description=missing)
    return Response(pem, mimetype="application/x-pem-file")


def _uint_arg(name: str, default: int | None = None) -> int:
    if request.args.get(name) in (None, "") and default is None:
        abort(400, description=f"Parameter {name!r} is required (a whole number).")
    return params.whole_number(name, default if default is not None else 0)


@bp.get("/api/log/key")
def key():
    """The C2SP verifier key (``<name>+<hash>+<base64>``) that signs checkpoints."""
    return _text(log_api.verifier_key(current_app.config) + "\n")


@bp.get("/api/log/tsa-ca.pem")
def tsa_ca():
    """The CA certificate that verifies the portal's RFC 3161 tokens (``--tsa-ca``)."""
    return pem_response(
        tsa_ca_pem(current_app.config),
        "No timestamp authority CA yet (no checkpoint was timestamped).",
    )


@bp.get("/api/log/checkpoint")
def checkpoint():
    """The latest signed checkpoint, as the C2SP signed note text."""
    with app_engine().connect() as conn:
        note = log_api.latest_checkpoint(conn, current_app.config)
    if note is None:
        abort(404, description="No checkpoint has been sealed yet.")
    return _text(note)


@bp.get("/api/log/checkpoints")
def checkpoints():
    """Every sealed checkpoint, newest first, each with its anchors (done or pending)."""
    with app_engine().connect() as conn:
        history = log_api.checkpoint_history(conn)
    return _json({"checkpoints": history})


@bp.get("/api/log/consistency")
def consistency():
    """``{"first", "second", "proof": [hex]}``: RFC 9162 proof from size ``first`` to ``second``.

    Any sizes ``1 <= first <= second <= log size``; between checkpoints' sizes in practice.
    """
    first, second = _uint_arg("first"), _uint_arg("second")
    try:
        with app_engine().connect() as conn:
            proof = log_api.consistency(conn, first, second)
    except log_api.RangeError as exc:
        abort(400, description=str(exc))
    return _json({"first": first, "second": second, "proof": [h.hex() for h in proof]})


@bp.get("/api/log/entries")
def entries():
    """Entries ``start`` (inclusive) to ``end`` (exclusive), with their leaf hashes."""
    start = _uint_arg("start", 0)
    end = _uint_arg("end") if "end" in request.args else None  # "end=" is malformed, not absent
    try:
        with app_engine().connect() as conn:
            page = log_api.entries_page(conn, start, end, current_app.config["LOG_ENTRIES_MAX_PAGE"])
    except log_api.RangeError as exc:
        abort(400, description=str(exc))
    return _json(page)


@bp.get("/api/proofs/<path:ocid>/proformas/<proforma_id>")
def proforma_proof(ocid: str, proforma_id: str):
    """The proof bundle of one proforma (supplier quote) of ``ocid``, on its own.

    200 (``complete``) or 202 (``pending``) as for releases; 404 if the quote is not logged.
    """
    with app_engine().connect() as conn:
        bundle = proofs.build_proforma_bundle(conn, current_app.config, ocid, proforma_id)
    if bundle is None:
        abort(404, description=f"No logged proforma {proforma_id!r} of ocid {ocid!r}.")
    status = 200 if bundle.status == "complete" else 202
    return Response(bundle.to_json(), status=status, mimetype="application/json")


@bp.get("/api/proofs/files/<name>")
def file_proof(name: str):
    """The proof bundle of a bulk download file: its newest logged version, or the version
    with ``?sha256=<hex>``. 200 (``complete``) or 202 (``pending``) as for releases; 404 if
    no such file was logged."""
    params.only_params(["sha256"])
    sha256 = request.args.get("sha256")
    if sha256 is not None and not (len(sha256) == 64 and set(sha256) <= set("0123456789abcdef")):
        abort(400, description="Parameter 'sha256' must be 64 lowercase hexadecimal digits.")
    from portal.evidence.files import build_file_bundle

    with app_engine().connect() as conn:
        bundle = build_file_bundle(conn, current_app.config, name, sha256)
    if bundle is None:
        what = f" with SHA-256 {sha256}" if sha256 else ""
        abort(404, description=f"No logged bulk file {name!r}{what}.")
    status = 200 if bundle.status == "complete" else 202
    return Response(bundle.to_json(), status=status, mimetype="application/json")


@bp.get("/api/proofs/<path:ocid>")  # ocids may contain "/"
def proof(ocid: str):
    """The proof bundle of a release (latest of ``ocid``, or ``?release=<id>``).

    200 with ``status: "complete"`` when the release is in a sealed checkpoint; 202 with
    ``status: "pending"`` (and no proof) when it is logged but not yet sealed.
    """
    release_id = request.args.get("release") or None
    with app_engine().connect() as conn:
        bundle = proofs.build_bundle(conn, current_app.config, ocid, release_id)
    if bundle is None:
        what = f"release {release_id!r} of " if release_id else "release of "
        abort(404, description=f"No logged {what}ocid {ocid!r}.")
    status = 200 if bundle.status == "complete" else 202
    return Response(bundle.to_json(), status=status, mimetype="application/json")
