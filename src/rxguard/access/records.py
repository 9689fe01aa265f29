"""Scoped reads of program records for the interfaces (lists with totals, one patient's file).

The program services own every write; these are the read queries the REST
API needs, each filtered by :func:`rxguard.access.scope.visible_patient_ids`
so a list can never hold a patient outside the caller's scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from rxguard.access.policy import Principal
from rxguard.access.scope import visible_patient_ids
from rxguard.errors import NotFoundError
from rxguard.program.enrollment import effective_status
from rxguard.store import audit
from rxguard.store.auth_models import PatientSite
from rxguard.store.models import AdverseEvent, Base, Enrollment, Patient, Prescriber, Site

Row = TypeVar("Row", bound=Base)


def _page(session: Session, stmt: Select[Any], limit: int, offset: int) -> tuple[Sequence[Any], int]:
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = session.execute(stmt.limit(limit).offset(offset)).scalars().all()
    return rows, int(total)


def record_read(session: Session, principal: Principal, patient: Patient, *, at: datetime, what: str) -> None:
    """Who read which patient's record: one audit entry, written with the request's own commit
    (queued on the session, so it adds no round trip before the answer is built)."""
    audit.record(session, at=at, actor=principal.name, action="patient.read", entity="patient",
                 entity_id=patient.id, payload={"what": what, "role": principal.role})  # fmt: skip


def list_prescribers(session: Session, limit: int, offset: int) -> tuple[Sequence[Prescriber], int]:
    return _page(session, select(Prescriber).order_by(Prescriber.key), limit, offset)


def list_sites(session: Session, limit: int, offset: int) -> tuple[Sequence[Site], int]:
    return _page(session, select(Site).order_by(Site.key), limit, offset)


def list_patients(session: Session, principal: Principal, limit: int, offset: int) -> tuple[Sequence[Patient], int]:
    stmt = select(Patient).order_by(Patient.key)
    ids = visible_patient_ids(principal)
    if ids is not None:
        stmt = stmt.where(Patient.id.in_(ids))
    return _page(session, stmt, limit, offset)


def visible_patient_keys(session: Session, principal: Principal) -> set[str] | None:
    ids = visible_patient_ids(principal)
    if ids is None:
        return None
    return set(session.execute(select(Patient.key).where(Patient.id.in_(ids))).scalars())


def list_adverse_events(
    session: Session, principal: Principal, limit: int, offset: int
) -> tuple[Sequence[AdverseEvent], int]:
    stmt = select(AdverseEvent).order_by(AdverseEvent.reported_at, AdverseEvent.id)
    ids = visible_patient_ids(principal)
    if ids is not None:
        stmt = stmt.where(AdverseEvent.patient_id.in_(ids))
    return _page(session, stmt, limit, offset)


def scoped_adverse_event(session: Session, principal: Principal, event_id: str) -> AdverseEvent:
    """An adverse event of a patient in scope, or NotFoundError (out of scope reads as not found)."""
    row = session.get(AdverseEvent, event_id)
    ids = visible_patient_ids(principal)
    visible = row is not None and (
        ids is None or session.execute(select(Patient.id).where(Patient.id == row.patient_id, Patient.id.in_(ids)))
        .first() is not None
    )  # fmt: skip
    if row is None or not visible:
        raise NotFoundError(f"no adverse event {event_id!r} in your scope; check the id")
    return row


def patient_file(session: Session, patient: Patient, *, on: Any) -> dict[str, Any]:
    """A patient's standing: enrollments (with the status in force today) and caring sites."""
    enrollments = session.execute(
        select(Enrollment, Prescriber.key)
        .join(Prescriber, Prescriber.id == Enrollment.prescriber_id)
        .where(Enrollment.patient_id == patient.id)
        .order_by(Enrollment.enrolled_at)
    ).all()
    sites = session.execute(
        select(Site.key).join(PatientSite, PatientSite.site_id == Site.id).where(PatientSite.patient_id == patient.id)
    ).scalars()
    return {
        "key": patient.key,
        "name": patient.name,
        "birth_on": patient.birth_on.isoformat() if patient.birth_on else None,
        "sex": patient.sex,
        "sites": sorted(sites),
        "enrollments": [
            {
                "id": e.id,
                "program": e.program_id,
                "drug": e.drug,
                "prescriber": prescriber_key,
                "indication": e.indication,
                "status": effective_status(e, on),
                "enrolled_at": e.enrolled_at.isoformat(),
                "authorized_until_on": e.authorized_until_on.isoformat() if e.authorized_until_on else None,
                "follow_up_due_on": e.follow_up_due_on.isoformat() if e.follow_up_due_on else None,
            }
            for e, prescriber_key in enrollments
        ],
    }
