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
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.store import audit
from rxguard.store import transfer as tables
from rxguard.store.models import new_id

ROW_EXTENSION = "urn:rxguard:row"
TABLE_EXTENSION = "urn:rxguard:table"


def _exportable(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row, or an error naming a value JSON cannot carry (NaN, infinity): such a backup would not restore."""
    for name, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(
                f"{table} {row.get('id', row.get('seq'))}: column {name} holds {value}, which an export cannot "
                "carry and an import could not restore; correct that record before exporting"
            )
    return row


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
    for table in tables.TABLES:
        for row in tables.rows(session, table):
            yield orjson.dumps(_fhir(table, _exportable(table, row))).decode()


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
        if table not in tables.BY_TABLE:
            raise InputError(f"line {number}: unknown table {table!r}")
        if not isinstance(row, dict):
            raise InputError(f"line {number}: the {ROW_EXTENSION} extension of a {table} row is not a JSON object")
        yield _Line(number, table, row)


def is_empty(session: Session) -> bool:
    return tables.is_empty(session)


def import_ndjson(session: Session, lines: Iterable[str]) -> dict[str, int]:
    """Load an export into an empty database; the caller's transaction makes it all or nothing.

    Every line is read and checked first (each column against its table, unique keys, references
    within the file), so a file that cannot be restored fully is refused before anything is
    written, with the line and field at fault. The rows are then inserted in dependency order; a
    database constraint that still refuses one names its line. Last, the audit chain is verified.
    """
    if not is_empty(session):
        raise InputError("import needs an empty database (run 'rxguard db upgrade' on a new one)")
    grouped: dict[str, list[tables.Restored]] = {table: [] for table in tables.TABLES}
    for line in _parse(lines):
        grouped[line.table].append((line.number, line.table, tables.restore(line.number, line.table, line.row)))
    tables.check_references(grouped)
    counts: dict[str, int] = {}
    for table in tables.TABLES:
        tables.insert_all(session, table, grouped[table])
        counts[table] = len(grouped[table])
    report = audit.verify(session)
    if not report.ok:
        raise InputError(f"the imported audit chain does not verify: {report.message()}; nothing was imported")
    return counts


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The whole program state as plain data, for comparing two instances."""
    return {table: list(tables.rows(session, table)) for table in tables.TABLES}


def parse_rows(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for every line of an export, in file order (for checks that need no database)."""
    for _, table, row in _parse(lines):
        yield table, row


def record_export(session: Session, *, resources: int, digest: str, at: datetime, actor: str) -> None:
    """An export is itself an audited act: who took the whole program out, how big, which bytes."""
    audit.record(session, at=at, actor=actor, action="program.exported", entity="export", entity_id=new_id(),
                 payload={"resources": resources, "sha256": digest})  # fmt: skip
