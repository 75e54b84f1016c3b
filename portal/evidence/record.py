"""Log evidence: one entry per published release and one per received proforma.

Called by ``portal.publishing`` inside the transaction that stores the rows, so a release is
never published without being logged, nor logged without being published. Proformas are
logged before the releases of the same batch: each quote is evidence from the moment it
arrives, and the release's hash 3 (proformas hash link) covers quotes already in the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, select

from anchoring import entries as entry_format
from portal.evidence import store
from portal.models import proformas


def release_quotes(conn: Connection, ocid: str, release: Mapping) -> list[tuple[str, str]]:
    """The proformas a release links (hash 3): its ``bids.details`` that are stored quotes.

    ``[(proforma id, sha256 hex), ...]`` in the order of ``bids.details``, so the link is
    re-derivable from the published release and the published proformas alone.
    """
    bids = release.get("bids") if isinstance(release, Mapping) else None
    details = bids.get("details") if isinstance(bids, Mapping) else None
    ids = [str(b["id"]) for b in details or () if isinstance(b, Mapping) and "id" in b]
    if not ids:
        return []
    stored = dict(
        conn.execute(
            select(proformas.c.proforma_id, proformas.c.data_hash).where(
                proformas.c.ocid == ocid, proformas.c.proforma_id.in_(ids)
            )
        )
        .all()
    )
    return [(pid, stored[pid]) for pid in ids if pid in stored]


def release_entry(
    ocid: str,
    release_id: str,
    data_hash: str,
    document_hash: str | None,
    quotes: list[tuple[str, str]],
) -> bytes:
    """The entry bytes of a release, from its three evidence hashes (hex)."""
    return entry_format.encode_entry(
        entry_format.ReleaseEntry(
            ocid=ocid,
            release_id=release_id,
            data_hash=bytes.fromhex(data_hash),
            proformas_hash=entry_format.proformas_hash_link([bytes.fromhex(h) for _, h in quotes]),
            document_hash=bytes.fromhex(document_hash) if document_hash else None,
        )
    )


def proforma_entry(ocid: str, proforma_id: str, data_hash: str) -> bytes:
    """The entry bytes of a proforma (supplier quote) as received."""
    return entry_format.encode_entry(
        entry_format.ProformaEntry(
            ocid=ocid, proforma_id=proforma_id, proforma_hash=bytes.fromhex(data_hash)
        )
    )


def _get(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def log_evidence(
    conn: Connection, releases: Iterable[Any] = (), new_proformas: Iterable[Any] = ()
) -> int:
    """Append the entries of newly stored proformas, then releases; return how many.

    ``releases`` items have ``ocid``, ``release_id``, ``data_hash`` and ``data`` (the canonical
    JSON), as attributes or keys;
    ``new_proformas`` items ``ocid``, ``proforma_id``, ``data_hash``. Must run in the
    transaction that inserted them (their proformas must already be visible to ``conn``).
    """
    releases, new_proformas = list(releases), list(new_proformas)
    batch = [
        proforma_entry(_get(p, "ocid"), _get(p, "proforma_id"), _get(p, "data_hash"))
        for p in new_proformas
    ]
    for r in releases:
        ocid = _get(r, "ocid")
        quotes = release_quotes(conn, ocid, orjson.loads(_get(r, "data")))
        batch.append(release_entry(ocid, _get(r, "release_id"), _get(r, "data_hash"), None, quotes))
    if batch:
        store.append(conn, batch)
    return len(batch)


def link_hex(quotes: list[tuple[str, str]]) -> str:
    """Hash 3 of a release (hex); the empty-tree root when it links no proforma."""
    return entry_format.proformas_hash_link([bytes.fromhex(h) for _, h in quotes]).hex()
