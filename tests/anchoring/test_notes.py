"""anchoring.notes: C2SP signed notes and checkpoints against the official and generated vectors."""

from __future__ import annotations

import pytest
from anchoring_vectors import load_vector

from anchoring.errors import SignatureError
from anchoring.notes import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    key_id,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
)

C2SP = load_vector("c2sp_signed_note_example.json")
CHECKPOINT = load_vector("generated_checkpoint_and_tlog_proof.json")
TEST_SEED = bytes.fromhex(CHECKPOINT["test_private_seed_hex"])


# --- Official C2SP example --------------------------------------------------------------------


def test_c2sp_example_verifies():
    assert verify_note(C2SP["full_note"], C2SP["vkey"]) == C2SP["note_text"]
    assert C2SP["full_note"] == C2SP["note_text"] + "\n" + C2SP["signature_line"] + "\n"


def test_c2sp_example_key_id():
    verifier = NoteVerifier.parse(C2SP["vkey"])
    assert verifier.key_id.hex() == "530d903a"
    assert key_id(verifier.name, verifier.public_key) == verifier.key_id
    assert str(verifier) == C2SP["vkey"]


@pytest.mark.parametrize("case", C2SP["negative_cases"], ids=lambda c: c["desc"])
def test_c2sp_negative_cases(case):
    note = case["note_text"] + "\n" + C2SP["signature_line"] + "\n"
    with pytest.raises(SignatureError):
        verify_note(note, C2SP["vkey"])


# --- Generated checkpoint ---------------------------------------------------------------------


def test_checkpoint_vector_reproduced_from_seed():
    signer = NoteSigner.from_seed(CHECKPOINT["origin"], TEST_SEED)
    assert str(signer.verifier()) == CHECKPOINT["vkey"]
    checkpoint = Checkpoint(
        CHECKPOINT["origin"], CHECKPOINT["tree_size"], bytes.fromhex(CHECKPOINT["root_hex"])
    )
    # Ed25519 is deterministic: the same key and body give the same bytes.
    assert sign_checkpoint(checkpoint, signer) == CHECKPOINT["checkpoint"]


def test_checkpoint_vector_verifies():
    checkpoint = verify_checkpoint(CHECKPOINT["checkpoint"], CHECKPOINT["vkey"])
    assert checkpoint == Checkpoint(CHECKPOINT["origin"], 8, bytes.fromhex(CHECKPOINT["root_hex"]))


@pytest.mark.parametrize("case", CHECKPOINT["negative_cases"], ids=lambda c: c["desc"])
def test_checkpoint_negative_cases(case):
    with pytest.raises(SignatureError):
        verify_checkpoint(case["checkpoint"], CHECKPOINT["vkey"])


def test_tlog_proof_vector_checkpoint_part():
    """The checkpoint embedded in the c2sp.org/tlog-proof@v1 vector verifies too."""
    text = CHECKPOINT["tlog_proof"]["text"]
    embedded = text[text.index("\n\n") + 2 :]
    assert verify_checkpoint(embedded, CHECKPOINT["vkey"]).size == 8


# --- Signing and verification behaviour -------------------------------------------------------


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.from_seed("veraz.test/log", bytes(range(32)))


def test_round_trip_and_other_signatures_ignored(signer):
    other = NoteSigner.generate("witness.example/w1")
    note = sign_note("hello\n", signer)
    assert verify_note(note, str(signer.verifier())) == "hello\n"
    # Add a cosignature by another key: still verifies for both keys.
    cosigned = note + sign_note("hello\n", other).split("\n\n", 1)[1]
    assert verify_note(cosigned, signer.verifier()) == "hello\n"
    assert verify_note(cosigned, other.verifier()) == "hello\n"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("hello", "hellO"),
        lambda n: n[:-1],
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n.replace("\u2014 ", "- "),
        lambda n: n + "garbage\n",
        lambda n: n.replace("veraz.test/log ", "veraz.test/other "),
    ],
)
def test_tampered_notes_fail(signer, mutate):
    with pytest.raises(SignatureError):
        verify_note(mutate(sign_note("hello\n", signer)), signer.verifier())


def test_wrong_key_fails(signer):
    note = sign_note("hello\n", signer)
    impostor = NoteSigner.generate("veraz.test/log")
    with pytest.raises(SignatureError, match="not signed"):
        verify_note(note, impostor.verifier())


@pytest.mark.parametrize("text", ["no newline", "a\n\nb\n", "tab\there\n", "\n"])
def test_sign_refuses_bad_text(signer, text):
    with pytest.raises(SignatureError):
        sign_note(text, signer)


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/foo",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "exam ple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_verifier_keys(vkey):
    with pytest.raises(SignatureError):
        NoteVerifier.parse(vkey)


def test_checkpoint_body_and_parse():
    cp = Checkpoint("veraz.test/log", 42, bytes(32), ("ext line",))
    assert cp.body() == "veraz.test/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next line\n"
    assert Checkpoint.parse(cp.body()) == cp


@pytest.mark.parametrize(
    "body",
    [
        "o\n042\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAA\n",
        "o\n1\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
    ],
)
def test_checkpoint_parse_rejects(body):
    with pytest.raises(SignatureError):
        Checkpoint.parse(body)


def test_checkpoint_origin_must_match_key(signer):
    other = Checkpoint("someone.else/log", 1, bytes(32))
    with pytest.raises(SignatureError):
        sign_checkpoint(other, signer)
    note = sign_note(other.body(), signer)
    with pytest.raises(SignatureError, match="origin"):
        verify_checkpoint(note, signer.verifier())


# --- Keys ---------------------------------------------------------------------------------------


def test_repr_does_not_reveal_secret(signer):
    secret = signer.private_key_string().rsplit("+", 1)[1]
    for text in (repr(signer), str(signer), repr(signer.verifier()), f"{signer}"):
        assert secret not in text
        assert bytes(range(32)).hex() not in text
    assert "veraz.test/log" in repr(signer)


def test_private_key_string_round_trip(signer):
    again = NoteSigner.from_private_key_string(signer.private_key_string())
    assert again.public_key == signer.public_key
