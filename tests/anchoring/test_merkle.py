"""anchoring.merkle against every RFC 9162 vector, a literal RFC transcription, and properties.

The reference functions below transcribe RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1
(PROOF/SUBPROOF) literally: slow, recursive, obviously the spec. The fast functions must agree
with them everywhere.
"""

from __future__ import annotations

import hashlib

import pytest
from anchoring_vectors import load_vector, unhex
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring import merkle
from anchoring.errors import ProofError
from anchoring.merkle import (
    EMPTY_ROOT,
    NodeID,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

# --- Literal RFC 9162 reference ---------------------------------------------------------------


def _k(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf inputs ``d``."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) for 0 < m < n."""
    return ref_subproof(m, d, True)


def ref_verify_inclusion(leaf: bytes, index: int, size: int, proof, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 verification loop, literally."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- Helpers ---------------------------------------------------------------------------------


class Tree:
    """An in-memory tree over leaf inputs, exposing node hashes by NodeID."""

    def __init__(self, inputs: list[bytes]):
        self.inputs = inputs
        self.levels = [[leaf_hash(x) for x in inputs]]
        while len(self.levels[-1]) > 1:
            prev = self.levels[-1]
            self.levels.append([node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)])

    def node(self, node_id: NodeID) -> bytes:
        return self.levels[node_id.level][node_id.index]

    def root(self, size: int) -> bytes:
        return merkle.root_from_subtrees([self.node(i) for i in range_nodes(0, size)])


def evidence_inputs(n: int) -> list[bytes]:
    return [b"evidence-%d" % i for i in range(n)]


# --- Hasher vectors --------------------------------------------------------------------------

REFERENCE = load_vector("rfc6962_reference_tree.json")
REF_INPUTS = unhex(REFERENCE["leaf_inputs_hex"])


@pytest.mark.parametrize("case", REFERENCE["hasher_vectors"], ids=lambda c: c["desc"])
def test_hasher_vectors(case):
    if case["op"] == "empty_root":
        got = EMPTY_ROOT
    elif case["op"] == "leaf":
        got = leaf_hash(bytes.fromhex(case["input_hex"]))
    else:
        got = node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"]))
    assert got.hex() == case["expected_hex"]


def test_reference_tree_roots_and_nodes():
    hashes = [leaf_hash(x) for x in REF_INPUTS]
    for n, root_hex in enumerate(REFERENCE["roots_by_size_hex"]):
        assert root_from_leaves(hashes[:n]).hex() == root_hex
        assert ref_mth(REF_INPUTS[:n]).hex() == root_hex
    tree = Tree(REF_INPUTS)
    for level, row in enumerate(REFERENCE["node_hashes_by_level_hex"]):
        for index, h in enumerate(row):
            assert tree.node(NodeID(level, index)).hex() == h
    for level in range(4):
        width = 1 << level
        for index in range(8 >> level):
            got = merkle.perfect_root(hashes[index * width : (index + 1) * width])
            assert got == tree.node(NodeID(level, index))


# --- transparency-dev/merkle probes (must-fail ones included) -------------------------------

TD_INCLUSION = load_vector("tdmerkle_inclusion.json")["cases"]
TD_CONSISTENCY = load_vector("tdmerkle_consistency.json")["cases"]


def _inclusion_args(case):
    return (
        bytes.fromhex(case["leaf_hash_hex"]),
        case["leaf_index"],
        case["tree_size"],
        unhex(case["proof_hex"]),
        bytes.fromhex(case["root_hex"]),
    )


def _consistency_args(case):
    return (
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1_hex"]),
        bytes.fromhex(case["root2_hex"]),
        unhex(case["proof_hex"]),
    )


@pytest.mark.parametrize("case", [c for c in TD_INCLUSION if c["expect_valid"]], ids=lambda c: c["id"])
def test_tdmerkle_inclusion_valid(case):
    verify_inclusion(*_inclusion_args(case))


@pytest.mark.parametrize("case", [c for c in TD_INCLUSION if not c["expect_valid"]], ids=lambda c: c["id"])
def test_tdmerkle_inclusion_must_fail(case):
    with pytest.raises(ProofError):
        verify_inclusion(*_inclusion_args(case))


@pytest.mark.parametrize("case", [c for c in TD_CONSISTENCY if c["expect_valid"]], ids=lambda c: c["id"])
def test_tdmerkle_consistency_valid(case):
    verify_consistency(*_consistency_args(case))


@pytest.mark.parametrize("case", [c for c in TD_CONSISTENCY if not c["expect_valid"]], ids=lambda c: c["id"])
def test_tdmerkle_consistency_must_fail(case):
    with pytest.raises(ProofError):
        verify_consistency(*_consistency_args(case))


def test_tdmerkle_case_counts():
    assert sum(c["expect_valid"] for c in TD_INCLUSION) == 6 and len(TD_INCLUSION) == 98
    assert sum(c["expect_valid"] for c in TD_CONSISTENCY) == 6 and len(TD_CONSISTENCY) == 98


def test_tdmerkle_counts():
    assert len(TD_INCLUSION) == 98 and sum(c["expect_valid"] for c in TD_INCLUSION) == 6
    assert len(TD_CONSISTENCY) == 98 and sum(c["expect_valid"] for c in TD_CONSISTENCY) == 6


# --- Every proof of the reference tree -------------------------------------------------------

ALL_PROOFS = load_vector("generated_rfc9162_reference_tree_all_proofs.json")


@pytest.mark.parametrize(
    "case", ALL_PROOFS["inclusion"], ids=lambda c: f"{c['leaf_index']}-in-{c['tree_size']}"
)
def test_reference_tree_inclusion(case):
    tree = Tree(REF_INPUTS)
    index, size = case["leaf_index"], case["tree_size"]
    expected = unhex(case["proof_hex"])
    assert inclusion_proof(index, size, tree.node) == expected
    assert ref_path(index, REF_INPUTS[:size]) == expected
    leaf, root = bytes.fromhex(case["leaf_hash_hex"]), bytes.fromhex(case["root_hex"])
    verify_inclusion(leaf, index, size, expected, root)
    assert ref_verify_inclusion(leaf, index, size, expected, root)


@pytest.mark.parametrize("case", ALL_PROOFS["consistency"], ids=lambda c: f"{c['size1']}-to-{c['size2']}")
def test_reference_tree_consistency(case):
    tree = Tree(REF_INPUTS)
    s1, s2 = case["size1"], case["size2"]
    expected = unhex(case["proof_hex"])
    assert consistency_proof(s1, s2, tree.node) == expected
    assert ref_proof(s1, REF_INPUTS[:s2]) == expected
    verify_consistency(s1, s2, bytes.fromhex(case["root1_hex"]), bytes.fromhex(case["root2_hex"]), expected)


# --- Larger trees, up to 180,000 leaves ------------------------------------------------------

LARGER = load_vector("generated_rfc9162_larger_trees.json")


@pytest.fixture(scope="module")
def evidence_tree() -> Tree:
    return Tree(evidence_inputs(max(t["tree_size"] for t in LARGER["trees"])))


@pytest.mark.parametrize("tree_case", LARGER["trees"], ids=lambda t: f"size-{t['tree_size']}")
def test_larger_trees(tree_case, evidence_tree):
    size = tree_case["tree_size"]
    root = bytes.fromhex(tree_case["root_hex"])
    assert evidence_tree.root(size) == root
    assert root_from_leaves(evidence_tree.levels[0][:size]) == root
    for case in tree_case["inclusion"]:
        index, expected = case["leaf_index"], unhex(case["proof_hex"])
        assert inclusion_proof(index, size, evidence_tree.node) == expected
        verify_inclusion(evidence_tree.levels[0][index], index, size, expected, root)
    for case in tree_case["consistency"]:
        s1, expected = case["size1"], unhex(case["proof_hex"])
        assert consistency_proof(s1, size, evidence_tree.node) == expected
        verify_consistency(s1, size, bytes.fromhex(case["root1_hex"]), root, expected)


def test_larger_tree_180000_root_from_leaves(evidence_tree):
    case = next(t for t in LARGER["trees"] if t["tree_size"] == 180000)
    assert root_from_leaves(evidence_tree.levels[0][:180000]).hex() == case["root_hex"]


# --- Node coordinates ------------------------------------------------------------------------


def test_range_nodes_examples():
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 7) == [NodeID(2, 0), NodeID(1, 2), NodeID(0, 6)]
    assert range_nodes(3, 13) == [NodeID(0, 3), NodeID(2, 1), NodeID(2, 2), NodeID(0, 12)]
    with pytest.raises(ProofError):
        range_nodes(5, 4)


def test_inclusion_nodes_example():
    # Leaf 2 of 7 (RFC 9162 §2.1.5 example tree): d, [a b], then the ephemeral [e f g].
    nodes = inclusion_nodes(2, 7)
    assert nodes.ids == (NodeID(0, 3), NodeID(1, 0), NodeID(0, 6), NodeID(1, 2))
    assert (nodes.begin, nodes.end) == (2, 4)


def test_nodes_refuse_out_of_range():
    for index, size in [(0, 0), (5, 5), (-1, 3)]:
        with pytest.raises(ProofError):
            inclusion_nodes(index, size)
    for s1, s2 in [(0, 0), (0, 5), (6, 5)]:
        with pytest.raises(ProofError):
            consistency_nodes(s1, s2)
    assert consistency_nodes(5, 5).ids == ()


def test_perfect_root_refuses_other_widths():
    for n in (0, 3, 6):
        with pytest.raises(ProofError):
            merkle.perfect_root([b"x" * 32] * n)


# --- Properties: fast vs literal RFC ---------------------------------------------------------

_PROPERTY_INPUTS = evidence_inputs(300)
_PROPERTY_TREE = Tree(_PROPERTY_INPUTS)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_matches_reference(data):
    size = data.draw(st.integers(1, 300))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, _PROPERTY_TREE.node)
    assert proof == ref_path(index, _PROPERTY_INPUTS[:size])
    root = ref_mth(_PROPERTY_INPUTS[:size])
    leaf = leaf_hash(_PROPERTY_INPUTS[index])
    assert root_from_inclusion(leaf, index, size, proof) == root
    assert ref_verify_inclusion(leaf, index, size, proof, root)
    # Any other index or size must fail (the proof is bound to its position).
    other = data.draw(st.integers(0, size).filter(lambda o: o != index))
    with pytest.raises(ProofError):
        verify_inclusion(leaf, other, size, proof, root)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_consistency_matches_reference(data):
    size2 = data.draw(st.integers(2, 300))
    size1 = data.draw(st.integers(1, size2 - 1))
    proof = consistency_proof(size1, size2, _PROPERTY_TREE.node)
    assert proof == ref_proof(size1, _PROPERTY_INPUTS[:size2])
    root1, root2 = ref_mth(_PROPERTY_INPUTS[:size1]), ref_mth(_PROPERTY_INPUTS[:size2])
    verify_consistency(size1, size2, root1, root2, proof)
    # Tampering with any hash, or dropping/adding one, must fail.
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, root1, root2, bad)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, root1, root2, proof[:-1])
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, root1, root2, proof + [root1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=70))
def test_root_from_leaves_matches_reference(inputs):
    assert root_from_leaves([leaf_hash(x) for x in inputs]) == ref_mth(inputs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70))
def test_test_tree_matches_reference(inputs):
    assert Tree(inputs).root(len(inputs)) == ref_mth(inputs)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_range_nodes_cover_exactly(a, b):
    begin, end = min(a, b), max(a, b)
    ids = range_nodes(begin, end)
    position = begin
    for node in ids:
        lo, hi = node.coverage()
        assert lo == position
        position = hi
    assert position == end
    assert len(ids) <= 2 * 41
