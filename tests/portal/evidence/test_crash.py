"""Crash safety: a real ``veraz anchor`` process SIGKILLed at every named point, then restarted.

After each crash and restart: no entry is lost (the latest checkpoint covers the whole log),
every checkpoint is anchored exactly once on the (persistent, embedded) chain, and every
anchor is done. ``VERAZ_CRASH_AT`` is the test hook of ``portal.evidence.crash``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from builders import example_order
from evidence_builders import publish_examples
from hexbytes import HexBytes
from sqlalchemy import func, select

from portal.db import app_engine
from portal.evidence import store
from portal.evidence.crash import POINTS
from portal.evidence.tables import anchors
from portal.models import proformas, releases

VERAZ = Path(sys.executable).parent / "veraz"


def _env(app, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTAL_") and k not in ("DATABASE_URL", "VERAZ_CRASH_AT")
    }
    env.update(
        PORTAL_INSTANCE_PATH=app.config["INSTANCE_PATH"],
        DATABASE_URL=app.config["DATABASE_URL"],
        **extra,
    )
    return env


def _anchor(app, crash_at: str | None = None) -> subprocess.CompletedProcess:
    extra = {"VERAZ_CRASH_AT": crash_at} if crash_at else {}
    return subprocess.run(
        [str(VERAZ), "anchor"], env=_env(app, **extra), capture_output=True, text=True, timeout=180
    )


def _anchored_on_chain(app) -> Counter:
    """``Counter((root hex, size))`` of every Anchored event on the embedded chain."""
    from anchoring.chains.embedded import embedded_chain
    from anchoring.chains.evm import ANCHORED_TOPIC

    w3 = embedded_chain(Path(app.config["INSTANCE_PATH"]) / "chain")
    try:
        logs = w3.eth.get_logs(
            {"fromBlock": 0, "toBlock": "latest", "topics": [HexBytes(ANCHORED_TOPIC).to_0x_hex()]}
        )
        return Counter(
            (bytes(entry["topics"][1]).hex(), int.from_bytes(bytes(entry["data"]), "big")) for entry in logs
        )
    finally:
        w3.provider.close()


def _check_consistent(app) -> None:
    engine = app_engine(app)
    with engine.connect() as conn:
        size = store.size(conn)
        published = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (releases, proformas)
        )
        history = store.checkpoints(conn)
        states = conn.execute(select(anchors.c.tree_size, anchors.c.type, anchors.c.status)).all()
    assert size == published  # no entry lost
    assert history and history[-1].size == size  # everything sealed after the restart
    assert {s for _, _, s in states} == {"done"}
    assert sorted((t, k) for t, k, _ in states) == sorted(
        (c.size, k) for c in history for k in ("evm", "rfc3161")
    )
    on_chain = _anchored_on_chain(app)
    assert on_chain == Counter({(c.root.hex(), c.size): 1 for c in history})  # exactly once


def test_sigkill_at_every_point_then_restart(sqlite_app, tmp_path):
    app = sqlite_app
    # process-kill behaviour does not depend on the backend: SQLite only
    for n, point in enumerate(POINTS):
        order = example_order("2-package", orderNumber=f"OC-2025-9{n:05d}")
        for p in order.get("proformas", []):
            p["id"] = f"{p['id']}-{n}"
        publish_examples(app, tmp_path, [order], name=f"crash-{n}")
        killed = _anchor(app, crash_at=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        resumed = _anchor(app)
        assert resumed.returncode == 0, (point, resumed.stderr[-3000:])
        _check_consistent(app)


def test_watcher_killed_and_restarted_keeps_its_chain(sqlite_app, tmp_path):
    app = sqlite_app
    # process-kill behaviour does not depend on the backend: SQLite only
    engine = app_engine(app)

    def run_watcher_until_done() -> None:
        proc = subprocess.Popen(
            [str(VERAZ), "anchor", "--watch", "--tick", "0.2"],
            env=_env(app, PORTAL_CHECKPOINT_INTERVAL="1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    latest = store.latest(conn)
                    size = store.size(conn)
                    left = conn.execute(
                        select(func.count()).select_from(anchors).where(anchors.c.status != "done")
                    ).scalar_one()
                if latest is not None and latest.size == size and left == 0:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the watcher did not seal and anchor in time")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    publish_examples(app, tmp_path, [example_order("1-single")], name="w1")
    run_watcher_until_done()
    publish_examples(app, tmp_path, [example_order("3-partial")], name="w2")
    run_watcher_until_done()
    _check_consistent(app)
