"""Anchoring through LACChain's gas model: a writer node relays through a RelayHub.

On anvil: ``LocalRelayHub`` (tests/anchoring/chains/contracts, following LACChain's documented
RelayHub interface) and a re-enactment of the writer node's gas-relay-signer over HTTP
(``lacchain_relay_signer``). The portal's account has no ether at all: gas price 0, the node
pays on the test chain, as the network's gas model does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st
from lacchain_relay_signer import RelaySigner
from web3 import Web3

from anchoring.chains.evm import (
    EvmAnchorer,
    contract_artifact,
    deploy_contract,
    relayed_anchor_forwarder,
    rpc_chain,
    verify_anchor,
)
from anchoring.chains.keys import AnchorAccount, load_or_create_key
from anchoring.chains.lacchain import (
    LacchainRelay,
    relay_suffix,
    signing_data,
    split_relay_suffix,
)
from anchoring.errors import ChainError

HERE = Path(__file__).resolve().parent
ANVIL_CHAIN_ID = 31337
ROOT = bytes(range(32))
# A fixed key for the writer node (never a real one): the account the hub must be called from.
NODE_KEY = "0x" + "4e" * 32
TRANSACTION_RELAYED = keccak(text="TransactionRelayed(address,address,address,bool,bytes)")

# @lacchain/gas-model-provider's own test vector (src/test/fixtures.ts): the key, the
# transaction request, node address and expiration, and the signed transaction it expects.
VECTOR_KEY = "0x9ea92b45be8c30b18da6857cf60cfec534c0d612af34b291fd022ac4573e617c"
VECTOR_NODE = "0xc6e2459991BfE27cca6d86722F35da23A1E4Cb97"
VECTOR_EXPIRATION = 1836394529
VECTOR_TO = "0x4F3F9061c42B396746Bb9A232089703E4f9DBF76"
VECTOR_DATA = (
    "52c28fab000000000000000000000000e81d7e5cd979be0a7f6b6c98957a66fdf6240273"
    "000000000000000000000000410bd47227a5ea8af81995fa3d66b770af6f85e2"
)
VECTOR_SIGNED = (
    "0xf8e447808204d2944f3f9061c42b396746bb9a232089703e4f9dbf7680b88452c28fab00000000000000"
    "0000000000e81d7e5cd979be0a7f6b6c98957a66fdf6240273000000000000000000000000410bd47227a5"
    "ea8af81995fa3d66b770af6f85e2000000000000000000000000c6e2459991bfe27cca6d86722f35da23a1"
    "e4cb97000000000000000000000000000000000000000000000000000000006d7528211ba0c82f7051ffec"
    "883df1a1ce7fbe735cbd61900b8957362709b3614bd3c3309418a03f6b1897320a809a93c17ccc26130a09"
    "18a995cfb14fcd7c4108b35778003ab7"
)


def test_signed_transaction_is_the_gas_model_providers() -> None:
    """Calldata + suffix, gas price 0, signed without a chain id: byte for byte the raw
    transaction LACChain's own signer library produces for the same input."""
    data = bytes.fromhex(VECTOR_DATA) + relay_suffix(VECTOR_NODE, VECTOR_EXPIRATION)
    tx = {"nonce": 71, "gasPrice": 0, "gas": 1234, "to": VECTOR_TO, "value": 0, "data": data}
    signed = Account.sign_transaction(tx, VECTOR_KEY)
    assert signed.raw_transaction.to_0x_hex() == VECTOR_SIGNED
    # What the node hands the hub: the user is recovered from keccak256(signingData).
    payload, v, r, s = signing_data(signed.raw_transaction)
    recovered = Account._recover_hash(keccak(payload), vrs=(v, int.from_bytes(r), int.from_bytes(s)))
    assert recovered == Account.from_key(VECTOR_KEY).address
    assert split_relay_suffix(data) == (bytes.fromhex(VECTOR_DATA), VECTOR_NODE, VECTOR_EXPIRATION)


def test_suffix_and_settings_are_checked() -> None:
    suffix = relay_suffix(VECTOR_NODE, 5)
    assert suffix == bytes(12) + bytes.fromhex(VECTOR_NODE[2:]) + (5).to_bytes(32, "big")
    with pytest.raises(ChainError, match="not a left-padded address"):
        split_relay_suffix(b"\x01" + suffix[1:])
    with pytest.raises(ChainError, match="too short"):
        split_relay_suffix(suffix[:63])
    with pytest.raises(ChainError, match="node address"):
        LacchainRelay("0x1234", VECTOR_NODE)
    with pytest.raises(ChainError, match="expiration window"):
        LacchainRelay(VECTOR_NODE, VECTOR_NODE, expiration_window=0)
    signed = Account.sign_transaction({**_vector_tx(), "chainId": 1}, VECTOR_KEY)
    with pytest.raises(ChainError, match="EIP-155"):
        signing_data(signed.raw_transaction)


def _vector_tx() -> dict:
    return {"nonce": 0, "gasPrice": 0, "gas": 50_000, "to": VECTOR_TO, "value": 0, "data": b""}


def test_relayed_code_is_recognised_with_its_hub() -> None:
    plain = bytes.fromhex(contract_artifact()["deployedBytecode"][2:])
    assert relayed_anchor_forwarder(plain) is None
    template = bytearray.fromhex(contract_artifact("VerazRelayedAnchor")["deployedBytecode"][2:])
    refs = contract_artifact("VerazRelayedAnchor")["immutableReferences"]
    for ref in refs:
        template[ref["start"] : ref["start"] + 32] = bytes(12) + bytes.fromhex(VECTOR_NODE[2:])
    assert relayed_anchor_forwarder(bytes(template)) == VECTOR_NODE
    template[refs[0]["start"] + 31] ^= 1  # one immutable that disagrees with the others
    assert relayed_anchor_forwarder(bytes(template)) is None


@dataclass
class Network:
    w3: Web3  # anvil itself
    relay_w3: Web3  # the writer node's relay signer in front of it
    signer: RelaySigner
    hub: str
    contract: str
    portal: AnchorAccount  # the anchoring account: no ether at all
    owner: AnchorAccount  # a funded account, for direct (non-relayed) calls
    relay: LacchainRelay


@pytest.fixture(scope="module")
def network(module_anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    keys = tmp_path_factory.mktemp("keys")
    w3 = rpc_chain(module_anvil.url, ANVIL_CHAIN_ID)
    hub_build = json.loads((HERE / "contracts" / "LocalRelayHub.json").read_text())
    deployer = w3.eth.accounts[0]
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": deployer, "data": HexBytes(hub_build["bytecode"])})
    )
    hub = to_checksum_address(receipt["contractAddress"])
    node = Account.from_key(NODE_KEY)
    owner = load_or_create_key(keys / "owner.key")
    for address in (node.address, owner.address):
        w3.provider.make_request("anvil_setBalance", [address, hex(10**21)])  # type: ignore[arg-type]
    contract = deploy_contract(w3, owner, relay_hub=hub)
    signer = RelaySigner(module_anvil.url, hub, node)
    try:
        relay_w3 = rpc_chain(signer.url, ANVIL_CHAIN_ID)
        portal = load_or_create_key(keys / "portal.key")
        relay = LacchainRelay(node.address, hub, expiration_window=120)
        yield Network(w3, relay_w3, signer, hub, contract, portal, owner, relay)
    finally:
        signer.close()


def _anchorer(net: Network, relay: LacchainRelay) -> EvmAnchorer:
    return EvmAnchorer(net.relay_w3, net.contract, net.portal, relay=relay, timeout=30, poll_interval=0.05)


def test_anchor_through_the_relay_records_the_original_sender(network: Network) -> None:
    net = network
    anchor = _anchorer(net, net.relay).anchor(ROOT, 7)
    assert anchor.sender == net.portal.address  # the event names the portal, not the hub
    assert anchor.tx_hash == net.signer.relayed[-1]  # the node's transaction, as LACChain answers
    outer = net.w3.eth.get_transaction(anchor.tx_hash)
    assert outer["from"] == Account.from_key(NODE_KEY).address and outer["to"] == net.hub
    receipt = net.w3.eth.get_transaction_receipt(anchor.tx_hash)
    (relayed,) = [entry for entry in receipt["logs"] if bytes(entry["topics"][0]) == TRANSACTION_RELAYED]
    assert bytes(relayed["topics"][2])[-20:] == bytes.fromhex(net.portal.address[2:])
    assert net.w3.eth.get_balance(net.portal.address) == 0  # gas price 0: the portal paid nothing
    verify_anchor(net.w3, anchor, ROOT, 7, sender=net.portal.address, relay_hub=net.hub)
    # A relay-aware contract is only as honest as its hub: a verifier must name the hub.
    with pytest.raises(ChainError, match="relay hub"):
        verify_anchor(net.w3, anchor, ROOT, 7)
    with pytest.raises(ChainError, match="not from"):
        verify_anchor(net.w3, anchor, ROOT, 7, relay_hub=net.owner.address)
    # The next anchor uses the hub's next nonce for this node.
    second = _anchorer(net, net.relay).anchor(ROOT, 8)
    assert second.sender == net.portal.address and second.block_number > anchor.block_number


def _hub_nonce(net: Network) -> int:
    return int(net.relay_w3.eth.get_transaction_count(net.portal.address))


def test_an_expired_suffix_is_refused(network: Network) -> None:
    net = network
    before = _hub_nonce(net)
    expired = replace(net.relay, clock=lambda: time.time() - 3600)
    with pytest.raises(ChainError, match="expired"):
        _anchorer(net, expired).anchor(ROOT, 9)
    assert _hub_nonce(net) == before  # nothing was relayed


def test_a_wrong_node_address_is_refused(network: Network) -> None:
    net = network
    before = _hub_nonce(net)
    other_node = replace(net.relay, node_address=net.owner.address)
    with pytest.raises(ChainError, match="wrong node address"):
        _anchorer(net, other_node).anchor(ROOT, 10)
    assert _hub_nonce(net) == before


def test_a_direct_call_records_its_own_sender(network: Network) -> None:
    """Calls that do not come from the hub are ordinary: the owner may anchor directly (it
    pays its own gas there), and nobody inherits the last relayed sender."""
    net = network
    _anchorer(net, net.relay).anchor(ROOT, 11)  # the hub relayed the portal just before
    direct = EvmAnchorer(net.w3, net.contract, net.owner, timeout=30, poll_interval=0.05, relay=None)
    with pytest.raises(ChainError, match="relay hub"):
        direct.anchor(ROOT, 12)  # its own read-back needs the hub too
    anchors = net.w3.eth.get_logs({"address": net.contract, "fromBlock": "latest", "toBlock": "latest"})
    (event,) = anchors
    assert bytes(event["topics"][2])[-20:] == bytes.fromhex(net.owner.address[2:])
    direct.relay_hub = net.hub
    anchor = direct.anchor(ROOT, 13)
    assert anchor.sender == net.owner.address
    verify_anchor(net.w3, anchor, ROOT, 13, sender=net.owner.address, relay_hub=net.hub)


def test_deploy_through_the_relay(network: Network) -> None:
    """The portal's account, with no ether, deploys its anchor contract through the writer
    node (deployMetaTx); the address comes from the hub's ContractDeployed event."""
    net = network
    contract = deploy_contract(net.relay_w3, net.portal, relay_hub=net.hub, relay=net.relay)
    assert contract != net.contract
    assert relayed_anchor_forwarder(bytes(net.w3.eth.get_code(contract))) == net.hub
    anchor = EvmAnchorer(net.relay_w3, contract, net.portal, relay=net.relay, poll_interval=0.05).anchor(
        ROOT, 21
    )
    assert anchor.sender == net.portal.address and anchor.contract == contract
    assert net.w3.eth.get_balance(net.portal.address) == 0
    with pytest.raises(ChainError, match="relay_hub"):
        deploy_contract(net.relay_w3, net.portal, relay=net.relay)


def test_a_failed_inner_call_is_not_an_anchor(network: Network) -> None:
    """The hub's transaction succeeds even when the call it relays fails (executed = false);
    the writer node reports status 0, and nothing is taken for an anchor."""
    net = network
    before = _hub_nonce(net)
    not_an_anchor = EvmAnchorer(net.relay_w3, net.hub, net.portal, relay=net.relay, poll_interval=0.05)
    with pytest.raises(ChainError, match="reverted"):
        not_an_anchor.anchor(ROOT, 22)
    assert _hub_nonce(net) == before + 1  # relayed (the nonce is spent), but nothing anchored
    receipt = net.w3.eth.get_transaction_receipt(net.signer.relayed[-1])
    assert receipt["status"] == 1  # on chain the node's transaction itself succeeded
    assert not [entry for entry in receipt["logs"] if entry["address"] == net.contract]


def test_a_relayed_anchor_without_a_hub_is_plain(network: Network) -> None:
    """Built with hub zero, VerazRelayedAnchor never asks anyone: it verifies as VerazAnchor,
    without relay_hub."""
    net = network
    contract = deploy_contract(net.w3, net.owner, relay_hub="0x" + "00" * 20)
    anchor = EvmAnchorer(net.w3, contract, net.owner, poll_interval=0.05).anchor(ROOT, 23)
    assert anchor.sender == net.owner.address
    verify_anchor(net.w3, anchor, ROOT, 23, sender=net.owner.address)


@settings(max_examples=50, deadline=None)
@given(
    calldata=st.binary(max_size=200),
    node=st.binary(min_size=20, max_size=20),
    expiration=st.integers(min_value=0, max_value=2**256 - 1),
)
def test_the_suffix_round_trips(calldata: bytes, node: bytes, expiration: int) -> None:
    address = to_checksum_address(node)
    data = calldata + relay_suffix(address, expiration)
    assert len(data) == len(calldata) + 64
    assert split_relay_suffix(data) == (calldata, address, expiration)


def test_a_nonce_asked_for_and_never_used_does_not_block(network: Network) -> None:
    """The relay signer queues a nonce for every "pending" question: a process that died after
    asking would leave it reserved. The anchorer asks for "latest", so it is not held up."""
    net = network
    reserved = int(net.relay_w3.eth.get_transaction_count(net.portal.address, "pending"))
    assert reserved == _hub_nonce(net)
    anchor = _anchorer(net, net.relay).anchor(ROOT, 24)
    assert anchor.sender == net.portal.address and _hub_nonce(net) == reserved + 1


def test_a_hub_behind_a_published_front(network: Network) -> None:
    """The contract trusts the published address (a front), asks it which caller is the hub,
    and asks that hub for the sender; verification names the front."""
    net = network
    build = json.loads((HERE / "contracts" / "LocalRelayFront.json").read_text())
    init = HexBytes(build["bytecode"]) + bytes(12) + HexBytes(net.hub)
    tx = net.w3.eth.send_transaction({"from": net.w3.eth.accounts[0], "data": init})
    front = to_checksum_address(net.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])
    contract = deploy_contract(net.w3, net.owner, relay_hub=front)
    relay = replace(net.relay, relay_hub=front)
    anchor = EvmAnchorer(net.relay_w3, contract, net.portal, relay=relay, poll_interval=0.05).anchor(ROOT, 25)
    assert anchor.sender == net.portal.address
    verify_anchor(net.w3, anchor, ROOT, 25, sender=net.portal.address, relay_hub=front)
    with pytest.raises(ChainError, match="not from"):
        verify_anchor(net.w3, anchor, ROOT, 25, relay_hub=net.hub)
