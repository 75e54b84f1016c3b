"""The optional ``cosignatures`` of a proof bundle (docs/proof-format.md, docs/witnesses.md):
byte-exact round trip, what the schema and the parser refuse, and the ``witnesses`` step."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator
from test_bundle import make_bundle

from anchoring.bundle import FAIL, PASS, SKIP, BundleError, ProofBundle, witness_step
from anchoring.cosignature import CosignatureSigner, cosign, note_text

DOCS = Path(__file__).resolve().parents[2] / "docs"
VALIDATORS = [
    Draft202012Validator(json.loads((DOCS / name).read_text()))
    for name in ("proof-bundle.schema.json", "proforma-proof-bundle.schema.json")
]
W1 = CosignatureSigner.from_seed("witness.test/w1", bytes(range(32)))
W2 = CosignatureSigner.from_seed("witness.test/w2", bytes(range(1, 33)))
W3 = CosignatureSigner.from_seed("witness.test/w3", bytes(range(2, 34)))


def cosigned(*signers: CosignatureSigner) -> ProofBundle:
    bundle = make_bundle()
    assert bundle.checkpoint is not None
    text, _ = note_text(bundle.checkpoint)
    lines = tuple(cosign(text, s, 1764892800 + i).line().rstrip("\n") for i, s in enumerate(signers))
    return dataclasses.replace(bundle, cosignatures=lines)


def test_round_trip_and_schema():
    bundle = cosigned(W1, W2)
    data = bundle.to_json()
    obj = orjson.loads(data)
    assert list(obj)[-1] == "cosignatures" and len(obj["cosignatures"]) == 2
    for validator in VALIDATORS[:1]:
        assert list(validator.iter_errors(obj)) == []
    assert ProofBundle.from_json(data) == bundle and ProofBundle.from_json(data).to_json() == data
    assert "cosignatures" not in orjson.loads(make_bundle().to_json())  # unchanged without witnesses


@pytest.mark.parametrize(
    "value",
    [
        [],
        "— witness.test/w1 AAAA",
        [1],
        ["not a signature line"],
        ["— witness.test/w1 AAAA"],
        ["\u2014 witness.test/w1 " + "A" * 102 + "==\n"],
        "dup",
    ],
    ids=["empty", "string", "number", "no dash", "short", "newline", "duplicate"],
)
def test_malformed_cosignatures_refused(value):
    obj = orjson.loads(cosigned(W1).to_json())
    obj["cosignatures"] = obj["cosignatures"] * 2 if value == "dup" else value
    for validator in VALIDATORS:
        assert list(validator.iter_errors(obj)) != [], "the schema accepts it: the case is wrong"
    with pytest.raises(BundleError):
        ProofBundle.from_dict(obj)


def test_a_pending_bundle_carries_none():
    obj = orjson.loads(make_bundle("pending").to_json())
    obj["cosignatures"] = [cosigned(W1).cosignatures[0]]
    assert list(VALIDATORS[0].iter_errors(obj)) != []
    with pytest.raises(BundleError):
        ProofBundle.from_dict(obj)


def keys(*signers):
    return [str(s.verifier()) for s in signers]


def test_witness_step():
    bundle = cosigned(W1, W2)
    ((step),) = witness_step(bundle, keys(W1, W2))
    assert step.status == PASS and "2 of 2" in step.detail
    assert witness_step(bundle, keys(W1, W2, W3))[0].status == FAIL
    assert witness_step(bundle, keys(W1, W2, W3), 2)[0].status == PASS
    assert witness_step(bundle, keys(W3), 1)[0].status == FAIL
    assert witness_step(bundle, [])[0].status == SKIP
    assert witness_step(make_bundle(), []) == []
    assert witness_step(make_bundle(), keys(W1))[0].status == FAIL
    assert witness_step(bundle, ["not a key"])[0].status == FAIL


def test_a_cosignature_of_another_checkpoint_does_not_count():
    other = make_bundle()
    text, _ = note_text(other.checkpoint)
    wrong = text.replace("\n", "\n", 1).split("\n")
    wrong[1] = str(int(wrong[1]) + 1)
    line = cosign("\n".join(wrong), W1, 5).line().rstrip("\n")
    bundle = dataclasses.replace(other, cosignatures=(line,))
    assert witness_step(bundle, keys(W1))[0].status == FAIL
