"""How any dashboard page is drawn: its navigation, the shared filters and its charts.

Everything here runs in a request (the page's render or a filter change), so the words are in
the reader's language and the figures come from the read model through ``charts.rows``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from dash import dcc, html
from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import Connection

from portal.dashboards import charts
from portal.dashboards import filters as dfilters
from portal.dashboards.pages import PAGES
from portal.readmodel import queries as readmodel
from portal.readmodel.names import industry_name
from portal.readmodel.tally import counts as tally_counts
from portal.views.browse import FACET_TALLY

#: Where the dashboards live.
PREFIX = "/dashboards/"

#: Values a filter lists (the largest; a selected value is always listed too).
OPTIONS = 60


def _aria(attributes: dict[str, str]) -> dict[str, Any]:
    """ARIA attributes for a Dash html component (its signature types only the named props)."""
    return attributes


def filter_titles() -> dict[str, str]:
    return {
        "year": _("Years"),
        "region": _("Region"),
        "buyer": _("Agency"),
        "supplier": _("Supplier"),
        "segment": _("Industry"),
        "family": _("Industry family"),
        "agreement": _("Framework agreement"),
    }


def page_url(page: ModuleType, filters: dfilters.Filters) -> str:
    query = filters.query_string()
    return PREFIX + page.PATH + (f"?{query}" if query else "")


def data_url(chart: charts.Chart, filters: dfilters.Filters, ext: str = "csv") -> str:
    query = filters.query_string(with_lang=False)
    return f"{PREFIX}data/{chart.name}.{ext}" + (f"?{query}" if query else "")


def orders_url(filters: dfilters.Filters) -> str:
    """The ``/contracts`` listing with the same filters: the orders behind a chart."""
    query = filters.query_string()
    return url_for("contracts.contracts") + (f"?{query}" if query else "")


def behind_url(chart: charts.Chart, filters: dfilters.Filters) -> str:
    """Where a chart's link leads: the orders behind it, or for the red flags, the flags page."""
    return charts.flags_url(filters) if chart.flags else orders_url(filters)


def _counted(conn: Connection, filters: dfilters.Filters) -> dict[str, list[tuple[str, str | None, int]]]:
    """Every filter's values with their counts under the other filters: the listing's own
    counts (the in-memory tally of ``portal.readmodel.tally`` when the app has it, else SQL),
    cached with the charts."""

    def compute() -> dict[str, list[tuple[str, str | None, int]]]:
        browse = filters.browse()
        holder = current_app.extensions.get(FACET_TALLY)
        tally = holder.get(conn) if holder is not None else None
        if tally is None:
            conds = readmodel.conditions(browse, counting=True)
            found = {
                name: readmodel.facet_counts(conn, browse, conds, name, limit=OPTIONS)
                for name in dfilters.FILTERS
            }
        else:
            _total, found = tally_counts(tally, browse, None, {name: OPTIONS for name in dfilters.FILTERS})
            for name, values in found.items():
                named = readmodel.labels(conn, name, [v["value"] for v in values])
                for v in values:
                    v["label"] = named.get(v["value"])
        return {
            name: [(f["value"], f["label"], f["count"]) for f in values] for name, values in found.items()
        }

    return charts._cache().get(charts.last_release_id(conn), ("options", filters.key()), compute)


def _options(conn: Connection, filters: dfilters.Filters, name: str) -> list[dict]:
    """A filter's choices: ``{"label": "name (count)", "value"}``, years newest first."""
    found = _counted(conn, filters)[name]
    if name == "year":
        found = sorted(found, reverse=True)
    out = []
    for value, label, count in found:
        if name in ("segment", "family"):
            label = industry_name(value) or value
        shown = label or value
        out.append({"label": f"{shown} ({charts.number(count)})", "value": value})
    return out


def filter_bar(conn: Connection, filters: dfilters.Filters) -> html.Section:
    titles = filter_titles()
    fields = []
    for name in dfilters.FILTERS:
        fields.append(
            html.Div(
                [
                    html.Label(titles[name], htmlFor=f"f-{name}"),
                    dcc.Dropdown(
                        id=f"f-{name}",
                        options=_options(conn, filters, name),
                        value=list(filters.values(name)),
                        multi=True,
                        placeholder=_("All"),
                        searchable=True,
                    ),
                ],
                className="dash-filter",
            )
        )
    return html.Section(
        [html.H2(_("Filters"), className="visually-hidden"), *fields],
        className="dash-filters",
        **_aria({"aria-label": _("Filters")}),
    )


def totals_text(conn: Connection, filters: dfilters.Filters) -> str:
    total = charts.totals(conn, filters)
    return _(
        "%(orders)s orders, %(amount)s spent",
        orders=charts.number(total.orders),
        amount=charts.money(total.amount),
    )


def data_table(chart: charts.Chart, groups: list) -> html.Table:
    if chart.flags:
        rows = [
            html.Tr([html.Td(charts.label(chart, g)), html.Td(charts.number(g.orders), className="num")])
            for g in groups
        ]
        head = html.Tr([html.Th(_("Red flag")), html.Th(_("Things flagged"))])
        return html.Table([html.Thead(head), html.Tbody(rows)], className="dash-data")
    head = html.Tr([html.Th(_("Name")), html.Th(_("Orders")), html.Th(_("Amount"))])
    body = [
        html.Tr(
            [
                html.Td(charts.label(chart, g)),
                html.Td(charts.number(g.orders), className="num"),
                html.Td(charts.money(g.amount), className="num"),
            ]
        )
        for g in groups
    ]
    return html.Table([html.Thead(head), html.Tbody(body)], className="dash-data")


def chart_card(conn: Connection, chart: charts.Chart, filters: dfilters.Filters) -> html.Section:
    groups = charts.rows(conn, chart, filters)
    name = chart.name
    return html.Section(
        [
            html.H2(str(chart.title), id=f"title-{name}"),
            dcc.Graph(
                id={"type": "graph", "name": name},
                figure=charts.figure(chart, groups),
                config={"displayModeBar": False, "responsive": True, "scrollZoom": False},
                className="dash-graph",
            ),
            html.P(
                [
                    html.A(
                        _("Download these data (CSV)"),
                        id={"type": "csv", "name": name},
                        href=data_url(chart, filters),
                        className="csv-link",
                    ),
                    " · ",
                    html.A(
                        _("See each flag and what it marks")
                        if chart.flags
                        else _("See the orders behind this chart"),
                        id={"type": "orders", "name": name},
                        href=behind_url(chart, filters),
                        className="orders-link",
                    ),
                ],
                className="dash-links",
            ),
            html.Details(
                [
                    html.Summary(_("The chart's data as a table")),
                    html.Div(data_table(chart, groups), id={"type": "table", "name": name}),
                ]
            ),
        ],
        className="dash-card",
        id=f"chart-{name}",
        **_aria({"aria-labelledby": f"title-{name}"}),
    )


def page_nav(current: ModuleType, filters: dfilters.Filters) -> html.Nav:
    links = []
    for page in PAGES:
        links.append(
            dcc.Link(
                str(page.TITLE),
                href=page_url(page, filters),
                id={"type": "pagelink", "name": page.PATH or "overview"},
                className="current" if page is current else "",
            )
        )
    return html.Nav(links, className="dash-pages", **_aria({"aria-label": _("Dashboards")}))


def not_found_text() -> str:
    return _("There is no dashboard at this address.")


def flags_notice(filters: dfilters.Filters) -> html.Div:
    """What the red flags page adds: where each flag is explained, and which filters the flags
    cannot follow (they are kept per agency, supplier, agreement and month)."""
    _chosen, left_out = charts.flag_filters(filters)
    titles = filter_titles()
    content = [
        html.P(
            _(
                "Each flag, its method, its thresholds and the orders it raised are listed on "
                "the red flags page."
            )
        ),
        html.A(_("Open the red flags"), href=charts.flags_url(filters), id="flags-link"),
    ]
    if left_out:
        content.append(
            html.P(
                _(
                    "The flags are not filtered by: %(filters)s.",
                    filters=", ".join(titles[n] for n in left_out),
                ),
                className="dash-note",
            )
        )
    return html.Div(content, className="dash-card", id="flags-notice")


def page(conn: Connection, module: ModuleType, filters: dfilters.Filters) -> html.Div:
    """A whole page with its figures drawn (a permalink renders in one request)."""
    body = [charts.CHARTS[name] for name in module.CHARTS]
    content = [
        html.H1(str(module.TITLE)),
        html.P(str(module.INTRO), className="dash-intro"),
        page_nav(module, filters),
        filter_bar(conn, filters),
        html.P(
            totals_text(conn, filters),
            id="dash-totals",
            className="dash-totals",
            **_aria({"aria-live": "polite"}),
        ),
    ]
    if module.PATH == "flags":
        content.append(flags_notice(filters))
    content.extend(chart_card(conn, chart, filters) for chart in body)
    return html.Div(content, className="dashboards")
