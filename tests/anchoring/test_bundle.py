"""anchoring.bundle on its own: the proof bundle of docs/proof-format.md ("Proof bundle") and
docs/proof-bundle.schema.json. Byte-exact round trips, then must-fail cases: each field missing,
of the wrong type, bad hex, wrong lengths, unknown fields and versions, trailing data, and proofs
that parse but must not verify (truncated, too long, for another leaf)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from anchoring.bundle import (
    FAIL,
    PASS,
    SKIP,
    AnchorRecord,
    BundleError,
    ProformaRef,
    ProofBundle,
    release_hash,
    verify_bundle,
)
from anchoring.entries import ReleaseEntry, encode_entry, proformas_hash_link
from anchoring.merkle import inclusion_proof, leaf_hash, perfect_root, root_from_leaves
from anchoring.notes import Checkpoint, NoteSigner, sign_checkpoint

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "proof-bundle.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
SIGNER = NoteSigner.from_seed("veraz.test/log", hashlib.sha256(b"test_bundle TEST key").digest())

RELEASE = {
    "ocid": "ocds-test01-42",
    "id": "ocds-test01-42-01",
    "date": "2025-03-04T10:00:00Z",
    "tag": ["contract"],
    "bids": {"details": [{"id": "PF-1"}, {"id": "PF-2"}]},
}
PROFORMAS = {
    "PF-1": hashlib.sha256(b'{"id":"PF-1"}').hexdigest(),
    "PF-2": hashlib.sha256(b'{"id":"PF-2"}').hexdigest(),
}
DOCUMENT = b"%PDF-1.4 the order's PDF\n"
INDEX, SIZE = 5, 11

EVM = {
    "type": "evm",
    "status": "done",
    "chainId": 1337,
    "contract": "0x" + "aB" * 20,
    "txHash": "0x" + "12" * 32,
    "blockNumber": 7,
    "blockTime": 1764000000,
    "root": "00" * 32,
    "treeSize": SIZE,
    "sender": "0x" + "cd" * 20,
    "explorerUrl": None,
}
TSA = {
    "type": "rfc3161",
    "status": "done",
    "token": base64.b64encode(b"DER token").decode(),
    "genTime": "2025-03-04T10:30:00Z",
    "tsa": "CN=Veraz test TSA",
}
PENDING = {"type": "evm", "status": "pending", "attempts": 2, "nextAttemptAt": "2025-03-04T11:00:00Z"}


def _leaves() -> tuple[bytes, list[bytes]]:
    """The release's entry and the leaf hashes of a log of SIZE entries holding it at INDEX."""
    entry = encode_entry(
        ReleaseEntry(
            RELEASE["ocid"],
            RELEASE["id"],
            bytes.fromhex(release_hash(RELEASE)),
            proformas_hash_link([bytes.fromhex(h) for h in PROFORMAS.values()]),
            hashlib.sha256(DOCUMENT).digest(),
        )
    )
    others = [encode_entry(ReleaseEntry(f"ocds-test01-{i}", "r", bytes(32), bytes(32))) for i in range(SIZE)]
    return entry, [leaf_hash(entry if i == INDEX else others[i]) for i in range(SIZE)]


def _node(leaves: list[bytes]):
    def get(node) -> bytes:
        begin, end = node.coverage()
        return perfect_root(leaves[begin:end])

    return get


def make_bundle(status: str = "complete", anchors=(EVM, TSA)) -> ProofBundle:
    entry, leaves = _leaves()
    common = dict(
        ocid=RELEASE["ocid"],
        release_id=RELEASE["id"],
        hashes={
            "data": release_hash(RELEASE),
            "document": hashlib.sha256(DOCUMENT).hexdigest(),
            "proformas": proformas_hash_link([bytes.fromhex(h) for h in PROFORMAS.values()]).hex(),
        },
        proformas=tuple(ProformaRef(k, v) for k, v in PROFORMAS.items()),
        entry=entry,
        leaf_index=INDEX,
        leaf_hash=leaves[INDEX],
    )
    if status == "pending":
        return ProofBundle(status="pending", **common)
    root = root_from_leaves(leaves)
    return ProofBundle(
        status="complete",
        tree_size=SIZE,
        inclusion_proof=tuple(inclusion_proof(INDEX, SIZE, _node(leaves))),
        checkpoint=sign_checkpoint(Checkpoint(SIGNER.name, SIZE, root), SIGNER),
        key=str(SIGNER.verifier()),
        anchors=tuple(
            AnchorRecord.from_dict(
                {**a, "root": root.hex()} if a["type"] == "evm" and a["status"] == "done" else a
            )
            for a in anchors
        ),
        **common,
    )


COMPLETE = make_bundle().to_json()
PENDING_BUNDLE = make_bundle("pending").to_json()


# --- Round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [COMPLETE, PENDING_BUNDLE, make_bundle(anchors=(PENDING,)).to_json(), make_bundle(anchors=()).to_json()],
    ids=["complete", "pending", "pending-anchor", "no-anchors"],
)
def test_bytes_value_bytes_is_exact(data):
    value = ProofBundle.from_json(data)
    assert value.to_json() == data
    assert ProofBundle.from_json(value.to_json()) == value
    assert ProofBundle.from_dict(orjson.loads(data)) == value
    assert list(VALIDATOR.iter_errors(orjson.loads(data))) == []


def test_value_bytes_value_is_exact():
    value = make_bundle()
    assert ProofBundle.from_json(value.to_json()) == value
    assert ProofBundle.from_json(value.to_json().decode()) == value  # str input too


def test_fields_in_the_documented_order():
    assert list(orjson.loads(COMPLETE)) == [
        "version",
        "status",
        "ocid",
        "releaseId",
        "hashes",
        "proformas",
        "entry",
        "leafIndex",
        "leafHash",
        "treeSize",
        "inclusionProof",
        "checkpoint",
        "key",
        "anchors",
    ]
    assert list(orjson.loads(PENDING_BUNDLE)) == list(orjson.loads(COMPLETE))[:9]


def test_a_valid_bundle_verifies_step_by_step():
    steps = verify_bundle(
        ProofBundle.from_json(COMPLETE), release=RELEASE, document=DOCUMENT, pinned_key=str(SIGNER.verifier())
    )
    assert [(s.name, s.status) for s in steps] == [
        ("release-hash", PASS),
        ("document-hash", PASS),
        ("proformas-hash-link", PASS),
        ("entry", PASS),
        ("leaf-hash", PASS),
        ("checkpoint-signature", PASS),
        ("inclusion", PASS),
    ]
    skipped = verify_bundle(ProofBundle.from_json(COMPLETE))
    assert [s.status for s in skipped[:2]] == [SKIP, SKIP]


# --- Must fail to parse: BundleError, and the schema refuses the same JSON ----------------------


def _without(path):
    def change(obj):
        *parents, last = path
        node = obj
        for key in parents:
            node = node[key]
        del node[last]

    return change


def _set(path, value):
    def change(obj):
        *parents, last = path
        node = obj
        for key in parents:
            node = node[key]
        node[last] = value

    return change


REQUIRED = [
    "version",
    "status",
    "ocid",
    "releaseId",
    "hashes",
    "proformas",
    "entry",
    "leafIndex",
    "leafHash",
    "treeSize",
    "inclusionProof",
    "checkpoint",
    "key",
    "anchors",
]
HEX = "ab" * 32

MUST_FAIL = {
    **{f"missing {name}": _without([name]) for name in REQUIRED},
    **{f"missing hashes.{name}": _without(["hashes", name]) for name in ("data", "document", "proformas")},
    "missing entry.base64": _without(["entry", "base64"]),
    "missing entry.kind": _without(["entry", "kind"]),
    "missing proforma id": _without(["proformas", 0, "id"]),
    "missing proforma hash": _without(["proformas", 0, "hash"]),
    "missing anchor txHash": _without(["anchors", 0, "txHash"]),
    "missing anchor token": _without(["anchors", 1, "token"]),
    # wrong types
    "version as text": _set(["version"], "1"),
    "version true": _set(["version"], True),
    "status number": _set(["status"], 1),
    "ocid number": _set(["ocid"], 42),
    "ocid empty": _set(["ocid"], ""),
    "releaseId null": _set(["releaseId"], None),
    "hashes list": _set(["hashes"], [HEX]),
    "proformas object": _set(["proformas"], {}),
    "proforma not object": _set(["proformas", 0], HEX),
    "entry text": _set(["entry"], "eyJ9"),
    "entry kind proforma": _set(["entry", "kind"], "proforma"),
    "entry base64 number": _set(["entry", "base64"], 5),
    "leafIndex text": _set(["leafIndex"], "5"),
    "leafIndex bool": _set(["leafIndex"], True),
    "leafIndex negative": _set(["leafIndex"], -1),
    "treeSize zero": _set(["treeSize"], 0),
    "treeSize text": _set(["treeSize"], "11"),
    "inclusionProof text": _set(["inclusionProof"], HEX),
    "checkpoint empty": _set(["checkpoint"], ""),
    "checkpoint list": _set(["checkpoint"], ["x"]),
    "key number": _set(["key"], 1),
    "key malformed": _set(["key"], "veraz.test/log+XYZ+AAAA"),
    "anchors object": _set(["anchors"], {}),
    "anchor not object": _set(["anchors", 0], "evm"),
    "anchor type": _set(["anchors", 0, "type"], "bitcoin"),
    "anchor status": _set(["anchors", 0, "status"], "failed"),
    "anchor chainId text": _set(["anchors", 0, "chainId"], "1337"),
    "anchor chainId zero": _set(["anchors", 0, "chainId"], 0),
    "anchor blockNumber negative": _set(["anchors", 0, "blockNumber"], -1),
    "anchor contract short": _set(["anchors", 0, "contract"], "0x1234"),
    "anchor txHash uppercase": _set(["anchors", 0, "txHash"], "0x" + "AB" * 32),
    "anchor root short": _set(["anchors", 0, "root"], "ab" * 31),
    "anchor explorerUrl number": _set(["anchors", 0, "explorerUrl"], 3),
    "anchor token empty": _set(["anchors", 1, "token"], ""),
    "pending anchor attempts negative": _set(["anchors", 0], {**PENDING, "attempts": -1}),
    # bad hex and wrong lengths
    **{
        f"{where} {what}": _set(path, value)
        for where, path in [
            ("hashes.data", ["hashes", "data"]),
            ("hashes.proformas", ["hashes", "proformas"]),
            ("hashes.document", ["hashes", "document"]),
            ("leafHash", ["leafHash"]),
            ("proforma hash", ["proformas", 0, "hash"]),
            ("inclusionProof[0]", ["inclusionProof", 0]),
        ]
        for what, value in [
            ("uppercase", "AB" * 32),
            ("not hex", "zz" * 32),
            ("63 digits", HEX[:-1]),
            ("62 digits", HEX[:-2]),
            ("66 digits", HEX + "ab"),
            ("0x prefix", "0x" + HEX[2:]),
            ("empty", ""),
            ("number", 12),
        ]
    },
    # unknown fields and versions
    "version 2": _set(["version"], 2),
    "version 0": _set(["version"], 0),
    "unknown top-level field": _set(["note"], "hello"),
    "unknown hashes field": _set(["hashes", "md5"], HEX),
    "unknown entry field": _set(["entry", "hex"], "00"),
    "unknown proforma field": _set(["proformas", 0, "date"], "2025"),
    "unknown anchor field": _set(["anchors", 0, "gasUsed"], 24500),
    "status unknown": _set(["status"], "sealed"),
}


@pytest.mark.parametrize("change", MUST_FAIL.values(), ids=MUST_FAIL.keys())
def test_must_fail_to_parse(change):
    obj = orjson.loads(COMPLETE)
    change(obj)
    assert list(VALIDATOR.iter_errors(obj)) != [], "the schema accepts it: the case is wrong"
    with pytest.raises(BundleError):
        ProofBundle.from_dict(copy.deepcopy(obj))
    with pytest.raises(BundleError):
        ProofBundle.from_json(orjson.dumps(obj))


# Where JSON Schema cannot say it: contentEncoding is only an annotation in 2020-12, and its
# "integer" admits 5.0, which would not survive the byte-exact round trip.
MUST_FAIL_BEYOND_SCHEMA = {
    "leafIndex float": _set(["leafIndex"], 5.0),
    "treeSize float": _set(["treeSize"], 11.0),
    "entry base64 invalid": _set(["entry", "base64"], "not*base64"),
    "entry base64 unpadded": _set(["entry", "base64"], "eyJ9"[:3]),
    "anchor token not base64": _set(["anchors", 1, "token"], "not base64!"),
}


@pytest.mark.parametrize("change", MUST_FAIL_BEYOND_SCHEMA.values(), ids=MUST_FAIL_BEYOND_SCHEMA.keys())
def test_must_fail_to_parse_beyond_the_schema(change):
    obj = orjson.loads(COMPLETE)
    change(obj)
    with pytest.raises(BundleError):
        ProofBundle.from_dict(obj)


@pytest.mark.parametrize("field", ["treeSize", "inclusionProof", "checkpoint", "anchors", "key"])
def test_a_pending_bundle_has_none_of_the_proof_fields(field):
    obj = orjson.loads(PENDING_BUNDLE)
    obj[field] = orjson.loads(COMPLETE)[field]
    with pytest.raises(BundleError, match="unknown field"):
        ProofBundle.from_dict(obj)


@pytest.mark.parametrize(
    "data",
    [
        COMPLETE + b"x",
        COMPLETE + b"{}",
        COMPLETE[:-1],
        COMPLETE[: len(COMPLETE) // 2],
        b"",
        b"null",
        b"[]",
        b"1",
        COMPLETE.replace(b'"version": 1', b'"version": 1, "version": 1', 1) + b"]",
        b"\xff" + COMPLETE,
    ],
    ids=[
        "trailing text",
        "trailing object",
        "cut last byte",
        "cut in half",
        "empty",
        "null",
        "array",
        "number",
        "trailing bracket",
        "not UTF-8",
    ],
)
def test_not_one_json_object_fails(data):
    with pytest.raises(BundleError):
        ProofBundle.from_json(data)


# --- Parse, but must not verify: the step that fails is named ------------------------------------


def _verify(change) -> dict[str, str]:
    obj = orjson.loads(COMPLETE)
    change(obj)
    bundle = ProofBundle.from_dict(obj)
    return {s.name: s.status for s in verify_bundle(bundle, release=RELEASE, document=DOCUMENT)}


@pytest.mark.parametrize(
    ("change", "step"),
    [
        (lambda o: o["inclusionProof"].pop(), "inclusion"),  # truncated
        (lambda o: o["inclusionProof"].clear(), "inclusion"),
        (lambda o: o["inclusionProof"].append(HEX), "inclusion"),  # too long
        (lambda o: o["inclusionProof"].reverse(), "inclusion"),
        (lambda o: o.update(leafIndex=INDEX + 1), "inclusion"),
        (lambda o: o.update(leafIndex=SIZE), "inclusion"),
        (lambda o: o.update(treeSize=SIZE + 1), "inclusion"),
        (lambda o: o.update(leafHash=HEX), "leaf-hash"),
        (lambda o: o["hashes"].update(data=HEX), "release-hash"),
        (lambda o: o["hashes"].update(data=HEX), "entry"),
        (lambda o: o["hashes"].update(document=None), "document-hash"),
        (lambda o: o["proformas"].pop(), "proformas-hash-link"),
        (lambda o: o["entry"].update(base64=base64.b64encode(b'{"kind":"release"}').decode()), "entry"),
        (lambda o: o.update(checkpoint=o["checkpoint"].replace("\n11\n", "\n12\n")), "checkpoint-signature"),
        (
            lambda o: o.update(key=str(NoteSigner.from_seed("veraz.test/log", bytes(32)).verifier())),
            "checkpoint-signature",
        ),
        (lambda o: o.update(ocid="ocds-test01-43"), "release-hash"),
    ],
    ids=[
        "truncated proof",
        "empty proof",
        "proof too long",
        "proof reversed",
        "other leaf index",
        "index beyond size",
        "other tree size",
        "leaf hash",
        "data hash vs release",
        "data hash vs entry",
        "document hash null",
        "a proforma left out",
        "other entry",
        "altered checkpoint",
        "other key",
        "other ocid",
    ],
)
def test_must_not_verify(change, step):
    assert _verify(change)[step] == FAIL


def test_a_pending_bundle_never_verifies():
    steps = {s.name: s.status for s in verify_bundle(ProofBundle.from_json(PENDING_BUNDLE))}
    assert (steps["checkpoint-signature"], steps["inclusion"]) == (FAIL, FAIL)
