"""Red flags: ``/flags`` (every flag explained, with counts, a count per month and links to
what it marks), its JSON twin ``/api/flags``, and ``/api/flags/orders/<ocid>`` (the flags that
concern one order). Thin: parsing and rendering only; the flags live in :mod:`portal.flags`."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask_babel import get_locale
from sqlalchemy import inspect, select

from portal import flags
from portal.db import app_engine
from portal.flags.tables import flag_state
from portal.readmodel.cache import FacetCache
from portal.views.params import only_params, whole_number

bp = Blueprint("flags", __name__)

#: Where each app keeps the flags' cache (``app.extensions``).
CACHE = "veraz.flags_cache"

PARAMS = ("flag", "buyer", "supplier", "agreement", "from", "to", "limit", "offset")
#: Flagged things listed per flag: on the overview, and at most on one flag's list.
OVERVIEW_ROWS, DEFAULT_LIMIT, MAX_LIMIT = 10, 100, 1000
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
_TEXT_LIMIT = 255


def _text(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if len(value) > _TEXT_LIMIT or "\x00" in value:
        abort(
            400, description=f"Parameter {name!r} must be an identifier of at most {_TEXT_LIMIT} characters."
        )
    return value


def _month(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if _MONTH.fullmatch(value) is None:
        abort(400, description=f"Parameter {name!r} must be a month written YYYY-MM, not {value[:40]!r}.")
    return value


def _parse() -> tuple[str | None, flags.Filters, int, int]:
    only_params(PARAMS)
    code = request.args.get("flag") or None
    if code is not None and code not in flags.BY_CODE:
        abort(
            400, description=f"Parameter 'flag' must be one of {', '.join(flags.BY_CODE)}, not {code[:40]!r}."
        )
    filters = flags.Filters(
        buyer=_text("buyer"),
        supplier=_text("supplier"),
        agreement=_text("agreement"),
        month_from=_month("from"),
        month_to=_month("to"),
    )
    limit = whole_number("limit", DEFAULT_LIMIT if code else OVERVIEW_ROWS, minimum=1, maximum=MAX_LIMIT)
    offset = whole_number("offset", 0, maximum=10_000_000)
    return code, filters, limit, offset


def _ready() -> bool:
    """Whether the database has the flags' tables (migration 0015)."""
    key = "veraz.flags_ready"
    if not current_app.extensions.get(key):
        current_app.extensions[key] = inspect(app_engine()).has_table("flag_hits")
    return bool(current_app.extensions[key])


@bp.record_once
def _attach_cache(state) -> None:
    state.app.extensions[CACHE] = FacetCache()


def _data(code: str | None, filters: flags.Filters, limit: int, offset: int) -> dict:
    """What the page and its JSON show, kept until the flags are next refreshed (counting the
    orders behind every flag over a million orders takes seconds). The version is the release
    the last refresh reached (``flag_state``), not the last published: a refresh follows each
    import, and what was computed before it must not be kept after it."""
    if not _ready():
        return _compute(code, filters, limit, offset)
    with app_engine().connect() as conn:
        version = conn.execute(select(flag_state.c.value).where(flag_state.c.name == "last_release")).scalar()
    key = (code, filters, limit, offset)
    return current_app.extensions[CACHE].get(version, key, lambda: _compute(code, filters, limit, offset))


def _freshness() -> dict | None:
    """Which release the flags include and whether they are behind, read at each request (the
    cached answer is the flags' own; what was published since is not)."""
    if not _ready():
        return None
    with app_engine().connect() as conn:
        return flags.freshness(conn, flags.thresholds(current_app.config))


def _compute(code: str | None, filters: flags.Filters, limit: int, offset: int) -> dict:
    chosen = [flags.BY_CODE[code]] if code else list(flags.FLAGS)
    config = flags.thresholds(current_app.config)
    out: dict = {"flags": [], "ready": _ready()}
    counts: dict[str, dict] = {}
    if out["ready"]:
        with app_engine().connect() as conn:
            counts = {s["code"]: s for s in flags.summary(conn, filters)}
            for flag in chosen:
                out["flags"].append(
                    {
                        **flag.as_json(),
                        "thresholds": {name: config[name] for name in flag.settings},
                        "summary": counts[flag.code],
                        "byMonth": flags.counts_by_month(conn, flag.code, filters),
                        "flagged": flags.flagged(conn, flag.code, filters, limit=limit, offset=offset),
                    }
                )
    else:
        for flag in chosen:
            out["flags"].append(
                {
                    **flag.as_json(),
                    "thresholds": {name: config[name] for name in flag.settings},
                    "summary": None,
                    "byMonth": [],
                    "flagged": [],
                }
            )
    return out


def _chart(months: list[dict]) -> dict:
    """A bar per month, scaled to the busiest (SVG drawn by the template, no script)."""
    top = max((m["orders"] for m in months), default=0)
    height = 60
    bars = [
        {"x": 12 * i, "h": max(1, round(height * m["orders"] / top)) if top else 0, **m}
        for i, m in enumerate(months)
    ]
    return {"bars": bars, "width": max(12 * len(months), 12), "height": height}


@bp.get("/flags")
def page():
    """Every red flag, explained, with what it marks."""
    code, filters, limit, offset = _parse()
    data = _data(code, filters, limit, offset)
    locale = str(get_locale() or "es")
    # Copies: the cached value stays as is.
    data = {**data, "flags": [dict(entry) for entry in data["flags"]], "computed": _freshness()}
    for entry in data["flags"]:
        entry["text"] = flags.BY_CODE[entry["code"]].text(locale)
        entry["chart"] = _chart(entry["byMonth"])
    return render_template("flags.html", data=data, code=code, filters=filters, limit=limit, offset=offset)


@bp.get("/api/flags")
def api():
    """The same as ``/flags``, as JSON (both languages)."""
    code, filters, limit, offset = _parse()
    return jsonify({**_data(code, filters, limit, offset), "computed": _freshness()})


@bp.get("/api/flags/orders/<path:ocid>")
def order(ocid: str):
    """The flags that concern one order (raised on it, its buyer, supplier, their pair or its
    framework agreement)."""
    only_params(())
    if len(ocid) > 255 or "\x00" in ocid:
        abort(404, description="No such order.")
    if not _ready():
        return jsonify({"ocid": ocid, "flags": []})
    with app_engine().connect() as conn:
        return jsonify({"ocid": ocid, "flags": flags.flags_of_order(conn, ocid)})
