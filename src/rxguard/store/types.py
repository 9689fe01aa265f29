"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: A sub-query of patient ids (who a caller may see, who some identifiers name), to narrow a read by.
PatientIds = Select[Any]

#: The largest whole number an integer column holds on every engine (PostgreSQL ``integer``).
INTEGER_MAX = 2**31 - 1


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC date-time in, an aware UTC date-time out, on every engine.

    PostgreSQL keeps the offset (``timestamptz``); SQLite has no time zones, so
    the value is stored as naive UTC and made aware again when read. Naive
    values are refused: a safety record whose time zone is a guess is worse
    than no record.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive date-time {value.isoformat()} refused; give a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
