"""Order PDFs, their QR codes and the verification page.

Real tools: ``pdftoppm`` + ``zbarimg`` read the QR code back from the rendered PDF; headless
Chromium on a phone-sized screen runs the in-browser checks (``static/verify.js``) against a
portal served by gunicorn whose orders were sealed and anchored by ``veraz anchor``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import orjson
import pytest
from builders import SHAPES, all_examples, example_order, write_jsonl
from sqlalchemy import select, update
from support import make_app, need

from ocds.catalogue.mapping import map_order
from portal.db import app_engine
from portal.documents.order_pdf import render_order_pdf
from portal.links import order_pdf_url, verification_url
from portal.models import order_pdfs, releases
from portal.publishing import import_orders

PREFIX = "ocds-vrz0pe"


def _publish(app, tmp_path, base_url="http://localhost", orders=None):
    path = write_jsonl(tmp_path / "orders.jsonl", orders if orders is not None else all_examples())
    summary = import_orders(app_engine(app), path, ocid_prefix=PREFIX, workers=1, base_url=base_url)
    assert summary.rejects == []


def _ocid(name: str) -> str:
    return f"{PREFIX}-{example_order(name)['orderNumber']}"


def test_links_are_spelled_once_and_never_change():
    # Printed QR codes depend on this exact spelling: changing it is a breaking change.
    assert (
        verification_url("https://veraz.example/", "ocds-x-OC-1")
        == "https://veraz.example/verify/ocds-x-OC-1"
    )
    assert (
        order_pdf_url("https://veraz.example", "ocds-x-OC-1")
        == "https://veraz.example/contracts/ocds-x-OC-1/order.pdf"
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_same_release_same_pdf_bytes(shape):
    release = map_order(example_order(shape), ocid_prefix=PREFIX).order_release
    url = verification_url("http://localhost", release["ocid"])
    first = render_order_pdf(release, verify_url=url, proformas_hash_link="00" * 32)
    assert first.startswith(b"%PDF-")
    assert render_order_pdf(release, verify_url=url, proformas_hash_link="00" * 32) == first
    assert render_order_pdf(release, verify_url=url + "x", proformas_hash_link="00" * 32) != first


def test_publication_lists_the_pdf_with_its_hash_and_serves_those_bytes(app, client, tmp_path):
    _publish(app, tmp_path)
    with app_engine(app).connect() as conn:
        rows = conn.execute(
            select(order_pdfs.c.ocid, order_pdfs.c.release_id, order_pdfs.c.sha256, releases.c.data).join(
                releases,
                (releases.c.ocid == order_pdfs.c.ocid) & (releases.c.release_id == order_pdfs.c.release_id),
            )
        ).all()
    assert len(rows) == len(SHAPES)
    for row in rows:
        release = orjson.loads(row.data)
        (doc,) = [d for d in release["contracts"][0]["documents"] if d["id"].endswith("-veraz-pdf")]
        assert doc["integrity"] == [{"scheme": "sha256", "id": row.sha256}]
        assert doc["url"] == order_pdf_url("http://localhost", row.ocid)
        served = client.get(f"/contracts/{row.ocid}/order.pdf")
        assert served.status_code == 200 and served.mimetype == "application/pdf"
        assert hashlib.sha256(served.data).hexdigest() == row.sha256


@pytest.mark.parametrize("shape", SHAPES)
def test_qr_code_reads_back_as_the_verification_url_which_answers(sqlite_url, tmp_path, shape):
    need(shutil.which("pdftoppm") is not None, "pdftoppm (poppler-utils) is not installed")
    need(shutil.which("zbarimg") is not None, "zbarimg (zbar-tools) is not installed")
    app = make_app(sqlite_url, tmp_path)
    _publish(app, tmp_path, orders=[example_order(shape)])
    client = app.test_client()
    ocid = _ocid(shape)
    pdf = tmp_path / "order.pdf"
    pdf.write_bytes(client.get(f"/contracts/{ocid}/order.pdf").data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True
    )
    (png,) = tmp_path.glob("page*.png")
    read = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert read == verification_url("http://localhost", ocid)
    assert client.get(read.removeprefix("http://localhost")).status_code == 200
    app_engine(app).dispose()


def test_lookup_by_number_ocid_and_hashes(app, client, tmp_path):
    _publish(app, tmp_path)
    ocid = _ocid("2-package")
    number = example_order("2-package")["orderNumber"]
    assert client.get(f"/verify?q={number}").location.startswith(f"/verify/{ocid}")
    assert client.get(f"/verify?q={ocid}").location.startswith(f"/verify/{ocid}")
    with app_engine(app).connect() as conn:
        (data_hash,) = conn.execute(select(releases.c.data_hash).where(releases.c.ocid == ocid)).one()
        (pdf_hash,) = conn.execute(select(order_pdfs.c.sha256).where(order_pdfs.c.ocid == ocid)).one()
    assert client.get(f"/verify?q={data_hash}").location.startswith(f"/verify/{ocid}")
    assert client.get(f"/verify?q={pdf_hash.upper()}").location.startswith(f"/verify/{ocid}")
    assert client.get("/verify?q=nothing-like-this").status_code == 404
    assert client.get("/verify").status_code == 200


def test_verify_page_and_json_twin(app, client, tmp_path):
    _publish(app, tmp_path)
    ocid = _ocid("1-single")
    page = client.get(f"/verify/{ocid}")
    assert page.status_code == 200
    assert b"verify.js" in page.data and b"<script>" not in page.data
    facts = client.get(f"/verify/{ocid}.json").get_json()
    assert facts["current"] is True and facts["documentHash"]
    assert client.get(f"/verify/{ocid}?lang=en").status_code == 200
    assert client.get("/verify/ocds-nope").status_code == 404


# --- a phone's browser, against a portal served by gunicorn ----------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def anchored_portal(sqlite_url, tmp_path, gunicorn):
    """Five example orders published with PDFs, sealed and anchored by ``veraz anchor``
    (embedded chain and TSA), served by gunicorn; yields (base URL, app)."""
    base = gunicorn.base_url
    app = make_app(sqlite_url, tmp_path, BASE_URL=base)
    _publish(app, tmp_path, base_url=base)
    from portal.cli import main

    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    gunicorn.start(sqlite_url, tmp_path / "instance")
    yield base, app
    gunicorn.stop()
    app_engine(app).dispose()


def _phone(p):
    browser = p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    )
    page = browser.new_page(viewport={"width": 360, "height": 740}, device_scale_factor=2)
    return browser, page


def _verdict(page) -> str:
    page.wait_for_selector("#verdict[data-verdict]", timeout=20_000)
    return page.get_attribute("#verdict", "data-verdict")


def test_phone_verifies_an_anchored_order_and_checks_a_pdf(anchored_portal, tmp_path):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    import urllib.request

    from playwright.sync_api import sync_playwright

    base, _app = anchored_portal
    ocid = _ocid("5-multi-destination-partial")
    with sync_playwright() as p:
        browser, page = _phone(p)
        page.goto(f"{base}/verify/{ocid}?lang=en")
        assert _verdict(page) == "verified", page.inner_text("#steps")
        assert page.inner_text("#verdict-title") == "Authentic"
        for step in ("data", "document", "proformas", "entry", "inclusion", "signature"):
            item = page.locator(f'li[data-step="{step}"]')
            assert item.get_attribute("data-status") == "pass", item.inner_text()
            assert "checked by this device" in item.inner_text()
        # Passed at the portal, and shown as reported by it, not as checked here.
        for step in ("chain", "timestamp"):
            item = page.locator(f'li[data-step="{step}"]')
            assert item.get_attribute("data-status") == "pass"
            assert item.get_attribute("class") == "reported"
            assert "reported by the portal" in item.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360

        # "Check the PDF you were given": the real one matches, one changed byte does not.
        pdf = urllib.request.urlopen(f"{base}/contracts/{ocid}/order.pdf").read()
        good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
        good.write_bytes(pdf)
        flipped = bytearray(pdf)
        flipped[len(flipped) // 2] ^= 0x01
        bad.write_bytes(bytes(flipped))
        page.set_input_files("#pdf-file", str(good))
        page.wait_for_selector("#pdf-result[data-result]")
        assert page.get_attribute("#pdf-result", "data-result") == "match"
        page.set_input_files("#pdf-file", str(bad))
        page.wait_for_selector("#pdf-result[data-result=unknown]")
        assert "not a PDF published by this portal" in page.inner_text("#pdf-result")

        # Spanish by default.
        page.goto(f"{base}/verify/{ocid}?lang=es")
        assert _verdict(page) == "verified"
        assert page.inner_text("#verdict-title") == "Auténtica"
        browser.close()


def test_altered_release_row_does_not_match_and_names_the_step(anchored_portal):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    base, app = anchored_portal
    ocid = _ocid("4-multi-destination")
    with app_engine(app).begin() as conn:
        (data,) = conn.execute(select(releases.c.data).where(releases.c.ocid == ocid)).one()
        assert b'"quantity":25' in data
        conn.execute(
            update(releases)
            .where(releases.c.ocid == ocid)
            .values(data=data.replace(b'"quantity":25', b'"quantity":250', 1))
        )
    with sync_playwright() as p:
        browser, page = _phone(p)
        page.goto(f"{base}/verify/{ocid}?lang=en")
        assert _verdict(page) == "mismatch"
        assert page.get_attribute('li[data-step="data"]', "data-status") == "fail"
        assert "The published data" in page.inner_text("#verdict-detail")
        # The untouched order next to it still verifies.
        page.goto(f"{base}/verify/{_ocid('1-single')}?lang=en")
        assert _verdict(page) == "verified"
        browser.close()


def test_phone_verifies_an_order_whose_ids_need_quoting(sqlite_url, tmp_path, gunicorn):
    """Ocid and release id with ``/``, ``?``, ``#``, a space and ``ñ``: the page reaches the
    proof, the release and the PDF only through the URLs the server gives it."""
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    from portal.cli import main

    base, prefix = gunicorn.base_url, "ocds-a/b ?c#d ñ"
    app = make_app(sqlite_url, tmp_path, BASE_URL=base)
    path = write_jsonl(tmp_path / "orders.jsonl", [example_order("2-package")])
    summary = import_orders(app_engine(app), path, ocid_prefix=prefix, workers=1, base_url=base)
    assert summary.rejects == []
    assert app.test_cli_runner().invoke(main, ["anchor"]).exit_code == 0
    gunicorn.start(sqlite_url, tmp_path / "instance")
    ocid = f"{prefix}-{example_order('2-package')['orderNumber']}"
    with sync_playwright() as p:
        browser, page = _phone(p)
        page.goto(verification_url(base, ocid) + "?lang=en")
        assert _verdict(page) == "verified", page.inner_text("#steps")
        for step in ("data", "document", "entry", "inclusion", "signature", "chain", "timestamp"):
            assert page.get_attribute(f'li[data-step="{step}"]', "data-status") == "pass", step
        # each quote's own bundle, at a URL built from the same quoted ids
        quotes = page.locator("li[data-quote]")
        assert quotes.count() >= 1
        for i in range(quotes.count()):
            quotes.nth(i).locator("button.check-quote").click()
            result = quotes.nth(i).locator(".quote-result[data-result]")
            result.wait_for()
            assert result.get_attribute("data-result") == "pass", result.inner_text()
        browser.close()
    app_engine(app).dispose()
