"""The built-in knowledge packs, registered under the ``rxguard.packs`` entry point."""

from __future__ import annotations

from pathlib import Path

BUILTIN = ("natalizumab", "mifamurtide")
_HERE = Path(__file__).parent


def natalizumab_path() -> Path:
    return _HERE / "natalizumab"


def mifamurtide_path() -> Path:
    return _HERE / "mifamurtide"
