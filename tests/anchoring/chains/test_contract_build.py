"""The committed VerazAnchor.json is exactly what the pinned solcjs makes of VerazAnchor.sol.

Needs ``npm ci`` (node_modules/solc). Skips without it, except under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CONTRACT_DIR = REPO / "anchoring" / "chains" / "contract"


def _require(ok: bool, message: str) -> None:
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_committed_build_is_reproducible() -> None:
    node = shutil.which("node")
    _require(node is not None, "node is not installed")
    _require((REPO / "node_modules" / "solc").is_dir(), "node_modules/solc missing: run npm ci")
    result = subprocess.run(
        [str(node), str(CONTRACT_DIR / "compile.mjs"), "--stdout"],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    committed = (CONTRACT_DIR / "VerazAnchor.json").read_bytes()
    assert result.stdout == committed, "VerazAnchor.json is stale: run compile.mjs and commit"


def test_committed_build_pins_what_changes_bytecode() -> None:
    artifact = json.loads((CONTRACT_DIR / "VerazAnchor.json").read_text())
    assert artifact["compiler"]["version"].startswith("0.8.37+")
    assert artifact["settings"]["evmVersion"] == "paris"
    assert artifact["settings"]["metadata"]["bytecodeHash"] == "none"
    assert artifact["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    # The CBOR metadata trailer holds only the compiler version (no IPFS/Swarm hash).
    assert artifact["deployedBytecode"].endswith("a164736f6c6343000825000a")


def _opcodes(code: bytes) -> list[int]:
    """The opcodes of EVM code, skipping PUSH1..PUSH32 immediates and the metadata trailer."""
    code = code[: len(code) - 2 - int.from_bytes(code[-2:], "big")]
    ops, i = [], 0
    while i < len(code):
        op = code[i]
        ops.append(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return ops


def test_bytecode_runs_on_pre_shanghai_evms() -> None:
    """evmVersion paris: no PUSH0 (0x5f, shanghai), so Besu networks on older forks run it."""
    artifact = json.loads((CONTRACT_DIR / "VerazAnchor.json").read_text())
    for key in ("bytecode", "deployedBytecode"):
        assert 0x5F not in _opcodes(bytes.fromhex(artifact[key][2:])), key


def test_every_committed_build_is_reproducible() -> None:
    """VerazRelayedAnchor (with its RelayRecipient base) and the tests' LocalRelayHub too:
    one compiler run compares every build with its committed JSON."""
    node = shutil.which("node")
    _require(node is not None, "node is not installed")
    _require((REPO / "node_modules" / "solc").is_dir(), "node_modules/solc missing: run npm ci")
    result = subprocess.run(
        [str(node), str(CONTRACT_DIR / "compile.mjs"), "--check"],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def test_relayed_anchor_build_pins_the_same_settings() -> None:
    relayed = json.loads((CONTRACT_DIR / "VerazRelayedAnchor.json").read_text())
    plain = json.loads((CONTRACT_DIR / "VerazAnchor.json").read_text())
    assert relayed["settings"] == plain["settings"] and relayed["compiler"] == plain["compiler"]
    # The one immutable (the trusted forwarder) is a whole 32-byte word wherever it is read.
    assert relayed["immutableReferences"] and all(r["length"] == 32 for r in relayed["immutableReferences"])
    # Same function and event as VerazAnchor, so the anchorer and verifiers read both alike.
    assert all(item in relayed["abi"] for item in plain["abi"])
    for key in ("bytecode", "deployedBytecode"):
        assert 0x5F not in _opcodes(bytes.fromhex(relayed[key][2:])), key
