"""Adverse events: record, act (suspected PML suspends at once), export.

Exports: a FHIR R4 ``AdverseEvent`` and the MedWatch 3500A field set
(sections A patient, B event, C suspect product, G reporter/manufacturer
fields rxguard can fill) as JSON and CSV. Field names follow the 3500A
section letters so a safety officer can transcribe them.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program import validation
from rxguard.program.common import by_id, flush_or_conflict, require_aware
from rxguard.program.enrollment import enrollment_of, suspend_patient
from rxguard.store import audit
from rxguard.store.models import (
    ADVERSE_EVENT_KINDS,
    ADVERSE_EVENT_OUTCOMES,
    AdverseEvent,
    Enrollment,
    Infusion,
    Patient,
    Prescriber,
)

SERIOUSNESS = (
    "death",
    "life-threatening",
    "hospitalisation",
    "disability",
    "congenital-anomaly",
    "required-intervention",
    "other-serious",
)
SUSPENDS = {"pml-suspected", "pml-confirmed"}
_FHIR_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
_FHIR_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
_OUTCOME_CODES = {
    "recovered": "resolved",
    "recovering": "recovering",
    "not-recovered": "ongoing",
    "recovered-with-sequelae": "resolvedWithSequelae",
    "fatal": "fatal",
    "unknown": "unknown",
}


def report_adverse_event(
    session: Session,
    *,
    program_id: str | None,
    patient_key: str,
    kind: str,
    serious: bool,
    seriousness: list[str],
    onset_on: date,
    outcome: str,
    description: str,
    at: datetime,
    actor: str,
) -> AdverseEvent:
    """Record an event; a suspected or confirmed PML suspends the authorization at once."""
    require_aware(at)
    if kind not in ADVERSE_EVENT_KINDS:
        raise InputError(f"adverse event kind {kind!r} must be one of {', '.join(ADVERSE_EVENT_KINDS)}")
    if outcome not in ADVERSE_EVENT_OUTCOMES:
        raise InputError(f"outcome {outcome!r} must be one of {', '.join(ADVERSE_EVENT_OUTCOMES)}")
    unknown = sorted(set(seriousness) - set(SERIOUSNESS))
    if unknown:
        raise InputError(f"seriousness {', '.join(unknown)} not known; use {', '.join(SERIOUSNESS)}")
    if seriousness and not serious:
        raise InputError("seriousness criteria given for an event marked not serious")
    if onset_on > at.date():
        raise InputError("the onset cannot be after the report")
    if not description.strip():
        raise InputError("describe the event")
    description = validation.clean_text(description, "description", max_length=4000, multiline=True)
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    patient_row = session.get(Patient, enrollment.patient_id)
    validation.clinical_date(onset_on, "onset_on", now=at, born=patient_row.birth_on if patient_row else None)
    event = AdverseEvent(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        kind=kind,
        serious=serious,
        seriousness={"criteria": sorted(seriousness)},
        onset_on=onset_on,
        outcome=outcome,
        description=description,
        reported_at=at,
        actor=actor,
    )
    session.add(event)
    flush_or_conflict(session, "adverse event")
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"adverse_event.{kind}",
        entity="adverse_event",
        entity_id=event.id,
        payload={
            "enrollment": enrollment.id,
            "serious": serious,
            "seriousness": sorted(seriousness),
            "onset_on": onset_on,
            "outcome": outcome,
        },
    )
    if kind in SUSPENDS:
        suspend_patient(
            session, enrollment, at=at, actor=actor, reason=f"{kind} reported: withhold dosing at the first sign of PML"
        )
    flush_or_conflict(session, "adverse event")
    return event


def _context(session: Session, event: AdverseEvent) -> tuple[Enrollment, Patient, Prescriber, Infusion | None]:
    enrollment = by_id(session, Enrollment, event.enrollment_id)
    patient_row = by_id(session, Patient, event.patient_id)
    doc = by_id(session, Prescriber, enrollment.prescriber_id)
    last = session.execute(
        select(Infusion)
        .where(Infusion.patient_id == event.patient_id, Infusion.drug == enrollment.drug)
        .order_by(Infusion.started_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return enrollment, patient_row, doc, last


def to_fhir(session: Session, event: AdverseEvent) -> dict[str, Any]:
    """FHIR R4 AdverseEvent (actuality actual; suspect entity = the drug)."""
    enrollment, patient_row, doc, last = _context(session, event)
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": event.id,
        "actuality": "potential" if event.kind == "pml-suspected" else "actual",
        "event": {
            "coding": [{"system": "urn:rxguard:adverse-event-kind", "code": event.kind}],
            "text": event.description,
        },
        "subject": {"reference": f"Patient/{patient_row.id}", "display": patient_row.key},
        "date": event.onset_on.isoformat(),
        "recordedDate": event.reported_at.isoformat(),
        "recorder": {"reference": f"Practitioner/{doc.id}", "display": doc.key},
        "seriousness": {
            "coding": [{"system": _FHIR_SERIOUSNESS, "code": "serious" if event.serious else "non-serious"}]
        },
        "outcome": {"coding": [{"system": _FHIR_OUTCOME, "code": _OUTCOME_CODES[event.outcome]}]},
        "suspectEntity": [
            {
                "instance": {
                    "display": f"{enrollment.drug} ({last.product}, lot {last.lot})" if last else enrollment.drug
                }
            }
        ],
        "extension": [
            {"url": "urn:rxguard:program", "valueString": enrollment.program_id},
            {"url": "urn:rxguard:seriousness-criteria", "valueString": ",".join(event.seriousness.get("criteria", []))},
        ],
    }
    return resource


def to_medwatch(session: Session, event: AdverseEvent) -> dict[str, Any]:
    """The MedWatch 3500A fields rxguard holds, keyed by section and item."""
    enrollment, patient_row, doc, last = _context(session, event)
    criteria = set(event.seriousness.get("criteria", []))
    return {
        "A1_patient_identifier": patient_row.key,
        "A2_age_or_birth_date": patient_row.birth_on.isoformat() if patient_row.birth_on else "",
        "A3_sex": patient_row.sex or "",
        "B1_adverse_event": True,
        "B1_product_problem": False,
        "B2_outcome_death": "death" in criteria or event.outcome == "fatal",
        "B2_outcome_life_threatening": "life-threatening" in criteria,
        "B2_outcome_hospitalization": "hospitalisation" in criteria,
        "B2_outcome_disability": "disability" in criteria,
        "B2_outcome_congenital_anomaly": "congenital-anomaly" in criteria,
        "B2_outcome_required_intervention": "required-intervention" in criteria,
        "B2_outcome_other_serious": "other-serious" in criteria,
        "B3_date_of_event": event.onset_on.isoformat(),
        "B4_date_of_this_report": event.reported_at.date().isoformat(),
        "B5_description": f"[{event.kind}] {event.description}",
        "C1_suspect_product": enrollment.drug,
        "C1_brand": last.product if last else "",
        "C2_dose_frequency_route": f"{last.dose:g} {last.dose_unit} IV" if last else "",
        "C3_therapy_dates_last": last.started_at.date().isoformat() if last else "",
        "C4_indication": enrollment.indication,
        "C6_lot": last.lot if last else "",
        "E1_reporter": doc.name,
        "G_program": enrollment.program_id,
        "G_outcome": event.outcome,
        "G_serious": event.serious,
    }


def medwatch_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def list_events(session: Session, patient_key: str | None = None) -> list[AdverseEvent]:
    stmt = select(AdverseEvent).order_by(AdverseEvent.reported_at)
    if patient_key:
        stmt = stmt.join(Patient, Patient.id == AdverseEvent.patient_id).where(Patient.key == patient_key)
    return list(session.execute(stmt).scalars())
