"""The small PDF canvas: widths and numbers as reportlab computes them, a file poppler reads
without complaint, text that comes back out as it went in."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase.pdfmetrics import stringWidth
from support import need

from portal.documents.pdf_writer import (
    FONTS,
    PdfCanvas,
    literal,
    number,
    string_width,
    text_units,
    units_and_literal,
)

#: Every character code page 1252 can show (no control characters).
CP1252 = "".join(
    ch for ch in (bytes([b]).decode("cp1252", "ignore") for b in range(32, 256)) if ch and ch.isprintable()
)
HOSTILE = "(paréntesis) sin cerrar ( \\ barra % por ciento ) ¿Año? ¡Ñandú! ü € — “comillas”"


def _poppler(tool: str, *args: str) -> subprocess.CompletedProcess:
    need(shutil.which(tool) is not None, f"{tool} (poppler-utils) is not installed")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=True)


@settings(max_examples=300)
@given(
    st.text(alphabet=CP1252, max_size=80),
    st.sampled_from(FONTS),
    st.sampled_from([6.5, 7.5, 8, 8.5, 9, 9.5, 11, 11.5, 18]),
)
def test_string_width_is_reportlabs(text, font, size):
    assert string_width(text, font, size) == stringWidth(text, font, size)


@settings(max_examples=300)
@given(st.text(alphabet=CP1252 + "()\\\r\n", max_size=80), st.sampled_from(FONTS))
def test_units_and_literal_from_one_encoding_are_both_apart(text, font):
    assert units_and_literal(text, font) == (text_units(text, font), literal(text))


@settings(max_examples=500)
@given(st.floats(min_value=-10_000, max_value=10_000, allow_nan=False))
def test_numbers_are_spelt_as_reportlab_spells_them(value):
    assert number(value) == fp_str(value)


def test_a_font_outside_the_four_is_refused():
    canvas = PdfCanvas((100, 100))
    with pytest.raises(ValueError, match="Times-Roman"):
        canvas.setFont("Times-Roman", 10)


@given(st.lists(st.text(alphabet="01", min_size=21, max_size=21), min_size=1, max_size=25))
def test_an_image_mask_holds_its_rows_as_they_are(rows):
    # One bit a sample, rows padded to whole bytes, the top row first: what qr_packed gives.
    width, height = len(rows[0]), len(rows)
    packed = b"".join(int(row.ljust(24, "0"), 2).to_bytes(3, "big") for row in rows)
    canvas = PdfCanvas((100, 100))
    canvas.drawImageMask(packed, width, height, 10, 20, 30, 40)
    pdf = canvas.save()
    assert b"q\n30 0 0 40 10 20 cm\n/Im1 Do\nQ" in zlib.decompress(_streams(pdf)[0])
    image = re.search(
        rb"<< /Type /XObject /Subtype /Image /Width (\d+) /Height (\d+) /ImageMask true "
        rb"/BitsPerComponent 1 /Decode \[1 0\] /Length (\d+) >>\nstream\n",
        pdf,
    )
    assert (int(image.group(1)), int(image.group(2)), int(image.group(3))) == (width, height, len(packed))
    assert pdf[image.end() : image.end() + len(packed) + 10] == packed + b"\nendstream"
    with pytest.raises(ValueError, match="rows"):
        canvas.drawImageMask(packed + b"\0", width, height, 0, 0, 1, 1)


def _streams(pdf: bytes) -> list[bytes]:
    """The FlateDecode streams of a file, as they are stored."""
    return [
        pdf[match.end() : match.end() + int(match.group(1))]
        for match in re.finditer(rb"<< /Length (\d+) /Filter /FlateDecode >>\nstream\n", pdf)
    ]


def _two_pages() -> bytes:
    canvas = PdfCanvas((595.2756, 841.8898))
    canvas.setTitle("Orden de compra OC-2024-ÑANDÚ (prueba)")
    canvas.setAuthor("Veraz")
    canvas.setFont("Helvetica", 10)
    canvas.drawString(42, 800, HOSTILE)
    canvas.setFont("Courier-Bold", 9)
    canvas.drawRightString(553, 780, "a la derecha")
    canvas.setLineWidth(0.6)
    canvas.line(42, 770, 553, 770)
    canvas.setFillGray(0.35)
    canvas.drawCentredString(297, 760, "centrado")
    canvas.setFillGray(0)
    canvas.drawImageMask(bytes([0b10100000, 0b01000000, 0b10100000]), 3, 3, 42, 600, 30, 30)
    canvas.showPage()
    canvas.setFont("Helvetica-Bold", 12)
    canvas.drawString(42, 800, "Página 2")
    canvas.showPage()
    return canvas.save()


def test_same_calls_same_bytes():
    assert _two_pages() == _two_pages()


def test_cross_reference_table_points_at_every_object():
    pdf = _two_pages()
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n0 ")
    count = int(re.match(rb"xref\n0 (\d+)\n", pdf[startxref:]).group(1))
    entries = re.findall(rb"(\d{10}) 00000 n \n", pdf[startxref:])
    assert len(entries) == count - 1
    for index, offset in enumerate(entries, start=1):
        assert pdf[int(offset) :].startswith(b"%d 0 obj\n" % index)
    streams = re.findall(rb"<< /Length (\d+) /Filter /FlateDecode >>\nstream\n", pdf)
    assert len(streams) == 2
    for match in re.finditer(rb"<< /Length (\d+) /Filter /FlateDecode >>\nstream\n", pdf):
        data = pdf[match.end() : match.end() + int(match.group(1))]
        assert pdf[match.end() + len(data) :].startswith(b"\nendstream")
        zlib.decompress(data)


def test_poppler_reads_it_without_complaint_and_gets_the_text_back(tmp_path):
    path = tmp_path / "two.pdf"
    path.write_bytes(_two_pages())
    info = _poppler("pdfinfo", str(path))
    assert info.stderr == ""
    assert re.search(r"^Pages:\s+2$", info.stdout, re.M)
    assert re.search(r"^Title:\s+Orden de compra OC-2024-ÑANDÚ \(prueba\)$", info.stdout, re.M)
    text = _poppler("pdftotext", "-layout", str(path), "-")
    assert text.stderr == ""
    lines = [line.strip() for line in text.stdout.splitlines() if line.strip()]
    assert lines == [HOSTILE, "a la derecha", "centrado", "Página 2"]
