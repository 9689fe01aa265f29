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

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Date, func, select
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
            yield orjson.dumps(_fhir(model.__tablename__, row_dict(row))).decode()


def _restore(model: type[Base], data: dict[str, Any]) -> Base:
    values: dict[str, Any] = {}
    for column in model.__table__.columns:
        if column.name not in data:
            raise InputError(f"{model.__tablename__} row lacks column {column.name}; the export is incomplete")
        value = data[column.name]
        if value is not None and isinstance(column.type, UtcDateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, Date):
            value = date.fromisoformat(value)
        values[column.key] = value
    return model(**values)


def _parse(lines: Iterable[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
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
        yield number, table, row


def is_empty(session: Session) -> bool:
    return all(session.execute(select(func.count()).select_from(m)).scalar_one() == 0 for m in MODELS)


def import_ndjson(session: Session, lines: Iterable[str]) -> dict[str, int]:
    """Load an export into an empty database; the caller's transaction makes it all or nothing."""
    if not is_empty(session):
        raise InputError("import needs an empty database (run 'rxguard db upgrade' on a new one)")
    grouped: dict[str, list[dict[str, Any]]] = {table: [] for table in BY_TABLE}
    for _, table, row in _parse(lines):
        grouped[table].append(row)
    counts: dict[str, int] = {}
    for model in MODELS:
        rows = grouped[model.__tablename__]
        for data in rows:
            session.add(_restore(model, data))
        session.flush()
        counts[model.__tablename__] = len(rows)
    return counts


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
