"""Look-ups and locks every program service uses: participants by key, rows by id, the patient's enrollment."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.errors import InputError, NotFoundError
from rxguard.store.models import (
    Authorization,
    Base,
    Certification,
    Enrollment,
    Patient,
    Prescriber,
    Site,
)

Row = TypeVar("Row", bound=Base)


def by_key(session: Session, model: type[Row], key: str) -> Row:
    """A participant by its human key (``dr_ada``, ``site_north``, ``pat_amy``)."""
    row = session.execute(select(model).where(model.key == key)).scalar_one_or_none()  # type: ignore[attr-defined]
    if row is None:
        kind = model.__tablename__.replace("_", " ")
        raise NotFoundError(f"no {kind} with key {key!r}; register it first or check the spelling")
    return row


def by_id(session: Session, model: type[Row], row_id: str, *, lock: bool = False) -> Row:
    stmt = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock:
        # populate_existing: a row read earlier in this session must be refreshed from the locked
        # read, or a change another transaction committed while we waited for the lock is lost.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        kind = model.__tablename__.replace("_", " ")
        raise NotFoundError(f"no {kind} with id {row_id!r}")
    return row


def prescriber(session: Session, key: str) -> Prescriber:
    return by_key(session, Prescriber, key)


def site(session: Session, key: str) -> Site:
    return by_key(session, Site, key)


def patient(session: Session, key: str) -> Patient:
    return by_key(session, Patient, key)


def lock_enrollment(session: Session, enrollment_id: str) -> Enrollment:
    """Lock the patient's enrollment row: every per-patient decision runs under it."""
    return by_id(session, Enrollment, enrollment_id, lock=True)


def lock_enrollment_of(session: Session, authorization_id: str) -> Enrollment:
    """Lock the enrollment an authorization belongs to, found in the same statement."""
    of_authorization = select(Authorization.enrollment_id).where(Authorization.id == authorization_id)
    stmt = (
        select(Enrollment)
        .where(Enrollment.id == of_authorization.scalar_subquery())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    enrollment = session.execute(stmt).scalar_one_or_none()
    if enrollment is None:
        by_id(session, Authorization, authorization_id)  # NotFoundError
        raise AssertionError(f"authorization {authorization_id} has no enrollment")  # pragma: no cover (a foreign key)
    return enrollment


def find_enrollment(session: Session, patient_row: Patient, program_id: str | None) -> Enrollment:
    """The patient's enrollment in ``program_id``, or their only one when none is named."""
    stmt = select(Enrollment).where(Enrollment.patient_id == patient_row.id)
    if program_id:
        stmt = stmt.where(Enrollment.program_id == program_id)
    rows = list(session.execute(stmt.order_by(Enrollment.enrolled_at)).scalars())
    if not rows:
        where = f" in program {program_id}" if program_id else ""
        raise NotFoundError(f"patient {patient_row.key} is not enrolled{where}; enroll them first")
    if len(rows) > 1:
        programs = ", ".join(r.program_id for r in rows)
        raise InputError(f"patient {patient_row.key} is enrolled in {programs}; name the program")
    return rows[0]


def certification_for(
    session: Session,
    program_id: str,
    *,
    prescriber_id: str | None = None,
    site_id: str | None = None,
    lock: bool = False,
    share: bool = False,
) -> Certification | None:
    stmt = select(Certification).where(Certification.program_id == program_id)
    if prescriber_id is not None:
        stmt = stmt.where(Certification.prescriber_id == prescriber_id)
    else:
        stmt = stmt.where(Certification.site_id == site_id)
    if lock or share:
        stmt = stmt.with_for_update(read=share and not lock).execution_options(populate_existing=True)
    return session.execute(stmt).scalar_one_or_none()


def key_exists(session: Session, model: type[Base], key: str) -> bool:
    """Whether a participant with this human key exists."""
    return session.execute(select(model.id).where(model.key == key)).first() is not None  # type: ignore[attr-defined]


def site_timezone(session: Session, site_id: str) -> str | None:
    """A site's own time zone name (None: the installation's zone)."""
    return session.execute(select(Site.timezone).where(Site.id == site_id)).scalar_one_or_none()
