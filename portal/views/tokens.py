"""Order tokens: ``/tokens/<ocid>.json`` (the token's ERC-721 metadata, docs/tokens.md) and
``/tokens/<ocid>.svg`` (its image: the QR code of the order's verification page).

The contract's ``tokenURI`` names the first (``portal.links.token_metadata_url``), so both must
answer for as long as the tokens exist. Ocids may contain ``/``: the ``path`` converter.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, abort, current_app, request

from portal import links
from portal.db import app_engine
from portal.documents.qr import qr_rows
from portal.tokens.metadata import LANGUAGES, NotAnOrder, metadata, token_state
from portal.views.params import only_params

bp = Blueprint("tokens", __name__)


@bp.app_template_global("order_token")
def order_token(ocid: str) -> dict | None:
    """The order's token for the verify and order pages (``_order_token.html``), or None."""
    with app_engine().connect() as conn:
        return token_state(conn, current_app.config, ocid)


@bp.app_template_global("token_metadata_path")
def token_metadata_path(ocid: str) -> str:
    """``/tokens/<ocid>.json``, site-relative."""
    return links.token_metadata_url("", ocid)


def _language() -> str:
    """``?lang=``: ``es`` (the default) or ``en``; anything else is a 400 naming it. Only the
    parameter counts (not the visitor's cookie): the same URL always gives the same document."""
    lang = request.args.get("lang")
    if lang is None:
        return "es"
    if lang not in LANGUAGES:
        abort(400, description=f"Parameter 'lang' must be one of {', '.join(LANGUAGES)}, not {lang[:20]!r}.")
    return lang


@bp.get("/tokens/<path:ocid>.json")
def token_metadata(ocid: str):
    only_params({"lang"})
    lang = _language()
    with app_engine().connect() as conn:
        try:
            body = metadata(conn, current_app.config, ocid, lang)
        except NotAnOrder:
            abort(
                404,
                description=f"{ocid!r} is published, but it is not a catalogue order: "
                "only orders have tokens.",
            )
    if body is None:
        abort(404, description=f"No published order with ocid {ocid!r}.")
    return Response(
        orjson.dumps(body),
        mimetype="application/json",
        headers={"Access-Control-Allow-Origin": "*", "Content-Language": lang},
    )


def qr_svg(data: str, module: int = 8, quiet: int = 4) -> str:
    """An SVG of the QR code of ``data``: one path of dark modules, ``quiet`` modules of margin."""
    rows = qr_rows(data)
    size = (len(rows) + 2 * quiet) * module
    parts = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if row[x] == "1":
                start = x
                while x < len(row) and row[x] == "1":
                    x += 1
                width = (x - start) * module
                parts.append(f"M{(start + quiet) * module} {(y + quiet) * module}h{width}v{module}h-{width}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(parts)}"/></svg>\n'
    )


@bp.get("/tokens/<path:ocid>.svg")
def token_image(ocid: str):
    """The token's image: the QR code of ``/verify/<ocid>``, as printed on the order PDF."""
    only_params(())
    with app_engine().connect() as conn:
        try:
            found = metadata(conn, current_app.config, ocid)
        except NotAnOrder:
            abort(404, description=f"{ocid!r} is not a catalogue order: only orders have tokens.")
    if found is None:
        abort(404, description=f"No published order with ocid {ocid!r}.")
    svg = qr_svg(links.verification_url(current_app.config["BASE_URL"], ocid))
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
