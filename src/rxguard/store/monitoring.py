"""The reads behind monitoring: infusion and record dates, the kept calendar, measured values over time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import Select, literal, select
from sqlalchemy.orm import Session

from rxguard.store.models import Enrollment, Infusion, MonitoringEvent, Patient, ScheduleItem


def infusion_starts(session: Session, patient_id: str, drug: str) -> list[Any]:
    """When each of the patient's infusions of ``drug`` started, oldest first."""
    stmt = (
        select(Infusion.started_at)
        .where(Infusion.patient_id == patient_id, Infusion.drug == drug)
        .order_by(Infusion.started_at)
    )
    return list(session.execute(stmt).scalars())


def record_dates(session: Session, enrollment_id: str) -> list[tuple[str, date]]:
    """(kind, day) of every monitoring record of the enrollment."""
    stmt = select(MonitoringEvent.kind, MonitoringEvent.occurred_on).where(
        MonitoringEvent.enrollment_id == enrollment_id
    )
    return [(kind, on) for kind, on in session.execute(stmt)]


def has_record(session: Session, enrollment_id: str, kind: str) -> bool:
    """Whether the enrollment has a monitoring record of ``kind``."""
    stmt = select(MonitoringEvent.id).where(
        MonitoringEvent.enrollment_id == enrollment_id, MonitoringEvent.kind == kind
    )
    return session.execute(stmt).first() is not None


def _due_statement(through: date | None, enrollment_id: str | None) -> Select[str, str, str, str, date]:
    """The list as a Core statement over the tables (no ORM entities, so no ORM rows on the way out)."""
    item, enrolled, patient = ScheduleItem.__table__.c, Enrollment.__table__.c, Patient.__table__.c
    stmt = (
        select(patient.key, enrolled.program_id, item.item, item.title, item.due_on)
        .select_from(
            ScheduleItem.__table__.join(Enrollment.__table__, enrolled.id == item.enrollment_id).join(
                Patient.__table__, patient.id == enrolled.patient_id
            )
        )
        .order_by(item.due_on, patient.key, item.item)
    )
    if through is not None:
        stmt = stmt.where(item.due_on <= literal(through))
    if enrollment_id is not None:
        stmt = stmt.where(item.enrollment_id == enrollment_id)
    return stmt


def due(session: Session, *, through: date | None, enrollment_id: str | None = None) -> Iterator[Any]:
    """(patient key, program, item, title, due date) of kept calendar items, by due date, patient key and item.

    ``through``: due on or before that day (None: every item). Rows come through SQLAlchemy Core as
    plain tuples, streamed: at a million rows ORM rows were much of the time and memory. The list sees
    this session's own changes (flushed first, as ``session.execute`` would).
    """
    if session.autoflush:
        session.flush()
    return iter(session.connection().execute(_due_statement(through, enrollment_id)))


def measured_records(session: Session, enrollment_id: str) -> list[tuple[date, str, Any]]:
    """(day, kind, measurements) of the enrollment's records, oldest first (measurements may be empty)."""
    stmt = (
        select(MonitoringEvent.occurred_on, MonitoringEvent.kind, MonitoringEvent.measurements)
        .where(MonitoringEvent.enrollment_id == enrollment_id)
        .order_by(MonitoringEvent.occurred_on, MonitoringEvent.recorded_at)
    )
    return [(on, kind, values) for on, kind, values in session.execute(stmt)]
