"""What the REMS ETASU status reads: certification states, the patient's sites, forms done, the last visit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.store.auth_models import PatientSite
from rxguard.store.models import Authorization, Certification, Enrollment, FormRecord, Site


def certification_status(
    session: Session, program_id: str, *, prescriber_id: str | None = None, site_id: str | None = None
) -> str | None:
    """The prescriber's (or the site's) certification status in the program; None when not enrolled."""
    query = select(Certification.status).where(Certification.program_id == program_id)
    if prescriber_id:
        query = query.where(Certification.prescriber_id == prescriber_id)
    else:
        query = query.where(Certification.site_id == site_id)
    return session.execute(query).scalar_one_or_none()


def patient_sites(session: Session, patient_id: str, enrollment_id: str) -> list[str]:
    """The sites assigned to the patient or that authorized a dose of this enrollment."""
    assigned = select(PatientSite.site_id).where(PatientSite.patient_id == patient_id)
    treated = select(Authorization.site_id).where(Authorization.enrollment_id == enrollment_id)
    return list(session.execute(select(Site.id).where(Site.id.in_(assigned.union(treated)))).scalars())


def forms_done(session: Session, enrollment_id: str) -> set[str]:
    return set(session.execute(select(FormRecord.form_id).where(FormRecord.enrollment_id == enrollment_id)).scalars())


def last_visit(session: Session, enrollment_id: str) -> tuple[datetime, str, str] | None:
    """(visit time, decision, status) of the enrollment's latest authorization, if any."""
    row = session.execute(
        select(Authorization.visit_at, Authorization.decision, Authorization.status)
        .where(Authorization.enrollment_id == enrollment_id)
        .order_by(Authorization.visit_at.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def enrollment_in(session: Session, program_id: str, patient_id: str) -> Enrollment | None:
    stmt = select(Enrollment).where(Enrollment.program_id == program_id, Enrollment.patient_id == patient_id)
    return session.execute(stmt).scalar_one_or_none()


def programs_of(session: Session, patient_id: str) -> set[str]:
    return set(session.execute(select(Enrollment.program_id).where(Enrollment.patient_id == patient_id)).scalars())
