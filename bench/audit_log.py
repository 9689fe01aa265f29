"""The audit log as a transparency log: verify time and proof sizes for 1,000,000 entries.

A SQLite database gets 1,000,000 chained audit entries (``--quick``: 100,000) shaped like the
program's (an action, an entity id, a small JSON payload), inserted in bulk (not timed). Then,
on one core:

* ``verify_db_s``: ``audit verify --checkpoint`` from the database (read every row, re-hash the
  chain, build the Merkle tree, compare its root with a signed checkpoint) — target <= 10 s;
* ``verify_export_s``: the same from the NDJSON export alone (parse every line first);
* ``*_cpu_s``: the process's CPU time for the same (wall time on a shared machine includes waiting);
* the same-run baseline ``hashlib_only_s``: SHA-256 of the same entry bodies with ``hashlib``
  alone (the chain hash, the leaf hash and one node hash per entry, nothing else), and the
  ratio of each verification to it;
* inclusion and consistency proof sizes (hashes, bytes), the time to build one from the leaves,
  and ``inclusion_check_us``: one inclusion proof checked against a signed checkpoint, mean
  over 2,000 (signature check included: ``inclusion_check_signed_us``) — target <= 1 ms.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert

from rxguard.program import audit_trail, transfer
from rxguard.store import audit, transaction
from rxguard.store.db import make_engine, session_factory
from rxguard.store.migrate import upgrade
from rxguard.store.models import AuditEntry, AuditHead
from rxguard.tlog import tree
from rxguard.tlog.checkpoint import open_checkpoint
from rxguard.tlog.entry import GENESIS, Entry, chain_hash, entry_body
from rxguard.tlog.note import Signer

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ACTIONS = ("authorization.approved", "infusion.recorded", "patient.read", "monitoring.mri", "enrollment.enrolled")


def _entries(n: int) -> list[Entry]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        at = T0 + timedelta(seconds=i * 7)
        action = ACTIONS[i % len(ACTIONS)]
        entity, entity_id = action.split(".")[0], f"{i:08d}-4b1e-4c1d-9a51-{i * 7919 % 10**12:012d}"
        payload = orjson.dumps({"patient": f"pat_{i % 5000}", "site": "st_north", "program": "touch"}).decode()
        body = entry_body(i, at, "dr_ada", action, entity, entity_id, payload, prev)
        digest = chain_hash(prev, body)
        rows.append(Entry(i, at, "dr_ada", action, entity, entity_id, payload, prev, digest))
        prev = digest
    return rows


def _database(folder: Path, entries: list[Entry]) -> str:
    url = f"sqlite:///{folder / 'audit.db'}"
    engine = make_engine(url=url)
    upgrade(engine)
    with engine.begin() as connection:
        for start in range(0, len(entries), 50_000):
            connection.execute(insert(AuditEntry.__table__), [e._asdict() for e in entries[start : start + 50_000]])
        connection.execute(insert(AuditHead.__table__), {"id": 1, "seq": entries[-1].seq, "hash": entries[-1].hash})
    engine.dispose()
    return url


def _export(folder: Path, url: str) -> Path:
    path = folder / "program.ndjson"
    factory = session_factory(make_engine(url=url))
    with transaction(factory) as s, path.open("w", encoding="utf-8") as handle:
        for line in transfer.export_ndjson(s):
            handle.write(line + "\n")
    return path


def _baseline(entries: list[Entry]) -> float:
    """hashlib alone over the same bytes: chain hash, leaf hash, one node hash per entry."""
    bodies = [
        entry_body(e.seq, e.at, e.actor, e.action, e.entity, e.entity_id, e.payload, e.prev_hash) for e in entries
    ]
    sha = hashlib.sha256
    node = sha(b"").digest()
    started = time.perf_counter()
    for body, e in zip(bodies, entries, strict=True):
        sha(e.prev_hash.encode() + body).hexdigest()
        leaf = sha(b"\x00" + body).digest()
        node = sha(b"\x01" + node + leaf).digest()
    return time.perf_counter() - started


def run(quick: bool = False) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    signer = Signer.generate("bench.rxguard/audit")
    entries = _entries(n)
    figures: dict[str, Any] = {"entries": n}
    with tempfile.TemporaryDirectory(prefix="rxguard-bench-audit-") as scratch:
        folder = Path(scratch)
        url = _database(folder, entries)
        factory = session_factory(make_engine(url=url))
        with transaction(factory) as s:
            started = time.perf_counter()
            checkpoint, note, leaves = audit_trail.make_checkpoint(s, signer, T0)
            figures["checkpoint_sign_s"] = round(time.perf_counter() - started, 2)
        label = [("bench", checkpoint)]
        with transaction(factory) as s:
            started, cpu = time.perf_counter(), time.process_time()
            report = audit.verify_log(s, label, coverage=False)
            figures["verify_db_s"] = round(time.perf_counter() - started, 2)
            figures["verify_db_cpu_s"] = round(time.process_time() - cpu, 2)
        assert report.ok, report.message()
        export = _export(folder, url)
        started, cpu = time.perf_counter(), time.process_time()
        report = audit_trail.verify_export(export, label)
        figures["verify_export_s"] = round(time.perf_counter() - started, 2)
        figures["verify_export_cpu_s"] = round(time.process_time() - cpu, 2)
        assert report.ok, report.message()
    baseline = _baseline(entries)
    figures["hashlib_only_s"] = round(baseline, 2)
    figures["verify_db_vs_hashlib"] = round(figures["verify_db_s"] / baseline, 1)
    figures["verify_export_vs_hashlib"] = round(figures["verify_export_s"] / baseline, 1)
    figures["verify_db_target_10s_met"] = figures["verify_db_s"] <= 10.0

    started = time.perf_counter()
    proof = tree.inclusion_proof(leaves, n // 3, n)
    figures["inclusion_prove_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    levels = tree.Tree(leaves)
    figures["tree_levels_build_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    assert levels.inclusion_proof(n // 3, n) == proof
    figures["inclusion_prove_from_levels_us"] = round((time.perf_counter() - started) * 1e6, 1)
    figures["inclusion_proof_hashes"] = len(proof)
    figures["inclusion_proof_bytes"] = 32 * len(proof)
    started = time.perf_counter()
    consistency = tree.consistency_proof(leaves, n // 2 + 1, n)
    figures["consistency_prove_s"] = round(time.perf_counter() - started, 2)
    figures["consistency_proof_hashes"] = len(consistency)
    figures["consistency_proof_bytes"] = 32 * len(consistency)

    samples = [(i, levels.inclusion_proof(i, n)) for i in range(0, n, n // 2000)][:2000]
    root = checkpoint.root
    started = time.perf_counter()
    for i, path in samples:
        tree.verify_inclusion(i, n, leaves[i], path, root)
    figures["inclusion_check_us"] = round((time.perf_counter() - started) / len(samples) * 1e6, 1)
    verifier = signer.verifier()
    started = time.perf_counter()
    for i, path in samples[:500]:
        tree.verify_inclusion(i, n, leaves[i], path, open_checkpoint(note, verifier).root)
    figures["inclusion_check_signed_us"] = round((time.perf_counter() - started) / 500 * 1e6, 1)
    figures["inclusion_check_target_1ms_met"] = figures["inclusion_check_signed_us"] <= 1000
    started = time.perf_counter()
    for i, path in samples:
        node = leaves[i]
        for sibling in path:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
    figures["inclusion_hashlib_only_us"] = round((time.perf_counter() - started) / len(samples) * 1e6, 1)
    return figures


def markdown(figures: dict[str, Any]) -> list[str]:
    return [
        f"Audit log of {figures['entries']:,} entries on one core: verify from the database "
        f"{figures['verify_db_s']} s (target 10 s; {figures['verify_db_vs_hashlib']}x hashlib alone over the same "
        f"bytes, {figures['hashlib_only_s']} s), from the export {figures['verify_export_s']} s. An inclusion proof "
        f"is {figures['inclusion_proof_hashes']} hashes ({figures['inclusion_proof_bytes']} bytes) and checks in "
        f"{figures['inclusion_check_us']} us ({figures['inclusion_check_signed_us']} us with the checkpoint's "
        f"signature; target 1 ms); a consistency proof is {figures['consistency_proof_hashes']} hashes.",
    ]
