"""Ed25519 signed notes (C2SP signed-note), the envelope of a checkpoint.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(key id || signature)>``. The key id is the first four bytes
of ``SHA-256(key name || 0x0A || 0x01 || public key)`` (0x01: Ed25519). Keys are
written as Go's ``golang.org/x/mod/sumdb/note`` writes them, so its tools (and
every C2SP witness) read rxguard's checkpoints and keys as they are:

* verifier key: ``<name>+<hex key id>+<base64(0x01 || public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || private seed)>``

The cryptography is the ``cryptography`` package's Ed25519; nothing here hashes or
signs by hand beyond the key id the format defines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ED25519 = 0x01
DASH = "\u2014 "
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A key or note is malformed or its signature does not verify; says which."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not base64") from None


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+' (e.g. example.org/rxguard-audit)")
    return name


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a public (verifier) key looks like <name>+<8 hex digits>+<base64>")
        name, hex_id, encoded = parts
        _check_name(name)
        raw = _unb64(encoded, "the public key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the public key is not an Ed25519 note key (0x01 and 32 bytes)")
        kid = key_id(name, raw[1:])
        if hex_id.lower() != kid.hex():
            raise NoteError(f"the public key's id {hex_id} does not match its name and key ({kid.hex()})")
        return cls(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def text(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([ED25519]) + _public_bytes(self.key))}"


@dataclass(frozen=True)
class Signer:
    name: str
    key_id: bytes
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        key = Ed25519PrivateKey.generate()
        return cls(_check_name(name), key_id(name, _public_bytes(key.public_key())), key)

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signing key looks like PRIVATE+KEY+<name>+<8 hex digits>+<base64>")
        name, hex_id, encoded = parts[2:]
        _check_name(name)
        raw = _unb64(encoded, "the signing key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the signing key is not an Ed25519 note key (0x01 and a 32-byte seed)")
        key = Ed25519PrivateKey.from_private_bytes(raw[1:])
        kid = key_id(name, _public_bytes(key.public_key()))
        if hex_id.lower() != kid.hex():
            raise NoteError(f"the signing key's id {hex_id} does not match its name and key")
        return cls(name, kid, key)

    def text(self) -> str:
        seed = self.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{_b64(bytes([ED25519]) + seed)}"

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.key.public_key())

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        _check_text(text)
        signature = self.key.sign(text.encode())
        return f"{text}\n{DASH}{self.name} {_b64(self.key_id + signature)}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text must end in a newline and have no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note's text must not contain control characters")


def open_note(note: str, verifier: Verifier) -> str:
    """The note's text when ``verifier``'s key signed it; :class:`NoteError` otherwise.

    Signature lines of other keys are ignored (a witness may have cosigned); a line that
    claims this key but does not verify rejects the whole note.
    """
    if not note.endswith("\n"):
        raise NoteError("a signed note ends in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("no signature block (a blank line followed by '— name signature' lines)")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    lines = block.splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("a signed note carries 1 to 100 signature lines")
    for line in lines:
        if not line.startswith(DASH):
            raise NoteError(f"not a signature line: {line[:40]!r}")
        name, _, encoded = line[len(DASH) :].partition(" ")
        raw = _unb64(encoded, "a signature")
        if len(raw) < 5:
            raise NoteError("a signature line is too short")
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue
        try:
            verifier.key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature of {name} does not verify: the note was changed or forged") from None
        return text
    raise NoteError(f"the note is not signed by {verifier.name}+{verifier.key_id.hex()}")
