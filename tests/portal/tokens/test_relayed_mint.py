"""Order tokens with CHAIN_BACKEND lacchain: a real ``veraz mint`` through a writer node.

On anvil: the tests' LocalRelayHub (LACChain's documented RelayHub interface) and the re-enacted
gas-relay-signer in front of it (``lacchain_relay_signer``); the portal's account never holds
ether. The token contract is deployed through the relay (``mint.deploy``) and owned by the
portal's account; ``veraz mint`` is SIGKILLed after recording its intent (then the chain's clock
passes the signed bytes' expiration) and after sending, and restarted: every order ends with
exactly one token, every batch is done or failed, and ``mint.check`` agrees. Process kills do
not depend on the database backend: SQLite only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from builders import example_order
from eth_account import Account
from eth_utils import to_checksum_address
from evidence_builders import publish_examples
from hexbytes import HexBytes
from lacchain_relay_signer import RelaySigner
from sqlalchemy import select
from support import make_app
from tokens_support import minted_on_chain, orders_of

from anchoring.chains.evm import deploy_contract, rpc_chain
from anchoring.chains.keys import load_or_create_key
from anchoring.chains.lacchain import LacchainRelay
from anchoring.chains.token_id import token_id
from anchoring.chains.tokens import TokenMinter
from portal.db import app_engine
from portal.evidence.audit import audit
from portal.evidence.backends import Backends
from portal.tokens import mint
from portal.tokens.tables import DONE, FAILED, PENDING, token_batches

VERAZ = Path(sys.executable).parent / "veraz"
ROOT = Path(__file__).resolve().parents[3]
NODE_KEY = "0x" + "6e" * 32  # the writer node's key on the test chain (never a real one)


def _chain_fixtures():
    """tests/anchoring/chains/conftest.py (anvil helpers), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(
        "chains_fixtures_relayed_tokens", ROOT / "tests" / "anchoring" / "chains" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _publish_more(app, tmp_path: Path, n: int) -> None:
    orders = []
    for k in range(2):
        order = example_order("2-package", orderNumber=f"OC-2025-7{n:02d}{k:03d}")
        for p in order.get("proformas", []):
            p["id"] = f"{p['id']}-r{n}-{k}"
        orders.append(order)
    publish_examples(app, tmp_path, orders, name=f"relayed-{n}")


def _statuses(app) -> set[str]:
    with app_engine(app).connect() as conn:
        return {r.status for r in conn.execute(select(token_batches.c.status))}


def _mint(env: dict, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(env)
    if crash_at:
        env["VERAZ_CRASH_AT"] = crash_at
    return subprocess.run([str(VERAZ), "mint"], env=env, capture_output=True, text=True, timeout=300)


def test_mint_through_a_writer_node_killed_and_resumed(sqlite_url, tmp_path):
    fixtures = _chain_fixtures()
    node = fixtures.start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    app = signer = None
    try:
        w3 = rpc_chain(node.url, fixtures.ANVIL_CHAIN_ID)
        build = json.loads((ROOT / "tests/anchoring/chains/contracts/LocalRelayHub.json").read_text())
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": HexBytes(build["bytecode"])})
        hub = to_checksum_address(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])
        writer = Account.from_key(NODE_KEY)
        fixtures.fund_on_anvil(w3, writer.address)  # only the node pays, as on LACChain
        signer = RelaySigner(node.url, hub, writer)
        key_file = tmp_path / "anchor.key"
        portal = load_or_create_key(key_file)
        relay = LacchainRelay(writer.address, hub)
        settings = {
            "EVM_RPC_URL": signer.url,
            "EVM_CHAIN_ID": fixtures.ANVIL_CHAIN_ID,
            "EVM_CONTRACT_ADDRESS": deploy_contract(
                rpc_chain(signer.url, 31337), portal, relay_hub=hub, relay=relay
            ),
            "EVM_KEY_FILE": str(key_file),
            "CHAIN_BACKEND": "lacchain",
            "LACCHAIN_NODE_ADDRESS": writer.address,
            "LACCHAIN_RELAY_HUB": hub,
            # Far beyond the hour the chain's clock is moved on below (signing uses the wall clock).
            "LACCHAIN_EXPIRATION": 86_400,
        }
        app = make_app(sqlite_url, tmp_path, TOKENS_MINT=True, **settings)
        backends = Backends(app.config)
        try:
            contract = mint.deploy(app.config, backends)  # through the writer node
        finally:
            backends.close()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PORTAL_") and k not in ("DATABASE_URL", "VERAZ_CRASH_AT")
        }
        env.update({f"PORTAL_{k}": str(v) for k, v in settings.items()})
        env.update(
            PORTAL_INSTANCE_PATH=app.config["INSTANCE_PATH"],
            DATABASE_URL=app.config["DATABASE_URL"],
            PORTAL_BASE_URL=app.config["BASE_URL"],
            PORTAL_TOKENS_MINT="1",
            PORTAL_TOKEN_BATCH_SIZE="2",
            PORTAL_TOKEN_CONTRACT_ADDRESS=contract,
        )
        publish_examples(app, tmp_path)
        for n, point in enumerate(mint.CRASH_POINTS):
            _publish_more(app, tmp_path, n)
            # Bytes signed by the run killed after its intent expire within a minute.
            window = {"PORTAL_LACCHAIN_EXPIRATION": "60"} if point == "mint-after-intent" else {}
            killed = _mint({**env, **window}, crash_at=point)
            assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
            assert PENDING in _statuses(app), point  # the intent was committed before the kill
            if point == "mint-after-intent":
                # The signed bytes were never sent; the chain's clock passes their expiration.
                w3.provider.make_request("evm_increaseTime", [3600])  # type: ignore[arg-type]
                w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            resumed = _mint(env)
            assert resumed.returncode == 0, (point, resumed.stderr[-3000:])
            assert _statuses(app) <= {DONE, FAILED}, point
        with app_engine(app).connect() as conn:
            errors = {r.last_error for r in conn.execute(select(token_batches.c.last_error))}
        assert "its relayed transaction expired before it was mined" in errors
        # Every order exactly once, owned and minted by the portal's account (not the hub).
        minter = TokenMinter(w3, contract, portal, relay=relay)
        assert minter.contract.functions.owner().call() == portal.address
        assert minted_on_chain(minter) == Counter({token_id(o): 1 for o in orders_of(app)})
        assert mint.check(app_engine(app), minter) == []
        with app_engine(app).connect() as conn:
            hashes = {
                r.tx_hash for r in conn.execute(select(token_batches).where(token_batches.c.status == DONE))
            }
        assert hashes and hashes <= set(signer.relayed)  # the node's transactions, with receipts
        assert w3.eth.get_balance(portal.address) == 0

        # veraz audit reads the tokens through the same relay settings: clean as minted; the
        # contract refused when the configured hub is not the one its code trusts.
        app.config["TOKEN_CONTRACT_ADDRESS"] = contract
        report = audit(app_engine(app), app.config)
        assert report.problems == [] and report.chain_unavailable is None, [str(p) for p in report.problems]
        app.config["LACCHAIN_RELAY_HUB"] = w3.eth.accounts[1]
        found = [str(p) for p in audit(app_engine(app), app.config).problems]
        assert any(p.startswith("order tokens: step token:") and "not from" in p for p in found), found
    finally:
        if app is not None:
            app_engine(app).dispose()
        if signer is not None:
            signer.close()
        node.stop()
