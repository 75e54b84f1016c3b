"""Where the chain has a public JSON-RPC endpoint (``VERIFY_PUBLIC_RPC_URL``), the visitor's
browser reads the anchor from the chain itself: a real anvil node, a real Chromium, the portal
served by gunicorn. The step is then the device's, not the portal's word; an anchor record
that does not match the chain fails on the device."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from builders import example_order, write_jsonl
from sqlalchemy import select, update
from support import make_app, need

from portal import links
from portal.cli import main
from portal.db import app_engine
from portal.evidence.tables import anchors
from portal.publishing import import_orders

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PREFIX = "ocds-vrz0pe"


def _chain_fixtures():
    """tests/anchoring/chains/conftest.py (anvil helpers), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(
        "chains_fixtures_rpc", ROOT / "tests" / "anchoring" / "chains" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _verdict(page, url):
    page.goto(url)
    page.wait_for_selector("#verdict[data-verdict]", timeout=20_000)
    chain = page.locator('li[data-step="chain"]')
    return (
        page.get_attribute("#verdict", "data-verdict"),
        chain.get_attribute("data-status"),
        chain.get_attribute("data-who"),
        chain.get_attribute("class"),
        chain.inner_text(),
    )


def test_the_device_reads_the_anchor_from_the_chain(sqlite_url, tmp_path, gunicorn, monkeypatch):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    from anchoring.chains.evm import deploy_contract, rpc_chain
    from anchoring.chains.keys import load_or_create_key

    fixtures = _chain_fixtures()
    node = fixtures.start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    try:
        w3 = rpc_chain(node.url, fixtures.ANVIL_CHAIN_ID)
        account = load_or_create_key(tmp_path / "anchor.key")
        fixtures.fund_on_anvil(w3, account.address)
        evm = {
            "EVM_RPC_URL": node.url,
            "EVM_CHAIN_ID": fixtures.ANVIL_CHAIN_ID,
            "EVM_CONTRACT_ADDRESS": deploy_contract(w3, account),
            "EVM_KEY_FILE": str(tmp_path / "anchor.key"),
            "EVM_EXPLORER_URL": "https://explorer.test/tx/{tx_hash}",
        }
        app = make_app(sqlite_url, tmp_path, BASE_URL=gunicorn.base_url, **evm)
        orders = [example_order("1-single"), example_order("2-package")]
        summary = import_orders(
            app_engine(app),
            write_jsonl(tmp_path / "o.jsonl", orders),
            ocid_prefix=PREFIX,
            workers=1,
            base_url=gunicorn.base_url,
        )
        assert summary.rejects == []
        result = app.test_cli_runner().invoke(main, ["anchor"])
        assert result.exit_code == 0, result.output
        for name, value in evm.items():
            monkeypatch.setenv(f"PORTAL_{name}", str(value))
        monkeypatch.setenv("PORTAL_VERIFY_PUBLIC_RPC_URL", node.url)
        gunicorn.start(sqlite_url, tmp_path / "instance")
        url = (
            gunicorn.base_url
            + links.verification_url("", f"{PREFIX}-{orders[0]['orderNumber']}")
            + "?lang=en"
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport={"width": 360, "height": 740})
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            verdict, status, who, shown, text = _verdict(page, url)
            assert (verdict, status, who, shown) == ("verified", "pass", "chain", "pass"), text
            assert "read from the public chain by this device" in text
            assert page.get_attribute('li[data-step="chain"] a', "href").startswith(
                "https://explorer.test/tx/0x"
            )
            assert errors == []
            browser.close()

        # The portal's anchor record says another block than the chain: the device sees it.
        gunicorn.stop()
        with app_engine(app).begin() as conn:
            row_id, receipt = conn.execute(
                select(anchors.c.id, anchors.c.receipt).where(anchors.c.type == "evm")
            ).first()
            forged = dict(json.loads(receipt))
            forged["blockNumber"] += 1
            conn.execute(update(anchors).where(anchors.c.id == row_id).values(receipt=json.dumps(forged)))
        gunicorn.start(sqlite_url, tmp_path / "instance")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport={"width": 360, "height": 740})
            verdict, status, who, _shown, text = _verdict(page, url)
            assert (verdict, status, who) == ("mismatch", "fail", "chain"), text
            browser.close()
        app_engine(app).dispose()
    finally:
        node.stop()
