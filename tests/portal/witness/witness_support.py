"""Helpers for the witness tests: a tiny in-memory log that signs checkpoints, and a real
witness process (``python -m portal.witness serve``) on a free port."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from builders import example_order
from evidence_builders import publish_examples
from sqlalchemy import inspect

from anchoring.cosignature import CosignatureVerifier
from anchoring.merkle import NodeID, consistency_proof, leaf_hash, root_from_leaves
from anchoring.notes import Checkpoint, NoteSigner, sign_checkpoint
from portal.db import app_engine
from portal.evidence import store
from portal.evidence.sealing import seal
from portal.evidence.tables import cosignatures, witness_state
from portal.witness.client import request_body


class TinyLog:
    """A Merkle log held in memory: append leaves, sign checkpoints, prove consistency."""

    def __init__(self, origin: str = "example.gob.pe/log", signer: NoteSigner | None = None) -> None:
        self.signer = signer or NoteSigner.generate(origin)
        self.origin = self.signer.name
        self.leaves: list[bytes] = []

    @property
    def vkey(self) -> str:
        return str(self.signer.verifier())

    def append(self, *entries: bytes) -> None:
        self.leaves.extend(leaf_hash(e) for e in entries)

    def root(self, size: int) -> bytes:
        return root_from_leaves(self.leaves[:size])

    def checkpoint(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        return sign_checkpoint(Checkpoint(self.origin, size, self.root(size)), self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        if old == 0 or old == new:
            return []

        def node(n: NodeID) -> bytes:
            begin, end = n.coverage()
            return root_from_leaves(self.leaves[begin:end])

        return consistency_proof(old, new, node)

    def request(self, old: int, new: int | None = None) -> bytes:
        new = len(self.leaves) if new is None else new
        return request_body(old, self.proof(old, new), self.checkpoint(new))

    def fork(self, keep: int) -> TinyLog:
        """The same log (same key and origin) with only the first ``keep`` entries: a split view."""
        other = TinyLog(signer=self.signer)
        other.leaves = list(self.leaves[:keep])
        return other


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WitnessProcess:
    """``python -m portal.witness serve`` in its own process, its own key and database."""

    def __init__(self, tmp: Path, name: str, logs: list[str]) -> None:
        self.dir = tmp / name.replace("/", "_")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = self.dir / "witness.key"
        self.db = self.dir / "witness.sqlite3"
        made = subprocess.run(
            [sys.executable, "-m", "portal.witness", "key", "--key", str(self.key), "--name", name],
            capture_output=True,
            text=True,
            check=True,
        )
        self.vkey = made.stdout.strip()
        self.verifier = CosignatureVerifier.parse(self.vkey)
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> WitnessProcess:
        args = [sys.executable, "-m", "portal.witness", "serve", "--key", str(self.key), "--db", str(self.db)]
        args += ["--bind", f"127.0.0.1:{self.port}"]
        for vkey in self.logs:
            args += ["--log", vkey]
        self.log_file = open(self.dir / "stderr.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log_file)
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=1)
            except urllib.error.HTTPError as answer:
                answer.close()
                return self  # it answers (404 for /)
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError((self.dir / "stderr.log").read_text()) from None
                time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self.log_file.close()


# --- the portal's side ------------------------------------------------------------------


def ensure_witness_tables(app) -> None:
    """The witness tables, as migration 0016 makes them, when the chain has not made them."""
    engine = app_engine(app)
    if not inspect(engine).has_table("evidence_cosignatures"):
        witness_state.create(engine)
        cosignatures.create(engine)


def log_key(app) -> str:
    with app_engine(app).connect() as conn:
        return store.verifier_key(conn, app.config)


def first_seal(app, tmp_path) -> str:
    """Publish one order and seal the first checkpoint (which makes the log's key)."""
    publish_examples(app, tmp_path, [example_order("1-single")], name="a")
    assert seal(app_engine(app), app.config) is not None
    return log_key(app)
