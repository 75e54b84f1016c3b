"""HTTP layer: one module per feature, every HTML page with a JSON twin, one error handler."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale
from werkzeug.exceptions import HTTPException

from portal.codes import code_name
from portal.views import (
    api,
    contracts,
    evidence,  # issue 4: /evidence, signed evidence PDFs
    home,
    tiles,  # issue 3: /api/log/tile/..., the log as C2SP tlog-tiles
    verify,  # issue 4: /verify, /verify/<ocid>, order PDFs
)
from portal.views import log as evidence_log  # issue 3: evidence log API (portal/views/log.py)


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _money(amount, currency: str | None = "PEN") -> str:
    if amount is None:
        return "—"
    return format_currency(amount, currency or "PEN")


def _number(value) -> str:
    return "—" if value is None else format_decimal(value)


def _date(value) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime) and (value.hour or value.minute):
        return format_datetime(value, "medium")
    return format_date(value, "medium")


def init_app(app: Flask) -> None:
    app.register_blueprint(home.bp)
    app.register_blueprint(contracts.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(evidence_log.bp)  # issue 3: /api/log/*, /api/proofs/*
    app.register_blueprint(tiles.bp)  # issue 3: the log as C2SP tlog-tiles, for mirrors
    app.register_blueprint(verify.bp)  # issue 4: verification page and order PDFs
    app.register_blueprint(evidence.bp)  # issue 4: evidence PDFs per checkpoint
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["number"] = _number
    app.jinja_env.filters["date"] = _date
    app.jinja_env.filters["code"] = code_name

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
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if wants_json():
            response = jsonify({"error": {"status": error.code, "title": error.name,
                                          "detail": error.description}})
            response.status_code = error.code or 500
            return response
        return render_template("error.html", error=error), error.code
