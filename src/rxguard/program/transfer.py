"""Whole-program export and import as FHIR NDJSON, so an instance moves without losing history.

Each line is one FHIR R4 resource: prescribers as Practitioner, sites and
pharmacies as Organization, patients as Patient, consents as Consent,
infusions as MedicationAdministration, adverse events as AdverseEvent, audit
entries as AuditEvent, and every other program record (certifications,
enrollments, authorizations, clearances, overrides, state events, monitoring
records, forms) as Basic. Every resource also carries the full database row
in the ``urn:rxguard:row`` extension, so an import reproduces the program
exactly — ids, history and the audit hash chain included — on SQLite or
PostgreSQL alike. (The Clozapine REMS lost its patient history when it
changed vendor; this is the answer to that.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, Boolean, Column, Date, Float, Integer, String, Table, UniqueConstraint, func, select
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program import validation
from rxguard.store import audit
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
from rxguard.store.types import UtcDateTime

ROW_EXTENSION = "urn:rxguard:row"
TABLE_EXTENSION = "urn:rxguard:table"

# In dependency order: an import inserts them in this order. ``patient_site`` (which sites care
# for a patient) is program data: without it a moved program hides patients from their site's staff.
MODELS: tuple[type[Base], ...] = (
    Prescriber, Site, Pharmacy, Patient, PatientSite, Certification, CertificationEvent, Enrollment, EnrollmentEvent,
    Consent, FormRecord, Authorization, AuthorizationEvent, Clearance, Override, Infusion, MonitoringEvent,
    ScheduleItem, AdverseEvent, AuditEntry, AuditHead,
)  # fmt: skip
BY_TABLE = {model.__tablename__: model for model in MODELS}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _exportable(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row, or an error naming a value JSON cannot carry (NaN, infinity): such a backup would not restore."""
    for name, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(
                f"{table} {row.get('id', row.get('seq'))}: column {name} holds {value}, which an export cannot "
                "carry and an import could not restore; correct that record before exporting"
            )
    return row


def row_dict(row: Base) -> dict[str, Any]:
    return {column.name: _plain(getattr(row, column.key)) for column in row.__table__.columns}


def _key(model: type[Base]) -> Any:
    return model.seq if model is AuditEntry else model.id  # type: ignore[attr-defined]


def _rows(session: Session, model: type[Base]) -> Iterator[Base]:
    yield from session.execute(select(model).order_by(_key(model))).scalars()


def _fhir(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The FHIR face of a row; the full row rides along in an extension."""
    rid = str(row.get("id", row.get("seq")))
    base: dict[str, Any]
    if table == "prescriber":
        base = {"resourceType": "Practitioner", "identifier": [{"system": "urn:rxguard:key", "value": row["key"]}],
                "name": [{"text": row["name"]}]}  # fmt: skip
    elif table in ("site", "pharmacy"):
        base = {"resourceType": "Organization", "identifier": [{"system": "urn:rxguard:key", "value": row["key"]}],
                "name": row["name"], "type": [{"text": "infusion site" if table == "site" else "pharmacy"}]}  # fmt: skip
        if table == "pharmacy":
            base["partOf"] = {"reference": f"Organization/{row['site_id']}"}
    elif table == "patient":
        base = {"resourceType": "Patient", "identifier": [{"system": "urn:rxguard:key", "value": row["key"]}],
                "name": [{"text": row["name"]}]}  # fmt: skip
        if row.get("birth_on"):
            base["birthDate"] = row["birth_on"]
        if row.get("sex"):
            base["gender"] = row["sex"]
    elif table == "consent":
        base = {"resourceType": "Consent", "status": "active", "dateTime": row["prescriber_signed_at"],
                "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                      "code": "treatment"}]},
                "category": [{"text": "restricted-distribution program consent"}],
                "policyRule": {"text": f"{row['document_id']} {row['document_version']} ({row['language']})"}}  # fmt: skip
    elif table == "infusion":
        base = {"resourceType": "MedicationAdministration", "status": "completed",
                "subject": {"reference": f"Patient/{row['patient_id']}"},
                "medicationCodeableConcept": {"text": f"{row['drug']} ({row['product']}, lot {row['lot']})"},
                "effectivePeriod": {"start": row["started_at"], "end": row["stopped_at"]},
                "dosage": {"dose": {"value": row["dose"], "unit": row["dose_unit"]}}}  # fmt: skip
    elif table == "adverse_event":
        base = {"resourceType": "AdverseEvent", "actuality": "actual",
                "subject": {"reference": f"Patient/{row['patient_id']}"}, "date": row["onset_on"],
                "event": {"text": row["description"]}}  # fmt: skip
    elif table == "audit_entry":
        base = {"resourceType": "AuditEvent", "recorded": row["at"], "action": "U",
                "type": {"system": "urn:rxguard:audit-action", "code": row["action"]},
                "agent": [{"requestor": True, "who": {"display": row["actor"]}}],
                "source": {"observer": {"display": "rxguard"}},
                "entity": [{"what": {"display": f"{row['entity']}/{row['entity_id']}"}}]}  # fmt: skip
    else:
        base = {"resourceType": "Basic", "code": {"coding": [{"system": TABLE_EXTENSION, "code": table}]}}
    base["id"] = rid if table != "audit_head" else "audit-head"
    base.setdefault("extension", []).extend(
        [{"url": TABLE_EXTENSION, "valueCode": table},
         {"url": ROW_EXTENSION, "valueString": orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode()}]
    )  # fmt: skip
    return base


def export_ndjson(session: Session) -> Iterator[str]:
    """Every program row as one FHIR resource per line, in import order."""
    for model in MODELS:
        for row in _rows(session, model):
            yield orjson.dumps(_fhir(model.__tablename__, _exportable(model.__tablename__, row_dict(row)))).decode()


class _Line(NamedTuple):
    number: int
    table: str
    row: dict[str, Any]


def _parse(lines: Iterable[str]) -> Iterator[_Line]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            resource = orjson.loads(line)
            extensions = {e["url"]: e for e in resource.get("extension", [])}
            table = extensions[TABLE_EXTENSION]["valueCode"]
            row = orjson.loads(extensions[ROW_EXTENSION]["valueString"])
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"line {number}: not an rxguard FHIR NDJSON export line ({exc})") from exc
        if table not in BY_TABLE:
            raise InputError(f"line {number}: unknown table {table!r}")
        if not isinstance(row, dict):
            raise InputError(f"line {number}: the {ROW_EXTENSION} extension of a {table} row is not a JSON object")
        yield _Line(number, table, row)


def _value(line: _Line, column: Column[Any]) -> Any:
    """One column's value read from the file and checked against the column, or an error naming line and field."""
    where = f"line {line.number}: {line.table}.{column.name}"
    if column.name not in line.row:
        raise InputError(f"{where} is missing; the export is incomplete")
    value = line.row[column.name]
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
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > validation.MAX_COUNT:
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


def _restore(line: _Line) -> dict[str, Any]:
    table = _table(line.table)
    unknown = sorted(set(line.row) - set(table.columns.keys()))
    if unknown:
        raise InputError(
            f"line {line.number}: {line.table} has no column {unknown[0]}; this file is not from this rxguard"
        )
    return {column.key: _value(line, column) for column in table.columns}


def _check_references(grouped: dict[str, list[tuple[_Line, dict[str, Any]]]]) -> None:
    """Before anything is written: keys unique, and every reference points at a row of the file."""
    for table_name, rows in grouped.items():
        table = _table(table_name)
        keys = [tuple(c.name for c in table.primary_key.columns)]
        keys += [tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)]
        keys += [(c.name,) for c in table.columns if c.unique]
        for names in keys:
            seen: dict[tuple[Any, ...], int] = {}
            for line, values in rows:
                key = tuple(values[_attr(table, n)] for n in names)
                if None in key:
                    continue
                if key in seen:
                    raise InputError(
                        f"line {line.number}: {table_name} ({', '.join(names)}) repeats line {seen[key]}; "
                        "this file cannot be restored"
                    )
                seen[key] = line.number
        for fk in table.foreign_key_constraints:
            target = fk.referred_table.name
            if target not in grouped:
                continue
            local = [e.parent.name for e in fk.elements]
            remote = [e.column.name for e in fk.elements]
            present = {tuple(v[_attr(fk.referred_table, n)] for n in remote) for _, v in grouped[target]}
            for line, values in rows:
                key = tuple(values[_attr(table, n)] for n in local)
                if None not in key and key not in present:
                    raise InputError(
                        f"line {line.number}: {table_name}.{', '.join(local)} = {', '.join(map(str, key))} names "
                        f"no {target} in this file; the export is incomplete"
                    )


def _table(name: str) -> Table:
    table: Table = BY_TABLE[name].__table__  # type: ignore[assignment]
    return table


def _attr(table: Any, name: str) -> str:
    return str(table.columns[name].key)


def is_empty(session: Session) -> bool:
    return all(session.execute(select(func.count()).select_from(m)).scalar_one() == 0 for m in MODELS)


def import_ndjson(session: Session, lines: Iterable[str]) -> dict[str, int]:
    """Load an export into an empty database; the caller's transaction makes it all or nothing.

    Every line is read and checked first (each column against its table, unique keys, references
    within the file), so a file that cannot be restored fully is refused before anything is
    written, with the line and field at fault. The rows are then inserted in dependency order; a
    database constraint that still refuses one names its line. Last, the audit chain is verified.
    """
    if not is_empty(session):
        raise InputError("import needs an empty database (run 'rxguard db upgrade' on a new one)")
    grouped: dict[str, list[tuple[_Line, dict[str, Any]]]] = {table: [] for table in BY_TABLE}
    for line in _parse(lines):
        grouped[line.table].append((line, _restore(line)))
    _check_references(grouped)
    counts: dict[str, int] = {}
    for model in MODELS:
        rows = grouped[model.__tablename__]
        _insert_all(session, model, rows)
        counts[model.__tablename__] = len(rows)
    report = audit.verify(session)
    if not report.ok:
        raise InputError(f"the imported audit chain does not verify: {report.message()}; nothing was imported")
    return counts


def _insert_all(session: Session, model: type[Base], rows: list[tuple[_Line, dict[str, Any]]]) -> None:
    """All rows of one table; when the database refuses the batch, find the line it refused."""
    try:
        with session.begin_nested():
            session.add_all(model(**values) for _, values in rows)
            session.flush()
        return
    except (IntegrityError, DataError, StatementError):
        pass
    for line, values in rows:
        try:
            with session.begin_nested():
                session.add(model(**values))
                session.flush()
        except (IntegrityError, DataError, StatementError) as exc:
            cause = getattr(exc, "orig", None)
            raise InputError(
                f"line {line.number}: the database refused this {model.__tablename__} row "
                f"({type(cause or exc).__name__}: {str(cause or exc).splitlines()[0][:200]}); nothing was imported"
            ) from None
    raise InputError(  # pragma: no cover - a batch refused that no single row explains
        f"the database refused the {model.__tablename__} rows as a whole; nothing was imported"
    )


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The whole program state as plain data, for comparing two instances."""
    return {model.__tablename__: [row_dict(row) for row in _rows(session, model)] for model in MODELS}


def parse_rows(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for every line of an export, in file order (for checks that need no database)."""
    for _, table, row in _parse(lines):
        yield table, row


def record_export(session: Session, *, resources: int, digest: str, at: datetime, actor: str) -> None:
    """An export is itself an audited act: who took the whole program out, how big, which bytes."""
    from rxguard.store import audit
    from rxguard.store.models import new_id

    audit.record(session, at=at, actor=actor, action="program.exported", entity="export", entity_id=new_id(),
                 payload={"resources": resources, "sha256": digest})  # fmt: skip
