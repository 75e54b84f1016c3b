"""Pages in a real browser (headless Chromium) on a phone-sized screen, served by gunicorn."""

from __future__ import annotations

import os
import shutil

import pytest
from builders import all_examples, write_jsonl
from sqlalchemy import create_engine
from support import need

from portal.publishing import import_orders

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def served(sqlite_url, tmp_path, gunicorn):
    engine = create_engine(sqlite_url)
    import_orders(
        engine, write_jsonl(tmp_path / "o.jsonl", all_examples()), ocid_prefix="ocds-vrz0pe", workers=1
    )
    engine.dispose()
    return gunicorn.start(sqlite_url, tmp_path / "inst")


def test_phone_reads_home_and_an_order(served):
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
        page = browser.new_page(viewport={"width": 360, "height": 740}, device_scale_factor=2)
        page.goto(served + "/")
        assert page.locator("h1").inner_text() == "Compras públicas verificables"
        # nothing wider than the phone's screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.fill("#q", "OC-2025-000127")
        page.click("button[type=submit]")
        page.click("text=OC-2025-000127")
        assert "Orden de compra OC-2025-000127" in page.locator("h1").inner_text()
        assert page.locator(".destination").count() == 2
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.click("a[hreflang=en]")
        assert "Purchase order" in page.locator("h1").inner_text()
        browser.close()


def test_phone_shows_pending_before_the_order_is_anchored(served):
    """Published and logged but not sealed yet: the verdict says pending, and when."""
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
        page.goto(served + "/verify/ocds-vrz0pe-OC-2025-000127")
        # A selector, not wait_for_function: polling a JavaScript string is an eval, which the
        # page's CSP (script-src 'self') refuses whenever the first check is not yet true.
        page.wait_for_selector("#verdict:not(.verdict-checking)", timeout=15000)
        assert page.locator("#verdict-title").inner_text().startswith("Pendiente de anclaje")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        browser.close()
