"""/dashboards/ in headless Chromium at 360 px, served by gunicorn: open a permalink, choose a
filter with the keyboard, see the URL change, reload and get the same view, go back, download
a chart's CSV and compare it with the plotted values, switch language; the console shows no
CSP violation and nothing is wider than the phone."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from support import need

from ocds.catalogue.generate import write_orders
from portal.db import make_engine
from portal.publishing import import_orders

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHART = "#chart-top-suppliers"


@pytest.fixture
def served(sqlite_url, tmp_path, gunicorn):
    path = tmp_path / "orders.jsonl"
    write_orders(path, 400, 12)
    engine = make_engine(sqlite_url)
    import_orders(engine, path, ocid_prefix="ocds-vrz0pe", workers=1)
    engine.dispose()
    return gunicorn.start(sqlite_url, tmp_path / "inst")


def _params(url: str) -> dict:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


def _json(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def _plotted(page) -> list[float]:
    """The values the chart's bars show, as plotly holds them in the page."""
    return page.evaluate(f"document.querySelector('{CHART} .js-plotly-plot').data[0].x")


def _eventually(page, expression: str, arg=None, tries: int = 300) -> bool:
    """Whether ``expression`` (a function of ``arg``) becomes true in the page within ``tries``
    tenths of a second."""
    for _ in range(tries):
        if page.evaluate(expression, arg):
            return True
        page.wait_for_timeout(100)
    return False


def _until(page, expression: str, arg=None) -> None:
    """Wait until ``expression`` (a function of ``arg``) is true in the page. Playwright's own
    wait_for_function evaluates a string, which the portal's CSP (no unsafe-eval) refuses."""
    for _ in range(300):
        if page.evaluate(expression, arg):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never true: {expression}")


def _wait_drawn(page) -> None:
    page.wait_for_selector(f"{CHART} .js-plotly-plot .main-svg", timeout=30_000)


@pytest.mark.browser
def test_a_permalink_a_filter_reload_back_csv_and_language(served):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    year = max(g["key"] for g in _json(f"{served}/dashboards/data/spending-by-year.json")["groups"])
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
            ],
        )
        page = browser.new_page(viewport={"width": 360, "height": 740}, accept_downloads=True)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{served}/dashboards/suppliers?year={year}")
        _wait_drawn(page)
        assert page.locator("h1").inner_text() == "Proveedores"
        assert year in page.locator("#f-year").inner_text()
        expected = _json(f"{served}/dashboards/data/top-suppliers.json?year={year}")["groups"]
        assert _plotted(page) == [float(g["amount"]) for g in expected]
        before = page.locator("#dash-totals").inner_text()

        # Choose the first region with the keyboard: Tab to its list, open it, pick, close.
        page.locator(".dash-pages a").last.focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "f-year"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "f-region"
        # The dropdown renders its options after it opens; a key pressed while it is still
        # drawing them is lost, so the choice is made again (with the keyboard) until it lands.
        for _attempt in range(5):
            page.keyboard.press("Enter")
            page.locator("[role=option]").first.wait_for(timeout=30_000)
            page.wait_for_timeout(300)
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            if _eventually(page, "() => location.search.includes('region=')", tries=50):
                break
            page.locator("#f-region").focus()
        _until(page, "() => location.search.includes('region=')")
        params = _params(page.url)
        assert params["year"] == [year] and len(params["region"]) == 1
        region = params["region"][0]
        _until(page, "before => document.querySelector('#dash-totals').innerText !== before", before)
        query = urllib.parse.urlencode({"year": year, "region": region})
        filtered = _json(f"{served}/dashboards/data/top-suppliers.json?{query}")["groups"]
        _until(
            page,
            f"n => document.querySelector('{CHART} .js-plotly-plot').data[0].x.length === n",
            len(filtered),
        )
        assert _plotted(page) == [float(g["amount"]) for g in filtered]
        orders_link = page.locator(f"{CHART} .orders-link").get_attribute("href")
        assert _params(orders_link) == {"year": [year], "region": [region]}
        after = page.locator("#dash-totals").inner_text()

        page.reload()
        _wait_drawn(page)
        assert _params(page.url) == params
        assert page.locator("#dash-totals").inner_text() == after
        assert _plotted(page) == [float(g["amount"]) for g in filtered]
        assert region in page.locator("#f-region").inner_text()

        with page.expect_download() as download:
            page.locator(f"{CHART} .csv-link").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [float(r["amount"]) for r in rows] == _plotted(page)
        assert [r["key"] for r in rows] == [g["key"] for g in filtered]

        page.go_back()
        _until(page, "() => !location.search.includes('region=')")
        _until(page, "before => document.querySelector('#dash-totals').innerText === before", before)
        _wait_drawn(page)
        assert _plotted(page) == [float(g["amount"]) for g in expected]

        page.click(".lang a[hreflang=en]")
        page.wait_for_load_state()
        _wait_drawn(page)
        assert _params(page.url) == {"year": [year], "lang": ["en"]}
        assert page.locator("h1").inner_text() == "Suppliers"
        assert page.locator(f"{CHART} h2").inner_text() == "Suppliers paid the most"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360

        violations = [m for m in console if "Content Security Policy" in m or "strict CSP" in m]
        assert not violations, violations
        browser.close()
