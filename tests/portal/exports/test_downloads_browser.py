"""/downloads in headless Chromium, served by gunicorn: the schema.org JSON-LD block is data
the page can read, and the Content Security Policy reports no violation (it does not govern a
``application/ld+json`` block, and the page has no inline script)."""

from __future__ import annotations

import os
import shutil

import pytest
from support import need

from ocds.catalogue.generate import write_orders
from portal.db import make_engine
from portal.exports import Publication, export
from portal.publishing import import_orders
from portal.settings import load_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def served(sqlite_url, tmp_path, gunicorn):
    path = tmp_path / "orders.jsonl"
    write_orders(path, 50, 3)
    engine = make_engine(sqlite_url)
    import_orders(engine, path, ocid_prefix="ocds-vrz0pe", workers=1)
    config = load_settings({"INSTANCE_PATH": str(tmp_path / "inst"), "DATABASE_URL": sqlite_url})
    export(engine, tmp_path / "inst" / "exports", Publication.from_config(config))
    engine.dispose()
    return gunicorn.start(sqlite_url, tmp_path / "inst")


@pytest.mark.browser
def test_the_json_ld_is_read_and_the_csp_is_not_violated(served):
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
        page = browser.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        response = page.goto(served + "/downloads")
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        dataset = page.evaluate(
            "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)"
        )
        assert dataset["@type"] == "Dataset" and len(dataset["distribution"]) >= 5
        links = page.locator("a[download]").count()
        assert links == len(dataset["distribution"])
        assert page.evaluate("window.__csp") == []
        assert not [m for m in messages if "Content Security Policy" in m]
        browser.close()
