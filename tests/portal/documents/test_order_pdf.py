"""The order PDF from its own canvas and QR encoder against the reportlab + ``qrcode`` reference.

Both draw the one layout (``draw_order``). What a reader gets must be the same: every word at
the same place on the same page (``pdftotext -bbox``), the same text laid out
(``pdftotext -layout``), and a QR code that ``zbarimg`` reads as the verification URL. The
orders are generated ones (``ocds.catalogue.generate``), the documented examples, and examples
whose every text was replaced by hypothesis: accents and every Spanish character, characters
outside WinAnsi, control characters, PDF delimiters, long words and descriptions, many items.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
from itertools import cycle
from pathlib import Path

import pytest
from builders import SHAPES, example_order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import need

from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from portal.documents.order_pdf import render_order_pdf
from portal.documents.order_pdf_reference import render_order_pdf_reference
from portal.documents.publish import catalogue_name
from portal.links import verification_url

PREFIX = "ocds-vrz0pe"
LINK = "5f" * 32
#: The SHA-256 of one fixed order's PDF: a change of layout or of the writer shows here.
PINNED_SHA256 = "52c6a5a3cb62ef92f188a3103d03d8be3d21c8b16b6f0385bdf430257eb2a528"


def _arguments(order: dict, base_url: str = "https://veraz.example") -> tuple[dict, dict]:
    mapped = map_order(order, ocid_prefix=PREFIX)
    release = mapped.order_release
    return release, {
        "verify_url": verification_url(base_url, release["ocid"]),
        "proformas_hash_link": LINK,
        "catalogue": catalogue_name(mapped.agreement_release),
    }


def _tool(name: str, *args: str) -> str:
    need(shutil.which(name) is not None, f"{name} is not installed")
    done = subprocess.run([name, *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def _read(pdf: bytes, folder: Path, name: str) -> tuple[list[str], str]:
    """(every word with its box and page, the text laid out) as poppler extracts them."""
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    boxes = _tool("pdftotext", "-bbox", str(path), "-")
    words = re.findall(
        r'<page width|<word xMin="[^"]*" yMin="[^"]*" xMax="[^"]*" yMax="[^"]*">'
        r"[^<]*</word>",
        boxes,
    )
    return words, _tool("pdftotext", "-layout", str(path), "-")


def _same_reading(release: dict, arguments: dict, folder: Path) -> tuple[list[str], str]:
    fast = _read(render_order_pdf(release, **arguments), folder, "fast")
    reference = _read(render_order_pdf_reference(release, **arguments), folder, "reference")
    assert fast[0] == reference[0]
    assert fast[1] == reference[1]
    return fast


@pytest.mark.parametrize("shape", SHAPES)
def test_documented_examples_read_the_same(shape, tmp_path):
    release, arguments = _arguments(example_order(shape))
    words, text = _same_reading(release, arguments, tmp_path)
    assert "Orden de compra" in text and arguments["verify_url"] in text
    assert len(words) > 50


def test_generated_orders_read_the_same(tmp_path):
    for order in generate_orders(25, 11):
        release, arguments = _arguments(order)
        _same_reading(release, arguments, tmp_path)


# Texts that a renderer could get wrong: Spanish letters and punctuation, the characters a PDF
# string escapes, characters Helvetica has no glyph for, control characters, runs of spaces.
SPANISH = "áéíóúüñÁÉÍÓÚÜÑ¿¡«»ºª°€—–…“”‘’·"
HOSTILE = "()\\%<>[]{}/#\t\n\r\x00\x7f\u00a0→"
TEXTS = st.text(alphabet=st.one_of(st.sampled_from(SPANISH + HOSTILE + " "), st.characters()), max_size=160)
TEXT_KEYS = {"description", "name", "title", "rationale", "streetAddress", "locality", "legalName"}


def _replace_texts(value, texts):
    """``value`` with every string under one of ``TEXT_KEYS`` taken from ``texts`` in turn."""
    if isinstance(value, dict):
        return {
            k: next(texts) if k in TEXT_KEYS and isinstance(v, str) else _replace_texts(v, texts)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_texts(v, texts) for v in value]
    return value


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shape=st.sampled_from(SHAPES),
    texts=st.lists(TEXTS, min_size=1, max_size=12),
    catalogue=TEXTS,
    copies=st.integers(min_value=1, max_value=30),
)
def test_any_text_reads_the_same(tmp_path, shape, texts, catalogue, copies):
    release, arguments = _arguments(example_order(shape))
    contract = release["contracts"][0]
    # Many items (and deliveries) make orders of several pages.
    contract["items"] = [
        dict(item, id=f"{n}-{item['id']}") for n in range(copies) for item in contract["items"]
    ]
    release = _replace_texts(release, cycle(texts))
    _same_reading(release, {**arguments, "catalogue": catalogue}, tmp_path)


def test_long_orders_take_several_pages_with_their_numbers(tmp_path):
    release, arguments = _arguments(example_order("4-multi-destination"))
    contract = release["contracts"][0]
    long = "Descripción muy larga de un producto del catálogo electrónico " * 4
    contract["items"] = [
        dict(item, id=f"{n}-{item['id']}", description=f"{long}{n}")
        for n in range(40)
        for item in contract["items"]
    ]
    words, text = _same_reading(release, arguments, tmp_path)
    pages = words.count("<page width")
    assert pages >= 3
    assert all(f"Página {n}" in text for n in range(1, pages + 1))


@pytest.mark.parametrize(
    "base_url", ["http://localhost", "https://transparencia.compras-publicas.gob.pe/portal/veraz"]
)
def test_qr_code_reads_back_as_the_verification_url(tmp_path, base_url):
    release, arguments = _arguments(example_order("2-package"), base_url)
    read = []
    for name, render in (("fast", render_order_pdf), ("reference", render_order_pdf_reference)):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(render(release, **arguments))
        _tool("pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(path), str(tmp_path / name))
        (png,) = tmp_path.glob(f"{name}*.png")
        read.append(_tool("zbarimg", "--quiet", "--raw", str(png)).strip())
    assert read == [arguments["verify_url"]] * 2


def test_valid_pdf_for_poppler(tmp_path):
    need(shutil.which("pdfinfo") is not None, "pdfinfo (poppler-utils) is not installed")
    for index, order in enumerate(generate_orders(5, 3)):
        release, arguments = _arguments(order)
        path = tmp_path / f"{index}.pdf"
        path.write_bytes(render_order_pdf(release, **arguments))
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=60)
        assert (info.returncode, info.stderr) == (0, "")
        assert re.search(rf"^Title: +Orden de compra {order['orderNumber']}$", info.stdout, re.M)
        assert re.search(r"^Page size: +595.276 x 841.89 pts \(A4\)$", info.stdout, re.M)


def test_same_release_same_bytes_and_the_url_matters():
    release, arguments = _arguments(example_order("3-partial"))
    first = render_order_pdf(copy.deepcopy(release), **arguments)
    assert first.startswith(b"%PDF-1.4\n")
    assert render_order_pdf(copy.deepcopy(release), **arguments) == first
    assert render_order_pdf(release, **{**arguments, "verify_url": arguments["verify_url"] + "x"}) != first


_RENDER_IN_A_FRESH_PROCESS = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from portal.documents.order_pdf import render_order_pdf
from portal.documents.publish import catalogue_name
from portal.links import verification_url
for order in generate_orders(12, 5):
    mapped = map_order(order, ocid_prefix="ocds-vrz0pe")
    pdf = render_order_pdf(
        mapped.order_release,
        verify_url=verification_url("https://veraz.example", mapped.order_release["ocid"]),
        proformas_hash_link="5f" * 32,
        catalogue=catalogue_name(mapped.agreement_release),
    )
    print(hashlib.sha256(pdf).hexdigest())
"""


def test_same_bytes_whatever_was_rendered_before():
    # Texts, widths and text operators are memoised across orders: a process that has rendered
    # other orders first (in another order) must give the bytes of a process that has not.
    import sys

    root = str(Path(__file__).resolve().parents[3])
    fresh = subprocess.run(
        [sys.executable, "-c", _RENDER_IN_A_FRESH_PROCESS, root],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    for order in generate_orders(40, 9):  # others first, to fill the memos
        release, arguments = _arguments(order)
        render_order_pdf(release, **arguments)
    here = []
    for order in reversed(list(generate_orders(12, 5))):
        release, arguments = _arguments(order)
        here.append(hashlib.sha256(render_order_pdf(release, **arguments)).hexdigest())
    assert len(fresh) == 12
    assert here[::-1] == fresh


def test_pinned_bytes_of_one_order():
    # A deliberate change of the layout or of the writer updates this hash (and CHANGELOG.md:
    # it changes hash 2 of every order published afterwards).
    release, arguments = _arguments(example_order("1-single"))
    assert hashlib.sha256(render_order_pdf(release, **arguments)).hexdigest() == PINNED_SHA256
