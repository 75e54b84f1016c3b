"""The verification page in a real browser (headless Chromium) says that the order is confirmed
by N independent witnesses, after checking their cosignatures on the device (WebCrypto Ed25519),
in Spanish and English; gunicorn serves the portal, two real witness processes cosigned."""

from __future__ import annotations

import os
import shutil

import pytest
from builders import example_order
from evidence_builders import order_ocid
from servers import Gunicorn
from support import make_app, need
from witness_support import WitnessProcess, ensure_witness_tables, first_seal

from portal import links
from portal.cli import main
from portal.db import app_engine, upgrade

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CONFIRMED = {"es": "Confirmado por 2 testigos independientes", "en": "Confirmed by 2 independent witnesses"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    tmp = tmp_path_factory.mktemp("verify-witnesses")
    url = f"sqlite:///{tmp / 'veraz.sqlite3'}"
    upgrade(url)
    server = Gunicorn(tmp / "gunicorn.log")
    app = make_app(url, tmp, BASE_URL=server.base_url)
    ensure_witness_tables(app)
    vkey = first_seal(app, tmp)
    witnesses = [WitnessProcess(tmp, f"witness.test/w{i}", [vkey]).start() for i in (1, 2)]
    setting = ", ".join(f"{w.url} {w.vkey}" for w in witnesses)
    app.config["WITNESSES"] = setting
    try:
        result = app.test_cli_runner().invoke(main, ["anchor"])
        assert result.exit_code == 0, result.output
        saved = {k: os.environ.get(k) for k in ("PORTAL_WITNESSES", "PORTAL_WITNESSES_REQUIRED")}
        os.environ.update(PORTAL_WITNESSES=setting, PORTAL_WITNESSES_REQUIRED="2")
        try:
            server.start(url, tmp / "instance")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        yield server.base_url, app
    finally:
        server.stop()
        for w in witnesses:
            w.stop()
        app_engine(app).dispose()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_page_checks_and_names_the_witnesses(served, lang):
    from playwright.sync_api import sync_playwright

    base, _app = served
    ocid = order_ocid(example_order("1-single"))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}{links.verification_url('', ocid)}?lang={lang}")
            page.wait_for_selector("#verdict[data-verdict]", timeout=30_000)
            step = page.locator('li[data-step="witnesses"]')
            assert step.get_attribute("class") == "pass", page.inner_text("#steps")
            assert step.get_attribute("data-who") == "device"
            assert CONFIRMED[lang] in step.inner_text()
            assert "witness.test/w1" in step.inner_text() and "witness.test/w2" in step.inner_text()
            assert page.get_attribute("#verdict", "data-verdict") == "verified"
            assert CONFIRMED[lang] in page.inner_text("#verdict-detail")
            assert errors == []
        finally:
            browser.close()
