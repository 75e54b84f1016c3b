"""The RFC 3161 check the server does for the verification page: one token against one
checkpoint (``anchoring.bundle_network.verify_checkpoint_timestamp``), with the embedded TSA
and its real CA. Must-fail cases: another checkpoint, a malformed token, another CA."""

from __future__ import annotations

import base64

import pytest

from anchoring.bundle import FAIL, PASS, SKIP
from anchoring.bundle_network import verify_checkpoint_timestamp
from anchoring.timestamps import EmbeddedTSA

NOTE = "example.org/log\n5\nAAAA\n\n— example.org/log abcd\n"


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tsa")
    token = EmbeddedTSA(directory).timestamp(NOTE.encode())
    return base64.b64encode(token.der).decode(), (directory / "ca.pem").read_bytes()


def test_a_token_over_its_checkpoint_passes(tsa):
    token, ca = tsa
    step = verify_checkpoint_timestamp(NOTE, token, ca)
    assert (step.name, step.status) == ("timestamp", PASS)
    assert "the checkpoint existed at" in step.detail


@pytest.mark.parametrize(
    ("note", "token"),
    [
        (NOTE.replace("\n5\n", "\n6\n"), None),  # another checkpoint
        (NOTE, "not base64!"),
        (NOTE, base64.b64encode(b"\x30\x03\x02\x01\x00").decode()),  # DER, not a token
    ],
)
def test_a_token_over_anything_else_fails(tsa, note, token):
    good, ca = tsa
    step = verify_checkpoint_timestamp(note, token or good, ca)
    assert step.status == FAIL and step.detail


def test_a_token_of_another_ca_fails(tsa, tmp_path):
    token, _ = tsa
    other = EmbeddedTSA(tmp_path)
    other.timestamp(b"x")  # creates its CA
    assert verify_checkpoint_timestamp(NOTE, token, (tmp_path / "ca.pem").read_bytes()).status == FAIL


def test_without_a_ca_the_token_is_not_checked(tsa):
    token, _ = tsa
    assert verify_checkpoint_timestamp(NOTE, token, None).status == SKIP
