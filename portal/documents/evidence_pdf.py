"""The evidence PDF of a sealed checkpoint: the forensic record of what the log holds.

One PDF per checkpoint lists every entry sealed in it (the leaves from the previous
checkpoint's size to this one's), the signed checkpoint note and its anchors (EVM transaction,
RFC 3161 token), so an auditor holds on paper what the portal committed to, and when. The
portal signs it (PAdES B-T, ``portal.evidence.signing``); this module only renders.

Same input, same bytes: reportlab ``invariant=1``, the standard Helvetica and Courier (not
embedded), no clock. Text the standard fonts cannot show (outside Windows-1252) is written as
``\\u{XXXX}`` escapes, never replaced, so no identifier is lost. The record is bilingual
(Spanish first, English after the slash), like the portal.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

FONT, BOLD, MONO = "Helvetica", "Helvetica-Bold", "Courier"
WIDTH, HEIGHT = A4
MARGIN = 40.0

#: Labels of the entry members (format version 1, docs/proof-format.md "Log entries").
HASH_LABELS = {
    "dataHash": "hash 1 datos / data",
    "documentHash": "hash 2 documento / document",
    "proformasHash": "hash 3 proformas",
    "proformaHash": "proforma",
}
ID_MEMBERS = ("releaseId", "proformaId")


@dataclass(frozen=True)
class EvidenceEntry:
    """One log entry of the checkpoint: its index, its members and the order it belongs to."""

    index: int
    kind: str
    members: tuple[tuple[str, str], ...]  # (JSON member, value) in entry order, hashes as hex
    order_number: str | None = None

    def member(self, name: str) -> str | None:
        return next((v for k, v in self.members if k == name), None)


@dataclass(frozen=True)
class EvidenceRecord:
    """Everything one evidence PDF shows; rendering it twice gives the same bytes."""

    tree_size: int
    first_index: int
    root_hex: str
    note: str
    sealed_at: datetime
    origin: str
    verifier_key: str
    base_url: str
    entries: tuple[EvidenceEntry, ...]
    anchors: tuple[dict, ...] = field(default=())


def _text(value: object) -> str:
    """Text the standard fonts (WinAnsi) can show; other characters as ``\\u{XXXX}``."""
    out = []
    for ch in "" if value is None else str(value):
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            out.append(f"\\u{{{ord(ch):04X}}}")
        else:
            out.append(ch)
    return "".join(out)


def _utc(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` at most ``width`` wide: at spaces when possible, else anywhere."""
    if stringWidth(text, font, size) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if stringWidth(candidate, font, size) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for ch in word:  # a word wider than the line (a hash, a long id): cut it
            if stringWidth(current + ch, font, size) > width and current:
                lines.append(current)
                current = ""
            current += ch
    if current:
        lines.append(current)
    return lines


class _Pages:
    """A y cursor over the canvas: new page (with header and footer) when a block won't fit."""

    def __init__(self, canvas: Canvas, header: str, footer: str) -> None:
        self.c = canvas
        self.header, self.footer = header, footer
        self.number = 0
        self.y = 0.0
        self._start()

    def _start(self) -> None:
        self.number += 1
        self.y = HEIGHT - MARGIN
        self.c.setFont(FONT, 7)
        self.c.setFillGray(0.35)
        self.c.drawString(MARGIN, HEIGHT - MARGIN + 12, self.header)
        self.c.drawString(MARGIN, MARGIN - 14, self.footer)
        self.c.drawRightString(WIDTH - MARGIN, MARGIN - 14, f"Página / page {self.number}")
        self.c.setFillGray(0)

    def need(self, height: float) -> None:
        if self.y - height < MARGIN:
            self.c.showPage()
            self._start()

    def line(self, text: str, size: float = 9, font: str = FONT, x: float = MARGIN, gap: float = 2.5) -> None:
        for part in _split(_text(text), font, size, WIDTH - MARGIN - x):
            self.need(size + gap)
            self.y -= size + gap
            self.c.setFont(font, size)
            self.c.drawString(x, self.y, part)

    def fact(self, label: str, value: str, mono: bool = False) -> None:
        """``label`` in a left column, ``value`` wrapped in the right one."""
        x = MARGIN + 150
        size = 7.5 if mono else 8.5
        parts = _split(_text(value), MONO if mono else FONT, size, WIDTH - MARGIN - x)
        for i, part in enumerate(parts):
            self.need(size + 3)
            self.y -= size + 3
            if i == 0:
                self.c.setFont(BOLD, 8)
                self.c.drawString(MARGIN, self.y, _text(label))
            self.c.setFont(MONO if mono else FONT, size)
            self.c.drawString(x, self.y, part)

    def heading(self, text: str) -> None:
        self.need(44)
        self.y -= 12
        self.line(text, 11.5, BOLD, gap=3)
        self.c.setLineWidth(0.6)
        self.c.line(MARGIN, self.y - 3, WIDTH - MARGIN, self.y - 3)
        self.y -= 6

    def space(self, height: float) -> None:
        self.y -= height


def render_evidence_pdf(record: EvidenceRecord) -> bytes:
    """The evidence PDF (bytes, unsigned) of one checkpoint; same record, same bytes."""
    # Set on every call so the bytes never depend on what else ran in the process.
    saved_a85, rl_config.useA85 = rl_config.useA85, 0
    try:
        return _render(record)
    finally:
        rl_config.useA85 = saved_a85


def _render(r: EvidenceRecord) -> bytes:
    base = r.base_url.rstrip("/")
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    title = f"Registro de evidencia / Evidence record: checkpoint {r.tree_size}"
    canvas.setTitle(title)
    canvas.setAuthor("Veraz")
    canvas.setSubject(f"{_text(r.origin)} checkpoint {r.tree_size}, root {r.root_hex}")
    canvas.setCreator("Veraz")
    pages = _Pages(
        canvas,
        header=_text(f"Veraz · {r.origin} · checkpoint {r.tree_size}"),
        footer=_text(f"{base}/evidence/{r.tree_size}.pdf"),
    )
    count = r.tree_size - r.first_index

    pages.line("Registro de evidencia", 17, BOLD, gap=4)
    pages.line(f"Evidence record · checkpoint {r.tree_size}", 12, FONT, gap=4)
    pages.space(6)
    pages.fact("Portal", base)
    pages.fact("Registro / log (origin)", r.origin)
    pages.fact("Tamaño / tree size", str(r.tree_size))
    if count:
        leaves = f"{r.first_index} .. {r.tree_size - 1} ({count})"
    else:
        leaves = "0"
    pages.fact("Entradas / entries (leaf index)", leaves)
    pages.fact("Raíz / root (RFC 9162)", r.root_hex, mono=True)
    pages.fact("Sellado / sealed at (UTC)", _utc(r.sealed_at))
    pages.fact("Clave / verifier key", r.verifier_key, mono=True)
    pages.space(4)
    pages.line(
        "Este documento lista cada entrada del registro de evidencia sellada en este checkpoint, "
        "el checkpoint firmado y sus anclajes. Está firmado (PAdES B-T) con el certificado del "
        "portal y lleva un sello de tiempo RFC 3161.",
        8.5,
    )
    pages.line(
        "This document lists every evidence-log entry sealed in this checkpoint, the signed "
        "checkpoint and its anchors. It is signed (PAdES B-T) with the portal's certificate "
        "and carries an RFC 3161 timestamp.",
        8.5,
    )

    pages.heading("Checkpoint firmado / signed checkpoint (C2SP signed note)")
    for text_line in r.note.rstrip("\n").split("\n"):
        pages.line(text_line or " ", 7.5, MONO, gap=2)

    pages.heading("Anclajes / anchors")
    tokens = _anchors(pages, r.anchors)

    pages.heading(f"Entradas / entries ({count})")
    pages.line(
        "Cada entrada es el JSON canónico (RFC 8785) de sus miembros; su hoja es "
        "SHA-256(0x00 || entrada). Each entry is the RFC 8785 canonical JSON of its members; "
        'its leaf is SHA-256(0x00 || entry). docs/proof-format.md, "Log entries".',
        7.5,
    )
    pages.space(3)
    for entry in r.entries:
        _entry(pages, entry)

    pages.heading("Cómo verificar / how to verify")
    for text_line in (
        f"1. Firma / signature: pyhanko sign validate --trust ca.pem --trust-replace "
        f"--no-revocation-check (ca.pem: {base}/evidence/ca.pem), o / or pdfsig.",
        f"2. Entradas / entries: {base}/api/log/entries?start={r.first_index}&end={r.tree_size}"
        " (recompute every leaf and the root).",
        f"3. Checkpoint: {base}/api/log/checkpoints; key {base}/api/log/key.",
        "4. EVM: the transaction's Anchored(root, treeSize) event on the chain; RFC 3161: "
        "openssl ts -verify -in token.tsr -data checkpoint.txt -CAfile tsa-ca.pem "
        f"(tsa-ca.pem: {base}/api/log/tsa-ca.pem).",
    ):
        pages.line(text_line, 8)

    for name, token in tokens:
        pages.heading(f"Anexo / annex: {name} (base64 DER TimeStampResp, .tsr)")
        pages.line(token, 6.5, MONO, gap=1.5)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _anchors(pages: _Pages, anchors: Sequence[dict]) -> list[tuple[str, str]]:
    """Draw the anchors; return the RFC 3161 tokens to print in an annex."""
    tokens: list[tuple[str, str]] = []
    if not anchors:
        pages.line("Sin anclajes configurados / no anchors configured.", 8.5)
    stamps = sum(1 for a in anchors if a.get("type") == "rfc3161" and a.get("status") == "done")
    for anchor in anchors:
        kind, status = anchor.get("type", "?"), anchor.get("status", "?")
        pages.space(3)
        if status != "done":
            pages.line(f"{kind}: pendiente / pending", 9, BOLD)
            continue
        if kind == "evm":
            pages.line("EVM (cadena / chain)", 9, BOLD)
            block_time = anchor.get("blockTime")
            when = (
                f"{_utc(datetime.fromtimestamp(int(block_time), UTC))} ({block_time})"
                if block_time is not None
                else "—"
            )
            for label, value, mono in (
                ("Cadena / chain id", str(anchor.get("chainId")), False),
                ("Contrato / contract", str(anchor.get("contract")), True),
                ("Transacción / transaction", str(anchor.get("txHash")), True),
                ("Bloque / block", str(anchor.get("blockNumber")), False),
                ("Hora del bloque / block time", when, False),
                ("Raíz / root", str(anchor.get("root")), True),
                ("Tamaño / tree size", str(anchor.get("treeSize")), False),
                ("Remitente / sender", str(anchor.get("sender")), True),
                ("Explorador / explorer", str(anchor.get("explorerUrl") or "—"), False),
            ):
                pages.fact(label, value, mono)
        elif kind == "rfc3161":
            token = str(anchor.get("token", ""))
            digest = hashlib.sha256(base64.b64decode(token)).hexdigest() if token else "—"
            name = "RFC 3161 token" + (f" {len(tokens) + 1}" if stamps > 1 else "")
            pages.line("RFC 3161 (sello de tiempo / timestamp)", 9, BOLD)
            for label, value, mono in (
                ("Autoridad / authority (TSA)", str(anchor.get("tsa")), False),
                ("Hora / genTime (UTC)", str(anchor.get("genTime")), False),
                ("Sobre / over", "SHA-256 de la nota / of the note (checkpoint)", False),
                ("SHA-256 del token / of token", digest, True),
                ("Token", f'anexo / annex "{name}"', False),
            ):
                pages.fact(label, value, mono)
            if token:
                tokens.append((name, token))
        else:
            pages.line(f"{kind}", 9, BOLD)
            for key, value in sorted(anchor.items()):
                if key not in ("type", "status"):
                    pages.fact(key, str(value), mono=True)
    return tokens


def _entry(pages: _Pages, entry: EvidenceEntry) -> None:
    hashes = [(k, v) for k, v in entry.members if k in HASH_LABELS]
    texts = [(k, v) for k, v in entry.members if k not in HASH_LABELS]
    if entry.kind == "release" and entry.member("documentHash") is None:
        hashes.insert(1, ("documentHash", "— (sin documento / none)"))
    pages.need(11 + 9.5 * len(hashes) + 4)  # keep an entry on one page
    pages.space(3)
    ident = "  ".join(
        [f"#{entry.index}", entry.kind, f"orden / order {entry.order_number or '—'}"]
        + [v for k, v in texts if k == "ocid"]
        + [v for k, v in texts if k in ID_MEMBERS]
        + [f"{k}={v}" for k, v in texts if k != "ocid" and k not in ID_MEMBERS]
    )
    pages.line(ident, 8, BOLD, gap=2.5)
    for member, value in hashes:
        label = HASH_LABELS[member]
        pages.need(9.5)
        pages.y -= 9.5
        pages.c.setFont(FONT, 7)
        pages.c.drawString(MARGIN + 10, pages.y, label)
        pages.c.setFont(MONO, 7.5)
        pages.c.drawString(MARGIN + 120, pages.y, _text(value))
