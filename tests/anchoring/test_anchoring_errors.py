"""Every public function of ``anchoring`` raises its documented member of the AnchoringError family
for bad input: never a bare ValueError, TypeError or KeyError of its own."""

from __future__ import annotations

import pytest
from anchoring_vectors import VECTORS

from anchoring import bundle, canonical, entries, keyfiles, merkle, notes, timestamps
from anchoring.chains import evm
from anchoring.chains.sqlite_db import SQLiteChainDB
from anchoring.errors import (
    AnchoringError,
    CanonicalError,
    ChainError,
    EntryError,
    KeyFileError,
    ProofError,
    SignatureError,
    TimestampError,
)

H = bytes(32)
CA_PEM = (VECTORS / "rfc3161" / "ca.pem").read_bytes()
SIGNER = notes.NoteSigner.from_seed("veraz.test/log", bytes(range(32)))

CASES = [
    # canonical JSON: values JCS cannot represent
    ("canonical nan", CanonicalError, lambda: canonical.canonical_json({"a": float("nan")})),
    ("canonical big int", CanonicalError, lambda: canonical.canonical_json({"a": 2**60})),
    ("canonical set", CanonicalError, lambda: canonical.canonical_json({"a": {1}})),
    ("canonical int key", CanonicalError, lambda: canonical.canonical_json({1: 2})),
    ("canonical surrogate key", CanonicalError, lambda: canonical.canonical_json({"\ud800": 1})),
    ("canonical sha256 bytes", CanonicalError, lambda: canonical.canonical_sha256(b"x")),
    # Merkle maths
    ("perfect root of 3", ProofError, lambda: merkle.perfect_root([H, H, H])),
    ("perfect root of none", ProofError, lambda: merkle.perfect_root([])),
    ("range backwards", ProofError, lambda: merkle.range_nodes(3, 1)),
    ("rehash count", ProofError, lambda: merkle.inclusion_nodes(0, 4).rehash([H])),
    ("inclusion index", ProofError, lambda: merkle.inclusion_nodes(4, 4)),
    ("consistency sizes", ProofError, lambda: merkle.consistency_nodes(5, 4)),
    ("inclusion short hash", ProofError, lambda: merkle.verify_inclusion(b"x", 0, 1, [], H)),
    ("inclusion length", ProofError, lambda: merkle.verify_inclusion(H, 0, 2, [], H)),
    ("consistency empty", ProofError, lambda: merkle.verify_consistency(1, 2, H, H, [])),
    # log entries
    ("entry not JSON", EntryError, lambda: entries.decode_entry(b"not json")),
    ("entry kind", EntryError, lambda: entries.decode_entry(b'{"kind":"nope","v":1}')),
    ("entry member", EntryError, lambda: entries.ReleaseEntry("o", "r", b"short", H)),
    ("entry text", EntryError, lambda: entries.ReleaseEntry("", "r", H, H)),
    ("entry encode", EntryError, lambda: entries.encode_entries([42])),
    ("entry member type", EntryError, lambda: entries.entry_member("x", "number")),
    ("entry kind again", EntryError, lambda: entries.register_entry_kind(entries.ReleaseEntry)),
    ("hash link", EntryError, lambda: entries.proformas_hash_link([b"short"])),
    # signed notes and checkpoints
    ("verifier key", SignatureError, lambda: notes.NoteVerifier.parse("no-plus-signs")),
    ("signer name", SignatureError, lambda: notes.NoteSigner.from_seed("a b", H)),
    ("signer seed", KeyFileError, lambda: notes.NoteSigner.from_seed("name", b"short")),
    ("private key string", KeyFileError, lambda: notes.NoteSigner.from_private_key_string("x")),
    ("note text", SignatureError, lambda: notes.sign_note("no newline", SIGNER)),
    ("note unsigned", SignatureError, lambda: notes.verify_note("text\n", SIGNER.verifier())),
    ("checkpoint root", SignatureError, lambda: notes.Checkpoint("o", 1, b"short")),
    ("checkpoint parse", SignatureError, lambda: notes.Checkpoint.parse("o\n01\nAAAA\n")),
    ("checkpoint verify", SignatureError, lambda: notes.verify_checkpoint("o\n1\n\n", SIGNER.verifier())),
    # proof bundles
    ("bundle not JSON", bundle.BundleError, lambda: bundle.ProofBundle.from_json(b"{")),
    ("bundle version", bundle.BundleError, lambda: bundle.ProofBundle.from_json(b'{"version":2}')),
    # EVM anchoring
    ("anchor record", ChainError, lambda: evm.EvmAnchor.from_dict({"nope": 1})),
    (
        "anchorer confirmations",
        ChainError,
        lambda: evm.EvmAnchorer(None, "0x" + "00" * 20, None, confirmations=0),
    ),  # type: ignore[arg-type]
    ("chain db outside opening()", ChainError, lambda: SQLiteChainDB()),
    # RFC 3161
    ("timestamp response", TimestampError, lambda: timestamps.TimestampToken.from_der(b"\x30\x00")),
    ("timestamp verify", TimestampError, lambda: timestamps.verify_timestamp(b"garbage", b"data", CA_PEM)),
]


@pytest.mark.parametrize(("error", "call"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_the_documented_error(error, call):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, AnchoringError)


def test_key_file_errors(tmp_path):
    path = tmp_path / "log.key"
    path.write_text("PRIVATE+KEY+garbage\n")
    path.chmod(0o600)
    with pytest.raises(KeyFileError):
        keyfiles.load_or_create_note_signer(path, "veraz.test/log")
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        keyfiles.read_private(path)


def test_canonical_error_is_still_a_value_error():
    """Callers written against rfc8785's ValueError keep working."""
    with pytest.raises(ValueError):
        canonical.canonical_json({"a": float("inf")})
