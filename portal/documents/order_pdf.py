"""The order PDF: what a supplier carries with the goods and a clerk scans at the door.

Rendered from the order's OCDS release (without the PDF's own document entry, see
``docs/proof-format.md``, "Order PDF and the hash circle"), in Spanish, with a QR code holding
exactly the order's verification URL (``portal.links.verification_url``).

Same input, same bytes: reportlab's ``invariant=1`` fixes the dates and the document id, the
font is the standard Helvetica (not embedded: no system font is needed and WinAnsi covers
Spanish), and the QR code is drawn as vector squares with a fixed mask pattern. The PDF's
SHA-256 is the evidence's hash 2, so any change here changes the hash of every PDF rendered
afterwards (already published PDFs are stored, never re-rendered).
"""

from __future__ import annotations

import io
from datetime import datetime

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from portal.documents.listing import without_own_pdf
from portal.presentation import describe_order

FONT, BOLD = "Helvetica", "Helvetica-Bold"
WIDTH, HEIGHT = A4
MARGIN = 42.0
QR_SIZE = 110.0
CURRENCY_SYMBOL = {"PEN": "S/", "USD": "US$"}

STATUS_ES = {"pending": "emitida", "active": "aceptada", "terminated": "entregada",
             "cancelled": "anulada", "met": "entregada", "notMet": "no entregada",
             "scheduled": "programada"}


def _text(value: object) -> str:
    """Text Helvetica (WinAnsi) can show; other characters are replaced, never dropped silently."""
    text = "" if value is None else str(value)
    text = text.replace("→", "->").replace("\u00a0", " ")
    return text.encode("cp1252", "replace").decode("cp1252")


def _money(amount: float | None, currency: str | None) -> str:
    if amount is None:
        return "—"
    symbol = CURRENCY_SYMBOL.get(currency or "PEN", currency or "")
    return f"{symbol} {amount:,.2f}"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _day(value: str | None) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%d/%m/%Y")
    except ValueError:
        return value


def _qr_matrix(data: str) -> list[list[bool]]:
    # A fixed mask pattern: the bytes do not depend on qrcode's mask scoring, and it skips the
    # costliest step of encoding (scoring eight masks).
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.get_matrix()


class _Page:
    """A y cursor over a canvas that starts a new page when the next block does not fit."""

    def __init__(self, canvas: Canvas, footer: str) -> None:
        self.c = canvas
        self.footer = footer
        self.number = 1
        self.y = HEIGHT - MARGIN

    def need(self, height: float) -> None:
        if self.y - height < MARGIN + 24:
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

    def line(self, text: str, size: float = 9.5, font: str = FONT, x: float = MARGIN,
             gap: float = 3.0, max_width: float | None = None) -> None:
        """Draw text, wrapped at word boundaries to ``max_width``."""
        width = max_width or (WIDTH - MARGIN - x)
        for part in _wrap(_text(text), font, size, width):
            self.need(size + gap)
            self.y -= size + gap
            self.c.setFont(font, size)
            self.c.drawString(x, self.y, part)

    def heading(self, text: str) -> None:
        self.need(40)
        self.y -= 10
        self.line(text, 11.5, BOLD, gap=4)
        self.c.setLineWidth(0.6)
        self.c.line(MARGIN, self.y - 3, WIDTH - MARGIN, self.y - 3)
        self.y -= 5


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, font, size) <= width:
        return [text]
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if stringWidth(candidate, font, size) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _fact(page: _Page, label: str, value: str, width: float) -> None:
    page.line(label, 7.5, BOLD, gap=5)
    page.line(value, 9.5, FONT, gap=2, max_width=width)


def render_order_pdf(release: dict, *, verify_url: str, proformas_hash_link: str | None,
                     catalogue: str | None = None) -> bytes:
    """The order PDF (bytes) of an order release; same arguments, same bytes.

    ``release`` is the order's release; a Veraz PDF entry in its documents is ignored (the
    PDF cannot describe its own hash). ``verify_url`` is printed and put in the QR code as
    is. ``proformas_hash_link`` is hash 3 (hex) or None when not known. ``catalogue`` names
    the electronic catalogue (from the agreement release) when the caller has it.
    """
    release = without_own_pdf(release)
    order = describe_order(release)
    contract = (release.get("contracts") or [{}])[0]
    tender = release.get("tender") or {}
    number = str(contract.get("id") or tender.get("id") or release.get("ocid"))

    # Page streams are compressed but not ASCII85-encoded (smaller, and faster to write); set
    # on every call so the bytes never depend on what else ran in the process.
    saved_a85, rl_config.useA85 = rl_config.useA85, 0
    try:
        return _render(release, order, contract, tender, number, verify_url=verify_url,
                       proformas_hash_link=proformas_hash_link, catalogue=catalogue)
    finally:
        rl_config.useA85 = saved_a85


def _render(release: dict, order: dict, contract: dict, tender: dict, number: str, *,
            verify_url: str, proformas_hash_link: str | None, catalogue: str | None) -> bytes:
    footer = f"Orden de compra {number} · {release.get('id')} · verifique en {verify_url}"
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
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
    page.line(f"Estado: {status} · Emitida: {_day((order['period'] or {}).get('startDate'))}"
              + (f" · Aceptada: {_day(order['date_signed'])}" if order["date_signed"] else ""),
              9, gap=6, max_width=text_width)
    page.line(f"OCID: {release.get('ocid')}", 8, gap=4, max_width=text_width)
    page.line(f"Publicación (release): {release.get('id')} · {_day(release.get('date'))}", 8,
              max_width=text_width)
    _draw_qr(canvas, verify_url, WIDTH - MARGIN - QR_SIZE, HEIGHT - MARGIN - QR_SIZE)
    canvas.setFont(FONT, 6.5)
    canvas.drawCentredString(WIDTH - MARGIN - QR_SIZE / 2, HEIGHT - MARGIN - QR_SIZE - 9,
                             "Escanee para verificar esta orden")
    page.y = min(page.y, HEIGHT - MARGIN - QR_SIZE - 14)

    # Parties and agreement, in two columns.
    column = (WIDTH - 2 * MARGIN - 12) / 2
    top = page.y
    buyer = order["buyer"] or {}
    buyer_id = (buyer.get("identifier") or {}).get("id")
    _fact(page, "ENTIDAD COMPRADORA", f"{buyer.get('name', '—')}"
          + (f" (RUC {buyer_id})" if buyer_id else ""), column)
    if order["buyer_address"]:
        page.line(order["buyer_address"], 8, max_width=column)
    supplier = order["supplier"] or {}
    supplier_id = (supplier.get("identifier") or {}).get("id")
    _fact(page, "PROVEEDOR", f"{supplier.get('name', '—')}"
          + (f" (RUC {supplier_id})" if supplier_id else ""), column)
    left_bottom = page.y
    page.y = top
    x2 = MARGIN + column + 12
    framework = order["framework"] or {}
    page.line("ACUERDO MARCO", 7.5, BOLD, x=x2, gap=5)
    page.line(framework.get("title") or "—", 9.5, x=x2, gap=2, max_width=column)
    if framework.get("identifier"):
        page.line(f"OCID {framework['identifier']}", 7.5, x=x2, max_width=column)
    page.line("CATÁLOGO ELECTRÓNICO", 7.5, BOLD, x=x2, gap=5)
    page.line(catalogue or (tender.get("description") or "—").split(": ")[0], 9.5, x=x2,
              gap=2, max_width=column)
    for lot in tender.get("lots") or ():
        page.line(f"Paquete: {lot.get('title', lot.get('id'))}", 8.5, x=x2, max_width=column)
    page.y = min(page.y, left_bottom)

    # Items.
    page.heading("Ítems")
    cols = [(MARGIN, "#", "l"), (MARGIN + 20, "Descripción", "l"), (MARGIN + 262, "Unidad", "l"),
            (MARGIN + 362, "Cantidad", "r"), (MARGIN + 436, "P. unitario", "r"),
            (WIDTH - MARGIN, "Subtotal", "r")]
    _row(page, [c[1] for c in cols], cols, BOLD)
    for item in order["items"]:
        _row(page, [item["id"], item["description"], item["unit"], _number(item["quantity"]),
                    _money(item["unit_price"], item["currency"]),
                    _money(item["total"], item["currency"])], cols, FONT)
    value = order["value"] or {}
    page.need(20)
    page.y -= 16
    canvas.setFont(BOLD, 11)
    canvas.drawRightString(WIDTH - MARGIN, page.y,
                           _text(f"Total: {_money(value.get('amount'), value.get('currency'))}"))

    # Deliveries per destination and date.
    page.heading("Entregas por destino y fecha")
    for index, dest in enumerate(order["destinations"], start=1):
        page.need(40)
        page.line(f"Destino {index}: {dest['address']}", 9.5, BOLD, gap=6)
        for delivery in dest["deliveries"]:
            state = STATUS_ES.get(delivery.get("status") or "", delivery.get("status") or "")
            page.line(f"{delivery.get('title') or 'Entrega'} · plazo {_day(delivery.get('due'))}"
                      + (f" · {state}" if state else ""), 9, x=MARGIN + 10, gap=4)
            for item in delivery["items"]:
                page.line(f"{_number(item['quantity'])} {item.get('unit') or ''} — "
                          f"{item['description']}", 8.5, x=MARGIN + 22, gap=2)

    # Quotes and the proformas hash link.
    if order["bids"] or proformas_hash_link:
        page.heading("Proformas")
        for bid in order["bids"]:
            names = ", ".join(t.get("name", "") for t in bid.get("tenderers") or ())
            amount = (bid.get("value") or {})
            page.line(f"{bid.get('id')} · {names} · {_day(bid.get('date'))} · "
                      f"{_money(amount.get('amount'), amount.get('currency'))}", 8.5, gap=3)
        if proformas_hash_link:
            page.line("Enlace hash de las proformas (raíz Merkle SHA-256):", 8, BOLD, gap=6)
            page.line(proformas_hash_link, 8, "Courier", gap=2)

    if order["amendments"]:
        page.heading("Modificaciones")
        for amendment in order["amendments"]:
            page.line(f"{_day(amendment.get('date'))}: {amendment.get('rationale') or ''} "
                      f"({amendment.get('description') or amendment.get('id')})", 8.5, gap=3)

    page.heading("Verificación")
    page.line("Esta orden está publicada en datos abiertos (OCDS) y registrada en un registro "
              "de evidencias público, sellado y anclado. Verifique que no fue alterada en:", 8.5)
    page.line(verify_url, 9, "Courier-Bold", gap=4)
    page.line("La huella SHA-256 de este PDF figura en la publicación de la orden y puede "
              "compararse en esa página sin enviar el archivo.", 8.5, gap=4)
    page._finish()
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _row(page: _Page, cells: list, cols: list, font: str) -> None:
    description_width = cols[2][0] - cols[1][0] - 8
    wrapped = _wrap(_text(cells[1]), font, 8.5, description_width)
    height = 11 * len(wrapped) + 3
    page.need(height)
    page.y -= 11
    canvas = page.c
    canvas.setFont(font, 8.5)
    for index, ((x, _, align), cell) in enumerate(zip(cols, cells, strict=True)):
        if index == 1:
            for i, part in enumerate(wrapped):
                canvas.drawString(x, page.y - 11 * i, part)
        elif align == "r":
            canvas.drawRightString(x, page.y, _text(cell))
        else:
            canvas.drawString(x, page.y, _text(cell))
    page.y -= 11 * (len(wrapped) - 1) + 3


def _draw_qr(canvas: Canvas, data: str, x: float, y: float) -> None:
    """The QR code as filled squares in a module-sized coordinate system.

    Written as literal PDF operators with integer coordinates: reportlab's general path API
    formats every float in pure Python and made the QR code half the rendering time.
    """
    matrix = _qr_matrix(data)
    quiet = 4  # modules of white border, as the QR standard asks
    size = len(matrix)
    module = QR_SIZE / (size + 2 * quiet)
    ops = []
    for row, cells in enumerate(matrix):
        col = 0
        while col < size:
            if cells[col]:
                start = col
                while col < size and cells[col]:
                    col += 1
                ops.append(f"{start} {size - 1 - row} {col - start} 1 re")
            else:
                col += 1
    offset = quiet * module
    canvas.saveState()
    canvas.setFillGray(0)
    canvas.transform(module, 0, 0, module, x + offset, y + offset)
    canvas.addLiteral("\n".join(ops) + "\nf")
    canvas.restoreState()
