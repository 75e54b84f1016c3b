"""/contracts in headless Chromium at 360 px, served by gunicorn: pick two facets (an industry
and the contract type), paginate, go back, reload, switch language; the state stays in the URL
and nothing is wider than the phone."""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
import urllib.request

import pytest
from support import need

from ocds.catalogue.generate import write_orders
from portal.db import make_engine
from portal.publishing import import_orders

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def served(sqlite_url, tmp_path, gunicorn):
    path = tmp_path / "orders.jsonl"
    write_orders(path, 400, 11)
    engine = make_engine(sqlite_url)
    import_orders(engine, path, ocid_prefix="ocds-vrz0pe", workers=1)
    engine.dispose()
    return gunicorn.start(sqlite_url, tmp_path / "inst")


def _total(base: str, query: str) -> int:
    with urllib.request.urlopen(f"{base}/contracts.json?{query}") as response:
        return json.loads(response.read())["total"]


def _params(url: str) -> dict:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


@pytest.mark.browser
def test_phone_browses_with_two_facets_pages_back_reload_and_language(served):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

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
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(served + "/contracts")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.locator("#facets").get_attribute("open") is None  # folded on a phone
        page.click("#facets > summary")
        segment = page.locator("#facet-segment input[type=checkbox]").first
        kind = page.locator("#facet-procedure input[value=catalogue_order]")
        segment_value, kind_value = segment.get_attribute("value"), kind.get_attribute("value")
        segment.check()
        kind.check()
        page.click("#apply")
        params = _params(page.url)
        assert params["segment"] == [segment_value] and params["procedure"] == [kind_value]
        total = _total(served, f"segment={segment_value}&procedure={kind_value}")
        assert 50 < total < 400
        assert page.locator(".summary strong").inner_text().replace(",", "").replace(".", "") == str(total)
        first_rows = page.locator("table.browse-list tbody tr").all_inner_texts()
        assert len(first_rows) == 50
        assert page.evaluate("document.documentElement.scrollWidth") <= 360

        page.click("#next-page")
        assert "cursor" in _params(page.url) and _params(page.url)["segment"] == [segment_value]
        second_rows = page.locator("table.browse-list tbody tr").all_inner_texts()
        assert second_rows and not set(second_rows) & set(first_rows)

        page.go_back()
        assert "cursor" not in _params(page.url)
        assert page.locator("table.browse-list tbody tr").all_inner_texts() == first_rows
        page.reload()
        assert page.locator("table.browse-list tbody tr").all_inner_texts() == first_rows

        page.click(".lang a[hreflang=en]")
        params = _params(page.url)
        assert params["lang"] == ["en"]
        assert params["segment"] == [segment_value] and params["procedure"] == [kind_value]
        assert page.locator("#facets > summary").inner_text().startswith("Filters")
        assert page.locator("table.browse-list tbody tr").all_inner_texts() != []
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        browser.close()
