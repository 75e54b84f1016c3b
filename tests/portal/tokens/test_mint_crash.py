"""Crash safety of minting: a real ``veraz mint`` SIGKILLed after recording its intent and after
sending, then restarted, on anvil (a real node over JSON-RPC), where the batch killed before
sending also has its nonce taken by another transaction before the restart. (Minting on the
embedded chain is tested in process by test_order_tokens; each ``veraz`` process costs about
a CPU second, so the kills are tested on one chain.)

After every restart: every published order has exactly one token on chain (counted from the
contract's Transfer events), every batch row is done or failed, and ``mint.check`` agrees.
Process kills do not depend on the database backend: SQLite only.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from builders import example_order
from evidence_builders import publish_examples
from sqlalchemy import select
from support import make_app
from tokens_support import minted_on_chain, orders_of

from anchoring.chains.evm import _send, deploy_contract, rpc_chain
from anchoring.chains.keys import load_or_create_key
from anchoring.chains.token_id import token_id
from anchoring.chains.tokens import TokenMinter
from anchoring.errors import ChainError
from portal.db import app_engine
from portal.evidence.backends import Backends
from portal.tokens import mint
from portal.tokens.tables import DONE, FAILED, PENDING, token_batches

VERAZ = Path(sys.executable).parent / "veraz"
ROOT = Path(__file__).resolve().parents[3]


def _env(app, **extra: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTAL_") and k not in ("DATABASE_URL", "VERAZ_CRASH_AT")
    }
    env.update(
        PORTAL_INSTANCE_PATH=app.config["INSTANCE_PATH"],
        DATABASE_URL=app.config["DATABASE_URL"],
        PORTAL_BASE_URL=app.config["BASE_URL"],
        PORTAL_TOKENS_MINT="1",
        PORTAL_TOKEN_BATCH_SIZE="2",
        **extra,
    )
    return env


def _mint(app, crash_at: str | None = None, **extra: str) -> subprocess.CompletedProcess:
    if crash_at:
        extra["VERAZ_CRASH_AT"] = crash_at
    return subprocess.run(
        [str(VERAZ), "mint"], env=_env(app, **extra), capture_output=True, text=True, timeout=300
    )


def _publish_more(app, tmp_path: Path, n: int) -> None:
    orders = []
    for k in range(2):  # two orders: a killed batch of two, then a clean one
        order = example_order("2-package", orderNumber=f"OC-2025-8{n:02d}{k:03d}")
        for p in order.get("proformas", []):
            p["id"] = f"{p['id']}-{n}-{k}"
        orders.append(order)
    publish_examples(app, tmp_path, orders, name=f"more-{n}")


def _statuses(app) -> set[str]:
    with app_engine(app).connect() as conn:
        return {r.status for r in conn.execute(select(token_batches.c.status))}


def _kill_and_resume(app, tmp_path: Path, between=None, **extra: str) -> None:
    for n, point in enumerate(mint.CRASH_POINTS):
        _publish_more(app, tmp_path, n)
        killed = _mint(app, crash_at=point, **extra)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        assert PENDING in _statuses(app), point  # the intent was committed before the kill
        if between is not None:
            between(point)
        resumed = _mint(app, **extra)
        assert resumed.returncode == 0, (point, resumed.stderr[-3000:])
        assert _statuses(app) <= {DONE, FAILED}, point


def _chain_fixtures():
    """tests/anchoring/chains/conftest.py (anvil helpers), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(
        "chains_fixtures_tokens", ROOT / "tests" / "anchoring" / "chains" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_mint_killed_on_anvil_with_its_nonce_taken_meanwhile(sqlite_url, tmp_path):
    fixtures = _chain_fixtures()
    node = fixtures.start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    app = None
    try:
        w3 = rpc_chain(node.url, fixtures.ANVIL_CHAIN_ID)
        key_file = tmp_path / "anchor.key"
        account = load_or_create_key(key_file)
        fixtures.fund_on_anvil(w3, account.address)
        settings = {
            "EVM_RPC_URL": node.url,
            "EVM_CHAIN_ID": fixtures.ANVIL_CHAIN_ID,
            "EVM_CONTRACT_ADDRESS": deploy_contract(w3, account),
            "EVM_KEY_FILE": str(key_file),
        }
        env = {f"PORTAL_{k}": str(v) for k, v in settings.items()}
        app = make_app(sqlite_url, tmp_path, TOKENS_MINT=True, **settings)
        backends = Backends(app.config)
        try:
            with pytest.raises(ChainError, match="TOKEN_CONTRACT_ADDRESS is required"):
                mint.open_minter(app.config, backends)
            contract = mint.deploy(app.config, backends)
        finally:
            backends.close()
        env["PORTAL_TOKEN_CONTRACT_ADDRESS"] = contract
        publish_examples(app, tmp_path)

        def take_the_nonce(point: str) -> None:
            # After the intent only: the signed batch was never sent, and another transaction
            # from the same account now uses its nonce, so it can never be mined.
            if point == "mint-after-intent":
                _send(w3, account, {"to": account.address, "value": 1}, None, 60)

        _kill_and_resume(app, tmp_path, between=take_the_nonce, **env)
        assert FAILED in _statuses(app)  # the batch whose nonce was taken
        minter = TokenMinter(w3, contract, account)
        orders = orders_of(app)
        assert minted_on_chain(minter) == Counter({token_id(o): 1 for o in orders})
        assert mint.check(app_engine(app), minter) == []
    finally:
        if app is not None:
            app_engine(app).dispose()
        node.stop()
