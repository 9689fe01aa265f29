"""The reads behind adverse-event reports: the last infusion before an event, serious events, a patient's events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.store.models import AdverseEvent, Enrollment, Infusion, Patient


def last_infusion(session: Session, patient_id: str, drug: str) -> Infusion | None:
    """The patient's latest infusion of ``drug``, if any."""
    return session.execute(
        select(Infusion)
        .where(Infusion.patient_id == patient_id, Infusion.drug == drug)
        .order_by(Infusion.started_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def serious_events(session: Session) -> list[tuple[AdverseEvent, str, str]]:
    """(event, patient key, program) of every serious event, oldest report first."""
    rows = session.execute(
        select(AdverseEvent, Patient.key, Enrollment.program_id)
        .join(Patient, Patient.id == AdverseEvent.patient_id)
        .join(Enrollment, Enrollment.id == AdverseEvent.enrollment_id)
        .where(AdverseEvent.serious.is_(True))
        .order_by(AdverseEvent.reported_at)
    ).all()
    return [(event, key, program) for event, key, program in rows]


def events(session: Session, patient_key: str | None = None) -> list[AdverseEvent]:
    """Every adverse event (or one patient's, by key), oldest report first."""
    stmt = select(AdverseEvent).order_by(AdverseEvent.reported_at)
    if patient_key:
        stmt = stmt.join(Patient, Patient.id == AdverseEvent.patient_id).where(Patient.key == patient_key)
    return list(session.execute(stmt).scalars())
