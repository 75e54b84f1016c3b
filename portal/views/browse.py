"""Browsing: ``/contracts`` (every process, with facets), its JSON twin and downloads, and the
profiles of buyers, suppliers and framework agreements, with their JSON twins.

Routes live on the ``contracts`` blueprint (``contracts.contracts`` has always been the
listing's endpoint, and pages link to it). Every state of the listing is its URL: the facets'
values are repeated query parameters, the page a cursor. A bad parameter is a 400 that names
it and says what it accepts (JSON on the twins), never a filter silently ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation

import orjson
from babel import Locale
from flask import Response, abort, current_app, render_template, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import lazy_gettext as _l

from portal.codes import code_name, status_word
from portal.db import app_engine
from portal.models import records
from portal.queries import last_release_id
from portal.readmodel import queries
from portal.readmodel.cache import FacetCache
from portal.readmodel.facets import (
    AMOUNT_RANGES,
    FACETS,
    LONG_FACETS,
    SORTS,
    BadCursor,
    Browse,
    decode_cursor,
    encode_cursor,
)
from portal.readmodel.names import industry_name
from portal.readmodel.tally import TallyHolder
from portal.readmodel.tally import counts as tally_counts
from portal.readmodel.tally import profile as tally_profile
from portal.search import database as search_database
from portal.search import matching as search_matching
from portal.search import matching_ids as search_matching_ids
from portal.search import page_matching
from portal.search.tables import documents_pending
from portal.views.contracts import bp
from portal.views.params import only_params, whole_number

#: Where each app keeps its :class:`FacetCache` (``app.extensions``).
FACET_CACHE = "veraz.facet_cache"
#: Where each app keeps its :class:`portal.readmodel.tally.TallyHolder` (``app.extensions``).
FACET_TALLY = "veraz.facet_tally"


@bp.record_once
def _attach_cache(state) -> None:
    state.app.extensions[FACET_CACHE] = FacetCache()
    state.app.extensions[FACET_TALLY] = TallyHolder()


#: Parameters of the listing and its twins.
LISTING_PARAMS = (
    *FACETS,
    "q",
    "sort",
    "cursor",
    "limit",
    "amount_min",
    "amount_max",
    "date_from",
    "date_to",
    "facet",
    "facet_q",
)
#: Most values one facet may select; most characters of a text parameter.
MAX_VALUES, MAX_TEXT = 50, 200
#: Rows per page: default and most.
PAGE, MAX_PAGE = 50, 200

FACET_TITLES = {
    "procedure": _l("Contract type"),
    "segment": _l("Industry"),
    "family": _l("Industry family"),
    "buyer": _l("Agency"),
    "supplier": _l("Company"),
    "amount": _l("Amount"),
    "region": _l("Region"),
    "year": _l("Year"),
    "month": _l("Month"),
    "status": _l("Status"),
    "agreement": _l("Framework agreement"),
}

_FORMATS = {
    "segment": (re.compile(r"[0-9]{2}"), "two digits (a UNSPSC segment, such as 43)"),
    "family": (re.compile(r"[0-9]{4}"), "four digits (a UNSPSC family, such as 4321)"),
    "year": (re.compile(r"(19|20)[0-9]{2}"), "a year written YYYY, such as 2024"),
    "month": (re.compile(r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])"), "a month written YYYY-MM, such as 2024-03"),
}
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
_DATE = re.compile(r"(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}")


def _bad(name: str, accepted: str, given: str | None = None) -> None:
    shown = f", not {given[:40]!r}" if given is not None else ""
    abort(400, description=f"Parameter {name!r} must be {accepted}{shown}.")


def _amount(name: str) -> Decimal | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if _AMOUNT.fullmatch(raw) is None:
        _bad(name, "an amount written with digits and at most two decimals after a point (1500.50)", raw)
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        _bad(name, "an amount", raw)
    return None


def _date(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    accepted = "a date written YYYY-MM-DD, such as 2024-03-05"
    if _DATE.fullmatch(raw) is None:
        _bad(name, accepted, raw)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        _bad(name, accepted + " (a day that exists)", raw)
    return None


def parse_browse() -> Browse:
    """The listing's state from the query string, every parameter checked."""
    only_params(LISTING_PARAMS)
    selected: dict[str, tuple[str, ...]] = {}
    for facet in FACETS:
        values = tuple(dict.fromkeys(v for v in request.args.getlist(facet) if v != ""))
        if len(values) > MAX_VALUES:
            _bad(facet, f"at most {MAX_VALUES} values")
        for value in values:
            if len(value) > 255:
                _bad(facet, "a value of at most 255 characters")
            if facet in _FORMATS and _FORMATS[facet][0].fullmatch(value) is None:
                _bad(facet, _FORMATS[facet][1], value)
            if facet == "amount" and value not in AMOUNT_RANGES:
                _bad(facet, "one of " + ", ".join(AMOUNT_RANGES), value)
        if values:
            selected[facet] = values
    sort = request.args.get("sort", "-date")
    if sort not in SORTS:
        _bad("sort", "one of " + ", ".join(SORTS), sort)
    q = (request.args.get("q") or "").strip() or None
    if q is not None and len(q) > MAX_TEXT:
        _bad("q", f"at most {MAX_TEXT} characters")
    low, high = _amount("amount_min"), _amount("amount_max")
    if low is not None and high is not None and low > high:
        _bad("amount_max", "at least amount_min")
    since, until = _date("date_from"), _date("date_to")
    if since is not None and until is not None and since > until:
        _bad("date_to", "on or after date_from")
    return Browse(
        selected=selected,
        q=q,
        sort=sort,
        amount_min=low,
        amount_max=high,
        date_from=since,
        date_to=until,
    )


def _check_values(conn, browse: Browse) -> None:
    for facet, values in browse.selected.items():
        for value in values:
            if not queries.value_exists(conn, facet, value):
                _bad(
                    facet,
                    "a value that some published process has (see the facet's values on /contracts)",
                    value,
                )


def _candidates(browse: Browse):
    """Every process full-text search finds for ``q``, unranked and however many (a subquery
    of ocids, :func:`portal.search.matching`): the listing, its total and the facets' counts
    are over those and what ``q`` names exactly or in part (an order number, an ocid, a RUC:
    ``portal.readmodel.queries.text_condition``), so counts stay exact for any ``q``."""
    if browse.q is None:
        return None
    return search_matching(app_engine().dialect.name, browse.q)


def _page_conditions(conn, browse: Browse, candidates) -> dict:
    """The listing's conditions in the form that finds a page (or a download's batches)
    fastest: for a common ``q``, its full-text part checked row by row as the sort's
    index is walked (:func:`portal.search.page_matching`); the same rows either way."""
    conds = queries.conditions(browse, candidates)
    if browse.q is not None and candidates is not None:
        many = queries.identifier_is_common(conn, browse.q, search_database.COMMON_MATCHES)
        walk = page_matching(conn, browse.q, records.c.ocid, common=many)
        if walk is None and many:
            # PostgreSQL, a party identifier of many processes that their documents'
            # postings do not count (a RUC's are counted, as an identifier prefix: page_matching
            # walks it): the OR makes it walk the sort's index with each part hashed once
            # (73-101 ms at 1M for a supplier of 49,650, against 1.1 s reading and sorting
            # them all through IN).
            walk = records.c.ocid.in_(candidates)
        if walk is not None:
            conds["q"] = queries.text_condition(browse.q, walk=walk)
    return conds


def _facet_param() -> tuple[str | None, str | None]:
    facet = request.args.get("facet") or None
    if facet is not None and facet not in FACETS:
        _bad("facet", "one of " + ", ".join(FACETS), facet)
    facet_q = (request.args.get("facet_q") or "").strip() or None
    if facet_q is not None and facet is None:
        _bad("facet", "given with facet_q (the facet whose values to search)")
    if facet_q is not None and len(facet_q) > MAX_TEXT:
        _bad("facet_q", f"at most {MAX_TEXT} characters")
    return facet, facet_q


def _label(facet: str, value: str, label: str | None) -> str:
    if facet in ("segment", "family"):
        return industry_name(value) or value
    if facet == "procedure" and value in ("catalogue_order", "framework_agreement"):
        return str(_l("Catalogue order") if value == "catalogue_order" else _l("Framework agreement"))
    if facet == "amount":
        low, high = AMOUNT_RANGES[value]
        if high is None:
            return f"≥ {format_decimal(low)}"
        if low is None:
            return f"< {format_decimal(high)}"
        return f"{format_decimal(low)} – {format_decimal(high)}"
    if facet == "status":
        return status_word(value)  # an order's words; other codes as OCDS names them
    if facet == "procedure":
        return code_name(value)
    return label or value


def _limits(facet: str | None, facet_q: str | None) -> dict[str, int]:
    """How many values each facet shows: the largest of long facets, all of the searched one."""
    return {
        name: 50 if (facet_q and name == facet) or name in ("month", "year", "segment") else 12
        for name in FACETS
    }


def _counts(conn, browse: Browse, candidates, facet: str | None, facet_q: str | None):
    """The total and every facet's counts, from the in-memory tally of facet keys
    (:mod:`portal.readmodel.tally`), or with SQL when it cannot be used."""
    tally = current_app.extensions[FACET_TALLY].get(conn)
    conds = queries.conditions(browse, candidates, counting=True)
    limits = _limits(facet, facet_q)
    if tally is None:
        counts = {
            name: queries.facet_counts(
                conn, browse, conds, name, facet_q=facet_q if name == facet else None, limit=limits[name]
            )
            for name in FACETS
        }
        return queries.count(conn, conds), counts
    q_ocids, q_documents = None, None
    if browse.q is not None:
        # The full-text matches as document ids, which the tally maps to its processes (a
        # word in every process read as ocids cost 1.6 s of CPU at a million), the rest of q
        # (a RUC's processes, the ocid) as ocids.
        q_ocids = conn.execute(queries.text_ocids(browse.q)).scalars().all()
        if candidates is not None:
            q_documents = search_matching_ids(conn, browse.q)
    total, counted = tally_counts(
        tally, browse, q_ocids, limits, (facet, facet_q) if facet and facet_q else None, q_documents
    )
    for name, values in counted.items():
        missing = [v["value"] for v in values if (name, v["value"]) not in tally.names]
        if missing:
            named = queries.labels(conn, name, missing)
            tally.names.update({(name, value): named.get(value) for value in missing})
        for v in values:
            v["label"] = tally.names[(name, v["value"])]
    return total, counted


def listing() -> dict:
    """The listing's data: rows of one page, facets with counts, total, cursors."""
    browse = parse_browse()
    facet, facet_q = _facet_param()
    limit = whole_number("limit", PAGE, minimum=1, maximum=MAX_PAGE)
    cursor = request.args.get("cursor")
    after = None
    if cursor:
        try:
            after = decode_cursor(browse, cursor)
        except BadCursor as error:
            abort(
                400,
                description=f"Parameter 'cursor' cannot be used here: {error}; start again "
                "from the first page of this query.",
            )
    candidates = _candidates(browse)
    with app_engine().connect() as conn:
        version = last_release_id(conn)
        cache: FacetCache = current_app.extensions[FACET_CACHE]
        cache.get(version, ("checked", browse.filters()), lambda: _check_values(conn, browse))
        conds = _page_conditions(conn, browse, candidates)
        rows, more = queries.page(conn, browse, conds, limit, after)
        total, counts = cache.get(
            version,
            ("counts", browse.filters(), facet, facet_q),
            lambda: _counts(conn, browse, candidates, facet, facet_q),
        )
        # A bulk load adds its processes to the full-text index at its end: until then a
        # search does not find them, and the page says so.
        search_pending = browse.q is not None and documents_pending(conn)
    written = _count_text()
    facets = {
        name: [
            {
                **v,
                "label": _label(name, v["value"], v["label"]),
                "selected": v["value"] in browse.values(name),
                "count_text": written(v["count"]),
            }
            for v in values
        ]
        for name, values in counts.items()
    }
    next_cursor = (
        encode_cursor(browse, queries.sort_key(browse, rows[-1]), rows[-1]["ocid"]) if more and rows else None
    )
    return {
        "browse": browse,
        "rows": rows,
        "total": total,
        "facets": facets,
        "next": next_cursor,
        "limit": limit,
        "first_page": cursor is None,
        "facet": facet,
        "facet_q": facet_q,
        "search_pending": search_pending,
    }


def _count_text():
    """Counts written as ``format_decimal`` writes them, without its per-call lookups of the
    locale (a page shows a few hundred counts; formatting them cost more than counting)."""
    locale = get_locale() or Locale.parse("es")
    pattern = locale.decimal_formats[None]
    return lambda n: pattern.apply(n, locale)


def state_args(**changes) -> dict:
    """The current query string as url_for arguments (repeated parameters kept), changed."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args


@bp.app_context_processor
def _browse_links():
    """``lang_url(code)``: this very page in another language (every parameter kept);
    ``state_url(**changes)``: this page with parameters changed (None removes one)."""

    def lang_url(code: str) -> str:
        return url_for(request.endpoint or "home.index", **(request.view_args or {}), **state_args(lang=code))

    def state_url(**changes) -> str:
        return url_for(request.endpoint or "home.index", **(request.view_args or {}), **state_args(**changes))

    return {"lang_url": lang_url, "state_url": state_url, "profile_url": profile_url}


def profile_url(kind: str, key: str | None) -> str | None:
    """The profile page of a buyer, supplier (their OCDS party id) or framework agreement
    (its ocid); None without a key."""
    if not key:
        return None
    endpoint = {
        "buyer": "contracts.buyer",
        "supplier": "contracts.supplier",
        "agreement": "contracts.agreement",
    }[kind]
    return url_for(endpoint, key=key)


@bp.get("/contracts")
def contracts():
    """Every contracting process, filtered by facets, sorted, a page at a time."""
    data = listing()
    downloads = {
        "csv": url_for("contracts.contracts_csv", **_download_args()),
        "jsonl": url_for("contracts.contracts_download", **_download_args()),
        "json": url_for("contracts.contracts_json", **state_args()),
    }
    return render_template(
        "contracts.html", titles=FACET_TITLES, long_facets=sorted(LONG_FACETS), downloads=downloads, **data
    )


def _json(body: dict) -> Response:
    # Column names from SQLAlchemy are str subclasses, which orjson takes as keys only so.
    return Response(
        orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS), mimetype="application/json"
    )


def _json_row(row: dict) -> dict:
    return {
        **row,
        "amount": None if row["amount"] is None else str(row["amount"]),
        "url": url_for("contracts.contract", ocid=row["ocid"], _external=True),
    }


@bp.get("/contracts.json")
def contracts_json():
    """The listing's JSON twin: the same parameters, the same rows, facets and counts."""
    data = listing()
    body = {
        "total": data["total"],
        "results": [_json_row(r) for r in data["rows"]],
        "facets": {
            name: [{k: v[k] for k in ("value", "label", "count", "selected")} for v in values]
            for name, values in data["facets"].items()
        },
        "search_complete": not data["search_pending"],
        "next": url_for("contracts.contracts_json", _external=True, **state_args(cursor=data["next"]))
        if data["next"]
        else None,
        "downloads": {
            "csv": url_for("contracts.contracts_csv", _external=True, **_download_args()),
            "json": url_for("contracts.contracts_download", _external=True, **_download_args()),
        },
    }
    return _json(body)


def _download_args() -> dict:
    return state_args(cursor=None, limit=None, facet=None, facet_q=None)


DOWNLOAD_COLUMNS = (
    "ocid",
    "order_number",
    "title",
    "procedure",
    "status",
    "date",
    "buyer_id",
    "buyer_name",
    "supplier_id",
    "supplier_name",
    "agreement_ocid",
    "agreement_title",
    "delivery_region",
    "amount",
    "currency",
)


def _download_rows() -> tuple[Browse, dict]:
    only_params([p for p in LISTING_PARAMS if p not in ("cursor", "limit", "facet", "facet_q")])
    browse = parse_browse()
    candidates = _candidates(browse)
    with app_engine().connect() as conn:
        _check_values(conn, browse)
        return browse, _page_conditions(conn, browse, candidates)


@bp.get("/contracts.csv")
def contracts_csv():
    """Every row of the listing's result (not only a page) as CSV, streamed."""
    browse, conds = _download_rows()
    engine = app_engine()

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)  # writes None as an empty field
        writer.writerow(DOWNLOAD_COLUMNS)
        for rows in queries.every_batch(engine, browse, conds, DOWNLOAD_COLUMNS):
            writer.writerows(rows)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return Response(
        generate(), mimetype="text/csv", headers={"Content-Disposition": "attachment; filename=contracts.csv"}
    )


@bp.get("/contracts.jsonl")
def contracts_download():
    """Every row of the listing's result as JSON Lines (one JSON object a line), streamed."""
    browse, conds = _download_rows()
    engine = app_engine()

    def generate() -> Iterator[bytes]:
        for rows in queries.every_batch(engine, browse, conds, DOWNLOAD_COLUMNS):
            yield b"".join(
                orjson.dumps(dict(zip(DOWNLOAD_COLUMNS, row, strict=True)), default=str) + b"\n"
                for row in rows
            )

    return Response(
        generate(),
        mimetype="application/jsonl",
        headers={"Content-Disposition": "attachment; filename=contracts.jsonl"},
    )


# --- profiles -------------------------------------------------------------------------------

_PROFILE_FACET = {"buyer": "buyer", "supplier": "supplier", "agreement": "agreement"}


def _profile_data(conn, kind: str, key: str) -> dict | None:
    """A profile's figures from the facet tally (exact, in memory: a large agency's were
    seconds of SQL at a million processes), names from the database; with SQL when the tally
    cannot be used."""
    tally = current_app.extensions[FACET_TALLY].get(conn)
    if tally is None:
        return queries.profile(conn, kind, key)
    data = tally_profile(tally, kind, key)
    if data is None:
        return None
    data["name"] = queries.labels(conn, kind, [key]).get(key)
    other = "buyer" if kind == "supplier" else "supplier"
    names = queries.labels(conn, other, [c["id"] for c in data["counterparties"]])
    data["counterparties"] = [{**c, "name": names.get(c["id"])} for c in data["counterparties"]]
    return data


def _profile(kind: str, key: str) -> dict:
    only_params(())
    with app_engine().connect() as conn:
        cache: FacetCache = current_app.extensions[FACET_CACHE]
        version = last_release_id(conn)
        data = cache.get(version, ("profile", kind, key), lambda: _profile_data(conn, kind, key))
        data = None if data is None else {**data}  # the kept value stays as computed
        if data is None:
            abort(404, description=f"No published process has this {kind}: {key!r}.")
        rows, _ = queries.page(
            conn, Browse(selected={kind: (key,)}), queries.conditions(Browse(selected={kind: (key,)})), 20
        )
    data["industries"] = [
        {**i, "name": industry_name(i["segment"]) or i["segment"]} for i in data["industries"]
    ]
    data["latest"] = rows
    data["listing"] = url_for("contracts.contracts", **{_PROFILE_FACET[kind]: key})  # type: ignore[arg-type]
    return data


def _profile_json(kind: str, key: str) -> Response:
    data = _profile(kind, key)
    data["latest"] = [_json_row(r) for r in data["latest"]]
    data["listing"] = url_for("contracts.contracts_json", _external=True, **{_PROFILE_FACET[kind]: key})
    return _json(data)


def _render_profile(kind: str, key: str):
    data = _profile(kind, key)
    return render_template("profile.html", p=data, chart=spending_chart(data["months"]))


def spending_chart(months: list[dict], currency: str = "PEN") -> dict:
    """Bars of spending per month in ``currency``, as sizes an inline SVG draws (no script)."""
    bars = [m for m in months if m["currency"] == currency and m["amount"] is not None]
    top = max((m["amount"] for m in bars), default=0) or 1
    width = 12
    return {
        "currency": currency,
        "width": max(len(bars) * width, width),
        "height": 100,
        "bars": [
            {
                "x": i * width,
                "h": round(float(m["amount"] / top) * 96, 1),
                "month": m["month"],
                "amount": m["amount"],
            }
            for i, m in enumerate(bars)
        ],
    }


@bp.get("/buyers/<path:key>.json")
def buyer_json(key: str):
    """A buyer's profile as JSON."""
    return _profile_json("buyer", key)


@bp.get("/buyers/<path:key>")
def buyer(key: str):
    """A buyer (agency): what it bought, from whom, where and when."""
    return _render_profile("buyer", key)


@bp.get("/suppliers/<path:key>.json")
def supplier_json(key: str):
    """A supplier's profile as JSON."""
    return _profile_json("supplier", key)


@bp.get("/suppliers/<path:key>")
def supplier(key: str):
    """A supplier (company): what it sold, to whom, where and when."""
    return _render_profile("supplier", key)


@bp.get("/agreements/<path:key>.json")
def agreement_json(key: str):
    """A framework agreement's profile as JSON."""
    return _profile_json("agreement", key)


@bp.get("/agreements/<path:key>")
def agreement(key: str):
    """A framework agreement: its call-offs by agency, supplier, place and month."""
    return _render_profile("agreement", key)
