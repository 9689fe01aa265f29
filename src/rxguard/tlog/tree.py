"""The RFC 9162 (Certificate Transparency v2) Merkle tree over a list of leaves.

A leaf hash is ``SHA-256(0x00 || data)`` and an interior node ``SHA-256(0x01 || left || right)``
(distinct prefixes, so a leaf can never pose as a node); the empty tree's root is
``SHA-256("")``. A tree of ``n`` leaves splits at the largest power of two below ``n``.

Roots are folded left to right over a *compact range* (at most log2(n) perfect subtrees), so a
root of a million leaves needs one pass and a few kilobytes. Proofs follow RFC 9162 2.1.3
(inclusion) and 2.1.4 (consistency); their verification is the RFC's algorithm, step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

_sha256 = hashlib.sha256
HASH_SIZE = 32
EMPTY_ROOT = _sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not prove what it claims (or is malformed); says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The perfect subtrees covering leaves ``0..size``: append a leaf, read the root at any time."""

    __slots__ = ("hashes", "size", "sizes")

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.sizes: list[int] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash; merge equal-sized subtrees (at most log2(size) merges)."""
        hashes, sizes = self.hashes, self.sizes
        node, width = leaf, 1
        while sizes and sizes[-1] == width:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            sizes.pop()
            width <<= 1
        hashes.append(node)
        sizes.append(width)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            node = _sha256(b"\x01" + left + node).digest()
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root over leaf hashes, in one pass."""
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """Every aligned perfect subtree of a list of leaves, so any proof of any size is a few look-ups.

    Built in one pass (about one hash per leaf, twice the leaves' memory); a subtree that is not
    perfect is split at its largest power of two, as MTH splits, down to perfect ones.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = list(leaves)
        self.levels = [level]
        while len(level) > 1:
            level = [_sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH of leaves ``lo..hi`` (``lo`` aligned as MTH's recursion always has it)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.levels[n.bit_length() - 1][lo // n]
        k = _split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int) -> bytes:
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 2.1.3.1: the sibling hashes from the leaf up."""
        if not 0 <= index < size <= self.size:
            raise ProofError(f"no leaf {index} in a tree of {size} (the log holds {self.size})")
        path: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:  # top-down; the path lists siblings bottom-up
            k = _split(hi - lo)
            if m < k:
                path.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.subtree(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 2.1.4.1."""
        if not 0 <= old_size <= new_size <= self.size:
            raise ProofError(f"no consistency proof from {old_size} to {new_size} (the log holds {self.size})")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        lo, hi, m, whole = 0, new_size, old_size, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                proof.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        if not whole:
            proof.append(self.subtree(lo, hi))
        proof.reverse()
        return proof


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """One inclusion proof (build a :class:`Tree` once for many)."""
    return (
        Tree(leaves[:size]).inclusion_proof(index, size)
        if size <= len(leaves)
        else Tree(leaves).inclusion_proof(index, size)
    )


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """One consistency proof (build a :class:`Tree` once for many)."""
    if new_size > len(leaves):
        return Tree(leaves).consistency_proof(old_size, new_size)
    return Tree(leaves[:new_size]).consistency_proof(old_size, new_size)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2; raises :class:`ProofError` unless ``leaf`` is leaf ``index`` of the tree ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("a proof hash is not 32 bytes")
        if sn == 0:
            raise ProofError("the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path to the root")
    if r != root:
        raise ProofError("the proof leads to another root: the entry is not in this tree as given")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2; raises :class:`ProofError` unless tree ``new_root`` extends tree ``old_root``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"the old tree ({old_size}) is larger than the new one ({new_size})")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between trees of the same size must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}: the log was rewritten")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("the consistency proof is empty or malformed")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than needed")
    if fr != old_root:
        raise ProofError("the proof does not lead to the old root: the log's first entries changed")
    if sr != new_root:
        raise ProofError("the proof does not lead to the new root")
