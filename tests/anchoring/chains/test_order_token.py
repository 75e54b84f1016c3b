"""VerazOrderToken: its committed build, and the contract on the embedded chain and on anvil.

ERC-721 with ERC-5192 locks: one token per ocid (id = SHA-256 of the ocid), minted in batches by
the owner only, never twice, never transferable; tokenURI names the metadata URL.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from anchoring.chains.embedded import embedded_chain
from anchoring.chains.evm import _send
from anchoring.chains.keys import load_key
from anchoring.chains.tokens import (
    INTERFACES,
    LOCKED_TOPIC,
    TRANSFER_TOPIC,
    TokenMinter,
    deploy_token_contract,
    token_artifact,
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
        [node, str(CONTRACT_DIR / "compile-token.mjs"), "--stdout"],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    committed = (CONTRACT_DIR / "VerazOrderToken.json").read_bytes()
    assert result.stdout == committed, "VerazOrderToken.json is stale: run compile-token.mjs and commit"


def test_token_build_pins_what_changes_bytecode() -> None:
    artifact = token_artifact()
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
