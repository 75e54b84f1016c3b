"""``POST /api/intake/quotes`` and ``POST /api/intake/orders``: the catalogue system writes.

The only routes that write, each behind a bearer token of its scope (``veraz tokens``):

* 401 with ``WWW-Authenticate: Bearer`` without a token or with one this portal did not make;
  403 when it is revoked, expired or of the other scope; checked before the body is read;
* 413 beyond INTAKE_MAX_BODY_BYTES or INTAKE_MAX_RECORDS, 415 for a type other than JSON or
  JSON Lines, 400 for a body that is not JSON;
* 429 beyond INTAKE_RATE_LIMIT per token (flask-limiter, the API's rate limiter, counting in
  API_RATE_LIMIT_STORAGE; the intake is exempt from API_RATE_LIMIT, which is per reader);
* 422 with every problem of every record, 409 when a quote or an order version comes again with
  other content; all or nothing per request: none of these writes anything.

Accepted records are answered with their receipts (docs/intake.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, request
from flask_limiter import Limiter

from portal import links
from portal.db import app_engine
from portal.intake import tokens
from portal.intake.body import BodyError, read_records
from portal.intake.quotes import Refused, accept_quotes
from portal.views import http

log = logging.getLogger(__name__)

bp = Blueprint("intake", __name__)

#: Where each app keeps the intake's limiter (``app.extensions``).
LIMITER = "veraz.intake-limiter"
_REALM = 'Bearer realm="veraz-intake"'


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json", headers=headers)


def _error(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return _json({"error": {"status": status, "title": title, "detail": detail}, **extra}, status, headers)


_DENIED = {
    tokens.Verdict.MISSING: (401, None, "A bearer token is required: Authorization: Bearer <token>."),
    tokens.Verdict.UNKNOWN: (401, "invalid_token", "The bearer token is not one this portal issued."),
    tokens.Verdict.REVOKED: (403, "invalid_token", "The bearer token was revoked."),
    tokens.Verdict.EXPIRED: (403, "invalid_token", "The bearer token has expired."),
    tokens.Verdict.WRONG_SCOPE: (403, "insufficient_scope", "The bearer token is not valid for {scope}."),
}


def _authorize(scope: str) -> tuple[tokens.Token | None, Response | None]:
    with app_engine().connect() as conn:
        verdict, token = tokens.authenticate(conn, request.headers.get("Authorization"), scope)
    if verdict is tokens.Verdict.OK:
        return token, None
    status, code, detail = _DENIED[verdict]
    challenge = _REALM + (f', error="{code}"' if code else "")
    if code == "insufficient_scope":
        challenge += f', scope="{scope}"'
    title = "Unauthorized" if status == 401 else "Forbidden"
    return None, _error(status, title, detail.format(scope=scope), {"WWW-Authenticate": challenge})


def _records(scope: str) -> tuple[tokens.Token | None, list[tuple[int, bytes]] | Response]:
    token, denied = _authorize(scope)
    if denied is not None:
        return None, denied
    cfg = current_app.config
    # Werkzeug answers 413 from the Content-Length, or when a chunked body runs over.
    request.max_content_length = cfg["INTAKE_MAX_BODY_BYTES"]
    try:
        body = request.get_data(cache=False)
        records = read_records(body, request.mimetype, cfg["INTAKE_MAX_RECORDS"])
    except BodyError as error:
        title = {400: "Bad Request", 413: "Content Too Large", 415: "Unsupported Media Type"}[error.status]
        return token, _error(error.status, title, error.reason)
    return token, records.raw


def _refused(refused: Refused) -> Response:
    title, detail = {
        422: ("Unprocessable Content", "Some records are not valid; nothing was stored."),
        409: ("Conflict", "Some records were received before with other content; nothing was stored."),
    }[refused.status]
    return _error(refused.status, title, detail, problems=[p.to_json() for p in refused.problems])


@bp.post("/api/intake/quotes")
def quotes():
    """Log and store supplier quotes as they arrive; answer each with its receipt."""
    token, records = _records("quotes")
    if isinstance(records, Response):
        return records
    assert token is not None
    cfg = current_app.config
    engine = app_engine()
    try:
        receipts, sealed = accept_quotes(engine, records, ocid_prefix=cfg["OCID_PREFIX"], token_id=token.id)
    except Refused as refused:
        return _refused(refused)
    base = cfg["BASE_URL"]
    body = [r.to_json(links.proforma_proof_url(base, r.ocid, r.quote_id), sealed) for r in receipts]
    new = sum(r.new for r in receipts)
    log.info("intake: token %s: %d quote(s), %d new", token.id, len(receipts), new)
    return _json({"receipts": body}, 201 if new else 200)


_preparers = threading.local()


def _preparer() -> Any:
    """The worker step, one per thread (it keeps prepared agreement states between requests).
    Imported here: a web worker that never takes an order does not load the publishing side."""
    from portal.intake.orders import SOURCE
    from portal.publishing.orders import OrderPreparer

    cfg = current_app.config
    key = (cfg["OCID_PREFIX"], cfg["BASE_URL"])
    held = getattr(_preparers, "held", None)
    if held is None or held[0] != key:
        held = _preparers.held = (key, OrderPreparer(cfg["OCID_PREFIX"], cfg["BASE_URL"], SOURCE))
    return held[1]


@bp.post("/api/intake/orders")
def orders():
    """Publish catalogue orders (source format) as ``veraz import-orders`` does; answer each
    with the receipts of its releases and quotes."""
    token, records = _records("orders")
    if isinstance(records, Response):
        return records
    assert token is not None
    from portal.intake.orders import publish_or_refuse

    try:
        receipts = publish_or_refuse(app_engine(), _preparer(), records, current_app.config["BASE_URL"])
    except Refused as refused:
        return _refused(refused)
    new = sum(r.new for r in receipts)
    log.info("intake: token %s: %d order(s), %d new", token.id, len(receipts), new)
    return _json({"receipts": [r.to_json() for r in receipts]}, 201 if new else 200)


def _limit_key() -> str:
    """Each token counts apart (by its hash: the token itself is kept nowhere); a request
    without one counts by its address."""
    secret = tokens.bearer(request.headers.get("Authorization"))
    if secret is not None:
        return "token:" + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:32]
    return "address:" + http.client_address()


def _not_intake() -> bool:
    return not request.path.startswith("/api/intake/")


def init_app(app: Flask) -> None:
    """Exempt the intake from the readers' limit and give it its own, per token. Called after
    ``http.init_app`` (the readers' limiter exists then)."""
    app.extensions[http.LIMITER].exempt(bp)
    limit = str(app.config["INTAKE_RATE_LIMIT"]).strip()
    limiter = Limiter(
        _limit_key,
        application_limits=[limit] if limit else [],
        application_limits_exempt_when=_not_intake,
        storage_uri=app.config["API_RATE_LIMIT_STORAGE"],
        headers_enabled=True,
        enabled=bool(limit),
        key_prefix="veraz-intake",
    )
    # flask-limiter reads RATELIMIT_ENABLED from the config, where the readers' limiter left
    # its own state (off when API_RATE_LIMIT is empty): this limiter is on or off by its own.
    readers = app.config.pop("RATELIMIT_ENABLED", None)
    limiter.init_app(app)
    if readers is None:
        app.config.pop("RATELIMIT_ENABLED", None)
    else:
        app.config["RATELIMIT_ENABLED"] = readers
    app.extensions[LIMITER] = limiter


__all__ = ["bp", "init_app"]
