"""What a citizen sees on ``/verify/<ocid>``, in a real browser (headless Chromium, Playwright),
on a phone (360×740) and a desktop (1280×900), in Spanish and English.

One portal per module, served by gunicorn: generated catalogue orders (cancelled, amended,
delivered...), their framework agreements, an order with hostile text and a record imported
from existing OCDS, all sealed and anchored by ``veraz anchor`` (embedded chain and TSA). Every
page must fit the screen, log no console error, and leave a screenshot (path printed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from builders import example_order
from servers import Gunicorn
from sqlalchemy import func, select
from support import make_app, need

from ocds.catalogue.generate import write_orders
from portal import links
from portal.cli import main
from portal.db import app_engine, upgrade
from portal.models import order_pdfs, records, releases
from portal.publishing import import_ocds, import_orders

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PREFIX = "ocds-vrz0pe"
HOSTILE = (
    '<script>alert("x")</script> "comillas" \'simples\' طلب شراء קנייה '
    + "Supercalifragilísticoexpialidoso" * 8
)
IMPORTED = "ocds-imp001-LP-2024-7"
VIEWPORTS = {"phone": (360, 740), "desktop": (1280, 900)}
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36"
)


@dataclass(frozen=True)
class Portal:
    base: str
    app: object
    shots: Path
    cancelled: str
    amended: str
    agreement: str
    hostile: str


def _imported_release() -> dict:
    return {
        "ocid": IMPORTED,
        "id": "LP-2024-7-tender",
        "date": "2024-05-02T10:00:00-05:00",
        "tag": ["tender"],
        "initiationType": "tender",
        "buyer": {"id": "PE-RUC-20100000001", "name": "Municipalidad Importada"},
        "parties": [{"id": "PE-RUC-20100000001", "name": "Municipalidad Importada", "roles": ["buyer"]}],
        "tender": {
            "id": "LP-2024-7",
            "title": "Compra de mobiliario escolar",
            "status": "active",
            "value": {"amount": 15000, "currency": "PEN"},
        },
    }


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    need(os.path.exists(CHROMIUM), "Debian chromium is not installed")
    tmp = tmp_path_factory.mktemp("verify-pages")
    url = f"sqlite:///{tmp / 'veraz.sqlite3'}"
    upgrade(url)
    server = Gunicorn(tmp / "gunicorn.log")
    app = make_app(url, tmp, BASE_URL=server.base_url)
    engine = app_engine(app)
    write_orders(tmp / "orders.jsonl", 40, 7)
    hostile = example_order("1-single", orderNumber="OC-2025-990001")
    hostile["buyer"] = dict(hostile["buyer"], name=HOSTILE)
    hostile["items"][0]["description"] = HOSTILE
    with open(tmp / "orders.jsonl", "ab") as f:
        f.write(orjson.dumps(hostile) + b"\n")
    summary = import_orders(
        engine, tmp / "orders.jsonl", ocid_prefix=PREFIX, workers=1, base_url=server.base_url
    )
    assert summary.rejects == []
    (tmp / "imported.jsonl").write_bytes(orjson.dumps(_imported_release()) + b"\n")
    assert import_ocds(engine, [tmp / "imported.jsonl"]).rejects == []
    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:

        def pick(condition, versions):
            counts = (
                select(releases.c.ocid).group_by(releases.c.ocid).having(func.count() == versions).subquery()
            )
            return conn.execute(
                select(records.c.ocid)
                .where(condition, records.c.ocid.in_(select(counts.c.ocid)))
                .order_by(records.c.ocid)
                .limit(1)
            ).scalar_one()

        cancelled = pick(records.c.status == "cancelled", 2)
        amended = pick((records.c.kind == "order") & (records.c.status != "cancelled"), 2)
        agreement = pick(records.c.kind == "agreement", 1)
    server.start(url, tmp / "instance")
    shots = tmp / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots: {shots}")
    yield Portal(server.base_url, app, shots, cancelled, amended, agreement, f"{PREFIX}-OC-2025-990001")
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def browser(portal):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
            ],
        )
        yield chromium
        chromium.close()


class Visit:
    """A page at one viewport, collecting console errors and uncaught exceptions."""

    def __init__(self, browser, viewport: str):
        width, height = VIEWPORTS[viewport]
        self.width = width
        phone = {"user_agent": PHONE_UA, "is_mobile": True} if viewport == "phone" else {}
        self.context = browser.new_context(viewport={"width": width, "height": height}, **phone)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: self.errors.append(f"dialog: {d.message}"))

    def open(self, url: str, verdict: bool = True) -> None:
        self.page.goto(url)
        if verdict:
            self.page.wait_for_selector("#verdict[data-verdict]", timeout=20_000)

    def fits_and_is_clean(self, shots: Path, name: str) -> None:
        path = shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        assert self.page.evaluate("document.documentElement.scrollWidth") <= self.width, name
        assert self.errors == [], name

    def close(self) -> None:
        self.context.close()


def _steps(page) -> dict[str, tuple[str, str]]:
    """{step: (class shown, who checked it)}."""
    return {
        li.get_attribute("data-step"): (li.get_attribute("class"), li.get_attribute("data-who"))
        for li in page.locator("#steps li").all()
    }


DEVICE_STEPS = ("data", "proformas", "entry", "inclusion", "signature")
WORDS = {
    "es": {
        "verified": "Auténtica",
        "cancelled": "ANULADA el",
        "reported": "informado por el portal",
        "device": "comprobado por este dispositivo",
        "superseded": "Esta es la versión 1 de 2.",
        "why": "Este paso lo comprueba el portal",
        "phone": "Este teléfono lo comprobó",
        "desktop": "Este dispositivo lo comprobó",
    },
    "en": {
        "verified": "Authentic",
        "cancelled": "CANCELLED on",
        "reported": "reported by the portal",
        "device": "checked by this device",
        "superseded": "This is version 1 of 2.",
        "why": "This step is checked by the portal",
        "phone": "This phone checked it",
        "desktop": "This device checked it",
    },
}


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize(
    "case", ["cancelled", "amended-old", "amended-new", "agreement", "imported", "hostile"]
)
def test_verification_page(portal, browser, case, viewport, lang):
    words = WORDS[lang]
    ocid = {
        "cancelled": portal.cancelled,
        "amended-old": portal.amended,
        "amended-new": portal.amended,
        "agreement": portal.agreement,
        "imported": IMPORTED,
        "hostile": portal.hostile,
    }[case]
    release = f"{ocid}-v1" if case == "amended-old" else None
    visit = Visit(browser, viewport)
    visit.open(
        f"{portal.base}{links.verification_url('', ocid, release)}{'&' if release else '?'}lang={lang}"
    )
    page = visit.page
    assert page.get_attribute("#verdict", "data-verdict") == "verified", page.inner_text("#steps")
    assert page.inner_text("#verdict-title") == words["verified"]
    # "this phone" only on a phone
    assert page.inner_text("#verdict-detail").startswith(words[viewport])
    steps = _steps(page)
    for step in DEVICE_STEPS:
        assert steps[step] == ("pass", "device"), step
    # What the device did not check itself is shown differently, with the reason.
    for step in ("chain", "timestamp"):
        assert steps[step] == ("reported", "portal"), step
        item = page.locator(f'li[data-step="{step}"]')
        assert words["reported"] in item.inner_text() and words["why"] in item.inner_text()
    assert words["reported"] not in page.inner_text('li[data-step="data"]')
    assert words["device"] in page.inner_text('li[data-step="data"]')

    if case == "cancelled":
        assert page.inner_text("#verdict-status").startswith(words["cancelled"])
        assert "order-cancelled" in page.get_attribute("#verdict", "class")
    if case == "amended-old":
        banner = page.inner_text("#superseded")
        assert words["superseded"] in banner
        assert page.get_attribute("#superseded a", "href") == links.verification_url("", ocid)
    if case == "amended-new":
        assert page.locator("#superseded").count() == 0
        assert page.locator("ol.versions li").count() == 2
    if case == "hostile":
        assert HOSTILE in page.inner_text("main")
    if case in ("agreement", "imported"):
        assert steps["document"] == ("skip", "")
    else:
        assert steps["document"] == ("pass", "device")
    visit.fits_and_is_clean(portal.shots, f"verify-{case}-{viewport}-{lang}")
    visit.close()


def _pdf(portal, ocid: str, release_id: str) -> bytes:
    with app_engine(portal.app).connect() as conn:
        return bytes(
            conn.execute(
                select(order_pdfs.c.data).where(
                    order_pdfs.c.ocid == ocid, order_pdfs.c.release_id == release_id
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_pdf_check_names_what_the_file_is(portal, browser, tmp_path, lang):
    """On the page of the latest version: its PDF, an older version's, another order's and a
    file the portal never published; only a hash is ever sent to the portal."""
    ocid = portal.amended
    files = {
        "current": _pdf(portal, ocid, f"{ocid}-v2"),
        "older": _pdf(portal, ocid, f"{ocid}-v1"),
        "other": _pdf(portal, portal.hostile, f"{portal.hostile}-v1"),
        "random": os.urandom(4096),
    }
    visit = Visit(browser, "phone")
    sent: list[str] = []
    visit.page.on("request", lambda r: r.method != "GET" and sent.append(r.url))
    visit.open(f"{portal.base}{links.verification_url('', ocid)}?lang={lang}")
    expected = {"current": "match", "older": "other-version", "other": "other-order", "random": "unknown"}
    texts = {}
    for name, data in files.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        visit.page.set_input_files("#pdf-file", str(path))
        visit.page.wait_for_selector(f'#pdf-result[data-result="{expected[name]}"]')
        texts[name] = visit.page.inner_text("#pdf-result")
        assert hashlib.sha256(data).hexdigest() in texts[name]
    version = {"es": "versión 1", "en": "version 1"}[lang]
    assert version in texts["older"]
    assert portal.hostile in texts["other"]
    assert visit.page.locator("#pdf-result a").count() == 0  # random: nothing to see
    assert sent == []
    visit.fits_and_is_clean(portal.shots, f"pdf-check-{lang}")
    visit.close()


def test_an_older_pdf_matches_on_the_page_its_own_qr_leads_to(portal, browser, tmp_path):
    ocid = portal.amended
    path = tmp_path / "v1.pdf"
    path.write_bytes(_pdf(portal, ocid, f"{ocid}-v1"))
    visit = Visit(browser, "phone")
    visit.open(f"{portal.base}{links.verification_url('', ocid, f'{ocid}-v1')}")
    visit.page.set_input_files("#pdf-file", str(path))
    visit.page.wait_for_selector("#pdf-result[data-result]")
    assert visit.page.get_attribute("#pdf-result", "data-result") == "match"
    assert "versión 1" in visit.page.inner_text("#pdf-result")
    visit.fits_and_is_clean(portal.shots, "pdf-check-older-on-its-page")
    visit.close()


def test_each_quote_is_checked_on_its_own(portal, browser):
    visit = Visit(browser, "phone")
    visit.open(f"{portal.base}{links.verification_url('', portal.cancelled)}?lang=en")
    quotes = visit.page.locator("li[data-quote]")
    assert quotes.count() >= 1
    for i in range(quotes.count()):
        quotes.nth(i).locator("button.check-quote").click()
        quotes.nth(i).locator(".quote-result[data-result]").wait_for()
        assert quotes.nth(i).locator(".quote-result").get_attribute("data-result") == "pass"
        assert "Authentic" in quotes.nth(i).locator(".quote-result").inner_text()
    visit.fits_and_is_clean(portal.shots, "quotes-checked")
    visit.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/about",
        "/verify",
        "/contracts/{amended}",
        "/contracts/{hostile}",
        "/?lang=en",
        "/contracts/{amended}?lang=en",
    ],
)
def test_other_pages_fit_and_link_to_verification(portal, browser, viewport, path):
    url = path.format(
        amended=links.contract_url("", portal.amended)[len("/contracts/") :],
        hostile=links.contract_url("", portal.hostile)[len("/contracts/") :],
    )
    visit = Visit(browser, viewport)
    visit.open(portal.base + url, verdict=False)
    page = visit.page
    assert page.locator("header nav a[href='/verify']").count() == 1
    if url.startswith("/contracts/"):
        ocid = portal.amended if "990001" not in url else portal.hostile
        assert page.locator(f"a[href='{links.verification_url('', ocid)}']").count() >= 1
        # buyer and supplier lead to their profiles
        for kind in ("buyers", "suppliers"):
            href = page.get_attribute(f"dl.facts a[href^='/{kind}/']", "href")
            assert page.request.get(portal.base + href).status == 200, href
        # the items' amounts are on screen: a card per item on phones, a table on desktops
        box = page.locator("table.stack tbody td.num").last.bounding_box()
        assert box["x"] + box["width"] <= visit.width
    if url.startswith("/?") or url == "/":
        assert page.locator("main a[href='/verify']").count() == 1
        figure = page.locator(".totals .wide .figure")
        assert figure.evaluate("e => e.scrollWidth <= e.clientWidth")
        # on one line, not clipped
        assert figure.evaluate(
            "e => e.getBoundingClientRect().height < 2 * parseFloat(getComputedStyle(e).lineHeight)"
        )
    name = url.strip("/").replace("/", "_").replace("?", "_") or "home"
    visit.fits_and_is_clean(portal.shots, f"page-{name}-{viewport}")
    visit.close()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_lookup_page_names_the_order_of_a_pdf(portal, browser, tmp_path, lang):
    """A citizen with a PDF and no QR code: the lookup page says which order and version."""
    ocid = portal.amended
    files = {"older": (_pdf(portal, ocid, f"{ocid}-v1"), "found"), "random": (os.urandom(2048), "unknown")}
    visit = Visit(browser, "phone")
    visit.open(f"{portal.base}/verify?lang={lang}", verdict=False)
    for name, (data, result) in files.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        visit.page.set_input_files("#pdf-file", str(path))
        visit.page.wait_for_selector(f'#pdf-result[data-result="{result}"]')
        if result == "found":
            text = visit.page.inner_text("#pdf-result")
            assert ocid in text and {"es": "versión 1 de 2", "en": "version 1 of 2"}[lang] in text
            assert visit.page.get_attribute("#pdf-result a", "href") == links.verification_url(
                "", ocid, f"{ocid}-v1"
            )
    visit.fits_and_is_clean(portal.shots, f"lookup-pdf-{lang}")
    visit.close()
