"""Signed tree heads in the C2SP tlog-checkpoint format, and the directory a witness keeps.

The note text is three lines a checkpoint reader already knows (origin, tree size, base64
root hash) and one extension line, ``time <ISO 8601 UTC>``, saying when rxguard signed it::

    rxguard.example.org/audit
    109
    6tP0cqdAq0ZzgIyX4OFeLmP6y1y4v+vyJ/6zXbmdtyA=
    time 2026-01-05T09:00:00Z

    — rxguard.example.org/audit 3wK9...

The specification allows opaque extension lines (it recommends few; generic clients
ignore them), so Go's sumdb tools and C2SP witnesses read the rest unchanged.

A published directory holds ``checkpoint`` (the newest, where a witness looks first) and
``history/<size>`` (every one published, by tree size), so an auditor can prove that each
was consistent with the one before.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rxguard.tlog.note import NoteError, Signer, Verifier, open_note
from rxguard.tlog.tree import HASH_SIZE


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: datetime | None = None

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        if self.time is not None:
            lines.append("time " + self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        when = f" signed {self.time.strftime('%Y-%m-%dT%H:%M:%SZ')}" if self.time else ""
        return f"checkpoint of {self.size} entries{when}"


def parse_text(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash line")
    origin, size_text, root_text = lines[:3]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise NoteError(f"checkpoint tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("checkpoint root hash is not base64") from None
    if len(root) != HASH_SIZE:
        raise NoteError("checkpoint root hash is not 32 bytes")
    time = None
    for line in lines[3:]:
        if line.startswith("time "):
            try:
                time = datetime.strptime(line[5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise NoteError(f"checkpoint time {line[5:]!r} is not YYYY-MM-DDTHH:MM:SSZ") from None
    return Checkpoint(origin, int(size_text), root, time)


def sign_checkpoint(signer: Signer, size: int, root: bytes, at: datetime) -> tuple[Checkpoint, str]:
    checkpoint = Checkpoint(signer.name, size, root, at)
    return checkpoint, signer.sign(checkpoint.text())


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """The checkpoint when ``verifier`` signed it and its origin is the key's name."""
    checkpoint = parse_text(open_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not the key's log {verifier.name!r}")
    return checkpoint


def read_checkpoint(path: Path, verifier: Verifier) -> Checkpoint:
    try:
        note = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NoteError(f"cannot read checkpoint {path}: {exc}") from None
    try:
        return open_checkpoint(note, verifier)
    except NoteError as exc:
        raise NoteError(f"{path}: {exc}") from None


def checkpoint_files(path: Path) -> list[Path]:
    """A checkpoint file, or every checkpoint of a published directory (oldest first)."""
    if not path.is_dir():
        return [path]
    history = path / "history"
    files = (
        sorted((p for p in history.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        if history.is_dir()
        else []
    )
    latest = path / "checkpoint"
    if latest.exists() and not files:
        files.append(latest)
    if not files:
        raise NoteError(f"{path} holds no checkpoint (expected {path}/checkpoint and {path}/history/<size>)")
    return files


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


ProveConsistency = Callable[[int, int], list[bytes]]


def publish(directory: Path, note: str, checkpoint: Checkpoint, verifier: Verifier, prove: ProveConsistency) -> str:
    """Keep ``note`` in ``directory`` as a witness would: only when it extends the newest one there.

    ``prove(old_size, new_size)`` gives the log's consistency proof; it is checked against both
    signed roots before anything is written, so a rewritten log is refused, not published.
    Returns what was done, in words.
    """
    from rxguard.tlog.tree import ProofError, verify_consistency

    latest = directory / "checkpoint"
    if latest.exists():
        previous = read_checkpoint(latest, verifier)
        try:
            verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root,
                               prove(previous.size, checkpoint.size) if previous.size <= checkpoint.size else [])  # fmt: skip
        except ProofError as exc:
            raise NoteError(
                f"refused to publish: the log of {checkpoint.size} entries does not extend the published "
                f"{previous.describe()} ({exc}); run 'rxguard audit verify --checkpoint {directory}'"
            ) from None
        if previous.size == checkpoint.size:
            return f"{directory}: already holds a checkpoint of {checkpoint.size} entries"
    _write_atomically(directory / "history" / str(checkpoint.size), note)
    _write_atomically(latest, note)
    return f"published the {checkpoint.describe()} to {directory}"
