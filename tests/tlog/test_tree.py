"""RFC 9162 Merkle tree: roots, inclusion and consistency proofs, against the RFC's own definitions.

The roots are checked against the RFC 6962 reference vectors (eight leaves) and against a direct,
recursive transcription of MTH; proofs are checked for every index and size up to a bound, and
property tests show a proof stops verifying when any part of it (a hash, the index, a size, a
root) is changed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxguard.tlog import tree

# RFC 6962 test data (the leaves and roots the Certificate Transparency implementations test against).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def mth(data: list[bytes]) -> bytes:
    """MTH as RFC 9162 2.1.1 defines it, recursively, on the leaf data."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(data[:k]) + mth(data[k:])).digest()


def leaves_of(n: int) -> list[bytes]:
    return [tree.leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_roots_match_the_rfc_6962_reference_vectors() -> None:
    hashed = [tree.leaf_hash(d) for d in LEAVES]
    assert tree.root_of([]) == hashlib.sha256(b"").digest()
    for size, expected in ROOTS.items():
        assert tree.root_of(hashed[:size]).hex() == expected
        assert mth(LEAVES[:size]).hex() == expected


def test_leaf_and_node_hashes_use_distinct_prefixes() -> None:
    left, right = tree.leaf_hash(b"a"), tree.leaf_hash(b"b")
    assert tree.node_hash(left, right) != tree.leaf_hash(left + right)  # a node can never pose as a leaf


@pytest.mark.parametrize("n", range(0, 70))
def test_the_compact_range_root_is_mth_at_every_size(n: int) -> None:
    data = [f"entry {i}".encode() for i in range(n)]
    assert tree.root_of([tree.leaf_hash(d) for d in data]) == mth(data)


def test_every_inclusion_and_consistency_proof_up_to_40_leaves_verifies() -> None:
    leaves = leaves_of(40)
    roots = [tree.root_of(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        for i in range(n):
            tree.verify_inclusion(i, n, leaves[i], tree.inclusion_proof(leaves, i, n), roots[n])
        for m in range(n + 1):
            tree.verify_consistency(m, n, roots[m], roots[n], tree.consistency_proof(leaves, m, n))


def test_proof_sizes_are_logarithmic() -> None:
    leaves = leaves_of(1000)
    assert max(len(tree.inclusion_proof(leaves, i, 1000)) for i in range(0, 1000, 37)) == 10
    assert len(tree.consistency_proof(leaves, 1, 1000)) <= 2 * 10


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=150, deadline=None)
@given(n=sizes, data=st.data())
def test_a_changed_inclusion_proof_is_refused(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    root = tree.root_of(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(leaves, i, n)
    tree.verify_inclusion(i, n, leaves[i], proof, root)
    other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i)) if n > 1 else None
    with pytest.raises(tree.ProofError):
        tree.verify_inclusion(i, n, tree.leaf_hash(b"forged"), proof, root)
    if other is not None:
        with pytest.raises(tree.ProofError):
            tree.verify_inclusion(other, n, leaves[i], proof, root)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        changed = [*proof[:k], bytes([proof[k][0] ^ 1]) + proof[k][1:], *proof[k + 1 :]]
        with pytest.raises(tree.ProofError):
            tree.verify_inclusion(i, n, leaves[i], changed, root)
        with pytest.raises(tree.ProofError):
            tree.verify_inclusion(i, n, leaves[i], proof[:-1], root)
    with pytest.raises(tree.ProofError):
        tree.verify_inclusion(i, n, leaves[i], [*proof, leaves[0]], root)
    with pytest.raises(tree.ProofError):
        tree.verify_inclusion(i, n, leaves[i], proof, tree.leaf_hash(b"other root"))


@settings(max_examples=150, deadline=None)
@given(n=sizes, data=st.data())
def test_a_rewritten_log_has_no_consistency_proof(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    m = data.draw(st.integers(1, n))
    old_root, new_root = tree.root_of(leaves[:m]), tree.root_of(leaves)
    proof = tree.consistency_proof(leaves, m, n)
    tree.verify_consistency(m, n, old_root, new_root, proof)
    # the log rewrote one of the first m entries, then grew: nothing proves it extends the old tree
    j = data.draw(st.integers(0, m - 1))
    rewritten = [*leaves[:j], tree.leaf_hash(b"rewritten"), *leaves[j + 1 :]]
    with pytest.raises(tree.ProofError):
        tree.verify_consistency(m, n, old_root, tree.root_of(rewritten), tree.consistency_proof(rewritten, m, n))
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        changed = [*proof[:k], bytes([proof[k][0] ^ 1]) + proof[k][1:], *proof[k + 1 :]]
        with pytest.raises(tree.ProofError):
            tree.verify_consistency(m, n, old_root, new_root, changed)
    if m < n:
        with pytest.raises(tree.ProofError):
            tree.verify_consistency(n, m, new_root, old_root, proof)  # the log shrank


def test_malformed_requests_are_refused_with_a_reason() -> None:
    leaves = leaves_of(5)
    with pytest.raises(tree.ProofError, match="no leaf 5"):
        tree.inclusion_proof(leaves, 5, 5)
    with pytest.raises(tree.ProofError, match="not below"):
        tree.verify_inclusion(3, 3, leaves[0], [], tree.root_of(leaves[:3]))
    with pytest.raises(tree.ProofError, match="same size"):
        tree.verify_consistency(4, 4, tree.root_of(leaves[:4]), tree.root_of(leaves[1:5]), [])


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
    )
)
def test_entry_times_are_formatted_as_the_chain_always_formatted_them(at: datetime) -> None:
    from rxguard.tlog.entry import format_at

    assert format_at(at) == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
