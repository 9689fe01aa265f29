"""Whole-program rows for export and import: which tables, in which order, and how a row is read back.

The program's export (:mod:`rxguard.program.transfer`) gives each row a FHIR face; this module
knows the tables: their dependency order, their columns and constraints, and how a value read from
a file is checked against its column before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, Float, Integer, String, Table, UniqueConstraint, func, select
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.store.auth_models import PatientSite
from rxguard.store.models import (
    AdverseEvent,
    AuditEntry,
    AuditHead,
    Authorization,
    AuthorizationEvent,
    Base,
    Certification,
    CertificationEvent,
    Clearance,
    Consent,
    Enrollment,
    EnrollmentEvent,
    FormRecord,
    Infusion,
    MonitoringEvent,
    Override,
    Patient,
    Pharmacy,
    Prescriber,
    ScheduleItem,
    Site,
)
from rxguard.store.types import INTEGER_MAX, UtcDateTime

# In dependency order: an import inserts them in this order. ``patient_site`` (which sites care
# for a patient) is program data: without it a moved program hides patients from their site's staff.
MODELS: tuple[type[Base], ...] = (
    Prescriber, Site, Pharmacy, Patient, PatientSite, Certification, CertificationEvent, Enrollment, EnrollmentEvent,
    Consent, FormRecord, Authorization, AuthorizationEvent, Clearance, Override, Infusion, MonitoringEvent,
    ScheduleItem, AdverseEvent, AuditEntry, AuditHead,
)  # fmt: skip
BY_TABLE = {model.__tablename__: model for model in MODELS}
TABLES = tuple(BY_TABLE)

#: A file line read into a table: (line number, table name, values keyed by column attribute).
Restored = tuple[int, str, dict[str, Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_dict(row: Base) -> dict[str, Any]:
    """The row as plain data keyed by column name (dates and times as ISO text)."""
    return {column.name: _plain(getattr(row, column.key)) for column in row.__table__.columns}


def _key(model: type[Base]) -> Any:
    return model.seq if model is AuditEntry else model.id  # type: ignore[attr-defined]


def rows(session: Session, table: str) -> Iterator[dict[str, Any]]:
    """Every row of ``table`` as plain data, in key order."""
    model = BY_TABLE[table]
    for row in session.execute(select(model).order_by(_key(model))).scalars():
        yield row_dict(row)


def _table(name: str) -> Table:
    table: Table = BY_TABLE[name].__table__  # type: ignore[assignment]
    return table


def _attr(table: Any, name: str) -> str:
    return str(table.columns[name].key)


def _value(number: int, table: str, row: dict[str, Any], column: Column[Any]) -> Any:
    """One column's value read from the file and checked against the column, or an error naming line and field."""
    where = f"line {number}: {table}.{column.name}"
    if column.name not in row:
        raise InputError(f"{where} is missing; the export is incomplete")
    value = row[column.name]
    if value is None:
        if not column.nullable:
            raise InputError(f"{where} is null, but the column needs a value; this file cannot be restored")
        return None
    kind = column.type
    try:
        if isinstance(kind, UtcDateTime):
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("a date-time without a time zone")
            return parsed
        if isinstance(kind, Date):
            return date.fromisoformat(value)
        if isinstance(kind, Boolean):
            if not isinstance(value, bool):
                raise ValueError("not true or false")
            return value
        if isinstance(kind, Integer):
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > INTEGER_MAX:
                raise ValueError("not a whole number that fits the column")
            return value
        if isinstance(kind, Float):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError("not a finite number")
            return float(value)
        if isinstance(kind, JSON):
            return value
        if isinstance(kind, String):  # Text is a String without a length
            if not isinstance(value, str):
                raise ValueError("not text")
            if kind.length is not None and len(value) > kind.length:
                raise ValueError(f"{len(value)} characters, more than the column's {kind.length}")
            if "\x00" in value:
                raise ValueError("holds a NUL character, which PostgreSQL cannot store")
            return value
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {value!r} cannot be restored ({exc})") from None
    return value  # pragma: no cover - every column type of the program tables is handled above


def restore(number: int, table_name: str, row: dict[str, Any]) -> dict[str, Any]:
    """The file's row as values for the table's columns, each checked, or an error naming line and field."""
    table = _table(table_name)
    unknown = sorted(set(row) - set(table.columns.keys()))
    if unknown:
        raise InputError(f"line {number}: {table_name} has no column {unknown[0]}; this file is not from this rxguard")
    return {column.key: _value(number, table_name, row, column) for column in table.columns}


def check_references(grouped: dict[str, list[Restored]]) -> None:
    """Before anything is written: keys unique, and every reference points at a row of the file."""
    for table_name, lines in grouped.items():
        table = _table(table_name)
        keys = [tuple(c.name for c in table.primary_key.columns)]
        keys += [tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)]
        keys += [(c.name,) for c in table.columns if c.unique]
        for names in keys:
            seen: dict[tuple[Any, ...], int] = {}
            for number, _, values in lines:
                key = tuple(values[_attr(table, n)] for n in names)
                if None in key:
                    continue
                if key in seen:
                    raise InputError(
                        f"line {number}: {table_name} ({', '.join(names)}) repeats line {seen[key]}; "
                        "this file cannot be restored"
                    )
                seen[key] = number
        for fk in table.foreign_key_constraints:
            target = fk.referred_table.name
            if target not in grouped:
                continue
            local = [e.parent.name for e in fk.elements]
            remote = [e.column.name for e in fk.elements]
            present = {tuple(v[_attr(fk.referred_table, n)] for n in remote) for _, _, v in grouped[target]}
            for number, _, values in lines:
                key = tuple(values[_attr(table, n)] for n in local)
                if None not in key and key not in present:
                    raise InputError(
                        f"line {number}: {table_name}.{', '.join(local)} = {', '.join(map(str, key))} names "
                        f"no {target} in this file; the export is incomplete"
                    )


def is_empty(session: Session) -> bool:
    """Whether no program table holds a row."""
    return all(session.execute(select(func.count()).select_from(m)).scalar_one() == 0 for m in MODELS)


def insert_all(session: Session, table: str, lines: Sequence[Restored]) -> None:
    """All rows of one table; when the database refuses the batch, an error naming the line it refused."""
    model = BY_TABLE[table]
    try:
        with session.begin_nested():
            session.add_all(model(**values) for _, _, values in lines)
            session.flush()
        return
    except (IntegrityError, DataError, StatementError):
        pass
    for number, _, values in lines:
        try:
            with session.begin_nested():
                session.add(model(**values))
                session.flush()
        except (IntegrityError, DataError, StatementError) as exc:
            cause = getattr(exc, "orig", None)
            raise InputError(
                f"line {number}: the database refused this {table} row "
                f"({type(cause or exc).__name__}: {str(cause or exc).splitlines()[0][:200]}); nothing was imported"
            ) from None
    raise InputError(  # pragma: no cover - a batch refused that no single row explains
        f"the database refused the {table} rows as a whole; nothing was imported"
    )
