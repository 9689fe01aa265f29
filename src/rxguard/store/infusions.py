"""Reading what recording an infusion needs, and writing it: the SQL of the infusion record.

:func:`load` reads everything once, in lock order: the patient's enrollment (locked,
found through the authorization) with the patient's birth date and sex, the
enrollment's monitoring records and kept schedule; then the authorization (locked)
with whether the idempotency key was used and one row per infusion of the drug.
The program decides on what it read (:func:`rxguard.program.infusion.judge`); the
infusion is written with the authorization's move to infused in one statement
(:func:`rxguard.program.transitions.transition`), and the schedule with one more
(:func:`rxguard.store.schedule.save`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, literal, null, select, union_all
from sqlalchemy.orm import Session, load_only

from rxguard.store.models import (
    Authorization,
    BagDisposal,
    Enrollment,
    Infusion,
    MonitoringEvent,
    Patient,
    ScheduleItem,
)

_INFUSION: Table = Infusion.__table__  # type: ignore[assignment]
_AUTHORIZATION: Table = Authorization.__table__  # type: ignore[assignment]
_ENROLLMENT: Table = Enrollment.__table__  # type: ignore[assignment]
_PATIENT: Table = Patient.__table__  # type: ignore[assignment]
_MONITORING: Table = MonitoringEvent.__table__  # type: ignore[assignment]
_SCHEDULE: Table = ScheduleItem.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class EnrollmentState:
    """The patient's enrollment as the infusion record reads it."""

    id: str
    program_id: str
    drug: str
    patient_id: str
    status: str
    authorized_until_on: date | None
    follow_up_due_on: date | None
    birth_on: date | None
    sex: str | None


@dataclass(frozen=True)
class InfusionVisit:
    """Everything recording one infusion looks at, read once under the patient's lock."""

    enrollment: EnrollmentState
    #: the authorization the infusion is recorded under (locked; its stored checks are not read)
    authorization: Authorization
    #: an infusion already stored under the request's idempotency key
    earlier_id: str | None
    #: (start, dose number) of every infusion of the drug, oldest first
    infusions: tuple[tuple[datetime, int], ...]
    #: (kind, day) of every monitoring record of the enrollment
    events: tuple[tuple[str, date], ...]
    #: the kept schedule: item -> (title, due day)
    schedule: dict[str, tuple[str, date]] = field(default_factory=dict)


def _of_authorization() -> Any:
    return select(_AUTHORIZATION.c.enrollment_id).where(_AUTHORIZATION.c.id == bindparam("authorization_id"))


@cache
def _enrollment_statement(lock: bool) -> Any:
    """The enrollment with the patient, one row per monitoring record and kept schedule item (or one of NULLs)."""
    records = union_all(
        select(
            _MONITORING.c.enrollment_id, literal("event").label("source"), _MONITORING.c.kind.label("key"),
            _MONITORING.c.occurred_on.label("on"), null().label("title"),
        ),
        select(
            _SCHEDULE.c.enrollment_id, literal("schedule").label("source"), _SCHEDULE.c.item.label("key"),
            _SCHEDULE.c.due_on.label("on"), _SCHEDULE.c.title,
        ),
    ).subquery("records")  # fmt: skip
    stmt = (
        select(
            _ENROLLMENT.c.id, _ENROLLMENT.c.program_id, _ENROLLMENT.c.drug, _ENROLLMENT.c.patient_id,
            _ENROLLMENT.c.status, _ENROLLMENT.c.authorized_until_on, _ENROLLMENT.c.follow_up_due_on,
            _PATIENT.c.birth_on, _PATIENT.c.sex, records.c.source, records.c.key, records.c.on, records.c.title,
        )
        .select_from(
            _ENROLLMENT.join(_PATIENT, _PATIENT.c.id == _ENROLLMENT.c.patient_id).outerjoin(
                records, records.c.enrollment_id == _ENROLLMENT.c.id
            )
        )
        .where(_ENROLLMENT.c.id == _of_authorization().scalar_subquery())
    )  # fmt: skip
    return stmt.with_for_update(of=_ENROLLMENT) if lock else stmt


@cache
def _authorization_statement(lock: bool) -> Any:
    """The authorization, whether the idempotency key was used, one row per infusion of the drug (or NULLs)."""
    stmt = (
        select(
            Authorization,
            select(_INFUSION.c.id)
            .where(_INFUSION.c.idempotency_key == bindparam("idempotency_key"))
            .scalar_subquery()
            .label("earlier_id"),
            _INFUSION.c.started_at,
            _INFUSION.c.dose_number.label("infused_dose_number"),
        )
        .outerjoin(
            _INFUSION, and_(_INFUSION.c.patient_id == Authorization.patient_id, _INFUSION.c.drug == Authorization.drug)
        )
        .where(Authorization.id == bindparam("authorization_id"))
        .order_by(_INFUSION.c.started_at)
        # Not the stored checks, assessment and answers (JSON, never changed): the rest of the row is what counts.
        .options(
            load_only(
                Authorization.id, Authorization.program_id, Authorization.drug, Authorization.patient_id,
                Authorization.enrollment_id, Authorization.site_id, Authorization.prescriber_id,
                Authorization.dose_number, Authorization.status, Authorization.is_infusable,
                Authorization.visit_at, Authorization.valid_until,
            )
        )
        .execution_options(populate_existing=True)
    )  # fmt: skip
    return stmt.with_for_update(of=Authorization) if lock else stmt


def load(session: Session, authorization_id: str, idempotency_key: str, *, lock: bool = True) -> InfusionVisit | None:
    """What recording an infusion under this authorization reads; None when there is no such authorization.

    ``lock``: the enrollment, then the authorization, locked for update (a preview reads without locks).
    """
    if session.autoflush:
        session.flush()  # this session's own changes first, as session.execute would
    params = {"authorization_id": authorization_id, "idempotency_key": idempotency_key}
    rows = session.connection().execute(_enrollment_statement(lock), params).all()
    if not rows:
        return None
    first = rows[0]
    enrollment = EnrollmentState(
        first.id, first.program_id, first.drug, first.patient_id, first.status, first.authorized_until_on,
        first.follow_up_due_on, first.birth_on, first.sex,
    )  # fmt: skip
    events = tuple((row.key, row.on) for row in rows if row.source == "event")
    schedule = {row.key: (row.title, row.on) for row in rows if row.source == "schedule"}
    found = session.execute(_authorization_statement(lock), params).all()
    infusions = tuple((row.started_at, row.infused_dose_number) for row in found if row.started_at is not None)
    return InfusionVisit(enrollment, found[0][0], found[0].earlier_id, infusions, events, schedule)


def earlier_attempt(session: Session, idempotency_key: str) -> Infusion | None:
    """The infusion stored under this idempotency key, if any."""
    stmt = select(Infusion).where(Infusion.idempotency_key == idempotency_key)
    return session.execute(stmt).scalar_one_or_none()


def table() -> Table:
    """The infusion table, for the write that goes with the authorization's move to infused."""
    return _INFUSION


def for_update(session: Session, infusion_id: str) -> tuple[Infusion, str] | None:
    """The infusion, locked, with its authorization's program; None when there is no such infusion."""
    stmt = (
        select(Infusion, Authorization.program_id)
        .join(Authorization, Authorization.id == Infusion.authorization_id)
        .where(Infusion.id == infusion_id)
        .with_for_update(of=Infusion)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row[0], row[1])


def awaiting_observation(session: Session, *, site_id: str | None, since: datetime) -> list[tuple[Infusion, str]]:
    """Infusions stopped since ``since`` whose end of observation is not recorded, with their program."""
    stmt = (
        select(Infusion, Authorization.program_id)
        .join(Authorization, Authorization.id == Infusion.authorization_id)
        .where(Infusion.observation_end_at.is_(None), Infusion.stopped_at >= since)
        .order_by(Infusion.stopped_at)
    )
    if site_id is not None:
        stmt = stmt.where(Infusion.site_id == site_id)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def add_disposal(session: Session, row: BagDisposal) -> None:
    session.add(row)
    session.flush()


def disposals_of(session: Session, authorization_id: str) -> list[BagDisposal]:
    stmt = select(BagDisposal).where(BagDisposal.authorization_id == authorization_id).order_by(BagDisposal.recorded_at)
    return list(session.execute(stmt).scalars())
