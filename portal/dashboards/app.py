"""The Dash app inside the portal: ``/dashboards/`` on the portal's own Flask server.

One server, one process model: Dash registers its routes on the portal's Flask app, so every
response gets the same settings, navigation, language and security headers (the CSP included).
Dash's own index page carries an inline ``<script>`` that starts its renderer; the CSP forbids
inline scripts, so the index is the portal's template (``index.html`` beside this module,
extending ``base.html``) and the renderer starts from ``static/dashboards/boot.js``.
Every asset is served locally (``serve_locally``): nothing comes from a CDN.

The URL is the state: ``/dashboards/<page>?<filters>`` renders the page with its figures in one
callback (the router); changing a filter redraws every chart in one callback and rewrites the
URL's query, which the router recognises as the view already drawn.
"""

from __future__ import annotations

from pathlib import Path

import dash
from dash import ALL, Input, Output, State, dcc, html
from dash.exceptions import (
    CallbackException,
    DependencyException,
    InvalidCallbackReturnValue,
    PreventUpdate,
)
from flask import Flask, Response, abort, current_app, jsonify, render_template_string, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from werkzeug.exceptions import BadRequest, NotFound

from portal.dashboards import charts, layout
from portal.dashboards import filters as dfilters
from portal.dashboards.pages import BY_PATH
from portal.db import app_engine
from portal.readmodel.cache import FacetCache

#: The index page (Dash's pieces inside the portal's base template).
INDEX = (Path(__file__).parent / "index.html").read_text(encoding="utf-8")

#: Dash's own routes under the prefix (its layout, callbacks, component bundles).
_DASH_ROUTES = ("_dash-", "_reload-hash", "_favicon.ico", "assets/")


#: The ``<style>`` elements Dash 4.4's component bundles and plotly.js insert (their fixed CSS,
#: and plotly's empty sheet that it then fills through the CSSOM), allowed by hash: the CSP still
#: forbids any other inline style and every inline script. A Dash upgrade that changes them
#: shows as a CSP violation in tests/portal/dashboards/test_dashboards_browser.py, which
#: prints the new hashes.
STYLE_HASHES = (
    "sha256-+QoPrsxO0auPnxSulD3bAr9CoDGgzv7YRfYE0vfxeQI=",
    "sha256-0IJGrxhCP5NUIafylLkj5118xkZH1kp5FmNio7NOckI=",
    "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "sha256-Aq43X0SlmB69maWGob4rp/UuSHhwePalkRRExtsxOJ8=",
    "sha256-Do5Z9ZqsPvCQTUBQS9BnDm/2+on7omuzuLYk5sbA+2s=",
    "sha256-ITR5T9OwskhdqdsliUJRmgp9ltOFAHgXe1F7eRvGnmQ=",
    "sha256-MJs2ke1SA6Cy3tTCZu2QH0rj0r//iNqU0idy9bM4leg=",
    "sha256-SkhFDxgIcEjMhRh19uSHWrkdnAlZ9rlskgr9yLsipa8=",
    "sha256-VUA+tqvhK3niMn7AdszqidMFPRh9FLqxB2iINUrsiTw=",
    "sha256-X2TqJwnIiE/ceDVeAdr7v7BOWBU6CEzE6qxlNzBzvBk=",
    "sha256-Z8VokGxeiKThZOEmkdUgfW+jxbvItBwAXC8M1c4wqAM=",
    "sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o=",
    "sha256-mKP5Nh9J+3FomkYQF5DWFgmUmC9oEOyh3LiTtE1PwKo=",
    "sha256-uDiOZWps1U7E8/0BTaQrclYMhVhRVE4dT0vb5X6nXOw=",
)

#: The portal's CSP (``portal.views``) with those styles allowed, for the dashboards' pages.
CSP = (
    "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' " + " ".join(f"'{h}'" for h in STYLE_HASHES) + "; "
    "script-src 'self'; connect-src 'self' https: http:; frame-ancestors 'none'"
)


class PortalDash(dash.Dash):
    """Dash whose index page is the portal's, with no inline script."""

    def interpolate_index(self, **kwargs) -> str:  # type: ignore[override]
        page = BY_PATH.get(_page_path(request.path))
        return render_template_string(
            INDEX,
            page_title=str(page.TITLE) if page is not None else "",
            dash_css=Markup(kwargs.get("css", "")),
            app_entry=Markup('<div id="react-entry-point"><p class="_dash-loading">{}</p></div>').format(
                gettext("Loading the charts…")
            ),
            dash_config=Markup(kwargs.get("config", "")),
            dash_scripts=Markup(kwargs.get("scripts", "")),
            boot_src=url_for("static", filename="dashboards/boot.js"),
            css_href=url_for("static", filename="dashboards/dashboards.css"),
        )


def _page_path(path: str) -> str:
    return path[len(layout.PREFIX) :].strip("/") if path.startswith(layout.PREFIX) else ""


def _locales() -> tuple[str, ...]:
    return tuple(code.strip() for code in current_app.config["LOCALES"].split(","))


def _filters_or_400() -> dfilters.Filters:
    """The request's filters, every parameter and value checked (400 naming what is wrong)."""
    try:
        filters = dfilters.parse(request.args.items(multi=True), _locales())
    except dfilters.BadFilter as error:
        abort(400, description=str(error))
    with app_engine().connect() as conn:
        unknown = dfilters.unknown_values(conn, filters)
    if unknown:
        name, value = unknown[0]
        abort(
            400,
            description=f"Parameter {name!r} must be a value that some published process has "
            f"(see the filter's values), not {value[:40]!r}.",
        )
    return filters


def _inputs_ok(value: object) -> bool:
    """A list of ``{"id", "property", ...}`` (or of such lists, for pattern-matching ids)."""
    if not isinstance(value, list):
        return False
    for item in value:
        if isinstance(item, list):
            if not _inputs_ok(item):
                return False
        elif not (isinstance(item, dict) and "id" in item and isinstance(item.get("property"), str)):
            return False
    return True


def _check_callback() -> None:
    """A callback request Dash would fail on with a server error (a body that is not the
    renderer's shape, an output no callback has) is a 400 that says so."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="A callback request is a JSON object, as the dashboards' page sends it.")
    dash_app = current_app.extensions["veraz.dashboards"]
    outputs = body.get("outputs")
    if (
        body.get("output") not in dash_app.callback_map
        or not isinstance(outputs, dict | list)
        or not _inputs_ok(outputs if isinstance(outputs, list) else [outputs])
        or not _inputs_ok(body.get("inputs"))
        or not _inputs_ok(body.get("state", []))
        or not isinstance(body.get("changedPropIds", []), list)
    ):
        abort(400, description="This callback request does not match any of the dashboards' callbacks.")


def _check_page() -> None:
    """Before Dash answers a page: 404 for an unknown page, 400 for a bad filter or callback."""
    if request.method == "POST" and request.path == f"{layout.PREFIX}_dash-update-component":
        _check_callback()
        return
    if request.method != "GET" or not request.path.startswith(layout.PREFIX):
        return
    rest = request.path[len(layout.PREFIX) :]
    if rest.startswith(_DASH_ROUTES) or rest.startswith("data/"):
        return
    if rest.strip("/") not in BY_PATH:
        abort(404)
    _filters_or_400()


def _csp(response: Response) -> Response:
    if request.path.startswith(layout.PREFIX):
        response.headers["Content-Security-Policy"] = CSP
    return response


def _unknown_asset(error: DependencyException):
    """A component bundle Dash does not serve (a mistyped or forged path) is not found, not a
    server error (answered by the portal's error handler, as any 404)."""
    return current_app.handle_http_exception(NotFound())


def _bad_callback(error: CallbackException):
    """A callback request whose outputs or inputs do not match the callback it names (Dash
    finds it out while dispatching) is the client's mistake: 400. A callback returning what
    its outputs cannot take is ours, and stays a server error."""
    if isinstance(error, InvalidCallbackReturnValue):
        raise error
    return current_app.handle_http_exception(
        BadRequest("This callback request does not match any of the dashboards' callbacks.")
    )


def chart_data(name: str, ext: str):
    """``/dashboards/data/<chart>.csv`` (or ``.json``): exactly the groups the chart plots."""
    chart = charts.CHARTS.get(name)
    if chart is None or ext not in ("csv", "json"):
        abort(404)
    filters = _filters_or_400()
    with app_engine().connect() as conn:
        groups = charts.rows(conn, chart, filters)
    if ext == "json":
        groups_json = charts.as_json(chart, groups)
        return jsonify({"chart": chart.name, "filters": dict(filters.selected), "groups": groups_json})
    response = Response(charts.csv_text(chart, groups), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{chart.name}.csv"'
    return response


def _root_layout() -> html.Div:
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="rendered"),
            html.Div(id="page"),
        ]
    )


def _register_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output("page", "children"),
        Output("rendered", "data"),
        Input("url", "pathname"),
        Input("url", "search"),
        State("rendered", "data"),
    )
    def route(pathname, search, rendered):
        """Draw the page the URL names, unless it is the view already on screen (a filter
        change has just written it)."""
        if not isinstance(pathname, str) or rendered == [pathname, search or ""]:
            raise PreventUpdate  # nothing new, or not what the page's location sends
        if not isinstance(search, str):
            search = ""
        module = BY_PATH.get(_page_path(pathname))
        if module is None:
            return html.P(layout.not_found_text(), className="dash-error"), [pathname, search or ""]
        try:
            filters = dfilters.parse_search(search, _locales())
        except dfilters.BadFilter as error:
            return html.P(str(error), className="dash-error"), [pathname, search or ""]
        with app_engine().connect() as conn:
            return layout.page(conn, module, filters), [pathname, search or ""]

    inputs = [Input(f"f-{name}", "value") for name in dfilters.FILTERS]

    @app.callback(
        Output("url", "search"),
        Output("rendered", "data", allow_duplicate=True),
        Output("dash-totals", "children"),
        *[Output(f"f-{name}", "options") for name in dfilters.FILTERS],
        Output({"type": "graph", "name": ALL}, "figure"),
        Output({"type": "csv", "name": ALL}, "href"),
        Output({"type": "orders", "name": ALL}, "href"),
        Output({"type": "table", "name": ALL}, "children"),
        Output({"type": "pagelink", "name": ALL}, "href"),
        *inputs,
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def redraw(*args):
        """Every chart, link and count of the page under the filters just chosen."""
        *values, pathname, search = args
        if not isinstance(search, str):
            search = ""
        try:
            lang = dfilters.parse_search(search, _locales()).lang
            chosen = [
                (name, str(v)) for name, vs in zip(dfilters.FILTERS, values, strict=True) for v in vs or ()
            ]
            filters = dfilters.parse(chosen, _locales())
        except (dfilters.BadFilter, TypeError):
            raise PreventUpdate from None
        filters = dfilters.Filters(filters.selected, lang)
        outputs = dash.callback_context.outputs_list
        try:
            names = [o["id"]["name"] for o in outputs[-5]]
            pages = [o["id"]["name"] for o in outputs[-1]]
        except (KeyError, TypeError, IndexError):
            raise PreventUpdate from None
        if not set(names) <= set(charts.CHARTS) or not set(pages) <= {"overview", *BY_PATH}:
            raise PreventUpdate  # outputs no page of the dashboards has
        query = filters.query_string()
        new_search = f"?{query}" if query else ""
        with app_engine().connect() as conn:
            options = [layout._options(conn, filters, name) for name in dfilters.FILTERS]
            groups = {n: charts.rows(conn, charts.CHARTS[n], filters) for n in names}
            totals = layout.totals_text(conn, filters)
        return (
            new_search,
            [pathname, new_search],
            totals,
            *options,
            [charts.figure(charts.CHARTS[n], groups[n]) for n in names],
            [layout.data_url(charts.CHARTS[n], filters) for n in names],
            [layout.behind_url(charts.CHARTS[n], filters) for n in names],
            [layout.data_table(charts.CHARTS[n], groups[n]) for n in names],
            [layout.page_url(BY_PATH["" if p == "overview" else p], filters) for p in pages],
        )


def init_app(flask_app: Flask) -> dash.Dash:
    """Mount the dashboards on ``flask_app`` at ``/dashboards/``."""
    flask_app.extensions[charts.CACHE] = FacetCache()
    app = PortalDash(
        __name__,
        server=flask_app,  # type: ignore[arg-type]  # Dash accepts a Flask app (its stub says bool)
        url_base_pathname=layout.PREFIX,
        serve_locally=True,
        include_assets_files=False,
        assets_folder=str(Path(__file__).parent / "no-assets"),
        suppress_callback_exceptions=True,
        compress=False,  # the portal compresses its responses itself
        update_title=None,  # type: ignore[arg-type]  # None: the tab title does not flicker
        title="Veraz",
    )
    app.layout = _root_layout
    _register_callbacks(app)
    flask_app.before_request(_check_page)
    flask_app.register_error_handler(DependencyException, _unknown_asset)
    flask_app.register_error_handler(CallbackException, _bad_callback)
    flask_app.after_request(_csp)  # runs before the portal's headers, which keep it
    flask_app.add_url_rule(f"{layout.PREFIX}data/<name>.<ext>", "dashboards.data", chart_data)
    flask_app.extensions["veraz.dashboards"] = app
    return app
