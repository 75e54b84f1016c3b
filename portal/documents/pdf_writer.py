"""A small PDF canvas for pages of text, lines and 1-bit image masks in the standard Type 1 fonts.

Why it exists: an order PDF is rendered for every published order, in the publishing workers,
and reportlab spent about 1.6 ms of worker CPU on each one (a Python object per PDF operator,
a font lookup and a number formatting call per string). This canvas draws the same few things
that the order PDF draws, with the same calls as reportlab's ``Canvas`` (``setFont``,
``drawString``, ``drawRightString``, ``drawCentredString``, ``line``, ``stringWidth``...), by
appending operator text to a list, and writes the file (fonts, pages, cross-reference table)
from fixed templates. ``tests/portal/documents/`` renders generated orders through both and
checks that the text poppler extracts, with its position on the page, is the same. Two calls
are its own: ``showLiteral`` (a string already made a PDF literal, for a caller that memoises
its texts) and ``drawImageMask`` (a 1-bit image, one bit a sample: the QR code, where a path of
squares was half of a page's operators).

Only the fonts every PDF reader has are used (Helvetica and Courier, regular and bold), never
embedded, with WinAnsiEncoding: Spanish needs nothing else. Their widths are reportlab's copies
of the Adobe metrics, read once. Same calls, same bytes: no clock, no random id.
"""

from __future__ import annotations

import hashlib
import re
from codecs import charmap_encode as _charmap_encode
from dataclasses import dataclass
from encodings.cp1252 import encoding_table as _CP1252
from functools import cache, lru_cache
from math import log10

from isal import isal_zlib
from reportlab.pdfbase.pdfmetrics import getFont

#: The fonts this canvas can use, by their PDF base names.
FONTS = ("Helvetica", "Helvetica-Bold", "Courier", "Courier-Bold")
#: Flate level of page content, for ISA-L (``isal``: zlib-format deflate, read by every PDF
#: reader as any FlateDecode stream). Measured on order pages (8 KB of operators): zlib at
#: level 1 took 74 us a page for 2,689 bytes, at 6 136 us for 2,321; ISA-L at level 1 takes
#: 23 us for 2,576 bytes (libdeflate 37 us, zlib-ng 32 us for 3,328). zlib's own time on such a
#: page is mostly setting up its state, whatever the level or window.
COMPRESSION_LEVEL = 1

# Characters a literal PDF string cannot hold as they are: the delimiters, the escape, and the
# line ends (a reader would turn CR and CRLF into LF). Most strings have none, and searching is
# much faster than rewriting (``str.translate`` to several characters takes microseconds).
_NEEDS_ESCAPE = re.compile(r"[\\()\r\n]")


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("(", "\\(")
        .replace(")", "\\)")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )


@cache
def _width_tables(font: str) -> tuple[bytes, bytes]:
    """Glyph widths (1/1000 of the font size) by WinAnsi code, as high and low bytes: a string's
    width is then two ``bytes.translate`` and two sums, without a Python call per character."""
    if font not in FONTS:
        raise ValueError(f"font {font!r} is not one of {', '.join(FONTS)}")
    widths = getFont(font).widths
    return bytes(w >> 8 for w in widths), bytes(w & 0xFF for w in widths)


def text_units(text: str, font: str) -> int:
    """Width of ``text`` (characters of code page 1252) in ``font`` in 1/1000 of the font size:
    ``text_units(text, font) * 0.001 * size`` is :func:`string_width`, to the last bit."""
    high, low = _width_tables(font)
    codes = _charmap_encode(text, "strict", _CP1252)[0]  # text.encode("cp1252"), without a frame
    return 256 * sum(codes.translate(high)) + sum(codes.translate(low))


def units_and_literal(text: str, font: str) -> tuple[int, str]:
    """``(text_units(text, font), literal(text))``, from one encoding of ``text``: what a caller
    of :meth:`PdfCanvas.showLiteral` that measures its texts (to wrap or align them) needs."""
    high, low = _width_tables(font)
    codes = _charmap_encode(text, "strict", _CP1252)[0]
    units = 256 * sum(codes.translate(high)) + sum(codes.translate(low))
    if not text.isascii():
        text = codes.decode("latin-1")  # as _literal keeps it
    if _NEEDS_ESCAPE.search(text):
        text = _escape(text)
    return units, text


@lru_cache(maxsize=8192)  # labels, units and catalogue descriptions recur from order to order
def string_width(text: str, font: str, size: float) -> float:
    """Width of ``text`` (characters of code page 1252) in ``font`` at ``size`` points."""
    return text_units(text, font) * 0.001 * size


_FORMATS = ("%.0f", "%.1f", "%.2f", "%.3f", "%.4f", "%.5f", "%.6f")


@lru_cache(maxsize=4096)
def number(value: float) -> str:
    """A coordinate as PDF writes it: at most 7 significant digits, no trailing zeros.

    Spelt as reportlab spells it, so the two renderings place text at the same positions."""
    magnitude = abs(value)
    if magnitude <= 1e-7:
        return "0"
    decimals = 6 if magnitude <= 1 else min(max(0, 6 - int(log10(magnitude))), 6)
    text = _FORMATS[decimals] % value
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return text[1:] if text.startswith("0") and len(text) > 1 else text


# A text position recurs from order to order (the layout's lines fall on the same few hundred
# heights); the text itself mostly does not. Kept apart, both are cheap: the position is a small
# table's lookup, the text is copied as it is unless it needs a code page or an escape. (Kept
# together, as one memo of position and text, the memo missed for two lines in five and, at
# 16,384 entries, cost more in a worker than the formatting it saved.)
@lru_cache(maxsize=4096)
def _position(x: float, y: float) -> str:
    """The text matrix operator that places a string at ``(x, y)``, and the string's opening."""
    return f"1 0 0 1 {number(x)} {number(y)} Tm ("


@lru_cache(maxsize=16)
def _media_box(width: float, height: float) -> bytes:
    return f"[0 0 {number(width)} {number(height)}]".encode("ascii")


@lru_cache(maxsize=64)
def _font_operator(name: str, size: float) -> str:
    """The operator that sets font resource ``name`` at ``size`` points."""
    return f"/{name} {number(size)} Tf"


def _literal(text: str) -> str:
    """``text`` as the inside of a literal string of a content stream kept as Latin-1 text."""
    if not text.isascii():
        # Kept as the Latin-1 characters of its code page 1252 bytes: a page is then encoded by
        # the Latin-1 codec, a copy, where the cp1252 codec took a third of the time zlib took.
        text = _charmap_encode(text, "strict", _CP1252)[0].decode("latin-1")
    if _NEEDS_ESCAPE.search(text):
        text = _escape(text)
    return text


literal = _literal  # for callers of PdfCanvas.showLiteral


def _text_string(text: str) -> bytes:
    """A PDF text string (document information): PDFDocEncoding if ASCII, else UTF-16BE."""
    if text.isascii() and text.isprintable():
        return b"(" + _escape(text).encode("ascii") + b")"
    return b"<feff" + text.encode("utf-16-be").hex().encode("ascii") + b">"


class PdfCanvas:
    """Pages of drawing operators, then :meth:`save` writes the PDF file.

    The subset of reportlab's ``Canvas`` that the order PDF uses, with the same meaning
    (coordinates in points from the bottom left corner, a current font, a fill gray, a line
    width), so one layout function draws on either.
    """

    def __init__(self, pagesize: tuple[float, float]) -> None:
        self._media = _media_box(*pagesize)
        self._pages: list[str] = []
        self._ops: list[str] = []
        self._fonts: dict[str, str] = {}  # base name -> resource name, in order of first use
        self._font: tuple[str, float] = ("Helvetica", 12.0)  # current font and size
        self._shown: tuple[str, float] | None = None  # font and size set in the content stream
        self._in_text = False
        self._info: dict[str, str] = {}
        self._images: list[bytes] = []  # image mask objects' dictionaries and data, by number

    # Document information.
    def setTitle(self, title: str) -> None:  # noqa: N802 (reportlab's names)
        self._info["Title"] = title

    def setAuthor(self, author: str) -> None:  # noqa: N802
        self._info["Author"] = author

    def setSubject(self, subject: str) -> None:  # noqa: N802
        self._info["Subject"] = subject

    def setCreator(self, creator: str) -> None:  # noqa: N802
        self._info["Creator"] = creator

    # Text.
    def setFont(self, font: str, size: float) -> None:  # noqa: N802
        if font not in FONTS:
            raise ValueError(f"font {font!r} is not one of {', '.join(FONTS)}")
        self._font = (font, size)

    stringWidth = staticmethod(string_width)  # noqa: N815 (reportlab's name)

    def drawString(self, x: float, y: float, text: str) -> None:  # noqa: N802
        """Draw ``text`` (characters of code page 1252) from ``(x, y)`` on its baseline."""
        ops = self._ops
        if not self._in_text:
            ops.append("BT")
            self._in_text = True
        if self._font != self._shown:
            self._shown = font, size = self._font
            name = self._fonts.get(font)
            if name is None:
                name = self._fonts[font] = f"F{len(self._fonts) + 1}"
            ops.append(_font_operator(name, size))
        ops.append(f"{_position(x, y)}{_literal(text)}) Tj")

    def showText(self, font: str, size: float, x: float, y: float, text: str) -> None:  # noqa: N802
        """``setFont(font, size)`` then ``drawString(x, y, text)``, in one call.

        The order PDF draws about 60 strings a page, each in its own font and size: one call
        instead of two, and no second look at the font, is measurable there."""
        self.showLiteral(font, size, x, y, _literal(text))

    def showLiteral(self, font: str, size: float, x: float, y: float, literal: str) -> None:  # noqa: N802
        """:meth:`showText` of a string already made a literal by :func:`literal`: a caller
        that memoises its texts (the order PDF's recur: labels, headings, catalogue items)
        memoises their literals with them."""
        ops = self._ops
        if not self._in_text:
            ops.append("BT")
            self._in_text = True
        self._font = key = (font, size)
        if key != self._shown:
            if font not in FONTS:
                raise ValueError(f"font {font!r} is not one of {', '.join(FONTS)}")
            self._shown = key
            name = self._fonts.get(font)
            if name is None:
                name = self._fonts[font] = f"F{len(self._fonts) + 1}"
            ops.append(_font_operator(name, size))
        ops.append(f"{_position(x, y)}{literal}) Tj")

    def drawRightString(self, x: float, y: float, text: str) -> None:  # noqa: N802
        """Draw ``text`` ending at ``x``."""
        self.drawString(x - string_width(text, *self._font), y, text)

    def drawCentredString(self, x: float, y: float, text: str) -> None:  # noqa: N802
        """Draw ``text`` centred on ``x``."""
        self.drawString(x - 0.5 * string_width(text, *self._font), y, text)

    # Graphics.
    def _graphics(self) -> list[str]:
        if self._in_text:
            self._ops.append("ET")
            self._in_text = False
        return self._ops

    def setFillGray(self, gray: float) -> None:  # noqa: N802
        self._ops.append(f"{number(gray)} g")  # allowed inside and outside text objects

    def setLineWidth(self, width: float) -> None:  # noqa: N802
        self._graphics().append(f"{number(width)} w")

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self._graphics().append(f"{number(x1)} {number(y1)} m {number(x2)} {number(y2)} l S")

    def saveState(self) -> None:  # noqa: N802
        self._graphics().append("q")

    def restoreState(self) -> None:  # noqa: N802
        self._graphics().append("Q")
        self._shown = None  # the font set inside is forgotten

    def transform(self, a: float, b: float, c: float, d: float, e: float, f: float) -> None:
        self._graphics().append(" ".join(map(number, (a, b, c, d, e, f))) + " cm")

    def addLiteral(self, ops: str) -> None:  # noqa: N802
        """Append raw PDF operators (ASCII, outside any text object)."""
        self._graphics().append(ops)

    def drawImageMask(  # noqa: N802
        self, rows: bytes, width: int, height: int, x: float, y: float, w: float, h: float
    ) -> None:
        """Paint the 1 bits of a 1-bit image in the current fill gray, ``w`` by ``h`` points
        from ``(x, y)``: ``height`` rows of ``width`` bits (whole bytes a row, most significant
        bit leftmost, the top row first), each bit one sample, its 0 bits left unpainted.

        An image mask (an image XObject, ``/ImageMask true``), not interpolated: a QR code's
        modules stay sharp squares however it is scaled, and its 1,000 or so modules are the
        few hundred bytes of their bits, where a path of squares was 4 KB of operators to
        format and deflate on every page."""
        if len(rows) != height * ((width + 7) // 8):
            raise ValueError(f"{len(rows)} bytes are not {height} rows of {width} bits")
        self._images.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ImageMask true "
            b"/BitsPerComponent 1 /Decode [1 0] /Length %d >>\nstream\n%s\nendstream"
            % (width, height, len(rows), rows)
        )
        self._graphics().append(
            f"q\n{number(w)} 0 0 {number(h)} {number(x)} {number(y)} cm\n/Im{len(self._images)} Do\nQ"
        )

    # Pages and the file.
    def showPage(self) -> None:  # noqa: N802
        self._graphics()
        self._pages.append("\n".join(self._ops))
        self._ops = []
        self._shown = None

    def save(self) -> bytes:
        """The PDF file (PDF 1.4). Call after the last :meth:`showPage`."""
        if self._ops:
            self.showPage()
        images = self._images
        frame = _frame(tuple(self._fonts) or ("Helvetica",), len(self._pages), self._media, len(images))
        entries = sorted(self._info.items())
        info = b"3 0 obj\n<< %s >>\nendobj\n" % b" ".join(
            b"/" + key.encode("ascii") + b" " + _text_string(value) for key, value in entries
        )
        out = [frame.head, info, frame.fonts]
        position = len(frame.head) + len(info)
        offsets = [*frame.head_offsets, len(frame.head)]
        offsets.extend([position + offset for offset in frame.font_offsets])
        position += len(frame.fonts)
        number_ = frame.first_page
        for page, content in zip(frame.pages, self._pages, strict=True):
            data = isal_zlib.compress(content.encode("latin-1"), COMPRESSION_LEVEL)
            stream = b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream\nendobj\n" % (
                number_ + 1,
                len(data),
                data,
            )
            offsets.append(position)
            offsets.append(position + len(page))
            out.append(page)
            out.append(stream)
            position += len(page) + len(stream)
            number_ += 2
        for image in images:  # after the pages: objects numbered from the frame's last page on
            chunk = b"%d 0 obj\n%s\nendobj\n" % (number_, image)
            offsets.append(position)
            out.append(chunk)
            position += len(chunk)
            number_ += 1
        file_id = hashlib.md5(b"".join(out), usedforsecurity=False).hexdigest().encode("ascii")
        out.append(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        out.extend([b"%010d 00000 n \n" % offset for offset in offsets])
        out.append(
            b"trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R /ID [<%s> <%s>] >>\n"
            b"startxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, file_id, file_id, position)
        )
        return b"".join(out)


@dataclass(frozen=True)
class _Frame:
    """What a file holds besides its information and its pages' content: the same for every
    file with the same fonts (in order of first use) and number of pages."""

    head: bytes  # header, catalog (1) and page tree (2)
    head_offsets: tuple[int, ...]
    fonts: bytes  # the font objects, 4 onwards, written after the information (3)
    font_offsets: tuple[int, ...]  # from the start of ``fonts``
    first_page: int
    pages: tuple[bytes, ...]  # each page's object, its content stream the next object


# Every order PDF has one of a handful of frames (its fonts are drawn in the same order, and
# nearly every order fits one page): built once, instead of formatting a dozen objects a file.
@lru_cache(maxsize=64)
def _frame(fonts: tuple[str, ...], pages: int, media: bytes, images: int = 0) -> _Frame:
    first_page = 4 + len(fonts)  # 1 catalog, 2 page tree, 3 information, then fonts
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(pages))
    font_refs = " ".join(f"/F{i + 1} {4 + i} 0 R" for i in range(len(fonts)))
    # Images follow the pages and their content streams; every page shares one resource
    # dictionary, so names every image whichever page draws it.
    first_image = first_page + 2 * pages
    image_refs = " ".join(f"/Im{i + 1} {first_image + i} 0 R" for i in range(images))
    resources = (
        f"<< /Font << {font_refs} >> /XObject << {image_refs} >> /ProcSet [/PDF /Text /ImageB] >>"
        if images
        else f"<< /Font << {font_refs} >> /ProcSet [/PDF /Text] >>"
    ).encode("ascii")

    def chunk(number_: int, body: bytes) -> bytes:
        return b"%d 0 obj\n%s\nendobj\n" % (number_, body)

    head = [
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        chunk(1, b"<< /Type /Catalog /Pages 2 0 R >>"),
        chunk(2, f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode("ascii")),
    ]
    font_chunks = [
        chunk(
            4 + i,
            f"<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>".encode("ascii"),
        )
        for i, font in enumerate(fonts)
    ]
    return _Frame(
        head=b"".join(head),
        head_offsets=(len(head[0]), len(head[0]) + len(head[1])),
        fonts=b"".join(font_chunks),
        font_offsets=tuple(sum(map(len, font_chunks[:i])) for i in range(len(font_chunks))),
        first_page=first_page,
        pages=tuple(
            chunk(
                first_page + 2 * i,
                b"<< /Type /Page /Parent 2 0 R /MediaBox "
                + media
                + b" /Resources "
                + resources
                + f" /Contents {first_page + 2 * i + 1} 0 R >>".encode("ascii"),
            )
            for i in range(pages)
        ),
    )
