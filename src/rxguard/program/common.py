"""Small pieces every program service uses: the time-zone rule, and the store's look-ups and writes by name.

The SQL behind them lives in the store (:mod:`rxguard.store.lookups`, :mod:`rxguard.store.writes`);
state changes go through :func:`rxguard.program.transitions.transition`.
"""

from __future__ import annotations

from datetime import datetime

from rxguard.errors import InputError
from rxguard.store.lookups import (
    by_id,
    by_key,
    certification_for,
    find_enrollment,
    lock_enrollment,
    lock_enrollment_of,
    patient,
    prescriber,
    site,
)
from rxguard.store.writes import Write, append_row, flush_or_conflict, write_together

__all__ = [
    "Write",
    "append_row",
    "by_id",
    "by_key",
    "certification_for",
    "find_enrollment",
    "flush_or_conflict",
    "lock_enrollment",
    "lock_enrollment_of",
    "patient",
    "prescriber",
    "require_aware",
    "site",
    "write_together",
]


def require_aware(at: datetime, name: str = "at") -> datetime:
    if at.tzinfo is None:
        raise InputError(f"{name} {at.isoformat()} has no time zone; give one, e.g. 2026-01-05T09:00+00:00")
    return at
