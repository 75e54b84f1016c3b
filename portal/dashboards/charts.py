"""Every chart of the dashboards: what it asks of the read model, how it is drawn, its CSV.

A chart's rows (:func:`rows`) are computed once per published state and filters (cached like
the listing's facet counts, ``portal.readmodel.cache``); the figure, the data table under it
and its CSV are all made from those same rows, so the CSV is exactly what is plotted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import plotly.graph_objects as go
from flask import current_app
from flask_babel import format_currency, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from portal import flags
from portal.dashboards import filters as dfilters
from portal.dashboards import queries
from portal.db import app_engine
from portal.queries import last_release_id
from portal.readmodel.cache import FacetCache
from portal.readmodel.names import industry_name

#: Where each app keeps the charts' cache (``app.extensions``).
CACHE = "veraz.dashboards_cache"

#: Okabe and Ito's palette, told apart by people with any common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: Groups a ranked chart shows; characters of a group's name on its axis.
TOP, LABEL = 15, 22


@dataclass(frozen=True)
class Chart:
    """One chart: ``by`` is its breakdown (``portal.dashboards.queries.BREAKDOWNS``),
    ``measure`` what its bars are (``amount`` in soles or ``orders``)."""

    name: str
    title: object  # a lazy string: translated when shown
    by: str
    measure: str = "amount"

    @property
    def ranked(self) -> bool:
        return self.by not in ("month", "year")

    @property
    def flags(self) -> bool:
        return self.by == "flag"

    @property
    def limit(self) -> int | None:
        return TOP if self.ranked else None


CHARTS = {
    c.name: c
    for c in (
        Chart("spending-by-month", _l("Spending per month"), "month"),
        Chart("orders-by-month", _l("Orders per month"), "month", "orders"),
        Chart("spending-by-year", _l("Spending per year"), "year"),
        Chart("top-agencies", _l("Agencies that spend the most"), "buyer"),
        Chart("agencies-by-orders", _l("Agencies that place the most orders"), "buyer", "orders"),
        Chart("top-suppliers", _l("Suppliers paid the most"), "supplier"),
        Chart("suppliers-by-orders", _l("Suppliers with the most orders"), "supplier", "orders"),
        Chart("top-industries", _l("Spending per industry (UNSPSC segment)"), "segment"),
        Chart("top-regions", _l("Spending per delivery region"), "region"),
        Chart("regions-by-orders", _l("Orders per delivery region"), "region", "orders"),
        Chart("top-agreements", _l("Spending per framework agreement"), "agreement"),
        Chart("agreements-by-orders", _l("Orders per framework agreement"), "agreement", "orders"),
        Chart("flags-raised", _l("What each red flag marks"), "flag", "flagged"),
    )
}


def _cache() -> FacetCache:
    return current_app.extensions[CACHE]


def flag_filters(filters: dfilters.Filters) -> tuple[flags.Filters, list[str]]:
    """The red flags' filters (``portal.flags.Filters``: one agency, supplier or agreement, a
    range of months) closest to the dashboards' filters, and the filters they leave out (the
    flags are not kept by region or industry, nor by several agencies at once)."""
    kept: dict[str, str | None] = {}
    left_out = []
    for name in ("buyer", "supplier", "agreement"):
        values = filters.values(name)
        if len(values) == 1:
            kept[name] = values[0]
        elif values:
            left_out.append(name)
    years = filters.values("year")
    month_from = f"{min(years)}-01" if years else None
    month_to = f"{max(years)}-12" if years else None
    left_out += [name for name in ("region", "segment", "family") if filters.values(name)]
    return flags.Filters(month_from=month_from, month_to=month_to, **kept), left_out


def flags_url(filters: dfilters.Filters) -> str:
    """The ``/flags`` page with the same filters (as far as it has them)."""
    chosen, _left_out = flag_filters(filters)
    pairs = [
        (name, value)
        for name, value in (
            ("buyer", chosen.buyer),
            ("supplier", chosen.supplier),
            ("agreement", chosen.agreement),
            ("from", chosen.month_from),
            ("to", chosen.month_to),
        )
        if value
    ]
    if filters.lang:
        pairs.append(("lang", filters.lang))
    return "/flags" + (f"?{urlencode(pairs)}" if pairs else "")


def _flag_rows(filters: dfilters.Filters) -> list[queries.Group]:
    """Per red flag, how many things (orders, agencies, suppliers, pairs, agreements) it marks
    under the filters; none while the flags are not computed (``veraz flags refresh``). Read on
    a connection of its own: a database without the flags' tables aborts its transaction."""
    chosen, _left_out = flag_filters(filters)
    english = str(get_locale() or "es").startswith("en")
    try:
        with app_engine().connect() as own:
            summary = flags.summary(own, chosen)
    except DBAPIError:
        return []
    groups = [
        queries.Group(
            row["code"],
            flags.BY_CODE[row["code"]].title_en if english else flags.BY_CODE[row["code"]].title_es,
            int(row["count"]),
            Decimal(0),
            None,
        )
        for row in summary
    ]
    return sorted(groups, key=lambda g: (-g.orders, g.key or ""))


def rows(conn: Connection, chart: Chart, filters: dfilters.Filters) -> list[queries.Group]:
    """The chart's groups under ``filters``, kept until the next release is published.
    Ranked charts by orders rank by orders (largest first, then by key)."""
    if chart.flags:
        return _flag_rows(filters)  # not cached: the flags are refreshed after each import
    by_orders = chart.ranked and chart.measure == "orders"
    key = ("chart", chart.by, by_orders, filters.key())

    def compute() -> list[queries.Group]:
        rank = "orders" if by_orders else "amount"
        fast = queries.summarised(conn, chart.by, dict(filters.selected), limit=chart.limit, rank=rank)
        if fast is None:
            fast = _tallied(conn, chart.by, filters, limit=chart.limit, rank=rank)
        if fast is not None:
            return fast
        conds = dfilters.conditions(filters)
        return queries.breakdown(conn, chart.by, conds, limit=chart.limit, rank=rank)

    return _cache().get(last_release_id(conn), key, compute)


def _tallied(
    conn: Connection, by: str, filters: dfilters.Filters, *, limit: int | None = None, rank: str = "amount"
) -> list[queries.Group] | None:
    """The breakdown counted from the app's facet tally (``portal.dashboards.tallied``) when it
    is loaded and follows the read model's version; None otherwise (the first seconds of a
    large portal's process, while it loads in the background), and the caller reads SQL."""
    from portal.views.browse import FACET_TALLY

    holder = current_app.extensions.get(FACET_TALLY)
    tally = holder.get(conn) if holder is not None else None
    if tally is None:
        return None
    return queries.tallied(conn, tally, by, dict(filters.selected), limit=limit, rank=rank)


def totals(conn: Connection, filters: dfilters.Filters) -> queries.Group:
    """Orders and soles under ``filters`` (cached as the charts are)."""

    def compute() -> queries.Group:
        summed = queries.summarised(conn, "total", dict(filters.selected))
        if summed is None:
            summed = _tallied(conn, "total", filters)
        return summed[0] if summed else queries.totals(conn, dfilters.conditions(filters))

    return _cache().get(last_release_id(conn), ("totals", filters.key()), compute)


def label(chart: Chart, group: queries.Group) -> str:
    """A group's name in the reader's language: an industry's UNSPSC name, a month as
    written (YYYY-MM), an agency's or supplier's name as published (else its id)."""
    if chart.by == "segment":
        return industry_name(group.key) or str(group.key)
    return str(group.label or group.key or "—")


def money(amount: Decimal) -> str:
    """An amount in soles as the reader's locale writes it (S/ 1,234.50; PEN 1,234.50)."""
    try:
        text = format_currency(amount, "PEN")
    except (ArithmeticError, ValueError):  # beyond Babel's digits: as the database gave it
        return f"{amount} PEN"
    if text.startswith("PEN") and text[3:4].isdigit():
        text = "PEN\u00a0" + text[3:]
    return text


def number(value: int) -> str:
    return format_decimal(value)


def measure_title(chart: Chart) -> str:
    if chart.flags:
        return _("Things flagged")
    return _("Amount (soles)") if chart.measure == "amount" else _("Orders")


def value_of(chart: Chart, group: queries.Group) -> Decimal | int:
    return group.amount if chart.measure == "amount" else group.orders  # flags: things flagged


def figure(chart: Chart, groups: list[queries.Group]) -> go.Figure:
    """The chart drawn from ``groups``: bars over time, or ranked horizontal bars (largest on
    top), with hover text and axes in the reader's language."""
    names = [label(chart, g) for g in groups]
    values = [float(value_of(chart, g)) for g in groups]
    if chart.flags:
        flagged = _("Things flagged")
        hover = [f"{name}<br>{flagged}: {number(g.orders)}" for name, g in zip(names, groups, strict=True)]
    else:
        hover = [
            f"{name}<br>{_('Amount')}: {money(g.amount)}<br>{_('Orders')}: {number(g.orders)}"
            for name, g in zip(names, groups, strict=True)
        ]
    colour = OKABE_ITO[0] if chart.measure == "amount" else OKABE_ITO[1]
    if chart.ranked:
        # Short enough for a 360 px phone to keep room for the bars; the full name is in the
        # hover text and the data table.
        short = [n if len(n) <= LABEL else n[: LABEL - 1] + "…" for n in names]
        bar = go.Bar(
            x=values,
            y=short,
            orientation="h",
            marker_color=colour,
            hovertext=hover,
            hoverinfo="text",
            customdata=[g.key for g in groups],
        )
    else:
        bar = go.Bar(
            x=names,
            y=values,
            marker_color=colour,
            hovertext=hover,
            hoverinfo="text",
            customdata=[g.key for g in groups],
        )
    fig = go.Figure(bar)
    ticks = "~s" if chart.measure == "amount" else ",d"
    axis = {"title": {"text": measure_title(chart)}, "tickformat": ticks}
    fig.update_layout(
        separators=".,",  # es_PE and en both write 1,234.5
        margin={"l": 8, "r": 24, "t": 8, "b": 8},
        height=max(260, 28 * len(groups) + 80) if chart.ranked else 320,
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
        font={"family": "system-ui, sans-serif", "size": 13},
        hoverlabel={"align": "left"},
        dragmode=False,
    )
    if chart.ranked:
        fig.update_xaxes(**axis, gridcolor="#dddddd", nticks=4, tickangle=0)
        fig.update_yaxes(autorange="reversed", automargin=True, title=None)
    else:
        fig.update_yaxes(**axis, gridcolor="#dddddd")
        fig.update_xaxes(type="category", title={"text": _("Month") if chart.by == "month" else _("Year")})
    return fig


#: The CSV's columns: the group's id, its name, the orders and amount behind it, the currency.
CSV_COLUMNS = ("key", "name", "orders", "amount", "currency")
#: A red flags chart's CSV: the flag's code, its title, how many things it marks.
FLAG_CSV_COLUMNS = ("key", "name", "flagged")


def csv_text(chart: Chart, groups: list[queries.Group]) -> str:
    """The plotted groups as CSV (RFC 4180, header row, amounts with a point and cents)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if chart.flags:
        writer.writerow(FLAG_CSV_COLUMNS)
        writer.writerows((g.key, label(chart, g), g.orders) for g in groups)
        return out.getvalue()
    writer.writerow(CSV_COLUMNS)
    for g in groups:
        writer.writerow((g.key, label(chart, g), g.orders, str(g.amount), g.currency))
    return out.getvalue()


def as_json(chart: Chart, groups: list[queries.Group]) -> list[dict]:
    if chart.flags:
        return [{"key": g.key, "name": label(chart, g), "flagged": g.orders} for g in groups]
    return [
        {
            "key": g.key,
            "name": label(chart, g),
            "orders": g.orders,
            "amount": str(g.amount),
            "currency": g.currency,
        }
        for g in groups
    ]
