"""Witnesses' cosignatures as the read side serves them (``portal.witness`` gathers them).

Only cosignatures by witnesses in the WITNESSES setting are served: they are the ones the
portal checked against a key it was configured with.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, select

from portal.evidence.tables import cosignatures
from portal.witness.config import WitnessSettingError, configured

log = logging.getLogger(__name__)


def witness_keys(config: dict) -> list[str]:
    """The verifier keys of the configured witnesses (none when the setting is unusable: the
    operator's log says why, and pages then claim no witness)."""
    try:
        return [w.key for w in configured(config)]
    except WitnessSettingError as error:
        log.error("%s", error)
        return []


def cosignature_lines(conn: Connection, tree_size: int, keys: list[str]) -> list[str]:
    """The stored cosignature lines on checkpoint ``tree_size`` by the witnesses ``keys``."""
    if not keys:
        return []
    rows = conn.execute(
        select(cosignatures.c.line)
        .where(cosignatures.c.tree_size == tree_size, cosignatures.c.witness.in_(keys))
        .order_by(cosignatures.c.witness)
    )
    return [row.line for row in rows]


def cosigned_note(conn: Connection, config: dict, tree_size: int, note: str) -> str:
    """``note`` (the checkpoint of ``tree_size``) followed by its witnesses' cosignature lines."""
    lines = cosignature_lines(conn, tree_size, witness_keys(config))
    return note + "".join(f"{line}\n" for line in lines)
