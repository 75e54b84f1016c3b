"""Seal checkpoints and anchor them, with retries, backoff and crash safety.

Crash safety, step by step (``tests/portal/test_crash.py`` kills a real process at each
``crash_point``):

* entries are appended in the publishing transaction, so no entry is ever lost;
* a checkpoint and its ``pending`` anchor rows are written in ONE transaction: a sealed
  checkpoint always has its anchors to make;
* an attempt is counted (committed) before it starts, so a crash loop backs off too;
* EVM: the signed transaction is committed before it is sent and looked for on restart
  (``portal.evidence.evm``), so a checkpoint is never anchored twice;
* RFC 3161: a token obtained but not stored is simply requested again (a second token over
  the same checkpoint proves nothing different and costs nothing on any chain).

A chain or TSA that is down leaves the anchor ``failed-retrying`` with ``next_attempt_at``
pushed back exponentially (ANCHOR_RETRY_BASE doubling up to ANCHOR_RETRY_MAX); the portal keeps
serving from the database and shows the anchor as pending.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import Engine, insert, select, update

from anchoring.errors import AnchoringError, KeyFileError
from portal.derived import DerivedRefresh
from portal.evidence import store
from portal.evidence.backends import Backends, enabled_types
from portal.evidence.crash import crash_point
from portal.evidence.evm import anchor_once
from portal.evidence.pdfs import sign_pending
from portal.evidence.read.anchors import utc
from portal.evidence.tables import DONE, EVM, PENDING, RETRYING, RFC3161, anchors
from portal.exports.cli import export_due
from portal.tokens.mint import mint_due

log = logging.getLogger(__name__)

#: The AttemptResult type of an evidence PDF that could not be signed.
EVIDENCE_PDF = "evidence-pdf"


@contextmanager
def anchoring_lock(config: dict) -> Iterator[str | None]:
    """Hold INSTANCE_PATH/anchor.lock: one anchoring process per portal.

    Yields None when this process holds it, else the pid of the holder. Two anchorers could
    each sign a transaction for the same checkpoint (the intent is per process until
    committed); the lock rules that out. The kernel drops it when the holder dies, even by
    SIGKILL, so a restart never waits for a stale lock.
    """
    path = Path(config["INSTANCE_PATH"]) / "anchor.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield None
    finally:
        os.close(fd)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AttemptResult:
    tree_size: int
    type: str
    status: str
    detail: str


def seal(engine: Engine, config: dict, *, force: bool = True, now: datetime | None = None):
    """Seal a checkpoint over the entries logged so far, if one is due; return it or None.

    ``force`` seals whenever an entry is pending (``veraz anchor``); otherwise only when
    PENDING_ENTRIES_TRIGGER entries are pending, CHECKPOINT_INTERVAL seconds have passed since
    the last checkpoint, or no checkpoint exists yet. A checkpoint covers at most
    MAX_CHECKPOINT_ENTRIES new entries; the rest waits for the next call.

    Raises :class:`~portal.evidence.store.LogKeyError` when checkpoints exist and the key file
    is missing or holds another key (even with nothing to seal, so a lost key is said at once);
    the first checkpoint of an empty log creates the key (``store.sealing_signer``).
    """
    now = now or _now()
    with engine.begin() as conn:
        size = store.size(conn)
        last = store.latest(conn)
        sealed = last.size if last else 0
        pending = size - sealed
        if pending <= 0 and last is None:
            return None
        signer = store.sealing_signer(conn, config)
        if pending <= 0:
            return None
        most = int(config.get("MAX_CHECKPOINT_ENTRIES") or 0)
        target = size if most <= 0 else min(size, sealed + most)
        if not force and last is not None:
            waited = (now - utc(last.sealed_at)).total_seconds()
            if pending < config["PENDING_ENTRIES_TRIGGER"] and waited < config["CHECKPOINT_INTERVAL"]:
                return None
        checkpoint = store.seal(conn, signer, store.origin(config), target)
        rows = [
            {
                "tree_size": checkpoint.size,
                "type": kind,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for kind in enabled_types(config)
        ]
        if rows:
            conn.execute(insert(anchors), rows)
    log.info("sealed checkpoint of size %d", checkpoint.size)
    crash_point("after-seal")
    return checkpoint


def _backoff(config: dict, attempts: int) -> timedelta:
    base, cap = float(config["ANCHOR_RETRY_BASE"]), float(config["ANCHOR_RETRY_MAX"])
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def anchor_pending(
    engine: Engine,
    config: dict,
    backends: Backends,
    *,
    due_only: bool = True,
    now: datetime | None = None,
    evidence_pdfs: bool = True,
) -> list[AttemptResult]:
    """Attempt every anchor not yet done (only those due, unless ``due_only`` is False).

    Then, unless ``evidence_pdfs`` is False, sign the evidence PDF of every checkpoint now
    fully anchored (that never raises: a PDF that fails is retried later, and is returned as
    a result of type ``evidence-pdf``, status ``failed-retrying``, so the caller reports it)."""
    now = now or _now()
    query = select(anchors).where(anchors.c.status != DONE)
    if due_only:
        query = query.where(anchors.c.next_attempt_at <= now)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(anchors.c.tree_size, anchors.c.type)).mappings().all()
        backends.expect(conn)
    results = [_attempt(engine, config, backends, dict(row)) for row in rows]
    if evidence_pdfs:
        _made, failed = sign_pending(engine, config, backends)
        results += [
            AttemptResult(
                f.tree_size or 0, EVIDENCE_PDF, RETRYING, f"{f.message}; `veraz anchor` tries again"
            )
            for f in failed
        ]
    return results


def _attempt(engine: Engine, config: dict, backends: Backends, row: dict) -> AttemptResult:
    attempts = row["attempts"] + 1
    started = _now()
    with engine.begin() as conn:  # count the attempt before making it (a crash loop backs off)
        conn.execute(
            update(anchors)
            .where(anchors.c.id == row["id"])
            .values(
                attempts=attempts,
                next_attempt_at=started + _backoff(config, attempts),
                updated_at=started,
            )
        )
        checkpoint = store.checkpoint(conn, row["tree_size"])
    try:
        if checkpoint is None:
            raise AnchoringError(f"no sealed checkpoint of size {row['tree_size']}")
        if row["type"] == EVM:
            receipt = _anchor_evm(engine, backends, row, checkpoint)
        elif row["type"] == RFC3161:
            receipt = _timestamp(backends, checkpoint)
        else:  # pragma: no cover - types come from enabled_types
            raise AnchoringError(f"unknown anchor type {row['type']!r}")
    except Exception as exc:  # noqa: BLE001 - any failure leaves the anchor pending, retried
        if row["type"] == EVM:
            backends.forget_anchorer()
        message = str(exc) or type(exc).__name__
        with engine.begin() as conn:
            conn.execute(
                update(anchors)
                .where(anchors.c.id == row["id"])
                .values(status=RETRYING, last_error=message[:2000], updated_at=_now())
            )
        log.warning(
            "anchor %s of checkpoint %d failed (attempt %d): %s",
            row["type"],
            row["tree_size"],
            attempts,
            message,
        )
        return AttemptResult(row["tree_size"], row["type"], RETRYING, message)
    with engine.begin() as conn:
        conn.execute(
            update(anchors)
            .where(anchors.c.id == row["id"])
            .values(
                status=DONE,
                receipt=orjson.dumps(receipt).decode(),
                last_error=None,
                updated_at=_now(),
            )
        )
    crash_point("after-evm" if row["type"] == EVM else "after-timestamp-stored")
    return AttemptResult(row["tree_size"], row["type"], DONE, "")


def _anchor_evm(engine: Engine, backends: Backends, row: dict, checkpoint) -> dict:
    anchorer = backends.anchorer()

    def save_intent(intent: dict) -> None:
        with engine.begin() as conn:
            conn.execute(
                update(anchors)
                .where(anchors.c.id == row["id"])
                .values(intent=orjson.dumps(intent).decode(), updated_at=_now())
            )

    intent = orjson.loads(row["intent"]) if row["intent"] else None
    anchor = anchor_once(anchorer, checkpoint.root, checkpoint.size, intent, save_intent)
    return {
        "chainId": anchor.chain_id,
        "contract": anchor.contract,
        "txHash": anchor.tx_hash,
        "blockNumber": anchor.block_number,
        "blockTime": anchor.block_time,
        "root": anchor.root_hex,
        "treeSize": anchor.tree_size,
        "sender": anchor.sender,
        "explorerUrl": anchor.explorer_url,
    }


def _timestamp(backends: Backends, checkpoint) -> dict:
    token = backends.tsa().timestamp(checkpoint.note.encode("utf-8"))
    crash_point("after-timestamp")
    return {
        "token": base64.b64encode(token.der).decode(),
        "genTime": token.gen_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tsa": token.tsa_name,
    } | ({"revocation": token.revocation} if token.revocation else {})


def run_once(engine: Engine, config: dict, backends: Backends) -> list[AttemptResult]:
    """``veraz anchor``: seal what is pending (as several checkpoints if it is more than
    MAX_CHECKPOINT_ENTRIES), then attempt every anchor not yet done."""
    with engine.connect() as conn:
        size = store.size(conn)
    while (sealed := seal(engine, config, force=True)) is not None and sealed.size < size:
        pass  # entries appended meanwhile wait for the next run
    results = anchor_pending(engine, config, backends, due_only=False)
    return results + witness_pending(engine, config, due_only=False)


def witness_pending(engine: Engine, config: dict, *, due_only: bool = True) -> list[AttemptResult]:
    """Ask the configured witnesses to cosign the newest checkpoint (``portal.witness``).

    Called after sealing and anchoring, and never raises: a witness that is down, slow or
    misconfigured is a ``failed-retrying`` result of type ``witness``, tried again later."""
    from portal.witness.submit import WITNESS, submit_pending

    try:
        done = submit_pending(engine, config, due_only=due_only)
    except Exception as exc:  # noqa: BLE001 - witnesses never stop sealing or anchoring
        log.warning("asking the witnesses failed: %s", exc)
        return [AttemptResult(0, WITNESS, RETRYING, str(exc) or type(exc).__name__)]
    return [AttemptResult(r.tree_size, r.type, r.status, r.detail) for r in done]


def watch(
    engine: Engine,
    config: dict,
    backends: Backends,
    *,
    tick: float = 5.0,
    iterations: int | None = None,
) -> None:
    """``veraz anchor --watch``: seal on schedule and anchor with backoff, forever."""
    done = 0
    derived = DerivedRefresh()
    while iterations is None or done < iterations:
        try:
            seal(engine, config, force=False)
            anchor_pending(engine, config, backends, due_only=True)
            witness_pending(engine, config, due_only=True)
            export_due(engine, config)  # the bulk downloads, when EXPORT_WATCH is on (portal/exports)
            mint_due(engine, config, backends)  # the order tokens, when TOKENS_MINT is on (portal/tokens)
            derived.due(engine, config)  # dashboards' summaries and red flags (portal/derived.py)
        except (KeyFileError, store.LogKeyError):
            raise  # a key does not come back by waiting: stop, and say which (the CLI does)
        except Exception:  # noqa: BLE001 - the watcher must survive a database hiccup
            log.exception("sealing or anchoring failed; retrying in %s s", tick)
        done += 1
        if iterations is None or done < iterations:
            time.sleep(tick)
