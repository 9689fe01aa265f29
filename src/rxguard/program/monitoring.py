"""Monitoring: dated records, the per-patient calendar and the population screen.

The calendar comes from the pack's schedule (the engine computes what is due
from the infusion history and the records) plus the program's own dates
(reauthorization, discontinuation follow-up). The result is kept in
``schedule_item`` so that "who is overdue, for what" is one indexed SQL query
over the whole population, never a Python loop over patients.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, literal, select
from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program import schedule, validation
from rxguard.program.common import flush_or_conflict, require_aware
from rxguard.program.registry import get_program
from rxguard.store import audit
from rxguard.store import schedule as kept_schedule
from rxguard.store.models import (
    MONITORING_KINDS,
    Enrollment,
    Infusion,
    MonitoringEvent,
    Patient,
    ScheduleItem,
)

# Monitoring kinds -> the evidence keys pack schedules use (lab keys or program events).
EVIDENCE_KEYS: dict[str, tuple[str, ...]] = {
    "prescriber-assessment": ("prescriber-assessment",),
    "reauthorization": ("reauthorization",),
    "disease-activity-assessment": ("disease-activity-assessment", "edss"),
    "anti-jcv": ("anti-jcv-antibody", "anti-jcv-index"),
    "anti-natalizumab-antibody": ("anti-natalizumab-antibody",),
    "mri": ("brain-mri",),
    "labs": ("cbc", "alt", "ast", "bilirubin-total", "creatinine", "egfr"),
    "re-information": ("re-information",),
    "patient-alert-card": ("patient-alert-card",),
    "discontinuation-follow-up": ("discontinuation-follow-up",),
}
DUE_SOON_DAYS = 14


def add_event(
    session: Session,
    enrollment: Enrollment,
    *,
    kind: str,
    on: date,
    at: datetime,
    actor: str,
    result: str = "",
    note: str = "",
    edss: float | None = None,
    relapses: int | None = None,
    t1_gd_lesions: int | None = None,
    new_t2_lesions: int | None = None,
) -> MonitoringEvent:
    if kind not in MONITORING_KINDS:
        raise InputError(f"monitoring kind {kind!r} must be one of {', '.join(MONITORING_KINDS)}")
    if on > at.date():
        raise InputError(f"a monitoring record cannot be dated after it is recorded ({on} > {at.date()})")
    patient_row = session.get(Patient, enrollment.patient_id)
    born = patient_row.birth_on if patient_row is not None else None
    validation.clinical_date(on, "on", now=at, born=born)
    edss = validation.optional_number(edss, "edss", ge=0, le=10)
    relapses = validation.count(relapses, "relapses")
    t1_gd_lesions = validation.count(t1_gd_lesions, "t1_gd_lesions")
    new_t2_lesions = validation.count(new_t2_lesions, "new_t2_lesions")
    result = validation.clean_text(result, "result", max_length=2000, multiline=True)
    note = validation.clean_text(note, "note", max_length=2000, multiline=True)
    row = MonitoringEvent(
        enrollment_id=enrollment.id,
        kind=kind,
        occurred_on=on,
        edss=edss,
        relapses=relapses,
        t1_gd_lesions=t1_gd_lesions,
        new_t2_lesions=new_t2_lesions,
        result=result,
        note=note,
        recorded_at=at,
        actor=actor,
    )
    session.add(row)
    flush_or_conflict(session, f"monitoring record {kind}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"monitoring.{kind}",
        entity="monitoring_event",
        entity_id=row.id,
        payload={
            "enrollment": enrollment.id,
            "on": on,
            "edss": edss,
            "relapses": relapses,
            "t1_gd_lesions": t1_gd_lesions,
            "new_t2_lesions": new_t2_lesions,
            "result": result,
        },
    )
    refresh_schedule(session, enrollment, at=at)
    return row


def infusion_dates(session: Session, enrollment: Enrollment) -> list[date]:
    stmt = (
        select(Infusion.started_at)
        .where(Infusion.patient_id == enrollment.patient_id, Infusion.drug == enrollment.drug)
        .order_by(Infusion.started_at)
    )
    return [started.date() for started in session.execute(stmt).scalars()]


def event_dates(session: Session, enrollment: Enrollment) -> dict[str, list[date]]:
    """Monitoring records as the engine's ``context["events"]`` (all keys they satisfy)."""
    events: dict[str, list[date]] = {}
    stmt = select(MonitoringEvent.kind, MonitoringEvent.occurred_on).where(
        MonitoringEvent.enrollment_id == enrollment.id
    )
    for kind, on in session.execute(stmt):
        for key in EVIDENCE_KEYS.get(kind, (kind,)):
            events.setdefault(key, []).append(on)
    return events


def refresh_schedule(session: Session, enrollment: Enrollment, *, at: datetime) -> None:
    """Recompute this enrollment's next due dates (one patient, on each change)."""
    program = get_program(enrollment.program_id)
    patient_row = session.get(Patient, enrollment.patient_id)
    assert patient_row is not None
    discontinued = enrollment.status == "discontinued"
    items = schedule.due_items(
        program,
        status=enrollment.status,
        authorized_until_on=enrollment.authorized_until_on,
        follow_up_due_on=enrollment.follow_up_due_on,
        followed_up=discontinued and _followed_up(session, enrollment),
        facts=schedule.demographics(patient_row.id, patient_row.birth_on, patient_row.sex),
        infusions=[] if discontinued else infusion_dates(session, enrollment),
        events={} if discontinued else event_dates(session, enrollment),
        at=at,
    )
    session.flush()
    kept_schedule.save(session, enrollment.id, items)


def _followed_up(session: Session, enrollment: Enrollment) -> bool:
    stmt = select(MonitoringEvent.id).where(
        MonitoringEvent.enrollment_id == enrollment.id, MonitoringEvent.kind == "discontinuation-follow-up"
    )
    return session.execute(stmt).first() is not None


class DueRow(NamedTuple):
    """One item of the list: a plain row (a tuple), built straight from the database's row."""

    patient: str
    program: str
    item: str
    title: str
    due_on: date
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "program": self.program,
            "item": self.item,
            "title": self.title,
            "due_on": self.due_on.isoformat(),
            "status": self.status,
        }


def _due_statement(soon: date | None, enrollment_id: str | None) -> Select[str, str, str, str, date]:
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
    if soon is not None:
        stmt = stmt.where(item.due_on <= literal(soon))
    if enrollment_id is not None:
        stmt = stmt.where(item.enrollment_id == enrollment_id)
    return stmt


def population_due(
    session: Session, *, on: date, include_upcoming: bool = False, enrollment_id: str | None = None
) -> list[DueRow]:
    """Who is overdue or due, for what: one SQL query over every enrollment.

    Ordered by due date, patient key and item. The rows come through SQLAlchemy Core and become
    plain tuples: at a million rows, ORM rows turned into one object each and a fresh copy of
    every repeated value (program, item, title, date) per row were much of the time and memory.
    Repeated values are shared, and the status is worked out here from the date rather than
    sent by the database as one more text per row.
    """
    validation.query_day(on, "on", today=datetime.now(UTC).date())
    soon = on + timedelta(days=DUE_SOON_DAYS)
    if session.autoflush:
        session.flush()  # what session.execute would do first: the list must see this session's own changes
    result = session.connection().execute(_due_statement(None if include_upcoming else soon, enrollment_id))
    shared: dict[object, Any] = {}
    share = shared.setdefault
    make = tuple.__new__
    rows: list[DueRow] = []
    append = rows.append
    for key, program, item, title, due_on in result:
        status = "overdue" if due_on < on else "due" if due_on <= soon else "upcoming"
        append(make(DueRow, (key, share(program, program), share(item, item), share(title, title),
                             share(due_on, due_on), status)))  # fmt: skip
    return rows


def calendar(session: Session, enrollment: Enrollment, *, on: date) -> list[DueRow]:
    """One patient's calendar: every scheduled item with its status on ``on``."""
    return population_due(session, on=on, include_upcoming=True, enrollment_id=enrollment.id)


def record_assessment(
    session: Session,
    enrollment: Enrollment,
    *,
    on: date,
    at: datetime,
    actor: str,
    edss: float | None = None,
    relapses: int | None = None,
    t1_gd_lesions: int | None = None,
    new_t2_lesions: int | None = None,
    note: str = "",
) -> MonitoringEvent:
    """A prescriber assessment with the disease activity measured at it."""
    require_aware(at)
    add_event(session, enrollment, kind="prescriber-assessment", on=on, at=at, actor=actor, note=note)
    return add_event(
        session,
        enrollment,
        kind="disease-activity-assessment",
        on=on,
        at=at,
        actor=actor,
        edss=edss,
        relapses=relapses,
        t1_gd_lesions=t1_gd_lesions,
        new_t2_lesions=new_t2_lesions,
        note=note,
    )


def disease_activity_trend(session: Session, enrollment: Enrollment) -> dict[str, Any]:
    """EDSS, relapses and MRI lesions over time, with the change from first to last."""
    stmt = (
        select(MonitoringEvent)
        .where(MonitoringEvent.enrollment_id == enrollment.id, MonitoringEvent.kind == "disease-activity-assessment")
        .order_by(MonitoringEvent.occurred_on)
    )
    rows = list(session.execute(stmt).scalars())
    points: list[dict[str, Any]] = [
        {
            "on": e.occurred_on.isoformat(),
            "edss": e.edss,
            "relapses": e.relapses,
            "t1_gd_lesions": e.t1_gd_lesions,
            "new_t2_lesions": e.new_t2_lesions,
        }
        for e in rows
    ]
    edss = [e.edss for e in rows if e.edss is not None]
    change = round(edss[-1] - edss[0], 1) if len(edss) >= 2 else None
    direction = None if change is None else ("worse" if change > 0 else "better" if change < 0 else "stable")
    active = sum(1 for e in rows if (e.t1_gd_lesions or 0) + (e.new_t2_lesions or 0) > 0)
    return {
        "points": points,
        "edss_change": change,
        "edss_direction": direction,
        "relapses_total": sum(e.relapses or 0 for e in rows),
        "active_mri_assessments": active,
    }
