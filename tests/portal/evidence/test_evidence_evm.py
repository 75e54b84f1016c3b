"""The crash-safe EVM step on the real embedded chain: an intent is resumed, never re-sent."""

from __future__ import annotations

import hashlib

import pytest
from hexbytes import HexBytes

from anchoring.chains.evm import ANCHORED_TOPIC
from portal.evidence.backends import Backends
from portal.evidence.evm import anchor_once, sign_intent

ROOT = hashlib.sha256(b"checkpoint").digest()


@pytest.fixture
def anchorer(tmp_path):
    config = {
        "INSTANCE_PATH": str(tmp_path),
        "ANCHOR_TIMEOUT": 30,
        "EVM_GAS_PRICE": "",
        "EVM_EXPLORER_URL": "",
        "EVM_RPC_URL": "",
        "EVM_CONFIRMATIONS": 1,
    }
    backends = Backends(config)
    yield backends.anchorer()
    backends.close()


def _events(anchorer) -> list[tuple[str, int]]:
    logs = anchorer.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "topics": [HexBytes(ANCHORED_TOPIC).to_0x_hex()]}
    )
    return [(bytes(e["topics"][1]).hex(), int.from_bytes(bytes(e["data"]), "big")) for e in logs]


def test_intent_signed_but_not_sent_is_sent_once(anchorer):
    saved: list[dict] = []
    intent = sign_intent(anchorer, ROOT, 7)  # as if the process died right after recording it
    first = anchor_once(anchorer, ROOT, 7, intent, saved.append)
    again = anchor_once(anchorer, ROOT, 7, intent, saved.append)
    assert first == again and first.tx_hash == intent["txHash"]
    assert saved == []  # no new intent was needed
    assert _events(anchorer) == [(ROOT.hex(), 7)]


def test_intent_whose_nonce_went_elsewhere_is_replaced(anchorer):
    stale = sign_intent(anchorer, ROOT, 7)  # recorded, never sent
    other = hashlib.sha256(b"other").digest()
    anchor_once(anchorer, other, 3, None, lambda intent: None)  # takes the same nonce
    saved: list[dict] = []
    anchor = anchor_once(anchorer, ROOT, 7, stale, saved.append)
    assert len(saved) == 1 and anchor.tx_hash == saved[0]["txHash"] != stale["txHash"]
    assert sorted(_events(anchorer)) == sorted([(other.hex(), 3), (ROOT.hex(), 7)])
