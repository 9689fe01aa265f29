"""The audit trail as a third party checks it: keys, signed checkpoints, verification and proofs.

The signing key lives in a file named by ``RXGUARD_AUDIT_KEY_FILE`` (made by ``rxguard audit
keygen``), never in the database; its public half is all an outside auditor needs. Entries come
from the database or from an NDJSON export (:func:`export_log`), so every check here runs
either way. See ``docs/audit.md``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from rxguard.errors import AuditChainError, InputError
from rxguard.store import audit
from rxguard.store.settings import Settings
from rxguard.tlog import tree
from rxguard.tlog.checkpoint import (
    Checkpoint,
    checkpoint_files,
    open_checkpoint,
    publish,
    read_checkpoint,
    sign_checkpoint,
)
from rxguard.tlog.entry import Entry, entry_body
from rxguard.tlog.note import NoteError, Signer, Verifier
from rxguard.tlog.verification import COVERED_TABLES, LogReport, verify_log

INCLUSION = "rxguard-inclusion-proof/v1"
CONSISTENCY = "rxguard-consistency-proof/v1"


# --------------------------------------------------------------------------- keys


def generate_key(name: str, out: Path) -> Verifier:
    """Write a new signing key to ``out`` (owner-only) and its public key to ``out.pub``."""
    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists():
            raise InputError(f"{path} exists; a signing key is never overwritten (choose another --out)")
    try:
        signer = Signer.generate(name)
    except NoteError as exc:
        raise InputError(f"--name: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(signer.text() + "\n")
    public.write_text(signer.verifier().text() + "\n", encoding="utf-8")
    return signer.verifier()


def load_signer(settings: Settings) -> Signer:
    path = settings.audit_key_file
    if path is None:
        raise InputError(
            "RXGUARD_AUDIT_KEY_FILE is not set: create the log's signing key with "
            "'rxguard audit keygen --name <log name> --out <file>' (keep it outside the database) "
            "and point RXGUARD_AUDIT_KEY_FILE at it"
        )
    try:
        return Signer.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"RXGUARD_AUDIT_KEY_FILE {path}: cannot read the signing key ({exc.strerror})") from None
    except NoteError as exc:
        raise InputError(f"RXGUARD_AUDIT_KEY_FILE {path}: {exc}") from None


def load_verifier(public_key: str | None, settings: Settings) -> Verifier:
    """The public key from ``--public-key`` (a file or the key text), else the signing key's."""
    if public_key is None:
        if settings.audit_key_file is None:
            raise InputError("give --public-key (the log's public key file, e.g. audit.key.pub)")
        return load_signer(settings).verifier()
    path = Path(public_key)
    text = public_key
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--public-key {path}: cannot read it ({exc.strerror})") from None
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        raise InputError(f"--public-key: {exc}") from None


# --------------------------------------------------------------------------- entries


@dataclass
class ExportLog:
    """The audit entries, chain head and business row ids an export holds."""

    entries: list[Entry] = field(default_factory=list)
    head: tuple[int, str] | None = None
    business: dict[str, list[str]] = field(default_factory=dict)


def export_log(path: Path) -> ExportLog:
    from rxguard.program.transfer import parse_rows

    log = ExportLog()
    covered = set(COVERED_TABLES)
    try:
        with path.open(encoding="utf-8") as handle:
            for table, row in parse_rows(handle):
                if table == "audit_entry":
                    log.entries.append(_entry_of(row))
                elif table == "audit_head":
                    log.head = (row["seq"], row["hash"])
                elif table in covered:
                    log.business.setdefault(table, []).append(row["id"])
    except FileNotFoundError:
        raise InputError(f"--from-export {path} does not exist") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"--from-export {path}: an audit row is incomplete ({exc})") from None
    log.entries.sort(key=lambda e: e.seq)
    return log


def _entry_of(row: dict[str, Any]) -> Entry:
    values = [row[name] for name in Entry._fields]
    values[1] = datetime.fromisoformat(values[1])
    return Entry._make(values)


# --------------------------------------------------------------------------- checkpoints


def leaves_of(entries: Iterable[Entry]) -> list[bytes]:
    return [
        tree.leaf_hash(entry_body(e.seq, e.at, e.actor, e.action, e.entity, e.entity_id, e.payload, e.prev_hash))
        for e in entries
    ]


def make_checkpoint(session: Session, signer: Signer, at: datetime) -> tuple[Checkpoint, str, list[bytes]]:
    """Sign the tree of every entry committed so far."""
    leaves = leaves_of(audit.read_entries(session))
    checkpoint, note = sign_checkpoint(signer, len(leaves), tree.root_of(leaves), at)
    return checkpoint, note, leaves


def write_checkpoint(
    session: Session, signer: Signer, at: datetime, *, out: Path | None, directory: Path | None
) -> list[str]:
    """Sign a checkpoint; write it to ``out`` and/or publish it to ``directory``. Returns what was done."""
    checkpoint, note, leaves = make_checkpoint(session, signer, at)
    done = []
    if directory is not None:
        try:
            done.append(publish(directory, note, checkpoint, signer.verifier(),
                                lambda old, new: tree.consistency_proof(leaves, old, new)))  # fmt: skip
        except NoteError as exc:
            raise AuditChainError(str(exc)) from None
    if out is not None:
        out.write_text(note, encoding="utf-8")
        done.append(f"wrote the {checkpoint.describe()} to {out}")
    if out is None and directory is None:
        done.append(note.rstrip("\n"))
    return done


def read_checkpoints(paths: list[Path], verifier: Verifier) -> list[tuple[str, Checkpoint]]:
    found: list[tuple[str, Checkpoint]] = []
    try:
        for given in paths:
            found.extend((str(p), read_checkpoint(p, verifier)) for p in checkpoint_files(given))
    except NoteError as exc:
        raise InputError(f"--checkpoint: {exc}") from None
    return found


def verify_database(session: Session, checkpoints: list[tuple[str, Checkpoint]]) -> LogReport:
    return audit.verify_log(session, checkpoints)


def verify_export(path: Path, checkpoints: list[tuple[str, Checkpoint]]) -> LogReport:
    log = export_log(path)
    return verify_log(iter(log.entries), head=log.head, checkpoints=checkpoints, business=log.business)


# --------------------------------------------------------------------------- proofs


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _find(entries: list[Entry], wanted: str) -> int:
    if wanted.isdigit():
        index = int(wanted) - 1
        if 0 <= index < len(entries) and entries[index].seq == int(wanted):
            return index
        raise InputError(f"no audit entry with seq {wanted} (the log holds {len(entries)})")
    for index, entry in enumerate(entries):
        if entry.entity_id == wanted:
            return index
    raise InputError(f"no audit entry about record {wanted!r}; give an entry's seq or a record id")


def prove_inclusion(entries: list[Entry], wanted: str, note: str, checkpoint: Checkpoint) -> dict[str, Any]:
    """The proof that one entry (by seq or by the id of the record it is about) is in ``checkpoint``."""
    index = _find(entries, wanted)
    if index >= checkpoint.size:
        raise InputError(
            f"entry {index + 1} is newer than the checkpoint ({checkpoint.size} entries); sign a newer one"
        )
    leaves = leaves_of(entries[: checkpoint.size])
    if tree.root_of(leaves) != checkpoint.root:
        raise AuditChainError(
            f"the log's first {checkpoint.size} entries do not match the checkpoint; run 'rxguard audit verify --checkpoint'"
        )
    e = entries[index]
    body = entry_body(e.seq, e.at, e.actor, e.action, e.entity, e.entity_id, e.payload, e.prev_hash)
    return {
        "type": INCLUSION,
        "index": index,
        "tree_size": checkpoint.size,
        "entry": body.decode(),
        "proof": [_b64(h) for h in tree.inclusion_proof(leaves, index, checkpoint.size)],
        "checkpoint": note,
    }


def prove_consistency(entries: list[Entry], old: tuple[str, Checkpoint], new: tuple[str, Checkpoint]) -> dict[str, Any]:
    (old_note, old_cp), (new_note, new_cp) = old, new
    if old_cp.size > new_cp.size:
        old_note, old_cp, new_note, new_cp = new_note, new_cp, old_note, old_cp
    if new_cp.size > len(entries):
        raise AuditChainError(f"the log holds {len(entries)} entries, fewer than the checkpoint's {new_cp.size}")
    leaves = leaves_of(entries[: new_cp.size])
    proof = tree.consistency_proof(leaves, old_cp.size, new_cp.size)
    document = {"type": CONSISTENCY, "old": old_note, "new": new_note, "proof": [_b64(h) for h in proof]}
    check_proof(document, None)  # never hand out a proof that does not hold
    return document


def _hashes(items: Any) -> list[bytes]:
    if not isinstance(items, list):
        raise InputError("the proof's 'proof' must be a list of base64 hashes")
    try:
        return [base64.b64decode(item, validate=True) for item in items]
    except (TypeError, ValueError):
        raise InputError("the proof's hashes must be base64") from None


def check_proof(document: Any, verifier: Verifier | None) -> str:
    """Check an inclusion or consistency proof offline; the checkpoints' signatures too when a key is given.

    Raises :class:`AuditChainError` when the proof does not hold; returns what it proved.
    """
    if not isinstance(document, dict) or document.get("type") not in (INCLUSION, CONSISTENCY):
        raise InputError(f"not an rxguard audit proof (its 'type' must be {INCLUSION} or {CONSISTENCY})")

    def opened(note: Any) -> Checkpoint:
        if not isinstance(note, str):
            raise InputError("the proof's checkpoint must be the signed note text")
        try:
            if verifier is None:
                from rxguard.tlog.checkpoint import parse_text

                return parse_text(note[: note.rfind("\n\n") + 1])
            return open_checkpoint(note, verifier)
        except NoteError as exc:
            raise AuditChainError(f"the proof's checkpoint does not verify: {exc}") from None

    try:
        if document["type"] == INCLUSION:
            checkpoint = opened(document["checkpoint"])
            entry = document["entry"]
            index = document["index"]
            if not isinstance(entry, str) or not isinstance(index, int) or isinstance(index, bool):
                raise InputError("an inclusion proof has an 'entry' text and an integer 'index'")
            seq = orjson.loads(entry).get("seq")
            if seq != index + 1:
                raise AuditChainError(f"the entry says seq {seq} but the proof is for leaf {index} (seq {index + 1})")
            tree.verify_inclusion(index, checkpoint.size, tree.leaf_hash(entry.encode()), _hashes(document["proof"]),
                                  checkpoint.root)  # fmt: skip
            return f"entry {seq} is in the log's {checkpoint.describe()}"
        old, new = opened(document["old"]), opened(document["new"])
        tree.verify_consistency(old.size, new.size, old.root, new.root, _hashes(document["proof"]))
        return f"the {new.describe()} extends the {old.describe()}: the log only grew"
    except KeyError as exc:
        raise InputError(f"the proof lacks {exc}") from None
    except orjson.JSONDecodeError:
        raise InputError("the proof's entry is not JSON") from None
    except tree.ProofError as exc:
        raise AuditChainError(f"the proof does not hold: {exc}") from None


def read_json(path: Path, what: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not JSON ({exc})") from None


def entries_from(session: Session | None, export: Path | None) -> Iterator[Entry]:
    if export is not None:
        yield from export_log(export).entries
    elif session is not None:
        yield from audit.read_entries(session)
