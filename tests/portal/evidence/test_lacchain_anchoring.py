"""`veraz anchor`, `veraz audit` and `veraz verify` with CHAIN_BACKEND lacchain.

On anvil: the tests' LocalRelayHub (LACChain's documented RelayHub interface), a
VerazRelayedAnchor trusting it, and a re-enacted writer node's gas-relay-signer in front
(``lacchain_relay_signer``): the portal talks only to that endpoint, like a portal hosted on
LACChain talks to its writer node. Its anchoring account never holds any ether.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import rlp
from builders import example_order
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from evidence_builders import order_ocid, publish_examples
from hexbytes import HexBytes
from lacchain_relay_signer import RelaySigner
from web3 import Web3

from anchoring.chains.evm import deploy_contract, rpc_chain
from anchoring.chains.keys import load_or_create_key
from anchoring.chains.lacchain import LacchainRelay, split_relay_suffix
from portal.cli import main
from portal.db import app_engine

ROOT = Path(__file__).resolve().parents[3]
NODE_KEY = "0x" + "5d" * 32  # the writer node's key on the test chain (never a real one)


def _chain_fixtures():
    """tests/anchoring/chains/conftest.py (anvil helpers), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(
        "chains_fixtures", ROOT / "tests" / "anchoring" / "chains" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@dataclass
class Network:
    url: str  # anvil itself, for verifiers
    w3: Web3
    signer: RelaySigner
    hub: str
    contract: str
    node: str


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    fixtures = _chain_fixtures()
    directory = tmp_path_factory.mktemp("lacchain")
    anvil = fixtures.start_anvil(directory / "anvil-state.json", directory / "anvil.log")
    try:
        w3 = rpc_chain(anvil.url, fixtures.ANVIL_CHAIN_ID)
        build = json.loads((ROOT / "tests/anchoring/chains/contracts/LocalRelayHub.json").read_text())
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": HexBytes(build["bytecode"])})
        hub = to_checksum_address(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])
        node = Account.from_key(NODE_KEY)
        fixtures.fund_on_anvil(w3, node.address)  # only the node pays, as on LACChain
        signer = RelaySigner(anvil.url, hub, node)
        try:
            # Deployed as on LACChain: through the writer node, by an account with no ether.
            deployer = load_or_create_key(directory / "deployer.key")
            relay = LacchainRelay(node.address, hub)
            contract = deploy_contract(rpc_chain(signer.url, 31337), deployer, relay_hub=hub, relay=relay)
            yield Network(anvil.url, w3, signer, hub, contract, node.address)
        finally:
            signer.close()
    finally:
        anvil.stop()


def _verify(*args: str):
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["verify", *map(str, args)])


def test_anchor_audit_and_verify_through_a_writer_node(database_url, tmp_path, network):
    from support import make_app

    net = network
    app = make_app(
        database_url,
        tmp_path,
        EVM_RPC_URL=net.signer.url,
        EVM_CHAIN_ID=31337,
        EVM_CONTRACT_ADDRESS=net.contract,
        EVM_KEY_FILE=str(tmp_path / "anchor.key"),
        CHAIN_BACKEND="lacchain",
        LACCHAIN_NODE_ADDRESS=net.node,
        LACCHAIN_RELAY_HUB=net.hub,
    )
    portal = load_or_create_key(tmp_path / "anchor.key")
    try:
        client, runner = app.test_client(), app.test_cli_runner()
        publish_examples(app, tmp_path)
        result = runner.invoke(main, ["anchor"])
        assert result.exit_code == 0, result.output
        ocid = order_ocid(example_order("2-package"))
        bundle = client.get(f"/api/proofs/{ocid}")
        body = bundle.get_json()
        (evm,) = [a for a in body["anchors"] if a["type"] == "evm"]
        assert evm["sender"] == portal.address and evm["contract"] == net.contract
        assert evm["txHash"] in net.signer.relayed  # the node's transaction to the hub

        # What the node relayed is the portal's anchor call followed by the documented suffix.
        outer = net.w3.eth.get_transaction(evm["txHash"])
        assert outer["to"] == net.hub and outer["from"] == net.node
        signing_data, _v, _r, _s = abi_decode(
            ["bytes", "uint8", "bytes32", "bytes32"], bytes(outer["input"])[4:]
        )
        nonce, gas_price, _gas, to, value, data = rlp.decode(signing_data)
        assert gas_price == b"" and value == b"" and to == bytes.fromhex(net.contract[2:])
        calldata, node, expiration = split_relay_suffix(data)
        assert node == net.node
        assert expiration > net.w3.eth.get_block(outer["blockNumber"])["timestamp"]
        assert calldata[:4] == keccak(text="anchor(bytes32,uint64)")[:4]
        assert calldata[4:36].hex() == evm["root"]
        assert int.from_bytes(calldata[36:68], "big") == evm["treeSize"]
        assert net.w3.eth.get_balance(portal.address) == 0

        result = runner.invoke(main, ["audit"])
        assert result.exit_code == 0, result.output

        (tmp_path / "bundle.json").write_bytes(bundle.data)
        args = ("--rpc", net.url, "--sender", portal.address)
        result = _verify(tmp_path / "bundle.json", *args, "--relay-hub", net.hub)
        assert "PASS  evm-anchor" in result.output, result.output
        result = _verify(tmp_path / "bundle.json", *args)
        assert result.exit_code == 1 and "relay hub" in result.output
    finally:
        app_engine(app).dispose()


@pytest.fixture
def relayed_anchorer(network, tmp_path):
    from portal.evidence.backends import Backends

    load_or_create_key(tmp_path / "anchor.key")
    backends = Backends(
        {
            "INSTANCE_PATH": str(tmp_path),
            "ANCHOR_TIMEOUT": 30,
            "EVM_RPC_URL": network.signer.url,
            "EVM_CHAIN_ID": 31337,
            "EVM_CONTRACT_ADDRESS": network.contract,
            "EVM_KEY_FILE": str(tmp_path / "anchor.key"),
            "EVM_CONFIRMATIONS": 1,
            "CHAIN_BACKEND": "lacchain",
            "LACCHAIN_NODE_ADDRESS": network.node,
            "LACCHAIN_RELAY_HUB": network.hub,
            "LACCHAIN_EXPIRATION": 600,
        }
    )
    anchorer = backends.anchorer()
    anchorer.poll_interval = 0.05
    yield anchorer
    backends.close()


def _anchored(anchorer, root: bytes) -> list[str]:
    """Hashes of the transactions holding an Anchored event of ``root`` from our account."""
    from anchoring.chains.evm import ANCHORED_TOPIC

    sender = HexBytes(bytes(12) + HexBytes(anchorer.account.address)).to_0x_hex()
    logs = anchorer.w3.eth.get_logs(
        {
            "address": anchorer.contract_address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [HexBytes(ANCHORED_TOPIC).to_0x_hex(), HexBytes(root).to_0x_hex(), sender],
        }
    )
    return [HexBytes(entry["transactionHash"]).to_0x_hex() for entry in logs]


def test_a_relayed_intent_records_the_nodes_hash(relayed_anchorer, network):
    from portal.evidence.evm import anchor_once

    saved: list[dict] = []
    root = keccak(text="fresh")
    anchor = anchor_once(relayed_anchorer, root, 3, None, saved.append)
    assert len(saved) == 2  # the signed bytes, then the node's transaction hash
    assert saved[0]["txHash"] != saved[1]["txHash"] == anchor.tx_hash == network.signer.relayed[-1]
    assert saved[1]["expiration"] > network.w3.eth.get_block(anchor.block_number)["timestamp"]
    assert _anchored(relayed_anchorer, root) == [anchor.tx_hash]


def test_an_intent_sent_before_a_crash_is_found_not_sent_again(relayed_anchorer):
    from portal.evidence.evm import anchor_once, sign_intent

    root = keccak(text="sent before the crash")
    intent = sign_intent(relayed_anchorer, root, 4)  # recorded; the node's hash never was
    relayed_anchorer.w3.eth.send_raw_transaction(HexBytes(intent["raw"]))
    saved: list[dict] = []
    anchor = anchor_once(relayed_anchorer, root, 4, intent, saved.append)
    assert _anchored(relayed_anchorer, root) == [anchor.tx_hash]  # one anchor, found by its event
    assert saved == []


def test_an_unsent_intent_is_sent_once_and_an_expired_one_replaced(relayed_anchorer):
    from portal.evidence.evm import anchor_once, sign_intent

    root = keccak(text="never sent")
    intent = sign_intent(relayed_anchorer, root, 5)
    saved: list[dict] = []
    anchor = anchor_once(relayed_anchorer, root, 5, intent, saved.append)
    again = anchor_once(relayed_anchorer, root, 5, intent, saved.append)
    assert anchor == again and _anchored(relayed_anchorer, root) == [anchor.tx_hash]

    root = keccak(text="expired")
    stale = {**sign_intent(relayed_anchorer, root, 6), "expiration": 1}  # its bytes expired
    saved = []
    anchor = anchor_once(relayed_anchorer, root, 6, stale, saved.append)
    assert saved and saved[0]["expiration"] > 1  # a new intent, signed with a new expiration
    assert _anchored(relayed_anchorer, root) == [anchor.tx_hash]
