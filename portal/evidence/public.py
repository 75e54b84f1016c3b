"""What the public log API serves, read from the database only (web workers never anchor)."""

from __future__ import annotations

from sqlalchemy import Connection

from portal.evidence import sealing, store


def verifier_key(config: dict) -> str | None:
    """The C2SP verifier key of the checkpoint signer (created with the signer on first use)."""
    return store.signer(config).verifier_key


def latest_checkpoint(conn: Connection) -> str | None:
    latest = store.latest(conn)
    return latest.note if latest else None


def log_size(conn: Connection) -> int:
    return store.size(conn)


def checkpoint_history(conn: Connection) -> list[dict]:
    """Every checkpoint, newest first: size, root, note, sealing time and anchors."""
    history = store.checkpoints(conn)
    anchors = sealing.anchor_rows(conn)
    return [
        {
            "treeSize": c.size,
            "root": c.root.hex(),
            "checkpoint": c.note,
            "sealedAt": sealing._aware(c.sealed_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "anchors": anchors.get(c.size, []),
        }
        for c in reversed(history)
    ]


def consistency(conn: Connection, first: int, second: int) -> list[bytes]:
    if first == second:
        return []
    return store.consistency_proof(conn, first, second)


def entries_page(conn: Connection, start: int, end: int) -> list[dict]:
    """Entries ``[start, end)``: index, exact bytes (base64) and leaf hash (hex)."""
    import base64

    from anchoring.merkle import leaf_hash

    return [
        {
            "index": start + i,
            "base64": base64.b64encode(data).decode(),
            "leafHash": leaf_hash(data).hex(),
        }
        for i, data in enumerate(store.entries(conn, start, end))
    ]
