"""Prepared releases, quotes and orders: what the CPU-heavy step hands to the writer.

Plain frozen values (canonical bytes, hashes, browse columns), cheap to send from a worker
process to the writer; the writer stores them as they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from anchoring.canonical import canonical_json
from ocds.errors import Problem
from portal.evidence.record import release_evidence
from portal.exports.splice import splice_flag
from portal.search.documents import Document


@dataclass(frozen=True)
class PreparedRelease:
    ocid: str
    release_id: str
    date: str
    tags: str
    data: bytes  # canonical JSON (RFC 8785)
    data_hash: str
    valid: bool = True
    problems: str | None = None
    # (bid ids, hash 2) for the evidence log entry, computed by the worker (None: derive later)
    evidence: tuple[list[str], str | None] | None = None
    # The ``releases.splice`` column (portal.exports.splice.splice_flag); None: not decided
    splice: bool | None = None


@dataclass(frozen=True)
class PreparedProforma:
    """A supplier's quote (proforma) of an order, as the evidence log and ``proformas`` store it."""

    proforma_id: str
    data: bytes  # canonical JSON (RFC 8785)
    data_hash: str


@dataclass(frozen=True)
class PreparedOrder:
    line: int
    order_number: str
    version: int
    digest: str  # SHA-256 of the source order's canonical JSON
    order: PreparedRelease
    agreement: PreparedRelease
    proformas: tuple[PreparedProforma, ...]
    # The record's browse columns if this is the ocid's only release (None for a later version
    # of an order, whose record the writer compiles from all its releases)
    summary_alone: dict | None
    # ... and its read-model rows and search document (ocds.summary.read_model_rows,
    # portal.search.documents.document), made by the worker from the same reading; the rows
    # as dicts, or as the writer's driver parameters (portal.publishing.records.PackedRows)
    read_model_alone: dict[str, list[dict]] | dict[str, Any] | None = None
    search_alone: Document | None = None
    pdf: bytes | None = None  # the order PDF listed in the order release
    pdf_sha256: str | None = None  # its SHA-256 (hex), as listed: hash 2


def prepare_release(
    release: dict, problems: list[Problem] | None = None, *, catalogue: bool = False
) -> PreparedRelease:
    """Canonicalise and hash ``release``; ``problems`` flags it as kept although invalid. Also
    decides the ``releases.splice`` column (``catalogue``: an order's release as ``map_order``
    makes it, whose sibling ids need no walk; see ``portal.exports.splice.splice_flag``)."""
    data = canonical_json(release)
    return PreparedRelease(
        ocid=release["ocid"],
        release_id=str(release["id"]),
        date=date_column(release.get("date")),
        tags=tags_column(release.get("tag")),
        data=data,
        data_hash=hashlib.sha256(data).hexdigest(),
        valid=not problems,
        problems=orjson.dumps([[p.field, p.reason] for p in problems]).decode() if problems else None,
        evidence=release_evidence(release),
        splice=splice_flag(release, data, catalogue=catalogue),
    )


def date_column(value: Any) -> str:
    """The ``releases.date`` column (ordering only; the release keeps its date as published):
    a string date cut to the column's 40 characters, anything else empty. A NUL character,
    which PostgreSQL cannot store in text, is left out."""
    return value.replace("\x00", "")[:40] if isinstance(value, str) else ""


def tags_column(value: Any) -> str:
    """The ``releases.tags`` column: the string tags, comma-separated, within 255 characters.

    Imported OCDS may hold a bare string (one tag, not its letters), nulls or other types."""
    tags = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return ",".join(t for t in tags if isinstance(t, str)).replace("\x00", "")[:255]


def prepare_proforma(proforma: dict) -> PreparedProforma:
    """Canonicalise and hash one quote."""
    data = canonical_json(proforma)
    return PreparedProforma(str(proforma["id"]), data, hashlib.sha256(data).hexdigest())
