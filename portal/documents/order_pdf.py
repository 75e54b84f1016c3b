"""The order PDF: what a supplier carries with the goods and a clerk scans at the door.

Rendered from the order's OCDS release (without the PDF's own document entry, see
``docs/proof-format.md``, "Order PDF and the hash circle"), in Spanish, with a QR code holding
exactly the order's verification URL (``portal.links.verification_url``).

The layout (:func:`draw_order`) is written once, against the drawing calls of reportlab's
``Canvas`` plus one, ``showText`` (a font, a size and a string at a place: about 60 an order).
Publishing draws it with :class:`portal.documents.pdf_writer.PdfCanvas` and the QR
encoder of :mod:`portal.documents.qr` (:func:`render_order_pdf`: about 0.25 ms of worker CPU
an order on a loaded machine, where reportlab and ``qrcode`` took 2.5 ms);
:mod:`portal.documents.order_pdf_reference` draws it with reportlab and ``qrcode``, as every
order PDF was rendered before, and the tests check that both show the same text at the same
places and a QR code that reads the same.

Same input, same bytes: no date, no random id, the standard Helvetica and Courier (not
embedded: no system font is needed and WinAnsi covers Spanish), and the QR code (fixed mask
pattern) drawn as a 1-bit image mask, one bit a module, not interpolated. The PDF's SHA-256 is
the evidence's hash 2, so any change here changes the hash of every PDF rendered afterwards
(already published PDFs are stored, never re-rendered).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from portal.codes import STATUS_WORDS
from portal.documents.listing import without_own_pdf
from portal.documents.pdf_writer import PdfCanvas, string_width, units_and_literal
from portal.documents.qr import qr_packed
from portal.presentation import describe_order

_MM = 72.0 / 2.54 * 0.1  # points, computed as reportlab.lib.units computes it
A4 = (210 * _MM, 297 * _MM)
FONT, BOLD = "Helvetica", "Helvetica-Bold"
WIDTH, HEIGHT = A4
MARGIN = 42.0
QR_SIZE = 110.0
CURRENCY_SYMBOL = {"PEN": "S/", "USD": "US$"}

# A line is drawn only above the footer: this much above the page's bottom edge.
_BOTTOM = MARGIN + 24

_CONTROL = re.compile("[\x00-\x1f\x7f]")
# Latin-1 characters that code page 1252 does not keep: controls, C1 controls, no-break space.
_NOT_AS_IS = re.compile("[\x00-\x1f\x7f-\xa0]")

# The shared table of status words (portal.codes), so the page and the PDF say the same word.
STATUS_ES = {code: words["es"] for code, words in STATUS_WORDS.items()}


def _text(value: object) -> str:
    """Text Helvetica (WinAnsi) can show; other characters are replaced, never dropped silently.

    Control characters (a tab or a line break inside a description) have no glyph: they become
    spaces."""
    return _shown(value if type(value) is str else "" if value is None else str(value))


# Not memoised: most texts are printable Latin-1 and pass two scans in C, cheaper than a memo
# that missed for more than half of them (a line's text and width are memoised together).
def _shown(text: str) -> str:
    # Most texts are printable Latin-1, which code page 1252 keeps as it is: skip the round trip.
    if text.isascii():
        if text.isprintable():
            return text
    elif not _NOT_AS_IS.search(text):
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            pass
        else:
            return text
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    text = text.replace("→", "->").replace("\u00a0", " ")
    return text.encode("cp1252", "replace").decode("cp1252")


# The text a line shows, its width at 1 point (in 1/1000) and the PDF literal of it: one lookup
# where a line took four (the text, its width, the canvas's font check, then its escaping);
# the widths are reportlab's (``tests/portal/documents/test_pdf_writer.py``).
@lru_cache(maxsize=8192)
def _shown_units(text: str, font: str) -> tuple[str, int, str]:
    shown = _shown(text)
    return (shown, *units_and_literal(shown, font))


# Built once: ``int | float`` in isinstance builds a union object at every call.
_NUMBER_TYPES = (int, float)


def _money(amount: float | str | None, currency: str | None) -> str:
    if amount is None:
        return "—"
    symbol = CURRENCY_SYMBOL.get(currency or "PEN", currency or "")
    if not isinstance(amount, _NUMBER_TYPES):  # an amount published as text is shown as published
        return f"{symbol} {amount}"
    return f"{symbol} {amount:,.2f}"


def _number(value: float | str | None) -> str:
    if value is None:
        return "—"
    if not isinstance(value, _NUMBER_TYPES):
        return str(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


# An order shows about 8 dates, half of them seen in an order before (dates of delivery,
# signature and quotes recur within an import).
@lru_cache(maxsize=4096)
def _day(value: str | None) -> str:
    if not value:
        return "—"
    try:
        day = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return f"{day.day:02d}/{day.month:02d}/{day.year}"  # strftime("%d/%m/%Y"), 5 times faster


class _Page:
    """A y cursor over a canvas that starts a new page when the next block does not fit."""

    def __init__(self, canvas: Any, footer: str) -> None:
        self.c = canvas
        # Our own canvas takes the memoised literal of a text (PdfCanvas.showLiteral); any
        # other (reportlab's, for the reference) the text.
        self.literal = type(canvas) is PdfCanvas
        self.footer = footer
        self.number = 1
        self.y = HEIGHT - MARGIN

    def need(self, height: float) -> None:
        if self.y - height < _BOTTOM:
            self._finish()
            self.c.showPage()
            self.number += 1
            self.y = HEIGHT - MARGIN

    def _finish(self) -> None:
        self.c.setFont(FONT, 7.5)
        self.c.setFillGray(0.35)
        self.c.drawString(MARGIN, MARGIN - 8, _text(self.footer))
        self.c.drawRightString(WIDTH - MARGIN, MARGIN - 8, f"Página {self.number}")
        self.c.setFillGray(0)

    def line(
        self,
        text: str,
        size: float = 9.5,
        font: str = FONT,
        x: float = MARGIN,
        gap: float = 3.0,
        max_width: float | None = None,
    ) -> None:
        """Draw text, wrapped at word boundaries to ``max_width``."""
        text, units, lit = _shown_units(text if type(text) is str else _text(text), font)
        width = max_width or (WIDTH - MARGIN - x)
        step = size + gap
        # About 60 lines an order, nearly all of one part on the current page: that case
        # costs one lookup and one call to the canvas.
        y = self.y - step
        if units * 0.001 * size <= width and y >= _BOTTOM:  # string_width(), to the last bit
            self.y = y
            if self.literal:
                self.c.showLiteral(font, size, x, y, lit)
            else:
                self.c.showText(font, size, x, y, text)
            return
        for part in _wrap(text, font, size, width):
            self.need(step)
            self.y -= step
            self.c.showText(font, size, x, self.y, part)

    def heading(self, text: str) -> None:
        self.need(40)
        self.y -= 10
        self.line(text, 11.5, BOLD, gap=4)
        self.c.setLineWidth(0.6)
        self.c.line(MARGIN, self.y - 3, WIDTH - MARGIN, self.y - 3)
        self.y -= 5


# Item descriptions and the fixed paragraphs recur from order to order, and a wrapping depends
# on nothing but these arguments.
@lru_cache(maxsize=4096)
def _wrap(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """``text`` in lines no wider than ``width``, broken at spaces (a longer word stands alone)."""
    measure = string_width
    if measure(text, font, size) <= width:
        return (text,)
    space = measure(" ", font, size)
    lines, current, current_width = [], "", 0.0
    for word in text.split(" "):
        word_width = measure(word, font, size)
        if not current:
            current, current_width = word, word_width
            continue
        candidate = f"{current} {word}"
        # Adding the parts' widths keeps wrapping linear in the text's length; it differs from
        # the whole's width by float rounding only, so the whole is measured when that close.
        candidate_width = current_width + space + word_width
        if abs(candidate_width - width) < 1e-6:
            candidate_width = measure(candidate, font, size)
        if candidate_width <= width:
            current, current_width = candidate, candidate_width
        else:
            lines.append(current)
            current, current_width = word, word_width
    if current:
        lines.append(current)
    return tuple(lines)


def _fact(page: _Page, label: str, value: str, width: float) -> None:
    page.line(label, 7.5, BOLD, gap=5)
    page.line(value, 9.5, FONT, gap=2, max_width=width)


def render_order_pdf(
    release: dict,
    *,
    verify_url: str,
    proformas_hash_link: str | None,
    catalogue: str | None = None,
    facts: dict | None = None,
) -> bytes:
    """The order PDF (bytes) of an order release; same arguments, same bytes.

    ``release`` is the order's release; a Veraz PDF entry in its documents is ignored (the
    PDF cannot describe its own hash). ``verify_url`` is printed and put in the QR code as
    is. ``proformas_hash_link`` is hash 3 (hex) or None when not known. ``catalogue`` names
    the electronic catalogue (from the agreement release) when the caller has it. ``facts``
    is ``ocds.summary.process_facts`` of the release without its PDF entry, when the caller
    has already read it.
    """
    canvas = PdfCanvas(A4)
    draw_order(
        canvas,
        release,
        draw_qr=_draw_qr,
        verify_url=verify_url,
        proformas_hash_link=proformas_hash_link,
        catalogue=catalogue,
        facts=facts,
    )
    return canvas.save()


def draw_order(
    canvas: Any,
    release: dict,
    *,
    draw_qr: Callable[[Any, str, float, float], None],
    verify_url: str,
    proformas_hash_link: str | None,
    catalogue: str | None,
    facts: dict | None = None,
) -> None:
    """Draw the order PDF's pages on ``canvas`` (a ``PdfCanvas``, or reportlab's ``Canvas`` with
    ``showText``: ``order_pdf_reference``).

    ``draw_qr(canvas, data, x, y)`` draws the QR code of ``data`` with its lower left corner
    (quiet zone included) at ``(x, y)``, ``QR_SIZE`` points wide. Lines are wrapped by the
    widths of :mod:`portal.documents.pdf_writer`, which are reportlab's. ``facts``: ``describe_order`` of the
    release without its PDF entry, if already read. Ends with ``showPage``.
    """
    release = without_own_pdf(release)
    order = describe_order(release) if facts is None else facts
    contract = (release.get("contracts") or [{}])[0]
    tender = release.get("tender") or {}
    number = str(contract.get("id") or tender.get("id") or release.get("ocid"))
    footer = f"Orden de compra {number} · {release.get('id')} · verifique en {verify_url}"
    canvas.setTitle(f"Orden de compra {number}")
    canvas.setAuthor("Veraz")
    canvas.setSubject(f"OCDS {release.get('ocid')} {release.get('id')}")
    canvas.setCreator("Veraz")
    page = _Page(canvas, footer)

    # Header: portal, order number, QR code at the right.
    text_width = WIDTH - 2 * MARGIN - QR_SIZE - 16
    page.line("Veraz · Compras públicas verificables", 9, BOLD, gap=0)
    page.line(f"Orden de compra {number}", 18, BOLD, gap=8, max_width=text_width)
    status = STATUS_ES.get(order["status"] or "", order["status"] or "—")
    page.line(
        f"Estado: {status} · Emitida: {_day((order['period'] or {}).get('startDate'))}"
        + (f" · Aceptada: {_day(order['date_signed'])}" if order["date_signed"] else ""),
        9,
        gap=6,
        max_width=text_width,
    )
    page.line(f"OCID: {release.get('ocid')}", 8, gap=4, max_width=text_width)
    page.line(
        f"Publicación (release): {release.get('id')} · {_day(release.get('date'))}", 8, max_width=text_width
    )
    draw_qr(canvas, verify_url, WIDTH - MARGIN - QR_SIZE, HEIGHT - MARGIN - QR_SIZE)
    canvas.setFont(FONT, 6.5)
    canvas.drawCentredString(
        WIDTH - MARGIN - QR_SIZE / 2, HEIGHT - MARGIN - QR_SIZE - 9, "Escanee para verificar esta orden"
    )
    page.y = min(page.y, HEIGHT - MARGIN - QR_SIZE - 14)

    # Parties and agreement, in two columns.
    column = (WIDTH - 2 * MARGIN - 12) / 2
    top = page.y
    buyer = order["buyer"] or {}
    buyer_id = (buyer.get("identifier") or {}).get("id")
    _fact(
        page,
        "ENTIDAD COMPRADORA",
        f"{buyer.get('name') or '—'}" + (f" (RUC {buyer_id})" if buyer_id else ""),
        column,
    )
    if order["buyer_address"]:
        page.line(order["buyer_address"], 8, max_width=column)
    supplier = order["supplier"] or {}
    supplier_id = (supplier.get("identifier") or {}).get("id")
    _fact(
        page,
        "PROVEEDOR",
        f"{supplier.get('name') or '—'}" + (f" (RUC {supplier_id})" if supplier_id else ""),
        column,
    )
    left_bottom = page.y
    page.y = top
    x2 = MARGIN + column + 12
    framework = order["framework"] or {}
    page.line("ACUERDO MARCO", 7.5, BOLD, x=x2, gap=5)
    page.line(framework.get("title") or "—", 9.5, x=x2, gap=2, max_width=column)
    if framework.get("identifier"):
        page.line(f"OCID {framework['identifier']}", 7.5, x=x2, max_width=column)
    page.line("CATÁLOGO ELECTRÓNICO", 7.5, BOLD, x=x2, gap=5)
    page.line(
        catalogue or (tender.get("description") or "—").split(": ")[0], 9.5, x=x2, gap=2, max_width=column
    )
    for lot in tender.get("lots") or ():
        page.line(f"Paquete: {lot.get('title', lot.get('id'))}", 8.5, x=x2, max_width=column)
    page.y = min(page.y, left_bottom)

    # Items.
    page.heading("Ítems")
    cols = [
        (MARGIN, "#", "l"),
        (MARGIN + 20, "Descripción", "l"),
        (MARGIN + 262, "Unidad", "l"),
        (MARGIN + 362, "Cantidad", "r"),
        (MARGIN + 436, "P. unitario", "r"),
        (WIDTH - MARGIN, "Subtotal", "r"),
    ]
    _row(page, [c[1] for c in cols], cols, BOLD)
    for item in order["items"]:
        _row(
            page,
            [
                item["id"],
                item["description"],
                item["unit"],
                _number(item["quantity"]),
                _money(item["unit_price"], item["currency"]),
                _money(item["total"], item["currency"]),
            ],
            cols,
            FONT,
        )
    value = order["value"] or {}
    page.need(20)
    page.y -= 16
    canvas.setFont(BOLD, 11)
    canvas.drawRightString(
        WIDTH - MARGIN, page.y, _text(f"Total: {_money(value.get('amount'), value.get('currency'))}")
    )

    # Deliveries per destination and date.
    page.heading("Entregas por destino y fecha")
    for index, dest in enumerate(order["destinations"], start=1):
        page.need(40)
        page.line(f"Destino {index}: {dest['address']}", 9.5, BOLD, gap=6)
        for delivery in dest["deliveries"]:
            state = STATUS_ES.get(delivery.get("status") or "", delivery.get("status") or "")
            page.line(
                f"{delivery.get('title') or 'Entrega'} · plazo {_day(delivery.get('due'))}"
                + (f" · {state}" if state else ""),
                9,
                x=MARGIN + 10,
                gap=4,
            )
            for item in delivery["items"]:
                page.line(
                    f"{_number(item['quantity'])} {item.get('unit') or ''} — {item['description'] or ''}",
                    8.5,
                    x=MARGIN + 22,
                    gap=2,
                )

    # Quotes and the proformas hash link.
    if order["bids"] or proformas_hash_link:
        page.heading("Proformas")
        for bid in order["bids"]:
            names = ", ".join(t.get("name") or "" for t in bid.get("tenderers") or ())
            amount = bid.get("value") or {}
            page.line(
                f"{bid.get('id') or '—'} · {names} · {_day(bid.get('date'))} · "
                f"{_money(amount.get('amount'), amount.get('currency'))}",
                8.5,
                gap=3,
            )
        if proformas_hash_link:
            page.line("Enlace hash de las proformas (raíz Merkle SHA-256):", 8, BOLD, gap=6)
            page.line(proformas_hash_link, 8, "Courier", gap=2)

    if order["amendments"]:
        page.heading("Modificaciones")
        for amendment in order["amendments"]:
            page.line(
                f"{_day(amendment.get('date'))}: {amendment.get('rationale') or ''} "
                f"({amendment.get('description') or amendment.get('id')})",
                8.5,
                gap=3,
            )

    page.heading("Verificación")
    page.line(
        "Esta orden está publicada en datos abiertos (OCDS) y registrada en un registro "
        "de evidencias público, sellado y anclado. Verifique que no fue alterada en:",
        8.5,
    )
    page.line(verify_url, 9, "Courier-Bold", gap=4)
    page.line(
        "La huella SHA-256 de este PDF figura en la publicación de la orden y puede "
        "compararse en esa página sin enviar el archivo.",
        8.5,
        gap=4,
    )
    page._finish()
    canvas.showPage()


def _row(page: _Page, cells: list, cols: list, font: str) -> None:
    description_width = cols[2][0] - cols[1][0] - 8
    wrapped = _wrap(_text(cells[1]), font, 8.5, description_width)
    height = 11 * len(wrapped) + 3
    page.need(height)
    page.y -= 11
    y = page.y
    canvas = page.c
    fast = page.literal
    for index, ((x, _, align), cell) in enumerate(zip(cols, cells, strict=True)):
        if index == 1:
            for i, part in enumerate(wrapped):
                if fast:
                    canvas.showLiteral(font, 8.5, x, y - 11 * i, _shown_units(part, font)[2])
                else:
                    canvas.showText(font, 8.5, x, y - 11 * i, part)
            continue
        # A cell and its width from the lines' memo (numbers, units and prices recur); right
        # aligned at x less its width, as drawRightString places it.
        text, units, lit = _shown_units(cell if type(cell) is str else _text(cell), font)
        if align == "r":
            x -= units * 0.001 * 8.5  # string_width(), to the last bit
        if fast:
            canvas.showLiteral(font, 8.5, x, y, lit)
        else:
            canvas.showText(font, 8.5, x, y, text)
    page.y -= 11 * (len(wrapped) - 1) + 3


QUIET_ZONE = 4  # modules of white border around a QR code, as the QR standard asks


def _draw_qr(canvas: PdfCanvas, data: str, x: float, y: float) -> None:
    """The QR code as a 1-bit image mask, one bit a module (its packed rows are the image's
    rows as they are), the quiet zone left unpainted."""
    size, _, packed = qr_packed(data)
    module = QR_SIZE / (size + 2 * QUIET_ZONE)
    offset = QUIET_ZONE * module
    canvas.setFillGray(0)
    canvas.drawImageMask(packed, size, size, x + offset, y + offset, size * module, size * module)
