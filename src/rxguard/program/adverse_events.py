"""Adverse events: record, code, act (a kind the pack marks as suspending suspends at once), clock, export.

The kinds are pack data (``record_kinds.adverse_events`` in ``program.yaml``), each
with its title and, when a report of it stops treatment at once, the reason and the
citation; this module checks a report against the enrollment's pack.

Exports: a FHIR R4 ``AdverseEvent`` and the MedWatch 3500A field set
(sections A patient, B event, C suspect product, G reporter/manufacturer
fields rxguard can fill) as JSON and CSV. Field names follow the 3500A
section letters so a safety officer can transcribe them. The ICH E2B(R3)
ICSR is in :mod:`rxguard.program.icsr`.

**MedDRA.** rxguard ships no MedDRA (it is licensed). The reporter or the
safety officer supplies the version and the LLT (and PT) codes; rxguard checks
their shape only (version ``NN.N``, at most 4 characters; codes 8 digits, as
the E2B(R3) element list gives E.i.2.1a and E.i.2.1b) and never makes one up.

**The 15-day alert clock.** 21 CFR 314.80(c)(1)(i) and 600.80(c)(1)(i):
each adverse experience that is both serious and unexpected is reported to
FDA as a "15-day Alert report" as soon as possible and no later than 15
calendar days from initial receipt of the information (the 1997 final rule,
62 FR 52237, set calendar days and the ICH definitions). rxguard counts from
the day the report was recorded; an event whose expectedness nobody assessed
is counted as well (not verified never waves through) until someone marks it
``expected`` (listed in the current labeling) or records the submission.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.knowledge.program import AdverseEventKind
from rxguard.program import validation
from rxguard.program.common import by_id, flush_or_conflict, require_aware
from rxguard.program.enrollment import enrollment_of, suspend_patient
from rxguard.program.monitoring import DueRow
from rxguard.program.registry import get_program
from rxguard.store import adverse_events as reads
from rxguard.store import audit
from rxguard.store.models import (
    ADVERSE_EVENT_OUTCOMES,
    AdverseEvent,
    Enrollment,
    Infusion,
    Patient,
    Prescriber,
)
from rxguard.store.transitions import Reason

SERIOUSNESS = (
    "death",
    "life-threatening",
    "hospitalisation",
    "disability",
    "congenital-anomaly",
    "required-intervention",
    "other-serious",
)
EXPECTEDNESS = ("unexpected", "expected", "unassessed")
ALERT_DAYS = 15
ALERT_ITEM = "fifteen-day-alert-report"
MEDDRA_SYSTEM = "http://terminology.hl7.org/CodeSystem/mdr"
_MEDDRA_VERSION = re.compile(r"^\d{1,2}\.\d$")
_MEDDRA_CODE = re.compile(r"^\d{8}$")
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
    expectedness: str = "unassessed",
    meddra_version: str | None = None,
    meddra_llt: str | None = None,
    meddra_pt: str | None = None,
) -> AdverseEvent:
    """Record an event; a kind the pack marks as suspending suspends the authorization at once."""
    require_aware(at)
    if expectedness not in EXPECTEDNESS:
        raise InputError(f"expectedness {expectedness!r} must be one of {', '.join(EXPECTEDNESS)}")
    check_meddra(meddra_version, meddra_llt, meddra_pt)
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
    declared = adverse_event_kind(enrollment.program_id, kind)
    patient_row = session.get(Patient, enrollment.patient_id)
    validation.clinical_date(onset_on, "onset_on", now=at, born=patient_row.birth_on if patient_row else None)
    event = AdverseEvent(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        kind=kind,
        serious=serious,
        seriousness={"criteria": sorted(seriousness), "expectedness": expectedness},
        meddra_version=meddra_version,
        meddra_llt=meddra_llt,
        meddra_pt=meddra_pt,
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
            "expectedness": expectedness,
            "meddra": [meddra_version, meddra_llt, meddra_pt],
        },
    )
    if declared.suspends is not None:
        cited = [f"{c.source} {c.section}" for c in declared.suspends.sources]
        suspend_patient(
            session,
            enrollment,
            at=at,
            actor=actor,
            reason=Reason(
                f"{kind} reported: {declared.suspends.reason} ({'; '.join(cited)})",
                "event-suspends",
                {"event": kind, "sources": cited},
            ),
        )
    flush_or_conflict(session, "adverse event")
    return event


def adverse_event_kinds(program_id: str) -> list[AdverseEventKind]:
    """The adverse event kinds the program's pack declares."""
    return list(get_program(program_id).kinds.adverse_events)


def adverse_event_kind(program_id: str, kind: str) -> AdverseEventKind:
    kinds = adverse_event_kinds(program_id)
    for declared in kinds:
        if declared.id == kind:
            return declared
    known = ", ".join(k.id for k in kinds) or "none"
    raise InputError(f"adverse event kind {kind!r} is not one program {program_id} records; use one of {known}")


def suspending_kinds(program_id: str) -> set[str]:
    """The kinds whose report suspends treatment at once in this program."""
    return {k.id for k in adverse_event_kinds(program_id) if k.suspends is not None}


def enrollment_program(session: Session, event: AdverseEvent) -> str:
    return by_id(session, Enrollment, event.enrollment_id).program_id


def event_context(session: Session, event: AdverseEvent) -> tuple[Enrollment, Patient, Prescriber, Infusion | None]:
    enrollment = by_id(session, Enrollment, event.enrollment_id)
    patient_row = by_id(session, Patient, event.patient_id)
    doc = by_id(session, Prescriber, enrollment.prescriber_id)
    last = reads.last_infusion(session, event.patient_id, enrollment.drug)
    return enrollment, patient_row, doc, last


def to_fhir(session: Session, event: AdverseEvent) -> dict[str, Any]:
    """FHIR R4 AdverseEvent (actuality actual; suspect entity = the drug)."""
    enrollment, patient_row, doc, last = event_context(session, event)
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": event.id,
        # Every recorded event happened: a *suspected* event is an actual event whose diagnosis is not yet
        # confirmed ("potential" would mean an event that did not occur, a near miss).
        "actuality": "actual",
        "event": {"coding": _event_coding(event), "text": event.description},
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


def _event_coding(event: AdverseEvent) -> list[dict[str, str]]:
    coding = [{"system": "urn:rxguard:adverse-event-kind", "code": event.kind}]
    for code in (event.meddra_llt, event.meddra_pt):
        if code:
            coding.append({"system": MEDDRA_SYSTEM, "version": event.meddra_version or "", "code": code})
    return coding


def check_meddra(version: str | None, llt: str | None, pt: str | None) -> None:
    """The shape of reporter-supplied MedDRA coding (rxguard cannot check that a code exists)."""
    if (llt or pt) and not version:
        raise InputError("a MedDRA code needs the MedDRA version it comes from (e.g. --meddra-version 27.1)")
    if version is not None and not _MEDDRA_VERSION.match(version):
        raise InputError(f"MedDRA version {version!r} must look like 27.1 (at most 4 characters)")
    for name, code in (("LLT", llt), ("PT", pt)):
        if code is not None and not _MEDDRA_CODE.match(code):
            raise InputError(f"MedDRA {name} code {code!r} must be 8 digits, as MedDRA gives it")
    if version and not llt:
        raise InputError("give the MedDRA LLT code (E2B(R3) E.i.2.1b) with the version")


def code_adverse_event(
    session: Session, *, event_id: str, version: str, llt: str, pt: str | None, at: datetime, actor: str
) -> AdverseEvent:
    """Record the MedDRA coding of a reported event (the reporter's or the safety officer's)."""
    require_aware(at)
    check_meddra(version, llt, pt)
    event = by_id(session, AdverseEvent, event_id)
    before = [event.meddra_version, event.meddra_llt, event.meddra_pt]
    event.meddra_version, event.meddra_llt, event.meddra_pt = version, llt, pt
    flush_or_conflict(session, "adverse event coding")
    audit.record(session, at=at, actor=actor, action="adverse_event.coded", entity="adverse_event",
                 entity_id=event.id, payload={"before": before, "meddra": [version, llt, pt]})  # fmt: skip
    return event


def assess_expectedness(
    session: Session, *, event_id: str, expectedness: str, at: datetime, actor: str
) -> AdverseEvent:
    """Record whether the event is listed in the current labeling (expected) or not."""
    require_aware(at)
    if expectedness not in EXPECTEDNESS:
        raise InputError(f"expectedness {expectedness!r} must be one of {', '.join(EXPECTEDNESS)}")
    event = by_id(session, AdverseEvent, event_id)
    event.seriousness = {**event.seriousness, "expectedness": expectedness}
    flush_or_conflict(session, "adverse event expectedness")
    audit.record(session, at=at, actor=actor, action="adverse_event.expectedness", entity="adverse_event",
                 entity_id=event.id, payload={"expectedness": expectedness})  # fmt: skip
    return event


def record_alert_submission(session: Session, *, event_id: str, on: date, at: datetime, actor: str) -> AdverseEvent:
    """Record that the 15-day alert report was submitted (it leaves the clock)."""
    require_aware(at)
    event = by_id(session, AdverseEvent, event_id)
    if on < event.reported_at.date() or on > at.date():
        raise InputError("the submission date must be between the report and today")
    event.seriousness = {**event.seriousness, "alert_submitted_on": on.isoformat()}
    flush_or_conflict(session, "adverse event submission")
    audit.record(session, at=at, actor=actor, action="adverse_event.alert-submitted", entity="adverse_event",
                 entity_id=event.id, payload={"on": on})  # fmt: skip
    return event


def needs_alert_report(event: AdverseEvent) -> bool:
    """Serious and not assessed as expected, and not yet submitted."""
    info = event.seriousness or {}
    return event.serious and info.get("expectedness", "unassessed") != "expected" and not info.get("alert_submitted_on")


def alert_clock(session: Session, *, on: date, patient_keys: set[str] | None = None) -> list[DueRow]:
    """The 15-day alert reports still to submit, as rows of the due list (overdue after day 15)."""
    out = []
    for event, key, program in reads.serious_events(session):
        if not needs_alert_report(event) or (patient_keys is not None and key not in patient_keys):
            continue
        due_on = event.reported_at.date() + timedelta(days=ALERT_DAYS)
        days_left = (due_on - on).days
        status = "overdue" if days_left < 0 else "due"
        assessed = event.seriousness.get("expectedness", "unassessed")
        title = (f"15-day alert report to FDA ({event.kind}, {assessed}; 21 CFR 314.80(c)(1)(i) / 600.80(c)(1)(i)): "
                 f"event {event.id}")  # fmt: skip
        out.append(DueRow(key, program, ALERT_ITEM, title, due_on, status))
    return out


def to_medwatch(session: Session, event: AdverseEvent) -> dict[str, Any]:
    """The MedWatch 3500A fields rxguard holds, keyed by section and item."""
    enrollment, patient_row, doc, last = event_context(session, event)
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
    return reads.events(session, patient_key)
