"""VerazOrderToken: its committed build, and the contract on the embedded chain and on anvil.

ERC-721 with ERC-5192 locks: one token per ocid (id = SHA-256 of the ocid), minted in batches by
the owner only, never twice, never transferable; tokenURI names the metadata URL.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lacchain_relay_signer import RelaySigner
from web3 import Web3
from web3.exceptions import ContractLogicError

from anchoring.chains.embedded import embedded_chain
from anchoring.chains.evm import _send, rpc_chain
from anchoring.chains.keys import AnchorAccount, load_key, load_or_create_key
from anchoring.chains.lacchain import LacchainRelay
from anchoring.chains.tokens import (
    INTERFACES,
    LOCKED_TOPIC,
    RELAYED_TOKEN,
    TRANSFER_TOPIC,
    TokenMinter,
    deploy_token_contract,
    token_artifact,
    token_contract_hub,
    token_id,
)
from anchoring.errors import ChainError

REPO = Path(__file__).resolve().parents[3]
CONTRACT_DIR = REPO / "anchoring" / "chains" / "contract"
BASE = "https://portal.example/tokens/"
ODD_OCID = "ocds-x/1 ñ?#%"


def test_committed_token_build_is_reproducible() -> None:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "solc").is_dir():
        pytest.fail("node and node_modules/solc are required: run npm ci")
    result = subprocess.run(
        [node, str(CONTRACT_DIR / "compile.mjs"), "--stdout", "VerazOrderToken"],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    committed = (CONTRACT_DIR / "VerazOrderToken.json").read_bytes()
    assert result.stdout == committed, "VerazOrderToken.json is stale: run compile.mjs and commit"


@pytest.mark.parametrize("name", ["VerazOrderToken", RELAYED_TOKEN])
def test_token_build_pins_what_changes_bytecode(name: str) -> None:
    """(compile.mjs --check, in test_contract_build, recompiles both token builds.)"""
    artifact = token_artifact(name)
    # The relayed build answers every function and event of the plain one (the same minter).
    assert all(item in artifact["abi"] for item in token_artifact()["abi"] if item["type"] != "constructor")
    assert artifact["compiler"]["version"].startswith("0.8.37+")
    assert artifact["settings"]["evmVersion"] == "paris"
    assert artifact["settings"]["metadata"]["bytecodeHash"] == "none"
    assert artifact["deployedBytecode"].endswith("a164736f6c6343000825000a")
    code = bytes.fromhex(artifact["deployedBytecode"][2:])
    code = code[: len(code) - 2 - int.from_bytes(code[-2:], "big")]
    i = 0
    while i < len(code):  # no PUSH0: runs on pre-shanghai Besu networks
        assert code[i] != 0x5F
        i += 1 + (code[i] - 0x5F if 0x60 <= code[i] <= 0x7F else 0)


def _revert(call) -> None:
    """``call`` reverts (each node library words it its own way; a revert, not another error)."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - checked below
        call()
    assert isinstance(info.value, ContractLogicError | ChainError) or "revert" in str(info.value)


def test_order_token_on_chain(chain) -> None:
    w3, account = chain.w3, chain.account
    address = deploy_token_contract(w3, account, BASE)
    minter = TokenMinter(w3, address, account, mine_while_waiting=True, poll_interval=0.01)
    minter.check_contract()
    c = minter.contract.functions
    me = {"from": account.address}
    items = [
        ("ocds-veraz-000001", b"\x01" * 32),
        (ODD_OCID, b"\x02" * 32),
        ("ocds-veraz-000003", b"\x03" * 32),
    ]
    receipt = minter.mint(account.address, items)
    assert receipt["status"] == 1

    for ocid, digest in items:
        tid = token_id(ocid)
        assert tid == int(hashlib.sha256(ocid.encode()).hexdigest(), 16) == c.tokenIdOf(ocid).call(me)
        assert c.ownerOf(tid).call(me) == account.address
        assert c.locked(tid).call(me) is True
        assert bytes(c.dataHash(tid).call(me)) == digest
        token = minter.token(ocid)
        assert token is not None
        assert (token.ocid, token.data_hash, token.holder) == (ocid, digest.hex(), account.address)
        # The same spelling as portal.links (urllib quote, safe="").
        assert token.token_uri == BASE + quote(ocid, safe="") + ".json"
        assert minter.mint_transaction_of(tid) == receipt["transactionHash"].to_0x_hex()
    assert minter.token("ocds-never-minted") is None
    assert c.balanceOf(account.address).call(me) == 3
    assert c.totalSupply().call(me) == 3

    # One Transfer from 0 and one Locked per token, in order.
    topics = [bytes(e["topics"][0]) for e in receipt["logs"]]
    assert topics == [TRANSFER_TOPIC, LOCKED_TOPIC] * 3
    locked_ids = [int.from_bytes(bytes(e["data"]), "big") for e in receipt["logs"][1::2]]
    assert locked_ids == [token_id(o) for o, _ in items]

    for name, iid in INTERFACES.items():
        assert c.supportsInterface(iid).call(me) is True, name
    assert c.supportsInterface(bytes.fromhex("ffffffff")).call(me) is False

    tid = token_id("ocds-veraz-000001")
    other = Account.create().address
    _revert(lambda: minter.mint(account.address, [("ocds-veraz-000001", b"\x09" * 32)]))  # no twice
    _revert(lambda: c.transferFrom(account.address, other, tid).call(me))
    _revert(lambda: c.safeTransferFrom(account.address, other, tid).call(me))
    _revert(lambda: c.approve(other, tid).call(me))
    _revert(lambda: c.setApprovalForAll(other, True).call(me))
    _revert(lambda: c.locked(token_id("ocds-never-minted")).call(me))
    _send(w3, account, {"to": other, "value": 10**18}, None, 60)  # so that only the owner check fails
    _revert(lambda: c.mintBatch(other, ["ocds-new"], [b"\x04" * 32]).call({"from": other}))  # not owner
    assert c.mintBatch(other, ["ocds-new"], [b"\x04" * 32]).call(me) == []
    assert c.isApprovedForAll(account.address, other).call(me) is False
    assert c.getApproved(tid).call(me) == "0x" + "0" * 40
    # The state did not move.
    assert c.ownerOf(tid).call(me) == account.address
    assert bytes(c.dataHash(tid).call(me)) == b"\x01" * 32


@pytest.fixture(scope="module")
def embedded_token(tmp_path_factory: pytest.TempPathFactory):
    w3 = embedded_chain(tmp_path_factory.mktemp("token-chain"))
    account = load_key(w3.provider.dev_key_path)  # type: ignore[attr-defined]
    address = deploy_token_contract(w3, account, BASE)
    try:
        yield TokenMinter(w3, address, account, mine_while_waiting=True)
    finally:
        w3.provider.close()  # type: ignore[attr-defined]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ocid=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60))
def test_token_id_and_uri_match_python_for_any_ocid(embedded_token: TokenMinter, ocid: str) -> None:
    """The contract derives the same id as :func:`token_id` and percent-encodes as the portal."""
    c = embedded_token.contract.functions
    me = {"from": embedded_token.account.address}
    tid = token_id(ocid)
    assert c.tokenIdOf(ocid).call(me) == tid
    if not embedded_token.minted(tid):
        embedded_token.mint(embedded_token.account.address, [(ocid, hashlib.sha256(ocid.encode()).digest())])
    assert c.tokenURI(tid).call(me) == BASE + quote(ocid, safe="") + ".json"
    assert c.ocidOf(tid).call(me) == ocid


def test_mint_call_rejects_bad_items(embedded_token: TokenMinter) -> None:
    owner = embedded_token.account.address
    with pytest.raises(ChainError):
        embedded_token.mint_call(owner, [])
    with pytest.raises(ChainError):
        embedded_token.mint_call(owner, [("ocds-a", b"short")])
    with pytest.raises(ChainError):
        embedded_token.mint_call(owner, [("", b"\x00" * 32)])


@dataclass
class RelayNet:
    w3: Web3  # anvil itself
    relay_w3: Web3  # the writer node's relay signer in front of it
    signer: RelaySigner
    hub: str
    portal: AnchorAccount  # the minting account: no ether at all
    other: AnchorAccount  # a funded account that is not the owner
    relay: LacchainRelay
    contract: str


@pytest.fixture(scope="module")
def relay_net(module_anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayNet]:
    keys = tmp_path_factory.mktemp("token-keys")
    w3 = rpc_chain(module_anvil.url, 31337)
    hub_build = json.loads((REPO / "tests/anchoring/chains/contracts/LocalRelayHub.json").read_text())
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": HexBytes(hub_build["bytecode"])})
    )
    hub = to_checksum_address(receipt["contractAddress"])
    node = Account.from_key("0x" + "4e" * 32)
    other = load_or_create_key(keys / "other.key")
    for address in (node.address, other.address):
        w3.provider.make_request("anvil_setBalance", [address, hex(10**21)])  # type: ignore[arg-type]
    signer = RelaySigner(module_anvil.url, hub, node)
    try:
        relay_w3 = rpc_chain(signer.url, 31337)
        portal = load_or_create_key(keys / "portal.key")
        relay = LacchainRelay(node.address, hub, expiration_window=120)
        contract = deploy_token_contract(relay_w3, portal, BASE, relay=relay)
        yield RelayNet(w3, relay_w3, signer, hub, portal, other, relay, contract)
    finally:
        signer.close()


def _relayed_minter(net: RelayNet, relay: LacchainRelay | None = None) -> TokenMinter:
    return TokenMinter(
        net.relay_w3,
        net.contract,
        net.portal,
        gas_price=0,
        relay=relay or net.relay,
        timeout=30,
        poll_interval=0.05,
    )


def test_mint_through_the_relay_is_owned_by_the_portal(relay_net: RelayNet) -> None:
    """Deployed and minted through the writer node and LocalRelayHub by an account with no
    ether: the owner is the portal's account (not the hub), the tokens are there, and a call
    straight after a relayed one does not pass as the portal."""
    net = relay_net
    minter = _relayed_minter(net)
    minter.check_contract()
    c = minter.contract.functions
    assert c.owner().call() == net.portal.address != net.hub
    assert c.trustedForwarder().call() == net.hub
    receipt = minter.mint(net.portal.address, [("ocds-relay-1", b"\x05" * 32), (ODD_OCID, b"\x06" * 32)])
    assert receipt["transactionHash"].to_0x_hex() == net.signer.relayed[-1]  # the node's transaction
    token = minter.token(ODD_OCID)
    assert token is not None and (token.holder, token.data_hash) == (net.portal.address, "06" * 32)
    assert minter.mint_transaction_of(token.token_id) == net.signer.relayed[-1]
    assert net.w3.eth.get_balance(net.portal.address) == 0  # gas price 0: the portal paid nothing
    # The hub keeps no sender after the call; a direct caller is itself, and not the owner.
    _revert(
        lambda: c.mintBatch(net.other.address, ["ocds-x"], [b"\x07" * 32]).call({"from": net.other.address})
    )
    _revert(lambda: minter.mint(net.portal.address, [("ocds-relay-1", b"\x08" * 32)]))  # never twice
    # Another account relayed through the same hub is named as itself, not as the owner: the
    # hub's call reverts inside (the writer node reports status 0), and nothing is minted.
    intruder = TokenMinter(net.relay_w3, net.contract, net.other, gas_price=0, relay=net.relay, timeout=30)
    call = intruder.mint_call(net.other.address, [("ocds-relay-2", b"\x09" * 32)])
    signed = net.other.sign_transaction(net.relay.complete(net.relay_w3, net.other, {**call, "gas": 500_000}))
    sent = net.relay_w3.eth.send_raw_transaction(signed.raw_transaction)
    assert net.relay_w3.eth.wait_for_transaction_receipt(sent, timeout=30)["status"] == 0
    assert minter.token("ocds-relay-2") is None


def test_the_relayed_token_is_accepted_only_with_its_hub(relay_net: RelayNet) -> None:
    net = relay_net
    code = bytes(net.w3.eth.get_code(net.contract))
    assert token_contract_hub(code, net.hub) == net.hub
    with pytest.raises(ChainError, match="relay hub"):
        TokenMinter(net.w3, net.contract, net.portal).check_contract()  # no hub named
    with pytest.raises(ChainError, match="not from"):
        token_contract_hub(code, net.other.address)
    plain = bytes.fromhex(token_artifact()["deployedBytecode"][2:])
    assert token_contract_hub(plain, None) is None and token_contract_hub(plain, net.hub) is None
    with pytest.raises(ChainError, match="not VerazOrderToken"):
        token_contract_hub(code[:-1] + b"\x00", net.hub)


def test_an_expired_suffix_mints_nothing(relay_net: RelayNet) -> None:
    net = relay_net
    before = int(net.relay_w3.eth.get_transaction_count(net.portal.address))
    expired = replace(net.relay, clock=lambda: time.time() - 3600)
    with pytest.raises(ChainError, match="expired"):
        _relayed_minter(net, expired).mint(net.portal.address, [("ocds-relay-3", b"\x0a" * 32)])
    assert int(net.relay_w3.eth.get_transaction_count(net.portal.address)) == before
    assert _relayed_minter(net).token("ocds-relay-3") is None
