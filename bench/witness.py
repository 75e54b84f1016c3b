"""Benchmark: cosigning latency per checkpoint of a real witness over HTTP.

Usage::

    .venv/bin/python bench/witness.py                       # 300 checkpoints, 1,000 entries each
    .venv/bin/python bench/witness.py --checkpoints 1000 --step 100 --dir /work/bench-data/witness

Starts ``python -m portal.witness serve`` (its own key and SQLite file, as an operator runs it)
and plays a log that grows by ``--step`` entries between checkpoints: for each checkpoint the
client builds the add-checkpoint request (RFC 9162 consistency proof from the previous size,
signed checkpoint note), POSTs it over a keep-alive-less HTTP connection as the portal does,
and verifies the returned cosignature/v1 against the witness's key. Prints per checkpoint:
wall latency p50/p90/p99/max (client side, request to verified cosignature), the witness
process's CPU time (user+sys from /proc, which the machine's load affects less than wall
time), the client's CPU, and the load average. Then the same protocol in process (no HTTP,
no other process) to separate the witness's own work (signature and proof checks, one SQLite
transaction with synchronous=FULL) from the transport.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)

from anchoring.cosignature import CosignatureSigner, CosignatureVerifier, note_text, valid_cosignatures  # noqa: E402
from anchoring.merkle import NodeID, consistency_nodes, leaf_hash, node_hash, range_nodes  # noqa: E402
from anchoring.notes import Checkpoint, NoteSigner, sign_checkpoint  # noqa: E402
from portal.witness.client import post, request_body  # noqa: E402
from portal.witness.protocol import add_checkpoint  # noqa: E402
from portal.witness.state import WitnessState  # noqa: E402

ORIGIN = "bench.veraz.invalid/log"


class GrowingLog:
    """An in-memory RFC 9162 tree whose perfect subtrees are hashed once (they never change)."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.nodes: dict[NodeID, bytes] = {}
        self.signer = NoteSigner.generate(ORIGIN)

    def append(self, count: int) -> None:
        start = len(self.leaves)
        self.leaves += [leaf_hash(b"entry-%d" % i) for i in range(start, start + count)]

    def node(self, node: NodeID) -> bytes:
        if node.level == 0:
            return self.leaves[node.index]
        cached = self.nodes.get(node)
        if cached is None:
            left = self.node(NodeID(node.level - 1, node.index * 2))
            right = self.node(NodeID(node.level - 1, node.index * 2 + 1))
            cached = self.nodes[node] = node_hash(left, right)
        return cached

    def root(self, size: int) -> bytes:
        hashes = [self.node(n) for n in range_nodes(0, size)]
        acc = hashes[-1]
        for h in reversed(hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def request(self, old: int, size: int) -> tuple[bytes, str]:
        note = sign_checkpoint(Checkpoint(ORIGIN, size, self.root(size)), self.signer)
        proof: list[bytes] = []
        if 0 < old < size:
            nodes = consistency_nodes(old, size)
            proof = nodes.rehash([self.node(n) for n in nodes.ids])
        return request_body(old, proof, note), note


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"p50 {at(0.5):.2f} ms, p90 {at(0.9):.2f} ms, p99 {at(0.99):.2f} ms, max {ordered[-1] * 1000:.2f} ms"
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", type=int, default=300)
    parser.add_argument("--step", type=int, default=1000, help="entries between two checkpoints")
    parser.add_argument("--dir", type=Path, default=None, help="keep the witness's files here")
    args = parser.parse_args()
    folder = scratch_dir(args.dir, "veraz-bench-witness-")
    key, db = folder / "witness.key", folder / "witness.sqlite3"
    for path in (key, db):
        path.unlink(missing_ok=True)
    python = sys.executable
    vkey = subprocess.run(
        [python, "-m", "portal.witness", "key", "--key", str(key), "--name", "bench.witness/w1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    verifier = CosignatureVerifier.parse(vkey)
    log = GrowingLog()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [python, "-m", "portal.witness", "serve", "--key", str(key), "--db", str(db)]
        + ["--bind", f"127.0.0.1:{port}", "--log", str(log.signer.verifier())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
            except urllib.error.HTTPError as answer:
                answer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the witness did not start") from None
                time.sleep(0.1)
        latencies, build = [], []
        old = 0
        witness_cpu0, client_cpu0 = cpu_of(server.pid), own_cpu()
        for _ in range(args.checkpoints):
            log.append(args.step)
            size = len(log.leaves)
            started = time.perf_counter()
            body, note = log.request(old, size)
            built = time.perf_counter()
            reply = post(url, body, timeout=30)
            text, _ = note_text(note)
            if reply.status != 200 or not valid_cosignatures(text, reply.cosignature_lines(), [verifier]):
                raise SystemExit(f"checkpoint {size}: {reply.status} {reply.body!r}")
            latencies.append(time.perf_counter() - built)
            build.append(built - started)
            old = size
        witness_cpu = (cpu_of(server.pid) - witness_cpu0) / args.checkpoints
        client_cpu = (own_cpu() - client_cpu0) / args.checkpoints
    finally:
        server.terminate()
        server.wait(10)

    print(f"witness over HTTP: {args.checkpoints} checkpoints, {args.step} entries apart, final size {old}")
    print(f"  latency (POST to verified cosignature): {percentiles(latencies)}")
    print(
        f"  mean {statistics.mean(latencies) * 1000:.2f} ms; request building (proof, signing) mean "
        f"{statistics.mean(build) * 1000:.2f} ms"
    )
    print(
        f"  CPU per checkpoint: witness process {witness_cpu * 1000:.2f} ms, "
        f"client {client_cpu * 1000:.2f} ms"
    )

    # The protocol alone, in this process: the witness's own work per checkpoint.
    state = WitnessState(folder / "in-process.sqlite3")
    signer = CosignatureSigner.generate("bench.witness/w2")
    logs = {ORIGIN: [log.signer.verifier()]}
    requests = []
    previous = 0
    for size in range(args.step, len(log.leaves) + 1, args.step):
        requests.append(log.request(previous, size)[0])
        previous = size
    cpu0, wall0 = own_cpu(), time.perf_counter()
    for body in requests:
        answer = add_checkpoint(state, logs, signer, body, lambda: int(time.time()))
        if answer.status != 200:
            raise SystemExit(f"in process: {answer.status} {answer.body}")
    wall, cpu = time.perf_counter() - wall0, own_cpu() - cpu0
    print(
        f"protocol in process: {len(requests)} checkpoints, wall {wall / len(requests) * 1000:.2f} ms "
        f"and CPU {cpu / len(requests) * 1000:.2f} ms per checkpoint"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
