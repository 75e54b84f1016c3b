"""HTTP layer: one module per feature, every HTML page with a JSON twin, one error handler."""

from __future__ import annotations

import gzip
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale
from jinja2 import Undefined
from werkzeug.exceptions import HTTPException

from portal import queries
from portal.codes import code_name, status_word
from portal.views import (
    api,
    contracts,
    downloads,  # /downloads, /catalog.jsonld: the bulk files of `veraz export`
    evidence,  # /evidence: signed evidence PDFs
    flags,  # /flags, /api/flags: red flags
    home,
    http,  # ETag and 304, CORS, the API's rate limit
    intake,  # POST /api/intake/quotes and /orders: the catalogue system writes (tokens)
    openapi,  # /api/openapi.json, /api/docs, /api/schema/<file>
    tiles,  # /api/log/tile/...: the log as C2SP tlog-tiles
    tokens,  # /tokens/<ocid>.json, .svg: order tokens' metadata and image
    verify,  # /verify, /verify/<ocid>, order PDFs
)
from portal.views import (
    browse as browse,  # /contracts (the listing), twins, profiles: routes on contracts.bp
)
from portal.views import log as evidence_log  # /api/log/*, /api/proofs/*


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


# The template filters show any stored record: imported OCDS is kept as published, so a value
# may be absent, a string where a number belongs, or a number Babel cannot format (it refuses
# integers of 30 digits). What cannot be formatted is shown as published, never an error.


def _absent(value: Any) -> bool:
    return value is None or value == "" or isinstance(value, Undefined)


def _as_published(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer beyond str()'s digit limit
        return "—"


def _formattable(value: Any) -> bool:
    """A number Babel formats: finite, and within the 28 digits of its decimal context once
    written with cents (it raises from 10**26 on)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    if isinstance(value, int):
        return abs(value) < 10**24
    if isinstance(value, Decimal):
        return value.is_finite() and abs(value) < Decimal(10) ** 24
    return math.isfinite(value) and abs(value) < 1e24


def _money(amount: Any, currency: Any = "PEN") -> str:
    if _absent(amount):
        return "—"
    code = currency if isinstance(currency, str) and currency else "PEN"
    if _formattable(amount):
        text = format_currency(amount, code)
        # A locale without a symbol for the currency writes its code glued to the digits
        # ("PEN34,884.72" in English): keep them apart, as the code is a word.
        if text.startswith(code) and text[len(code) :][:1].isdigit():
            text = f"{code}\u00a0{text[len(code) :]}"
        return text
    return f"{_as_published(amount)} {code}"


def _number(value: Any) -> str:
    if _absent(value):
        return "—"
    return format_decimal(value) if _formattable(value) else _as_published(value)


def _date(value: Any) -> str:
    if _absent(value):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime) and (value.hour or value.minute):
        return format_datetime(value, "medium")
    if isinstance(value, date):
        return format_date(value, "medium")
    return _as_published(value)


def _day(value: Any) -> str:
    """The day of a date or time, in the reader's language and the portal's TIMEZONE."""
    if _absent(value):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, date):
        return format_date(value, "medium")
    return _as_published(value)


def _code(value: Any) -> str:
    if _absent(value):
        return ""
    return code_name(value) if isinstance(value, str) else _as_published(value)


def _status(value: Any, kind: str = "order") -> str:
    """An order's or delivery's status in the reader's language, as on the order PDF; the
    status of another kind of process (an agreement, imported OCDS) keeps OCDS's words."""
    if _absent(value):
        return ""
    if not isinstance(value, str):
        return _as_published(value)
    return status_word(value) if kind == "order" else code_name(value)


# Text worth compressing for a phone on a slow connection: the verification page, its script
# and style, and the JSON it fetches shrink to a third or less (bench/verify.py, "page weight").
_COMPRESSIBLE = frozenset(
    {"text/html", "text/css", "text/javascript", "application/javascript", "application/json"}
)
_MIN_COMPRESSED = 1024  # below a packet, compressing saves nothing
_MAX_COMPRESSED = 1 << 20  # beyond this, compressing on every request costs too much CPU


def _gzip(response):
    """The response gzip-compressed when the client accepts it and it is text worth it."""
    if (
        response.status_code != 200
        or response.mimetype not in _COMPRESSIBLE
        or "Content-Encoding" in response.headers
        or "gzip" not in request.headers.get("Accept-Encoding", "")
        or (response.content_length or 0) > _MAX_COMPRESSED
    ):
        return response
    if response.direct_passthrough:  # a static file: read it (they are small)
        response.direct_passthrough = False
    elif response.is_streamed:  # generated as it is sent (bulk downloads): keep streaming
        return response
    data = response.get_data()
    if len(data) < _MIN_COMPRESSED:
        return response
    response.set_data(gzip.compress(data, 6))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    etag, weak = response.get_etag()
    if etag and not weak:  # the compressed bytes are another representation
        response.set_etag(etag, weak=True)
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(home.bp)
    app.register_blueprint(contracts.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(evidence_log.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(verify.bp)
    app.register_blueprint(evidence.bp)
    app.register_blueprint(flags.bp)
    app.register_blueprint(downloads.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(intake.bp)
    app.extensions[home.TOTALS_CACHE] = queries.TotalsCache()
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["number"] = _number
    app.jinja_env.filters["date"] = _date
    app.jinja_env.filters["code"] = _code
    app.jinja_env.filters["status"] = _status
    app.jinja_env.filters["day"] = _day

    # Browsers ask for /favicon.ico whatever the page links; a 404 there is noise in every log.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))

    @app.context_processor
    def _globals():
        return {"locale": str(get_locale()), "base_url": current_app.config["BASE_URL"]}

    @app.after_request
    def _headers(response):
        lang = request.args.get("lang")
        if lang in current_app.config["LOCALES"].split(","):
            response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self' https: http:; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return _gzip(response)

    # ETag, CORS, rate limit: after ``_headers``, so that its compression runs last.
    http.init_app(app)
    intake.init_app(app)  # its own per-token limit, exempt from the readers' one

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if wants_json():
            response = jsonify(
                {"error": {"status": error.code, "title": error.name, "detail": error.description}}
            )
            response.status_code = error.code or 500
            return response
        return render_template("error.html", error=error), error.code
