"""Signed notes and checkpoints: byte-for-byte what Go's sumdb/note writes, and refused when changed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxguard.tlog.checkpoint import open_checkpoint, parse_text, sign_checkpoint
from rxguard.tlog.note import NoteError, Signer, Verifier, open_note
from rxguard.tlog.tree import leaf_hash

# The example of golang.org/x/mod/sumdb/note's documentation: its signer key, verifier key and
# signed note. Ed25519 signatures are deterministic, so the same key signs the same bytes.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + (
    "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_keys_and_notes_are_the_go_sumdb_note_format() -> None:
    signer = Signer.parse(GO_SIGNER)
    assert signer.text() == GO_SIGNER
    assert signer.verifier().text() == GO_VERIFIER
    assert signer.sign(GO_TEXT) == GO_NOTE
    assert open_note(GO_NOTE, Verifier.parse(GO_VERIFIER)) == GO_TEXT


def test_a_note_with_another_signature_line_too_still_opens() -> None:
    witness = Signer.generate("witness.example/w1")
    cosigned = GO_NOTE + witness.sign(GO_TEXT).split("\n\n")[1]
    assert open_note(cosigned, Verifier.parse(GO_VERIFIER)) == GO_TEXT
    assert open_note(cosigned, witness.verifier()) == GO_TEXT


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, len(GO_TEXT) - 2), replacement=st.sampled_from("aZ0 .,"))
def test_a_changed_text_is_refused(position: int, replacement: str) -> None:
    if GO_TEXT[position] in (replacement, "\n"):
        return
    changed = GO_NOTE[:position] + replacement + GO_NOTE[position + 1 :]
    with pytest.raises(NoteError):
        open_note(changed, Verifier.parse(GO_VERIFIER))


def test_wrong_keys_and_malformed_notes_are_refused() -> None:
    verifier = Verifier.parse(GO_VERIFIER)
    other = Signer.generate("PeterNeumann")  # the same name, another key: another key id
    with pytest.raises(NoteError, match="not signed by"):
        open_note(other.sign(GO_TEXT), verifier)
    with pytest.raises(NoteError, match="no signature block"):
        open_note(GO_TEXT, verifier)
    with pytest.raises(NoteError, match="does not match"):
        Verifier.parse(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError, match="PRIVATE\\+KEY"):
        Signer.parse(GO_VERIFIER)
    with pytest.raises(NoteError, match="must be non-empty"):
        Signer.generate("has space")
    forged = GO_NOTE.replace("x08go/ZJ", "x08go/ZK")
    with pytest.raises(NoteError):
        open_note(forged, verifier)


def test_a_checkpoint_round_trips_and_names_its_log() -> None:
    signer = Signer.generate("rxguard.example.org/audit")
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    checkpoint, note = sign_checkpoint(signer, 109, leaf_hash(b"x"), at)
    lines = note.split("\n")
    assert lines[:2] == ["rxguard.example.org/audit", "109"] and lines[3] == "time 2026-01-05T09:00:00Z"
    assert open_checkpoint(note, signer.verifier()) == checkpoint
    assert parse_text(checkpoint.text()) == checkpoint
    impostor = Signer.generate("rxguard.example.org/other")
    _, foreign = sign_checkpoint(impostor, 109, leaf_hash(b"x"), at)
    with pytest.raises(NoteError):
        open_checkpoint(foreign, signer.verifier())
    bumped = note.replace("\n109\n", "\n110\n")
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(bumped, signer.verifier())
