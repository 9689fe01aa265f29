"""The reads behind the dashboard and the patient file: one query per list, over the whole program.

Each function answers one question with one statement, narrowed by ``within`` (a
:data:`Scope`: a sub-query of the patient ids the caller may see, built by the
interface from its access rules; None means every patient), so a page never
loops over patients issuing a query each. What the rows mean (effective status,
dose windows, tones) is worked out in :mod:`rxguard.program.overview`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from rxguard.store.models import (
    AdverseEvent,
    Authorization,
    AuthorizationEvent,
    Clearance,
    Consent,
    Enrollment,
    EnrollmentEvent,
    Infusion,
    MonitoringEvent,
    Override,
    Patient,
    Prescriber,
    ScheduleItem,
    Site,
)
from rxguard.store.types import PatientIds

Scope = PatientIds | None
"""The patients a caller may see, as a sub-query of patient ids; None is every patient."""

INFUSABLE_STATUSES = ("authorized", "cleared", "overridden")


def only_patient(patient_id: str) -> PatientIds:
    """A scope of one patient."""
    return select(Patient.id).where(Patient.id == patient_id)


def _scoped(stmt: Any, column: Any, within: Scope) -> Any:
    """``stmt`` narrowed to the patients in ``within`` (typed loosely: SQLAlchemy's row tuples vary)."""
    return stmt if within is None else stmt.where(column.in_(within))


def _visit_rows(stmt: Any, site_id: str | None, within: Scope, session: Session) -> list[Any]:
    if site_id is not None:
        stmt = stmt.where(Authorization.site_id == site_id)
    return list(session.execute(_scoped(stmt, Authorization.patient_id, within)))


def visits_between(
    session: Session, *, start: datetime, end: datetime, within: Scope, site_id: str | None = None
) -> list[Any]:
    """(authorization, patient key, patient name, site key) of the checklists made in [start, end)."""
    stmt = (
        select(Authorization, Patient.key, Patient.name, Site.key)
        .join(Patient, Patient.id == Authorization.patient_id)
        .join(Site, Site.id == Authorization.site_id)
        .where(Authorization.visit_at >= start, Authorization.visit_at < end)
        .order_by(Authorization.visit_at)
    )
    return _visit_rows(stmt, site_id, within, session)


def unused_authorizations(
    session: Session, *, now: datetime, day_start: datetime, within: Scope, site_id: str | None = None
) -> list[Any]:
    """(authorization, patient key, patient name, site key) of doses infusable now with no infusion yet.

    An authorization without its own end is valid until the end of its visit day, which starts at
    ``day_start``.
    """
    stmt = (
        select(Authorization, Patient.key, Patient.name, Site.key)
        .join(Patient, Patient.id == Authorization.patient_id)
        .join(Site, Site.id == Authorization.site_id)
        .outerjoin(Infusion, Infusion.authorization_id == Authorization.id)
        .where(
            Infusion.id.is_(None),
            Authorization.status.in_(INFUSABLE_STATUSES),
            Authorization.is_infusable.is_(True),
            Authorization.visit_at <= now,
            or_(
                Authorization.valid_until > now,
                and_(Authorization.valid_until.is_(None), Authorization.visit_at >= day_start),
            ),
        )
        .order_by(Authorization.visit_at)
    )
    return _visit_rows(stmt, site_id, within, session)


def last_infusions_of_authorized(session: Session, *, within: Scope) -> list[Any]:
    """(enrollment, patient key, patient name, last infusion start, infusions) of authorized enrollments."""
    last = (
        select(
            Infusion.patient_id,
            Infusion.drug,
            func.max(Infusion.started_at).label("last"),
            func.count(Infusion.id).label("n"),
        )
        .group_by(Infusion.patient_id, Infusion.drug)
        .subquery()
    )
    stmt = (
        select(Enrollment, Patient.key, Patient.name, last.c.last, last.c.n)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .join(last, (last.c.patient_id == Enrollment.patient_id) & (last.c.drug == Enrollment.drug))
        .where(Enrollment.status == "authorized")
    )
    return list(session.execute(_scoped(stmt, Enrollment.patient_id, within)))


def held_authorizations(session: Session, *, within: Scope) -> list[Any]:
    """(authorization, patient key, patient name, site key, prescriber key) of doses on hold, oldest first."""
    stmt = (
        select(Authorization, Patient.key, Patient.name, Site.key, Prescriber.key)
        .join(Patient, Patient.id == Authorization.patient_id)
        .join(Site, Site.id == Authorization.site_id)
        .join(Prescriber, Prescriber.id == Authorization.prescriber_id)
        .where(Authorization.status == "hold")
        .order_by(Authorization.visit_at)
    )
    return list(session.execute(_scoped(stmt, Authorization.patient_id, within)))


def schedule_items(
    session: Session,
    *,
    within: Scope,
    before: date | None = None,
    through: date | None = None,
    after: date | None = None,
) -> list[Any]:
    """(patient key, patient name, program, item, title, due date) of kept calendar items.

    ``before``: due before that day; ``through``: due on or before it; ``after``: due after it.
    Ordered by due date, then patient key.
    """
    stmt = (
        select(
            Patient.key, Patient.name, Enrollment.program_id, ScheduleItem.item, ScheduleItem.title, ScheduleItem.due_on
        )
        .join(Enrollment, Enrollment.id == ScheduleItem.enrollment_id)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .order_by(ScheduleItem.due_on, Patient.key)
    )
    if before is not None:
        stmt = stmt.where(ScheduleItem.due_on < before)
    if through is not None:
        stmt = stmt.where(ScheduleItem.due_on <= through)
    if after is not None:
        stmt = stmt.where(ScheduleItem.due_on > after)
    return list(session.execute(_scoped(stmt, Enrollment.patient_id, within)))


def enrollments_expiring(session: Session, *, through: date, within: Scope) -> list[Any]:
    """(enrollment, patient key, patient name, prescriber key) whose authorization ends on or before ``through``."""
    stmt = (
        select(Enrollment, Patient.key, Patient.name, Prescriber.key)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .join(Prescriber, Prescriber.id == Enrollment.prescriber_id)
        .where(
            Enrollment.status.in_(("authorized", "lapsed")),
            Enrollment.authorized_until_on.is_not(None),
            Enrollment.authorized_until_on <= through,
        )
        .order_by(Enrollment.authorized_until_on, Patient.key)
    )
    return list(session.execute(_scoped(stmt, Enrollment.patient_id, within)))


def adverse_events_with_outcome(session: Session, *, outcomes: Sequence[str], within: Scope) -> list[Any]:
    """(event, patient key, patient name, program) of events with one of ``outcomes``, newest first."""
    stmt = (
        select(AdverseEvent, Patient.key, Patient.name, Enrollment.program_id)
        .join(Patient, Patient.id == AdverseEvent.patient_id)
        .join(Enrollment, Enrollment.id == AdverseEvent.enrollment_id)
        .where(AdverseEvent.outcome.in_(tuple(outcomes)))
        .order_by(AdverseEvent.reported_at.desc())
    )
    return list(session.execute(_scoped(stmt, AdverseEvent.patient_id, within)))


def unreconciled_overrides(session: Session, *, within: Scope) -> list[Any]:
    """(override, patient key, patient name, program id) of overrides not yet reconciled, oldest first."""
    stmt = (
        select(Override, Patient.key, Patient.name, Authorization.program_id)
        .join(Authorization, Authorization.id == Override.authorization_id)
        .join(Patient, Patient.id == Authorization.patient_id)
        .where(Override.reconciled_at.is_(None))
        .order_by(Override.at)
    )
    return list(session.execute(_scoped(stmt, Authorization.patient_id, within)))


def infusions_per_day(session: Session, *, since: datetime, within: Scope) -> list[tuple[Any, int]]:
    """(day, infusions) from ``since``; the day as the database gives it (a date, or its ISO text on SQLite)."""
    day = func.date(Infusion.started_at)
    stmt = select(day, func.count(Infusion.id)).where(Infusion.started_at >= since).group_by(day)
    return [(value, int(count)) for value, count in session.execute(_scoped(stmt, Infusion.patient_id, within))]


def decisions_since(session: Session, *, since: datetime, within: Scope) -> dict[str, int]:
    """Per-dose decisions made from ``since``, by outcome."""
    stmt = (
        select(Authorization.decision, func.count(Authorization.id))
        .where(Authorization.visit_at >= since)
        .group_by(Authorization.decision)
    )
    return {str(k): int(v) for k, v in session.execute(_scoped(stmt, Authorization.patient_id, within))}


def latest_strata(
    session: Session, *, statuses: Sequence[str], stratum_keys: Sequence[str], within: Scope
) -> dict[str, int]:
    """Stratum id -> enrollments (in ``statuses``) whose latest assessment carries it.

    The stratum is read from the first of ``stratum_keys`` the stored assessment holds.
    """
    latest = (
        select(Authorization.enrollment_id, func.max(Authorization.visit_at).label("at"))
        .group_by(Authorization.enrollment_id)
        .subquery()
    )
    stratum = func.coalesce(*(Authorization.assessment[key]["id"].as_string() for key in stratum_keys))
    stmt = (
        select(stratum, func.count(Authorization.id))
        .join(latest, (latest.c.enrollment_id == Authorization.enrollment_id) & (latest.c.at == Authorization.visit_at))
        .join(Enrollment, Enrollment.id == Authorization.enrollment_id)
        .where(Enrollment.status.in_(tuple(statuses)), stratum.is_not(None))
        .group_by(stratum)
    )
    return {str(k): int(v) for k, v in session.execute(_scoped(stmt, Authorization.patient_id, within)) if k}


# --------------------------------------------------------------------------- one patient


def enrollments_of(session: Session, patient_id: str) -> list[tuple[Enrollment, Prescriber]]:
    """The patient's enrollments with their prescribers, oldest first."""
    stmt = (
        select(Enrollment, Prescriber)
        .join(Prescriber, Prescriber.id == Enrollment.prescriber_id)
        .where(Enrollment.patient_id == patient_id)
        .order_by(Enrollment.enrolled_at)
    )
    return [(e, p) for e, p in session.execute(stmt)]


def enrollment_events(session: Session, enrollment_ids: Sequence[str]) -> list[EnrollmentEvent]:
    stmt = select(EnrollmentEvent).where(EnrollmentEvent.enrollment_id.in_(list(enrollment_ids)))
    return list(session.execute(stmt).scalars())


def authorizations_of(session: Session, patient_id: str) -> list[Authorization]:
    return list(session.execute(select(Authorization).where(Authorization.patient_id == patient_id)).scalars())


def infusions_of(session: Session, patient_id: str) -> list[Infusion]:
    return list(session.execute(select(Infusion).where(Infusion.patient_id == patient_id)).scalars())


def monitoring_events(session: Session, enrollment_ids: Sequence[str]) -> list[MonitoringEvent]:
    stmt = select(MonitoringEvent).where(MonitoringEvent.enrollment_id.in_(list(enrollment_ids)))
    return list(session.execute(stmt).scalars())


def adverse_events_of(session: Session, patient_id: str) -> list[AdverseEvent]:
    return list(session.execute(select(AdverseEvent).where(AdverseEvent.patient_id == patient_id)).scalars())


def consents(session: Session, enrollment_ids: Sequence[str], *, oldest_first: bool = False) -> list[Consent]:
    stmt = select(Consent).where(Consent.enrollment_id.in_(list(enrollment_ids)))
    if oldest_first:
        stmt = stmt.order_by(Consent.recorded_at)
    return list(session.execute(stmt).scalars())


def clearances_of(session: Session, patient_id: str) -> list[Any]:
    """(clearance, program, clearing prescriber's key) of the patient's doses."""
    stmt = (
        select(Clearance, Authorization.program_id, Prescriber.key)
        .join(Authorization, Authorization.id == Clearance.authorization_id)
        .join(Prescriber, Prescriber.id == Clearance.prescriber_id)
        .where(Authorization.patient_id == patient_id)
    )
    return list(session.execute(stmt))


def overrides_of(session: Session, patient_id: str) -> list[Any]:
    """(override, program) of the patient's doses."""
    stmt = (
        select(Override, Authorization.program_id)
        .join(Authorization, Authorization.id == Override.authorization_id)
        .where(Authorization.patient_id == patient_id)
    )
    return list(session.execute(stmt))


def latest_visit(session: Session, patient_id: str) -> tuple[Any, datetime, Any] | None:
    """(assessment, visit time, answers) of the patient's latest per-dose authorization, if any."""
    row = session.execute(
        select(Authorization.assessment, Authorization.visit_at, Authorization.answers)
        .where(Authorization.patient_id == patient_id)
        .order_by(Authorization.visit_at.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def open_authorizations(session: Session, patient_id: str, *, statuses: Sequence[str]) -> list[tuple[str, str, bool]]:
    """(id, status, infusable) of the patient's authorizations in ``statuses`` with no infusion, newest first."""
    rows = session.execute(
        select(Authorization.id, Authorization.status, Authorization.is_infusable)
        .outerjoin(Infusion, Infusion.authorization_id == Authorization.id)
        .where(
            Authorization.patient_id == patient_id,
            Infusion.id.is_(None),
            Authorization.status.in_(tuple(statuses)),
        )
        .order_by(Authorization.visit_at.desc())
    ).all()
    return [(i, status, infusable) for i, status, infusable in rows]


def latest_authorization_id(session: Session, patient_id: str) -> str | None:
    return session.execute(
        select(Authorization.id)
        .where(Authorization.patient_id == patient_id)
        .order_by(Authorization.visit_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def authorization_events(session: Session, authorization_id: str) -> list[AuthorizationEvent]:
    """Every state change of one per-dose authorization, oldest first."""
    stmt = (
        select(AuthorizationEvent)
        .where(AuthorizationEvent.authorization_id == authorization_id)
        .order_by(AuthorizationEvent.at)
    )
    return list(session.execute(stmt).scalars())


def patients_with_enrollments(
    session: Session,
    *,
    within: Scope,
    born: tuple[date, date | None] | None = None,
    text: str | None = None,
) -> list[tuple[str, str, date | None, Enrollment | None]]:
    """(key, name, birth date, enrollment or None) of the patients in scope, by name, birth date and key.

    ``born``: born on or after the first day and before the second (if any); ``text``: key or name contains it
    (any case).
    """
    stmt = (
        select(Patient.key, Patient.name, Patient.birth_on, Enrollment)
        .outerjoin(Enrollment, Enrollment.patient_id == Patient.id)
        .order_by(Patient.name, Patient.birth_on, Patient.key)
    )
    if born is not None:
        stmt = stmt.where(Patient.birth_on >= born[0])
        if born[1] is not None:
            stmt = stmt.where(Patient.birth_on < born[1])
    if text:
        like = f"%{text.lower()}%"
        stmt = stmt.where(func.lower(Patient.name).like(like) | func.lower(Patient.key).like(like))
    return [(k, n, b, e) for k, n, b, e in session.execute(_scoped(stmt, Patient.id, within))]
