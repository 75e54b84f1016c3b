"""EVM anchoring end to end: the embedded py-evm chain and a real anvil node over JSON-RPC."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from anchoring.chains.embedded import DEV_KEY_FILENAME, embedded_chain
from anchoring.chains.evm import (
    ANCHORED_TOPIC,
    EvmAnchor,
    EvmAnchorer,
    contract_artifact,
    deploy_contract,
    rpc_chain,
    verify_anchor,
)
from anchoring.chains.keys import load_key, load_or_create_key
from anchoring.errors import ChainError

REPO = Path(__file__).resolve().parents[3]
ANVIL_CHAIN_ID = 31337

ROOT = hashlib.sha256(b"veraz test checkpoint").digest()
SIZE = 180_000


def anchorer(chain, **overrides: object) -> EvmAnchorer:
    """An anchorer on ``chain`` with test-friendly waits."""
    options: dict[str, object] = {
        "confirmations": 1,
        "mine_while_waiting": chain.mine_while_waiting,
        "timeout": 30.0,
        "poll_interval": 0.05,
    }
    options.update(overrides)
    return EvmAnchorer(chain.w3, chain.contract, chain.account, **options)  # type: ignore[arg-type]


def test_event_topic_matches_abi() -> None:
    """The hard-coded topic is the keccak of the event signature in the committed ABI."""
    (event,) = [item for item in contract_artifact()["abi"] if item["type"] == "event"]
    signature = f"{event['name']}({','.join(i['type'] for i in event['inputs'])})"
    assert signature == "Anchored(bytes32,uint64,address)"
    assert ANCHORED_TOPIC.hex() == "04c6e8902af2455403f7e7d6149fbf152c5b047361b508768fbc613faadf38bf"


def test_anchor_and_verify(chain) -> None:
    template = "https://explorer.example/{chain_id}/tx/{tx_hash}"
    anchor = anchorer(chain, explorer_template=template).anchor(ROOT, SIZE)
    assert anchor.root_hex == ROOT.hex()
    assert anchor.tree_size == SIZE
    assert anchor.contract == chain.contract
    assert anchor.sender == chain.account.address
    assert anchor.chain_id == chain.w3.eth.chain_id
    assert anchor.explorer_url == f"https://explorer.example/{anchor.chain_id}/tx/{anchor.tx_hash}"
    verify_anchor(chain.w3, anchor, ROOT, SIZE, sender=chain.account.address)
    receipt = chain.w3.eth.get_transaction_receipt(anchor.tx_hash)
    assert 21_000 < receipt["gasUsed"] < 25_000  # event-only: ~23.8k measured


def test_anchor_waits_for_confirmations(chain) -> None:
    anchor = anchorer(chain, confirmations=3).anchor(ROOT, SIZE)
    assert chain.w3.eth.block_number >= anchor.block_number + 2
    verify_anchor(chain.w3, anchor, ROOT, SIZE, confirmations=3)
    with pytest.raises(ChainError, match="confirmations"):
        verify_anchor(chain.w3, anchor, ROOT, SIZE, confirmations=50)


def test_confirmation_timeout_is_a_chain_error(chain) -> None:
    """A chain that makes no blocks: the wait ends in ChainError naming the transaction."""
    slow = anchorer(chain, confirmations=3, mine_while_waiting=False, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ChainError, match=r"transaction 0x[0-9a-f]{64} did not reach 3 confirmations"):
        slow.anchor(ROOT, SIZE)
    assert time.monotonic() - started < 10


def test_tampered_root_or_size_fails(chain) -> None:
    anchor = anchorer(chain).anchor(ROOT, SIZE)
    other_root = hashlib.sha256(b"another checkpoint").digest()
    with pytest.raises(ChainError, match="root mismatch"):
        verify_anchor(chain.w3, anchor, other_root, SIZE)
    with pytest.raises(ChainError, match="tree size mismatch"):
        verify_anchor(chain.w3, anchor, ROOT, SIZE + 1)
    # A forged record that claims the other root: the chain disagrees.
    forged = dataclasses.replace(anchor, root_hex=other_root.hex())
    with pytest.raises(ChainError, match="root mismatch: the chain has " + ROOT.hex()):
        verify_anchor(chain.w3, forged, other_root, SIZE)
    forged = dataclasses.replace(anchor, tree_size=SIZE - 1)
    with pytest.raises(ChainError, match=f"tree size mismatch: the chain has {SIZE}"):
        verify_anchor(chain.w3, forged, ROOT, SIZE - 1)


@pytest.mark.parametrize(
    ("field", "make_value", "message"),
    [
        ("block_number", lambda a: a.block_number + 1, "block mismatch"),
        ("block_time", lambda a: a.block_time + 1, "block time mismatch"),
        ("chain_id", lambda a: a.chain_id + 1, "chain id mismatch"),
        ("tx_hash", lambda a: "0x" + "11" * 32, "not found"),
        ("tx_hash", lambda a: "0xnot-hex", "cannot check anchor"),
        ("sender", lambda a: "0x" + "22" * 20, "sender mismatch: the chain has"),
        ("contract", lambda a: a.sender, "contract mismatch"),
    ],
)
def test_tampered_record_fails(chain, field: str, make_value, message: str) -> None:
    anchor = anchorer(chain).anchor(ROOT, SIZE)
    forged = dataclasses.replace(anchor, **{field: make_value(anchor)})
    with pytest.raises(ChainError, match=message):
        verify_anchor(chain.w3, forged, ROOT, SIZE)


def test_expected_sender_is_checked(chain) -> None:
    anchor = anchorer(chain).anchor(ROOT, SIZE)
    with pytest.raises(ChainError, match="sender mismatch"):
        verify_anchor(chain.w3, anchor, ROOT, SIZE, sender="0x" + "33" * 20)


def test_event_from_an_impostor_contract_is_rejected(chain) -> None:
    """Same event, other code: the record must name the real VerazAnchor deployment."""
    impostor = anchorer(chain).anchor(ROOT, SIZE)
    forged = dataclasses.replace(impostor, contract=deploy_contract(chain.w3, chain.account))
    with pytest.raises(ChainError, match="no Anchored event"):
        verify_anchor(chain.w3, forged, ROOT, SIZE)


def test_bad_inputs_are_refused(chain) -> None:
    with pytest.raises(ChainError, match="32 bytes"):
        anchorer(chain).anchor(b"short", SIZE)
    with pytest.raises(ChainError, match="2\\*\\*64"):
        anchorer(chain).anchor(ROOT, 2**64)


def test_anchor_round_trips_through_dict(chain) -> None:
    anchor = anchorer(chain).anchor(ROOT, SIZE)
    assert EvmAnchor.from_dict(anchor.to_dict()) == anchor
    with pytest.raises(ChainError, match="not an EVM anchor record"):
        EvmAnchor.from_dict({**anchor.to_dict(), "extra": 1})


def test_key_never_logged(chain, caplog: pytest.LogCaptureFixture) -> None:
    key_text = chain.account.key_file.read_text().strip()
    with caplog.at_level(logging.DEBUG):
        anchor = anchorer(chain).anchor(ROOT, SIZE)
    assert anchor.tx_hash in caplog.text
    assert key_text[2:] not in caplog.text
    assert key_text[2:] not in repr(chain.account)
    assert key_text[2:] not in repr(anchorer(chain))


def test_gas_price_zero_is_sent_as_legacy_transaction(anvil_node, fund) -> None:
    """LACChain/Besu free-gas networks: gasPrice 0 (here on anvil with base fee 0)."""
    w3 = rpc_chain(anvil_node.url, ANVIL_CHAIN_ID)
    account = load_or_create_key(anvil_node.state_file.parent / "anchor.key")
    fund(w3, account.address)
    contract = deploy_contract(w3, account)
    w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", ["0x0"])  # type: ignore[arg-type]
    free = EvmAnchorer(w3, contract, account, gas_price=0, timeout=30)
    balance = w3.eth.get_balance(account.address)
    anchor = free.anchor(ROOT, SIZE)
    tx = w3.eth.get_transaction(anchor.tx_hash)
    assert tx["gasPrice"] == 0 and tx["type"] == 0
    assert w3.eth.get_balance(account.address) == balance


def test_rpc_chain_checks_chain_id(anvil_node) -> None:
    with pytest.raises(ChainError, match="chain id mismatch"):
        rpc_chain(anvil_node.url, 1)


def test_rpc_chain_unreachable() -> None:
    with pytest.raises(ChainError, match="cannot reach"):
        rpc_chain("http://127.0.0.1:9", 1, timeout=2)


def test_anvil_state_survives_restart(tmp_path: Path, anvil_starter, fund) -> None:
    """anvil --state: anchors made before a restart verify after it."""
    state, log = tmp_path / "state.json", tmp_path / "anvil.log"
    node = anvil_starter(state, log)
    w3 = rpc_chain(node.url, ANVIL_CHAIN_ID)
    account = load_or_create_key(tmp_path / "anchor.key")
    fund(w3, account.address)
    contract = deploy_contract(w3, account)
    anchor = EvmAnchorer(w3, contract, account, timeout=30).anchor(ROOT, SIZE)
    node.stop()
    node = anvil_starter(state, log)
    verify_anchor(rpc_chain(node.url, ANVIL_CHAIN_ID), anchor, ROOT, SIZE)


# --- the embedded chain -------------------------------------------------------------------


def _anchor_on_embedded(directory: Path) -> EvmAnchor:
    w3 = embedded_chain(directory)
    try:
        account = load_key(w3.provider.dev_key_path)  # type: ignore[attr-defined]
        contract = deploy_contract(w3, account)
        return EvmAnchorer(w3, contract, account, mine_while_waiting=True).anchor(ROOT, SIZE)
    finally:
        w3.provider.close()  # type: ignore[attr-defined]


def test_embedded_chain_survives_restart_in_process(tmp_path: Path) -> None:
    anchor = _anchor_on_embedded(tmp_path)
    w3 = embedded_chain(tmp_path)
    try:
        verify_anchor(w3, anchor, ROOT, SIZE)
        account = load_key(w3.provider.dev_key_path)  # type: ignore[attr-defined]
        later = EvmAnchorer(w3, anchor.contract, account, mine_while_waiting=True).anchor(ROOT, SIZE + 1)
        assert later.block_number > anchor.block_number
    finally:
        w3.provider.close()  # type: ignore[attr-defined]


def test_embedded_chain_survives_restart_in_another_process(tmp_path: Path) -> None:
    anchor = _anchor_on_embedded(tmp_path)
    script = textwrap.dedent(
        f"""
        from anchoring.chains.embedded import embedded_chain
        from anchoring.chains.evm import EvmAnchor, verify_anchor
        w3 = embedded_chain({str(tmp_path)!r})
        verify_anchor(w3, EvmAnchor.from_dict({anchor.to_dict()!r}), {ROOT!r}, {SIZE})
        print("verified")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "verified"


def test_embedded_chain_has_one_owner(tmp_path: Path) -> None:
    w3 = embedded_chain(tmp_path)
    try:
        with pytest.raises(ChainError, match="in use by another process"):
            embedded_chain(tmp_path)
        script = f"from anchoring.chains.embedded import embedded_chain; embedded_chain({str(tmp_path)!r})"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode != 0
        assert f"in use by another process (pid {os.getpid()})" in result.stderr
    finally:
        w3.provider.close()  # type: ignore[attr-defined]
    embedded_chain(tmp_path).provider.close()  # type: ignore[attr-defined]


def test_embedded_chain_refuses_use_after_close(tmp_path: Path) -> None:
    w3 = embedded_chain(tmp_path)
    w3.provider.close()  # type: ignore[attr-defined]
    with pytest.raises(ChainError, match="closed"):
        w3.eth.block_number  # noqa: B018


def test_embedded_chain_refuses_a_missing_key_without_making_one(tmp_path: Path) -> None:
    _anchor_on_embedded(tmp_path)
    (tmp_path / DEV_KEY_FILENAME).unlink()
    with pytest.raises(ChainError, match="funded key file .* is missing"):
        embedded_chain(tmp_path)
    assert not (tmp_path / DEV_KEY_FILENAME).exists()


def test_embedded_chain_detects_replaced_genesis(tmp_path: Path) -> None:
    _anchor_on_embedded(tmp_path)
    (tmp_path / DEV_KEY_FILENAME).unlink()
    load_or_create_key(tmp_path / DEV_KEY_FILENAME)  # another key: another genesis
    with pytest.raises(ChainError, match="genesis"):
        embedded_chain(tmp_path)
    # The failed open released the directory.
    (tmp_path / DEV_KEY_FILENAME).unlink()


def test_embedded_genesis_is_pinned(tmp_path: Path) -> None:
    w3 = embedded_chain(tmp_path)
    try:
        assert w3.eth.get_block(0)["timestamp"] == 1767225600
    finally:
        w3.provider.close()  # type: ignore[attr-defined]


# --- the key file -------------------------------------------------------------------------


def test_key_file_is_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "anchor.key"
    account = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path).address == account.address
    assert load_key(path).address == account.address


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_loose_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "anchor.key"
    load_or_create_key(path)
    path.chmod(mode)
    with pytest.raises(ChainError, match="chmod 600"):
        load_key(path)


@pytest.mark.parametrize("content", [b"0x1234\n", b"not a key at all", b"0x" + b"0" * 64])
def test_malformed_key_file_is_refused_without_echo(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "anchor.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ChainError, match="key file") as info:
        load_key(path)
    assert content.decode().strip() not in str(info.value)


def test_empty_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "anchor.key"
    path.write_bytes(b"")
    path.chmod(0o600)
    with pytest.raises(ChainError, match="key file"):
        load_key(path)


def test_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ChainError, match="does not exist"):
        load_key(tmp_path / "absent.key")


def test_account_hides_its_key(tmp_path: Path) -> None:
    path = tmp_path / "anchor.key"
    account = load_or_create_key(path)
    key_hex = path.read_text().strip()[2:]
    assert key_hex not in repr(account) and key_hex not in str(account)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(account)
    assert not hasattr(account, "__dict__")
