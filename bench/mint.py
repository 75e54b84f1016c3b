"""Benchmark of order tokens: gas and time to mint 1,000 orders on anvil, per batch size.

Usage::

    .venv/bin/python bench/mint.py                       # batch sizes 50, 100, 200; 1,000 orders each
    .venv/bin/python bench/mint.py --orders 2000 --sizes 100,300 --dir /work/bench-data/tokens

Starts anvil from the repository's node_modules (a real node over JSON-RPC, automine: one block
per transaction, about as a Besu/LACChain node answers), deploys VerazOrderToken from a fresh
key and, for each batch size, mints ``--orders`` new ocids shaped like the portal's
(``ocds-veraz-`` + 6 digits, about 17 bytes) with a random data hash each, one
``mintBatch`` transaction per batch, each signed, sent and waited for (receipt with status 1),
as ``veraz mint`` sends them (``portal.tokens.mint`` adds one database transaction per batch
for its intent and one for the result, not measured here).

Prints per batch size: transactions, total and per-order gas (from the receipts), calldata
bytes per order, wall time, and CPU seconds of this process and of anvil (user+sys, from
``/proc``): on a shared machine the wall time follows the load, the CPU time much less.
Also prints the load average, and what the gas would cost at a given gas price (``--gwei``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import scratch_dir  # noqa: E402  (bench/, the script's own folder)

from anchoring.chains.evm import rpc_chain  # noqa: E402
from anchoring.chains.keys import load_or_create_key  # noqa: E402
from anchoring.chains.tokens import TokenMinter, deploy_token_contract  # noqa: E402
from anchoring.errors import ChainError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
CHAIN_ID = 31337


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_of(pid: int) -> float:
    """User+sys CPU seconds of process ``pid`` and its waited-for children (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def anvil_pid(process: subprocess.Popen[bytes]) -> int:
    """The anvil binary's pid: node_modules/.bin/anvil may be a launcher that starts it."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    if children.exists():
        kids = children.read_text().split()
        if kids:
            return int(kids[0])
    return process.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders minted per batch size")
    parser.add_argument("--sizes", default="50,100,200", help="batch sizes, comma separated")
    parser.add_argument("--gwei", type=float, default=1.0, help="gas price for the cost line")
    parser.add_argument("--dir", type=Path, default=None, help="folder for anvil's log and the key")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not ANVIL.exists():
        sys.exit(f"anvil not found at {ANVIL}: run npm ci")
    folder = scratch_dir(args.dir, "veraz-bench-mint-")
    port = free_port()
    log = (folder / "anvil.log").open("wb")
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--gas-limit", "60000000"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                w3 = rpc_chain(f"http://127.0.0.1:{port}", CHAIN_ID)
                break
            except ChainError:
                if time.monotonic() > deadline or process.poll() is not None:
                    sys.exit("anvil did not start")
                time.sleep(0.2)
        account = load_or_create_key(folder / "mint.key")
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**24)])  # type: ignore[arg-type]
        contract = deploy_token_contract(w3, account, "https://portal.example/tokens/")
        minter = TokenMinter(w3, contract, account, timeout=300, poll_interval=0.05)
        node = anvil_pid(process)
        print(f"anvil pid {node}, contract {contract}; load average {os.getloadavg()}")
        print(
            f"{'batch':>6} {'txs':>5} {'gas/order':>10} {'gas/tx':>11} {'bytes/order':>12} "
            f"{'wall s':>8} {'orders/s':>9} {'cpu s (us)':>11} {'cpu s (anvil)':>14}"
        )
        for size in sizes:
            ocids = [f"ocds-veraz-{size:03d}{i:06d}" for i in range(args.orders)]
            gas = txs = calldata = 0
            wall0, cpu0, node0 = time.perf_counter(), own_cpu(), cpu_of(node)
            for start in range(0, len(ocids), size):
                items = [(o, hashlib.sha256(o.encode()).digest()) for o in ocids[start : start + size]]
                receipt = minter.mint(account.address, items)
                gas += int(receipt["gasUsed"])
                calldata += (len(minter.mint_call(account.address, items)["data"]) - 2) // 2
                txs += 1
            wall = time.perf_counter() - wall0
            cpu, node_cpu = own_cpu() - cpu0, cpu_of(node) - node0
            n = len(ocids)
            print(
                f"{size:>6} {txs:>5} {gas / n:>10,.0f} {gas / txs:>11,.0f} {calldata / n:>12,.0f} "
                f"{wall:>8.2f} {n / wall:>9,.0f} {cpu:>11.2f} {node_cpu:>14.2f}"
            )
            print(
                f"       {n:,} orders: {gas:,} gas, {gas * args.gwei / 1e9:,.4f} ETH at {args.gwei:g} gwei"
                " (0 on LACChain, whose gas price is 0)"
            )
        supply = minter.contract.functions.totalSupply().call({"from": account.address})
        assert supply == args.orders * len(sizes), supply
        print(f"load average after: {os.getloadavg()}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
