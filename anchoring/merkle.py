"""RFC 9162 Merkle tree hashing and proofs, as small pure functions.

PROOF-CRITICAL: changing anything here breaks proofs already issued.

Hashing is RFC 9162 §2.1.1 (identical to RFC 6962 §2.1) with SHA-256::

    MTH({})      = SHA-256()                                  (EMPTY_ROOT)
    leaf hash    = SHA-256(0x00 || leaf input)                (leaf_hash)
    node hash    = SHA-256(0x01 || left || right)             (node_hash)
    MTH(D[n])    = node_hash(MTH(D[0:k]), MTH(D[k:n])), k = largest power of two < n

The proof functions follow transparency-dev/merkle (``proof`` and ``compact`` packages):
*which* nodes a proof needs is computed apart from hashing them (``inclusion_nodes``,
``consistency_nodes``), so a log can serve proofs from stored node hashes without loading
the tree. A node is named by its coordinates ``NodeID(level, index)``: the perfect subtree
over leaves ``[index * 2**level, (index + 1) * 2**level)``. Every proof hash is either such a
node or, at most once per proof, the "ephemeral" root of an incomplete subtree on the right
edge of the tree, which is the MTH of a few perfect subtrees (``ProofNodes.rehash``).

Verification (``verify_inclusion``, ``verify_consistency``) applies the semantics of
transparency-dev/merkle, which ``tests/anchoring/vectors/README.md`` spells out: every hash
must be exactly 32 bytes, the proof length must equal the length implied by the sizes,
``size1 == size2`` is valid only with an empty proof and equal roots, ``size1 == 0`` is
never valid (a consistency proof from the empty tree is meaningless).
"""

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from anchoring.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "NodeID",
    "ProofNodes",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "perfect_root",
    "range_nodes",
    "root_from_consistency",
    "root_from_inclusion",
    "root_from_leaves",
    "root_from_subtrees",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash (SHA-256)."""

_LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: domain separation of leaves ...
_NODE_PREFIX = b"\x01"  # ... from interior nodes (second-preimage resistance)

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree whose ``2**k`` children (leaf or node hashes) are ``hashes``."""
    n = len(hashes)
    if n == 0 or n & (n - 1):
        raise ProofError(f"a perfect subtree has a power-of-two width, not {n}")
    level = list(hashes)
    sha = _sha256
    while len(level) > 1:
        it = iter(level)
        level = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
    return level[0]


def root_from_subtrees(hashes: Sequence[bytes]) -> bytes:
    """MTH of a tree given the roots of its perfect subtrees from left to right.

    ``hashes`` are the hashes of ``range_nodes(0, n)`` (strictly decreasing sizes). By the
    RFC 9162 §2.1.1 split rule the MTH folds them from the right: H(a, H(b, c)).
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_from_leaves(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves given by their leaf hashes (RFC 9162 §2.1.1).

    Level by level: pairs are hashed and an unpaired last node is carried up unchanged,
    which yields the same tree as the recursive split at the largest power of two < n.
    """
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    sha = _sha256
    while len(level) > 1:
        carry = level.pop() if len(level) & 1 else None
        it = iter(level)
        level = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
        if carry is not None:
            level.append(carry)
    return level[0]


# --- Node coordinates ---------------------------------------------------------------------


@dataclass(frozen=True, order=True, slots=True)
class NodeID:
    """The perfect subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``."""

    level: int
    index: int

    def sibling(self) -> "NodeID":
        """The other child of this node's parent."""
        return NodeID(self.level, self.index ^ 1)

    def parent(self) -> "NodeID":
        """The node one level up that covers this one."""
        return NodeID(self.level + 1, self.index >> 1)

    def coverage(self) -> tuple[int, int]:
        """The leaf range ``[begin, end)`` under this node."""
        return self.index << self.level, (self.index + 1) << self.level


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """The perfect subtrees that exactly cover leaves ``[begin, end)``, left to right.

    Each is as large as alignment allows (transparency-dev ``compact.RangeNodes``). For
    ``begin == 0`` these are the subtrees whose fold is the MTH of size ``end``; their sizes
    are the binary digits of ``end`` from the highest.
    """
    if not 0 <= begin <= end:
        raise ProofError(f"invalid range [{begin}, {end})")
    ids: list[NodeID] = []
    # Left part: grow from `begin` while aligned; right part: shrink towards `end`.
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while (1 << level) > end - begin:
            level -= 1
        ids.append(NodeID(level, begin >> level))
        begin += 1 << level
    return ids


@dataclass(frozen=True)
class ProofNodes:
    """Which stored nodes a proof is made of, and how to turn their hashes into the proof.

    ``ids`` are perfect subtrees, in proof order except that ``ids[begin:end]`` (when
    ``begin < end``) together stand for one proof hash: the ephemeral root of the incomplete
    subtree on the right edge, listed from the rightmost (smallest) subtree up, and folded by
    ``rehash``. Mirrors transparency-dev/merkle ``proof.Nodes``.
    """

    ids: tuple[NodeID, ...]
    begin: int = 0
    end: int = 0

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """Turn the hashes of ``ids`` (same order) into the proof hashes."""
        if len(hashes) != len(self.ids):
            raise ProofError(f"expected {len(self.ids)} hashes, got {len(hashes)}")
        out = list(hashes)
        if self.end - self.begin > 1:
            # hashes[begin] is the rightmost subtree; fold leftwards: H(left, acc).
            acc = out[self.begin]
            for h in out[self.begin + 1 : self.end]:
                acc = node_hash(h, acc)
            out[self.begin : self.end] = [acc]
        return out


def _nodes(index: int, level: int, size: int) -> tuple[list[NodeID], int, int]:
    """Nodes proving node (level, index) in the tree of ``size`` leaves, the node first.

    transparency-dev/merkle ``proof.nodes``: siblings up to the `fork` (where the path to
    the node leaves the right edge of the tree), then the subtrees covering the range right
    of the fork (one ephemeral node), then those covering the range left of it.
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork = NodeID(level + inner, index >> inner)
    begin, end = fork.coverage()
    node = NodeID(level, index)
    ids = [node]
    while node.level < fork.level:
        ids.append(node.sibling())
        node = node.parent()
    first = len(ids)
    ids.extend(reversed(range_nodes(end, size)))
    last = len(ids)
    ids.extend(reversed(range_nodes(0, begin)))
    if first >= last:
        first = last = 0
    return ids, first, last


def inclusion_nodes(index: int, size: int) -> ProofNodes:
    """The nodes of the RFC 9162 §2.1.3 inclusion proof of leaf ``index`` in tree ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    ids, begin, end = _nodes(index, 0, size)
    # Drop the leaf itself (transparency-dev skipFirst).
    return ProofNodes(tuple(ids[1:]), max(begin - 1, 0), max(end - 1, 0))


def consistency_nodes(size1: int, size2: int) -> ProofNodes:
    """The nodes of the RFC 9162 §2.1.4 consistency proof between sizes ``size1 <= size2``.

    Empty when ``size1 == size2``. ``size1 == 0`` is refused: a proof from the empty tree is
    meaningless (anything is consistent with it).
    """
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return ProofNodes(())
    # The largest perfect subtree ending at size1; the proof is its inclusion path in size2,
    # led by the node itself unless size1 is a power of two (then it equals root1, which the
    # verifier already has: RFC 9162 §2.1.4.1, SUBPROOF with b = true).
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    ids, begin, end = _nodes(index, level, size2)
    if index == 0:
        return ProofNodes(tuple(ids[1:]), max(begin - 1, 0), max(end - 1, 0))
    return ProofNodes(tuple(ids), begin, end)


def inclusion_proof(index: int, size: int, get_node: Callable[[NodeID], bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof, reading node hashes through ``get_node``."""
    nodes = inclusion_nodes(index, size)
    return nodes.rehash([get_node(i) for i in nodes.ids])


def consistency_proof(size1: int, size2: int, get_node: Callable[[NodeID], bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof, reading node hashes through ``get_node``."""
    nodes = consistency_nodes(size1, size2)
    return nodes.rehash([get_node(i) for i in nodes.ids])


# --- Verification ---------------------------------------------------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof hashes below the fork, and on the right border above it."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Only the hashes to the left of the path: what the tree of the smaller size contains.
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _match(computed: bytes, expected: bytes, what: str) -> None:
    if not hmac.compare_digest(computed, expected):
        raise ProofError(f"{what} does not match: computed {computed.hex()}")


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), after shape checks.

    Raises ProofError if the index is outside the tree, a hash is not 32 bytes, or the proof
    does not have exactly the length implied by (index, size).
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf_hash)
    for h in proof:
        _check_hash("proof hash", h)
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof for index {index} in size {size} has {len(proof)} hashes, "
            f"expected {inner + border}"
        )
    root = _chain_inner(bytes(leaf_hash), proof[:inner], index)
    return _chain_border_right(root, proof[inner:])


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Returns None on success; raises ProofError otherwise.
    """
    _check_hash("root", root)
    _match(root_from_inclusion(leaf_hash, index, size, proof), root, "inclusion proof root")


def root_from_consistency(
    size1: int, size2: int, root1: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Replay a consistency proof (RFC 9162 §2.1.4.2) for ``0 < size1 < size2``.

    Returns (computed root1, computed root2); the caller compares them.
    """
    if not 0 < size1 < size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    _check_hash("root1", root1)
    for h in proof:
        _check_hash("proof hash", h)
    if not proof:
        raise ProofError("empty consistency proof")
    inner, border = _inclusion_shape(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # The proof starts with the root of the largest perfect subtree ending at size1, unless
    # that subtree is the whole tree of size1 (size1 a power of two): then it is root1.
    if size1 == 1 << shift:
        seed, rest = bytes(root1), proof
    else:
        seed, rest = proof[0], proof[1:]
    if len(rest) != inner + border:
        raise ProofError(
            f"consistency proof from {size1} to {size2} has {len(proof)} hashes, expected "
            f"{len(proof) - len(rest) + inner + border}"
        )
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    return hash1, hash2


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree (size1, root1) is a prefix of the tree (size2, root2).

    Returns None on success; raises ProofError otherwise. ``size1 == size2`` is valid only
    with an empty proof and equal roots (compared as given, as transparency-dev/merkle does);
    ``size1 == 0`` and ``size1 > size2`` never are.
    """
    if size1 == size2 and size1 > 0:
        if proof:
            raise ProofError("sizes are equal but the consistency proof is not empty")
        _match(bytes(root1), root2, "root2 (equal sizes)")
        return
    _check_hash("root2", root2)
    hash1, hash2 = root_from_consistency(size1, size2, root1, proof)
    _match(hash1, root1, "consistency proof root1")
    _match(hash2, root2, "consistency proof root2")
