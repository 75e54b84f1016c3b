"""Log evidence: one entry per published release and one per received proforma.

Called by ``portal.publishing`` inside the transaction that stores the rows, so a release is
never published without being logged, nor logged without being published. Proformas are
logged before the releases of the same batch: each quote is evidence from the moment it
arrives, and the release's hash 3 (proformas hash link) covers quotes already in the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

from anchoring import entries as entry_format
from anchoring.canonical import canonical_json
from portal.documents.listing import order_pdf_sha256
from portal.evidence import store
from portal.models import proformas
from portal.queries import lookup_pairs


def bid_ids(release: Any) -> list[str]:
    """The ids of a release's ``bids.details``: the quotes it may link."""
    bids = release.get("bids") if isinstance(release, Mapping) else None
    details = bids.get("details") if isinstance(bids, Mapping) else None
    # Imported OCDS may hold anything there (``true``, a number, an object): only a list has bids.
    return (
        [str(b["id"]) for b in details if isinstance(b, Mapping) and "id" in b]
        if isinstance(details, list)
        else []
    )


def document_hash(release: Any) -> str | None:
    """Hash 2 of a release (hex): the SHA-256 its Veraz order PDF document declares.

    The order PDF is listed in ``contracts[].documents`` with id ``<orderNumber>-veraz-pdf`` and
    ``integrity: [{"scheme": "sha256", "id": ...}]`` (see docs/proof-format.md, "Order PDF and
    the hash circle"); a release without one (an agreement, imported OCDS) has no hash 2.
    """
    return order_pdf_sha256(release)


def release_evidence(release: Any) -> tuple[list[str], str | None]:
    """What a release's entry needs besides hash 1: its bid ids (for hash 3) and hash 2."""
    return bid_ids(release), document_hash(release)


def stored_quotes(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(ocid, proforma id): sha256 hex}`` of the stored proformas among ``keys``."""
    return lookup_pairs(conn, (proformas.c.ocid, proformas.c.proforma_id), proformas.c.data_hash, keys)


def release_entry_value(
    ocid: str,
    release_id: str,
    data_hash: str,
    document_hash: str | None,
    quotes: list[tuple[str, str]],
    package_hash: str | None = None,
) -> entry_format.ReleaseEntry:
    """The log entry of a release, from its three evidence hashes (hex) and, for an imported
    release, the hash of its source package statement."""
    return entry_format.ReleaseEntry(
        ocid=ocid,
        release_id=release_id,
        data_hash=bytes.fromhex(data_hash),
        proformas_hash=entry_format.proformas_hash_link([bytes.fromhex(h) for _, h in quotes]),
        document_hash=bytes.fromhex(document_hash) if document_hash else None,
        package_hash=bytes.fromhex(package_hash) if package_hash else None,
    )


def release_entry(
    ocid: str,
    release_id: str,
    data_hash: str,
    document_hash: str | None,
    quotes: list[tuple[str, str]],
    package_hash: str | None = None,
) -> bytes:
    """The entry bytes of a release, from its three evidence hashes (hex)."""
    return entry_format.encode_entry(
        release_entry_value(ocid, release_id, data_hash, document_hash, quotes, package_hash)
    )


# The stored columns of a ``release_packages`` row and the member of the statement each gives.
_STATEMENT_MEMBERS = (
    ("package_uri", "uri"),
    ("version", "version"),
    ("published_date", "publishedDate"),
    ("license", "license"),
    ("publication_policy", "publicationPolicy"),
)
_PUBLISHER_MEMBERS = (
    ("publisher_name", "name"),
    ("publisher_scheme", "scheme"),
    ("publisher_uid", "uid"),
    ("publisher_uri", "uri"),
)


#: The ``release_packages`` columns a statement is made of.
STATEMENT_COLUMNS = tuple(c for c, _ in _STATEMENT_MEMBERS + _PUBLISHER_MEMBERS) + ("extensions",)


def source_statement(row: Any) -> dict:
    """What Veraz states about the package an imported release came in, from its
    ``release_packages`` row: the package's ``uri``, ``version``, ``publishedDate``,
    ``license``, ``publicationPolicy``, ``publisher`` (``name``, ``scheme``, ``uid``, ``uri``)
    and ``extensions`` (the stored JSON array text, kept as text so that any stored value has
    one statement). Members without a value are left out; ``publisher`` too when empty.

    The pages and the API say who published a release and under which licence from this row,
    so its hash is logged in the release's entry (``packageHash``) and the audit re-derives it.
    """
    statement: dict[str, Any] = {member: row[column] for column, member in _STATEMENT_MEMBERS if row[column]}
    publisher = {member: row[column] for column, member in _PUBLISHER_MEMBERS if row[column]}
    if publisher:
        statement["publisher"] = publisher
    if row["extensions"]:
        statement["extensions"] = row["extensions"]
    return statement


def source_hash(row: Any) -> str | None:
    """``packageHash`` (hex) of a ``release_packages`` row: SHA-256 of the RFC 8785 form of its
    statement; None without a row (the portal's own releases)."""
    if row is None:
        return None
    return hashlib.sha256(canonical_json(source_statement(row))).hexdigest()


def proforma_entry_value(ocid: str, proforma_id: str, data_hash: str) -> entry_format.ProformaEntry:
    """The log entry of a proforma (supplier quote) as received."""
    return entry_format.ProformaEntry(
        ocid=ocid, proforma_id=proforma_id, proforma_hash=bytes.fromhex(data_hash)
    )


def proforma_entry(ocid: str, proforma_id: str, data_hash: str) -> bytes:
    """The entry bytes of a proforma (supplier quote) as received."""
    return entry_format.encode_entry(proforma_entry_value(ocid, proforma_id, data_hash))


def _get(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def log_evidence(
    conn: Connection,
    releases: Iterable[Any] = (),
    new_proformas: Iterable[Any] = (),
    quotes: Mapping[tuple[str, str], str] | None = None,
    package_hashes: Sequence[str | None] | None = None,
) -> tuple[list[int], list[int]]:
    """Append the entries of new proformas, then releases; return their leaf indices.

    Returns ``(proforma indices, release indices)``, in the order given: the caller stores
    each on its row (``leaf_index``), in the same transaction, so a proof starts from the row.
    ``releases`` items have ``ocid``, ``release_id``, ``data_hash`` and ``data`` (the canonical
    JSON), as attributes or keys; ``new_proformas`` items ``ocid``, ``proforma_id``,
    ``data_hash``. ``quotes`` maps ``(ocid, proforma id)`` to the SHA-256 (hex) of every quote
    the releases may link, stored or in this batch; without it they are read from the
    ``proformas`` table (then the new proformas must already be visible to ``conn``).
    ``package_hashes`` gives, in the order of ``releases``, the ``source_hash`` of each
    imported release's package statement (None for the portal's own releases).
    """
    releases, new_proformas = list(releases), list(new_proformas)
    # Each item's members read one way, chosen once per item (a Mapping test is an ABC check).
    batch: list[entry_format.Entry] = []
    for p in new_proformas:
        if isinstance(p, Mapping):
            batch.append(proforma_entry_value(p["ocid"], p["proforma_id"], p["data_hash"]))
        else:
            batch.append(proforma_entry_value(p.ocid, p.proforma_id, p.data_hash))
    # One query for the whole batch (not one per release): publishing stays fast. The
    # publishing workers precompute each release's evidence (``evidence`` attribute) so the
    # writer need not parse releases again; anything else is parsed here.
    members = []
    for r in releases:
        if isinstance(r, Mapping):
            ocid, release_id, data_hash = r["ocid"], r["release_id"], r["data_hash"]
        else:
            ocid, release_id, data_hash = r.ocid, r.release_id, r.data_hash
        evidence = getattr(r, "evidence", None)
        if evidence is None:
            evidence = release_evidence(orjson.loads(_get(r, "data")))
        members.append((ocid, release_id, data_hash, evidence[0], evidence[1]))
    if quotes is None:
        wanted = {(ocid, pid) for ocid, _, _, pids, _ in members for pid in pids}
        quotes = stored_quotes(conn, wanted) if wanted else {}
    packages = list(package_hashes) if package_hashes is not None else [None] * len(releases)
    for (ocid, release_id, data_hash, pids, document), package in zip(members, packages, strict=True):
        linked = [(pid, quotes[(ocid, pid)]) for pid in pids if (ocid, pid) in quotes]
        batch.append(release_entry_value(ocid, release_id, data_hash, document, linked, package))
    indices = store.append(conn, batch) if batch else []
    return indices[: len(new_proformas)], indices[len(new_proformas) :]


def link_hex(quotes: list[tuple[str, str]]) -> str:
    """Hash 3 of a release (hex); the empty-tree root when it links no proforma."""
    return entry_format.proformas_hash_link([bytes.fromhex(h) for _, h in quotes]).hex()
