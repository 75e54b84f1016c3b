"""An order (or any contracting process) for a person, and its record package as JSON.

An ocid may contain ``/`` (OCDS allows any string after the prefix), hence the ``path``
converter. A page's address ending in ``.json`` is its JSON twin; ``/contracts/<ocid>/order.pdf``
belongs to the verify blueprint, whose rule has a fixed final segment and so wins over these.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from ocds.summary import browse_columns, process_facts
from portal import queries
from portal.db import app_engine
from portal.views.api import public_url, record_package_json

bp = Blueprint("contracts", __name__)


@bp.get("/contracts/<path:ocid>.json")
def contract_json(ocid: str):
    """The record package of the process: its releases and the compiled release the page shows."""
    with app_engine().connect() as conn:
        body = record_package_json(
            conn, ocid, public_url("contracts.contract_json", ocid=ocid), versioned=False
        )
    if body is None:
        abort(404, description=f"No contracting process with ocid {ocid!r}.")
    return Response(body, mimetype="application/json")


@bp.get("/contracts/<path:ocid>")
def contract(ocid: str):
    """What a person reads about one contracting process, and its release history.

    A process whose releases the merge routine cannot compile has no ``records`` row; its page
    still lists its releases, as the API serves them."""
    with app_engine().connect() as conn:
        history = queries.release_rows(conn, ocid)
        if not history:
            abort(404, description=f"No contracting process with ocid {ocid!r}.")
        row = queries.record_row(conn, ocid)
        compiled = queries.compiled_release(conn, ocid, row) if row is not None else None
        # Who published the releases Veraz imported (its own orders have none): each publisher
        # and its terms once, as their packages said.
        found = queries.release_sources(conn, [h["id"] for h in history])
        sources = list({source.who: source for source in found.values()}.values())
    if row is None:
        row = {"ocid": ocid, **browse_columns(compiled)}
    for h in history:
        h["tag_list"] = [t for t in (h["tags"] or "").split(",") if t]
    return render_template(
        "contract.html", row=row, order=process_facts(compiled), history=history, sources=sources
    )
