"""Parsing of the arguments several commands share (dates, jurisdictions, files)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from rxguard.errors import FactsError, InputError
from rxguard.facts.fhir import parse_json
from rxguard.knowledge.schema import JURISDICTIONS


def parse_at(value: str | None) -> date:
    """``--at YYYY-MM-DD``; today when omitted (interfaces default to now, the engine never does)."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--at {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-05") from None


def parse_jurisdiction(value: str | None) -> str | None:
    if value is None:
        return None
    upper = value.strip().upper()
    if upper not in JURISDICTIONS:
        raise InputError(
            f"--jurisdiction {value!r} is not known; use one of {', '.join(JURISDICTIONS)} or leave it out (stricter rules apply)"
        )
    return upper


def read_json_file(path: Path, what: str) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} file {str(path)!r} does not exist; check the path") from None
    except OSError as exc:
        raise InputError(f"{what} file {str(path)!r} cannot be read ({exc.strerror})") from None
    try:
        return parse_json(raw)
    except FactsError:
        raise InputError(f"{what} file {str(path)!r} is not valid JSON") from None


def require_development(command: str) -> None:
    """Refuse a demo command outside development: it would put published credentials or made-up
    patients into a real program (``RXGUARD_ENVIRONMENT`` is what the server reads too)."""
    environment = os.environ.get("RXGUARD_ENVIRONMENT", "development").strip().lower() or "development"
    if environment != "development":
        raise InputError(
            f"'{command}' is for development only and RXGUARD_ENVIRONMENT is {environment!r}: it would give "
            "real accounts a published password or load made-up patients; create users with 'rxguard user create' "
            "and 'rxguard web password NAME' instead"
        )
