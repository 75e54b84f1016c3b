"""Benchmark of anchoring through LACChain's gas model, on anvil.

Usage (after ``npm ci``)::

    PYTHONPATH=.:tests .venv/bin/python bench/lacchain.py            # 30 anchors
    PYTHONPATH=.:tests .venv/bin/python bench/lacchain.py --anchors 100

Starts anvil, deploys the tests' LocalRelayHub (LACChain's documented RelayHub interface) and a
VerazRelayedAnchor trusting it, puts the tests' re-enacted gas-relay-signer in front, and
anchors through it with ``EvmAnchorer(relay=LacchainRelay(...))`` (1 confirmation, read-back
verification included). Prints wall time and the process's CPU time per anchor (median), the
gas of the node's relay transaction, the gas of a direct call on VerazRelayedAnchor and on
VerazAnchor with the same arguments, and of deploying VerazRelayedAnchor. LocalRelayHub
decodes RLP on chain; LACChain's hub differs, so the relay transaction's gas is indicative
only (the network does not charge for it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from lacchain_relay_signer import RelaySigner

from anchoring.chains.evm import EvmAnchorer, deploy_contract, rpc_chain
from anchoring.chains.keys import load_or_create_key
from anchoring.chains.lacchain import LacchainRelay
from anchoring.errors import ChainError

REPO = Path(__file__).resolve().parent.parent
ROOT = bytes.fromhex("9c" * 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=int, default=30)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="veraz-lacchain-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    anvil = subprocess.Popen(
        [str(REPO / "node_modules/.bin/anvil"), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                w3 = rpc_chain(url, 31337)
                break
            except ChainError:
                time.sleep(0.1)
        build = json.loads((REPO / "tests/anchoring/chains/contracts/LocalRelayHub.json").read_text())
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": HexBytes(build["bytecode"])})
        hub = to_checksum_address(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])
        owner = load_or_create_key(directory / "owner.key")
        node = Account.from_key("0x" + "4e" * 32)
        for address in (owner.address, node.address):
            w3.provider.make_request("anvil_setBalance", [address, hex(10**21)])  # type: ignore[arg-type]
        relayed_contract = deploy_contract(w3, owner, relay_hub=hub)
        # anvil mines one block per transaction: the newest block holds the deployment.
        deploy_tx = w3.eth.get_block("latest")["transactions"][0]
        deploy_gas = w3.eth.get_transaction_receipt(deploy_tx)["gasUsed"]
        plain_contract = deploy_contract(w3, owner)
        signer = RelaySigner(url, hub, node)
        try:
            portal = load_or_create_key(directory / "portal.key")
            anchorer = EvmAnchorer(
                rpc_chain(signer.url, 31337),
                relayed_contract,
                portal,
                relay=LacchainRelay(node.address, hub),
                poll_interval=0.05,
            )
            walls, cpus, gas = [], [], []
            for size in range(1, args.anchors + 1):
                wall, cpu = time.perf_counter(), time.process_time()
                anchor = anchorer.anchor(ROOT, size)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                gas.append(w3.eth.get_transaction_receipt(anchor.tx_hash)["gasUsed"])
        finally:
            signer.close()
        direct = EvmAnchorer(w3, relayed_contract, owner, poll_interval=0.05)
        direct.relay_hub = hub
        direct_gas = w3.eth.get_transaction_receipt(direct.anchor(ROOT, 1).tx_hash)["gasUsed"]
        plain = EvmAnchorer(w3, plain_contract, owner, poll_interval=0.05)
        plain_gas = w3.eth.get_transaction_receipt(plain.anchor(ROOT, 1).tx_hash)["gasUsed"]
    finally:
        os.killpg(anvil.pid, signal.SIGTERM)
        anvil.wait()
    print(f"relayed anchors: {args.anchors}; load average {os.getloadavg()[0]:.1f}")
    wall_ms, cpu_ms = statistics.median(walls) * 1000, statistics.median(cpus) * 1000
    print(f"  median wall {wall_ms:.0f} ms, median CPU {cpu_ms:.0f} ms")
    print(f"  node's relay transaction gas: {min(gas)} .. {max(gas)}")
    print(f"direct call gas: VerazRelayedAnchor {direct_gas}, VerazAnchor {plain_gas}")
    print(f"VerazRelayedAnchor deployment gas (ordinary transaction): {deploy_gas}")


if __name__ == "__main__":
    main()
