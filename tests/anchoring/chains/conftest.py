"""Fixtures for the chain tests: the embedded py-evm chain and a real anvil node.

anvil comes from the repository's ``node_modules`` (``npm ci``). Without it the anvil tests
skip, except under ``CI=true``, where a missing node is a failure: CI must exercise a real
JSON-RPC node.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from anchoring.chains.embedded import embedded_chain
from anchoring.chains.evm import deploy_contract, rpc_chain
from anchoring.chains.keys import AnchorAccount, load_key, load_or_create_key
from anchoring.errors import ChainError

REPO = Path(__file__).resolve().parents[3]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
ANVIL_CHAIN_ID = 31337
# anvil's first dev account (the published test mnemonic); used only to fund our own key.
ANVIL_FUNDER_BALANCE = 10**21


def in_ci() -> bool:
    """True under CI=true, where missing tools must fail instead of skipping."""
    return os.environ.get("CI", "").lower() == "true"


def require_tool(path: Path, what: str) -> None:
    """Skip (locally) or fail (under CI=true) when ``path`` is missing."""
    if path.exists():
        return
    message = f"{what} not found at {path}: run `npm install` in {REPO} (make test does)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AnvilNode:
    """A running anvil process started by a test, with its state file."""

    process: subprocess.Popen[bytes]
    port: int
    state_file: Path
    log_file: Path

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM the process group we started (anvil dumps its state on the way out)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover - only if anvil hangs
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_anvil(state_file: Path, log_file: Path, port: int | None = None) -> AnvilNode:
    """Start ``npx anvil --port P --state FILE`` from the repo's node_modules; wait until ready."""
    require_tool(ANVIL, "anvil")
    port = port or free_port()
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--state", str(state_file)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches the binary
        )
    node = AnvilNode(process, port, state_file, log_file)
    deadline = time.monotonic() + 30
    while True:
        try:
            rpc_chain(node.url, ANVIL_CHAIN_ID, timeout=2)
            return node
        except ChainError:
            if process.poll() is not None or time.monotonic() > deadline:
                node.stop()
                raise RuntimeError(
                    f"anvil did not start: {log_file.read_text(errors='replace')[-2000:]}"
                ) from None
            time.sleep(0.1)


@dataclass
class Chain:
    """A chain under test: a connected Web3, a funded key, a deployed contract."""

    name: str
    w3: Web3
    account: AnchorAccount
    contract: str
    mine_while_waiting: bool


@pytest.fixture
def anvil_node(tmp_path: Path) -> Iterator[AnvilNode]:
    """A fresh anvil node with a state file in ``tmp_path``."""
    node = start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def anvil_starter() -> Iterator[Callable[[Path, Path], AnvilNode]]:
    """``start(state_file, log_file)`` for tests that restart anvil; stops them all after."""
    started: list[AnvilNode] = []

    def start(state_file: Path, log_file: Path) -> AnvilNode:
        node = start_anvil(state_file, log_file)
        started.append(node)
        return node

    try:
        yield start
    finally:
        for node in started:
            node.stop()


def fund_on_anvil(w3: Web3, address: str) -> None:
    """Give ``address`` ether with anvil's cheat RPC (our key is not one of anvil's)."""
    w3.provider.make_request("anvil_setBalance", [address, hex(ANVIL_FUNDER_BALANCE)])  # type: ignore[arg-type]


@pytest.fixture
def fund() -> Callable[[Web3, str], None]:
    """:func:`fund_on_anvil`, as a fixture."""
    return fund_on_anvil


@pytest.fixture(params=["embedded", "anvil"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """The same anchoring tests on the in-process chain and on a real node over JSON-RPC."""
    if request.param == "embedded":
        w3 = embedded_chain(tmp_path / "embedded")
        account = load_key(w3.provider.dev_key_path)  # type: ignore[attr-defined]
        try:
            yield Chain("embedded", w3, account, deploy_contract(w3, account), True)
        finally:
            w3.provider.close()  # type: ignore[attr-defined]
    else:
        node = start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
        try:
            w3 = rpc_chain(node.url, ANVIL_CHAIN_ID)
            account = load_or_create_key(tmp_path / "anchor.key")
            fund_on_anvil(w3, account.address)
            yield Chain("anvil", w3, account, deploy_contract(w3, account), True)
        finally:
            node.stop()


@pytest.fixture(scope="module")
def module_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One anvil node shared by a module's tests (for modules whose tests tolerate each
    other's transactions), with its state file in a temporary folder."""
    directory = tmp_path_factory.mktemp("anvil")
    node = start_anvil(directory / "anvil-state.json", directory / "anvil.log")
    try:
        yield node
    finally:
        node.stop()
