"""The order PDF drawn by reportlab and ``qrcode``, as every order PDF was rendered before
:func:`portal.documents.order_pdf.render_order_pdf` drew it with its own PDF canvas and QR
encoder.

The reference the fast renderer is tested against (``tests/portal/documents/``): the same
layout (:func:`portal.documents.order_pdf.draw_order`) drawn by the libraries it replaces must
show the same text at the same places and a QR code that reads the same. Published PDFs are
stored and never re-rendered, by either.
"""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab import rl_config
from reportlab.pdfgen.canvas import Canvas

from portal.documents.order_pdf import A4, QR_SIZE, QUIET_ZONE, draw_order


def render_order_pdf_reference(
    release: dict, *, verify_url: str, proformas_hash_link: str | None, catalogue: str | None = None
) -> bytes:
    """The order PDF as reportlab renders it (same arguments as ``render_order_pdf``).

    reportlab's ``invariant=1`` fixes the dates and the document id: same arguments, same
    bytes."""
    # Page streams are compressed but not ASCII85-encoded (smaller, and faster to write); set
    # on every call so the bytes never depend on what else ran in the process.
    saved_a85, rl_config.useA85 = rl_config.useA85, 0
    try:
        buffer = io.BytesIO()
        canvas = _Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
        draw_order(
            canvas,
            release,
            draw_qr=_draw_qr,
            verify_url=verify_url,
            proformas_hash_link=proformas_hash_link,
            catalogue=catalogue,
        )
        canvas.save()
        return buffer.getvalue()
    finally:
        rl_config.useA85 = saved_a85


class _Canvas(Canvas):
    """reportlab's canvas with the one call the layout adds to reportlab's set."""

    def showText(self, font: str, size: float, x: float, y: float, text: str) -> None:  # noqa: N802
        self.setFont(font, size)
        self.drawString(x, y, text)


def qr_matrix_reference(data: str) -> list[list[bool]]:
    """The QR code of ``data`` as ``qrcode`` builds it for the order PDF (level M, mask 0)."""
    # A fixed mask pattern: the bytes do not depend on qrcode's mask scoring, and it skips the
    # costliest step of encoding (scoring eight masks).
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.get_matrix()


def _draw_qr(canvas: Canvas, data: str, x: float, y: float) -> None:
    """The QR code as filled squares in a module-sized coordinate system.

    Written as literal PDF operators with integer coordinates: reportlab's general path API
    formats every float in pure Python and made the QR code half the rendering time.
    """
    matrix = qr_matrix_reference(data)
    size = len(matrix)
    module = QR_SIZE / (size + 2 * QUIET_ZONE)
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
    offset = QUIET_ZONE * module
    canvas.saveState()
    canvas.setFillGray(0)
    canvas.transform(module, 0, 0, module, x + offset, y + offset)
    canvas.addLiteral("\n".join(ops) + "\nf")
    canvas.restoreState()
