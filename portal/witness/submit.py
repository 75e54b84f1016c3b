"""The portal's side: send the newest checkpoint to each configured witness, keep what they sign.

``veraz anchor`` (and its ``--watch``) calls :func:`submit_pending` after sealing and anchoring,
so a witness that is down, slow or refusing never holds up either: each witness has its own
retry state (``evidence_witnesses``: attempts counted before trying, ``next_attempt_at``
pushed back as ANCHOR_RETRY_BASE doubling up to ANCHOR_RETRY_MAX), and every failure is
recorded and returned, never raised.

A witness is asked to cosign the newest checkpoint only (tlog-witness: it keeps the latest
one per log), from the size it last cosigned, with the RFC 9162 consistency proof between the
two. A 409 ``text/x.tlog.size`` answer tells the size it holds: the request is made again once
from there. What it returns is verified against its configured key before it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from anchoring.cosignature import Cosignature, note_text, valid_cosignatures
from anchoring.errors import AnchoringError
from portal.evidence import store
from portal.evidence.read.witnesses import cosignature_lines
from portal.evidence.tables import cosignatures, witness_state
from portal.witness.client import Reply, post, request_body
from portal.witness.config import Witness, configured

log = logging.getLogger(__name__)

#: The AttemptResult type of a witness's cosignature (as ``evm`` and ``rfc3161`` for anchors).
WITNESS = "witness"


@dataclass(frozen=True)
class WitnessResult:
    """What one witness did with one checkpoint (same fields as an anchor's AttemptResult)."""

    tree_size: int
    type: str
    status: str  # done | failed-retrying
    detail: str


def _now() -> datetime:
    return datetime.now(UTC)


def _backoff(config: dict, attempts: int) -> timedelta:
    base, cap = float(config["ANCHOR_RETRY_BASE"]), float(config["ANCHOR_RETRY_MAX"])
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _state(conn: Connection, witness: Witness, now: datetime) -> dict:
    row = conn.execute(select(witness_state).where(witness_state.c.witness == witness.key)).mappings().first()
    if row is None:
        values = {
            "witness": witness.key,
            "url": witness.url,
            "cosigned_size": 0,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "updated_at": now,
        }
        conn.execute(insert(witness_state).values(values))
        return values
    return dict(row)


def submit_pending(
    engine: Engine,
    config: dict,
    *,
    due_only: bool = True,
    now: datetime | None = None,
    send: Callable[[str, bytes, float], Reply] = post,
) -> list[WitnessResult]:
    """Ask every configured witness that has not cosigned the newest checkpoint to do so.

    Never raises for a witness's failure: each is returned as ``failed-retrying`` with a
    sentence, and tried again after its backoff (``due_only``) or at the next call.
    """
    witnesses = configured(config)
    if not witnesses:
        return []
    with engine.connect() as conn:
        latest = store.latest(conn)
    if latest is None:
        return []
    at = now or _now()
    # In parallel: a witness that accepts the connection and never answers costs one
    # WITNESS_TIMEOUT for the whole round, not one per witness.
    with ThreadPoolExecutor(max_workers=min(8, len(witnesses))) as pool:
        return list(pool.map(lambda w: _submit_one(engine, config, w, latest, due_only, at, send), witnesses))


def _submit_one(
    engine, config, witness: Witness, latest, due_only: bool, now: datetime, send
) -> WitnessResult:
    with engine.begin() as conn:  # count the attempt before making it (a crash loop backs off)
        state = _state(conn, witness, now)
        if cosignature_lines(conn, latest.size, [witness.key]):
            return WitnessResult(latest.size, WITNESS, "done", f"{witness.verifier.name}: already cosigned")
        if due_only and _aware(state["next_attempt_at"]) > now:
            return WitnessResult(
                latest.size, WITNESS, "failed-retrying", f"{witness.verifier.name}: waiting to retry"
            )
        attempts = state["attempts"] + 1
        conn.execute(
            update(witness_state)
            .where(witness_state.c.witness == witness.key)
            .values(
                attempts=attempts,
                next_attempt_at=now + _backoff(config, attempts),
                url=witness.url,
                updated_at=now,
            )
        )
    old = int(state["cosigned_size"])
    try:
        line = None
        for _round in range(2):  # a 409 with the witness's size: ask once more from that size
            if old > latest.size:
                raise WitnessFailure(
                    f"it has cosigned size {old}, larger than this log's newest checkpoint ({latest.size})"
                )
            with engine.connect() as conn:
                proof = [] if old in (0, latest.size) else store.consistency_proof(conn, old, latest.size)
            reply = send(witness.url, request_body(old, proof, latest.note), float(config["WITNESS_TIMEOUT"]))
            held = reply.conflict_size()
            if held is not None and held != old:
                old = held
                continue
            if reply.status != 200:
                raise WitnessFailure(f"answered {reply.status}: {reply.body.strip()[:300]}")
            body, _ = note_text(latest.note)
            valid = valid_cosignatures(body, reply.cosignature_lines(), [witness.verifier])
            if witness.key not in valid:
                raise WitnessFailure("answered 200 without a valid cosignature by its configured key")
            line = valid[witness.key].line().rstrip("\n")
            break
        if line is None:
            raise WitnessFailure(f"its size changed twice while asked (now {old})")
    except (OSError, WitnessFailure, ValueError, AnchoringError) as error:
        message = f"{witness.verifier.name} ({witness.url}): {error}"
        with engine.begin() as conn:
            conn.execute(
                update(witness_state)
                .where(witness_state.c.witness == witness.key)
                .values(last_error=message[:2000], cosigned_size=old, updated_at=_now())
            )
        log.warning("witness %s", message)
        return WitnessResult(latest.size, WITNESS, "failed-retrying", message)
    cosignature = Cosignature.parse_line(line)
    with engine.begin() as conn:
        conn.execute(
            insert(cosignatures).values(
                tree_size=latest.size,
                witness=witness.key,
                line=line,
                cosigned_at=cosignature.timestamp,
                received_at=_now(),
            )
        )
        conn.execute(
            update(witness_state)
            .where(witness_state.c.witness == witness.key)
            .values(
                cosigned_size=latest.size, attempts=0, next_attempt_at=now, last_error=None, updated_at=_now()
            )
        )
    log.info("witness %s cosigned checkpoint %d", witness.verifier.name, latest.size)
    return WitnessResult(latest.size, WITNESS, "done", witness.verifier.name)


class WitnessFailure(Exception):
    """A witness did not cosign; the message says what it answered."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
