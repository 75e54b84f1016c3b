"""anchoring.cosignature: C2SP cosignature/v1 against OpenSSL-made known answers, must-fail cases
and a round trip through OpenSSL's own Ed25519 verification."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from anchoring_vectors import load_vector
from hypothesis import given
from hypothesis import strategies as st
from support import need

from anchoring.cosignature import (
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    cosign,
    cosignature_key_id,
    note_text,
    signed_message,
    valid_cosignatures,
    with_cosignatures,
)
from anchoring.errors import KeyFileError, SignatureError
from anchoring.notes import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint, verify_checkpoint

V = load_vector("cosignature_v1.json")
CHECKPOINT = load_vector("generated_checkpoint_and_tlog_proof.json")
SEED = bytes.fromhex(V["test_private_seed_hex"])
SIGNER = CosignatureSigner.from_seed(V["name"], SEED)
VERIFIER = CosignatureVerifier.parse(V["vkey"])


def test_key_and_key_id_match_the_vector():
    assert SIGNER.public_key.hex() == V["public_key_hex"]
    assert SIGNER.key_id.hex() == V["key_id_hex"]
    assert str(SIGNER.verifier()) == V["vkey"] == str(VERIFIER)
    assert cosignature_key_id(V["name"], SIGNER.public_key).hex() == V["key_id_hex"]


def test_key_id_uses_type_0x04_not_the_note_type():
    note_key = NoteSigner.from_seed(V["name"], SEED)
    assert note_key.public_key == SIGNER.public_key
    assert note_key.key_id != SIGNER.key_id
    with pytest.raises(SignatureError, match="0x04"):
        CosignatureVerifier.parse(str(note_key.verifier()))
    with pytest.raises(SignatureError):
        NoteVerifier.parse(V["vkey"])


@pytest.mark.parametrize("case", V["cases"], ids=lambda c: str(c["timestamp"]))
def test_known_answers(case):
    body, timestamp = case["checkpoint_body"], case["timestamp"]
    assert signed_message(body, timestamp).hex() == case["signed_message_hex"]
    made = cosign(body, SIGNER, timestamp)
    assert made.line() == case["signature_line"] + "\n"  # Ed25519 is deterministic
    parsed = Cosignature.parse_line(case["signature_line"])
    assert parsed == made and parsed.timestamp == timestamp
    assert VERIFIER.verify(body, parsed)


@pytest.mark.parametrize("case", V["negative_cases"], ids=lambda c: c["desc"])
def test_must_fail(case):
    body = case.get("checkpoint_body", V["cases"][0]["checkpoint_body"])
    try:
        parsed = Cosignature.parse_line(case["signature_line"])
    except SignatureError:
        return  # refused at decoding: counts as failing
    assert not VERIFIER.verify(body, parsed)
    assert valid_cosignatures(body, [case["signature_line"]], [VERIFIER]) == {}


def test_spec_example_decodes():
    example = V["spec_example"]
    parsed = Cosignature.parse_line(example["signature_line"])
    assert parsed.name == "witness.example.com/w1"
    assert parsed.key_id.hex() == example["key_id_hex"]
    assert parsed.timestamp == example["timestamp"]
    assert parsed.line() == example["signature_line"] + "\n"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "- witness.example/w1 AAAA",
        "\u2014 witness.example/w1 not base64!",
        "\u2014 witness.example/w1 " + base64.b64encode(bytes(75)).decode(),  # one byte short
        "\u2014 witness.example/w1 " + base64.b64encode(bytes(77)).decode(),
        "\u2014 witness.example/w1 "
        + base64.b64encode(bytes(4) + b"\xff" * 8 + bytes(64)).decode(),  # > 2^63-1
        "\u2014 wit+ness " + base64.b64encode(bytes(76)).decode(),
        "\u2014 witness.example/w1 " + base64.b64encode(bytes(76)).decode().rstrip("="),
    ],
)
def test_malformed_lines_refused(line):
    with pytest.raises(SignatureError):
        Cosignature.parse_line(line)


def test_signed_message_refuses_bad_input():
    body = V["cases"][0]["checkpoint_body"]
    for timestamp in (-1, 2**63, 1.5):
        with pytest.raises(SignatureError):
            signed_message(body, timestamp)  # type: ignore[arg-type]
    for bad in ("no newline", "a\n\nb\n"):
        with pytest.raises(SignatureError):
            signed_message(bad, 1)


def test_private_key_string_round_trip_and_refusals():
    text = SIGNER.private_key_string()
    assert text.startswith(f"PRIVATE+KEY+{V['name']}+{V['key_id_hex']}+")
    assert CosignatureSigner.from_private_key_string(text).public_key == SIGNER.public_key
    assert base64.b64encode(SEED).decode()[:10] not in repr(SIGNER)
    note_key = NoteSigner.from_seed(V["name"], SEED).private_key_string()
    for bad in (note_key, "PRIVATE+KEY+x+00000000+AAAA", "hello", text.replace(V["key_id_hex"], "00000000")):
        with pytest.raises(KeyFileError) as info:
            CosignatureSigner.from_private_key_string(bad)
        assert base64.b64encode(SEED).decode() not in str(info.value)


def test_cosigned_checkpoint_still_verifies_as_the_logs_note():
    log_key = NoteSigner.from_seed(CHECKPOINT["origin"], bytes.fromhex(CHECKPOINT["test_private_seed_hex"]))
    note = CHECKPOINT["checkpoint"]
    body, _ = note_text(note)
    line = cosign(body, SIGNER, 1764892800).line()
    cosigned = with_cosignatures(note, [line, line])
    assert cosigned == note + line  # each line once
    assert verify_checkpoint(cosigned, log_key.verifier()).size == 8
    assert list(valid_cosignatures(body, note_text(cosigned)[1], [VERIFIER])) == [V["vkey"]]


def test_unknown_keys_ignored_and_each_witness_counts_once():
    body = V["cases"][0]["checkpoint_body"]
    other = CosignatureSigner.generate("witness.example.gob.pe/w2")
    stranger = CosignatureSigner.generate("someone/else")
    lines = [
        cosign(body, SIGNER, 10).line(),
        cosign(body, SIGNER, 11).line(),
        cosign(body, stranger, 12).line(),
        cosign(body, other, 13).line(),
        "\u2014 " + CHECKPOINT["origin"] + " garbage",
    ]
    found = valid_cosignatures(body, lines, [VERIFIER, other.verifier()])
    assert set(found) == {V["vkey"], str(other.verifier())}
    assert found[V["vkey"]].timestamp == 10


def test_same_key_under_another_name_does_not_verify():
    # The Ed25519 message does not commit to the cosigner name; the key ID does.
    body = V["cases"][0]["checkpoint_body"]
    line = cosign(body, SIGNER, 5).line()
    renamed = Cosignature.parse_line(line.replace(V["name"], "impostor/w1"))
    assert not VERIFIER.verify(body, renamed)


@given(
    size=st.integers(min_value=0, max_value=2**64),
    root=st.binary(min_size=32, max_size=32),
    timestamp=st.integers(min_value=0, max_value=2**63 - 1),
    flip=st.integers(min_value=0, max_value=75 * 8 - 1),
)
def test_round_trip_and_any_bit_flip_fails(size, root, timestamp, flip):
    body = Checkpoint("example.gob.pe/log", size, root).body()
    cosignature = cosign(body, SIGNER, timestamp)
    assert VERIFIER.verify(body, Cosignature.parse_line(cosignature.line()))
    raw = bytearray(cosignature.key_id + timestamp.to_bytes(8, "big") + cosignature.signature)
    raw[flip // 8] ^= 1 << (flip % 8)
    try:
        tampered = Cosignature.parse_line(f"\u2014 {V['name']} {base64.b64encode(bytes(raw)).decode()}")
    except SignatureError:
        return
    assert not VERIFIER.verify(body, tampered)


def test_openssl_verifies_our_cosignatures(tmp_path):
    """OpenSSL's Ed25519 (a second implementation) accepts what the module signs."""
    need(shutil.which("openssl") is not None, "openssl is not installed")
    body = (
        sign_checkpoint(
            Checkpoint("example.gob.pe/log", 42, bytes(range(32))), NoteSigner.generate("example.gob.pe/log")
        ).split("\n\n")[0]
        + "\n"
    )
    cosignature = cosign(body, SIGNER, 1764892800)
    public = tmp_path / "pub.der"
    public.write_bytes(bytes.fromhex("302a300506032b6570032100") + SIGNER.public_key)
    message, signature = tmp_path / "msg", tmp_path / "sig"
    message.write_bytes(signed_message(body, cosignature.timestamp))
    signature.write_bytes(cosignature.signature)
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-keyform", "DER", "-rawin"]
    ok = subprocess.run([*command, "-in", str(message), "-sigfile", str(signature)], capture_output=True)
    assert ok.returncode == 0, ok.stderr
    message.write_bytes(signed_message(body, cosignature.timestamp + 1))
    bad = subprocess.run([*command, "-in", str(message), "-sigfile", str(signature)], capture_output=True)
    assert bad.returncode != 0
