"""Read models for people at work: a dashboard of what needs doing, and one patient's file.

Every list here answers a question a clinician or administrator asks at the
start of a shift ("who is on hold?", "whose reauthorization falls due this
month?"). Each is one SQL query over the whole program, narrowed by
``within`` — a sub-query of the patient ids the caller may see, built by
the interface from its access rules (None means every patient) — so a page
never loops over patients issuing a query each.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from rxguard.engine.model import DEPRECATED_STRATUM_KEY, stratum_of
from rxguard.engine.predicates import shift
from rxguard.program.authorization import failed_checks
from rxguard.program.decision import phase_min_interval
from rxguard.program.enrollment import effective_status
from rxguard.program.monitoring import DUE_SOON_DAYS, describe_measurements
from rxguard.program.registry import get_program
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

REAUTHORIZATION_HORIZON = timedelta(days=30)
CHART_WEEKS = 12
OPEN_OUTCOMES = ("not-recovered", "recovering", "unknown")
ACTIVE = ("enrolled", "authorized", "lapsed")


def _scoped(stmt: Any, column: Any, within: Select[Any] | None) -> Any:
    """``stmt`` narrowed to the patients in ``within`` (typed loosely: SQLAlchemy's row tuples vary)."""
    return stmt if within is None else stmt.where(column.in_(within))


def _day_bounds(on: date, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """Midnight to midnight of ``on`` in ``zone`` (a site's day), as UTC instants."""
    start = datetime.combine(on, time(0), tzinfo=zone)
    end = datetime.combine(on + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


# --------------------------------------------------------------------------- dashboard rows


@dataclass(frozen=True)
class VisitRow:
    authorization_id: str
    patient: str
    patient_name: str
    program: str
    site: str
    visit_at: datetime
    dose_number: int
    decision: str
    status: str


@dataclass(frozen=True)
class DoseDueRow:
    patient: str
    patient_name: str
    program: str
    last_infusion_on: date
    next_dose_on: date
    infusions: int


@dataclass(frozen=True)
class HoldRow:
    authorization_id: str
    patient: str
    patient_name: str
    program: str
    site: str
    prescriber: str
    visit_at: datetime
    reasons: tuple[tuple[str, str], ...]  # (check id, reason) of each failed check


@dataclass(frozen=True)
class DueItemRow:
    patient: str
    patient_name: str
    program: str
    item: str
    title: str
    due_on: date
    status: str


@dataclass(frozen=True)
class ReauthorizationRow:
    patient: str
    patient_name: str
    program: str
    prescriber: str
    authorized_until_on: date
    status: str


@dataclass(frozen=True)
class AdverseEventRow:
    id: str
    patient: str
    patient_name: str
    program: str
    kind: str
    serious: bool
    onset_on: date
    outcome: str
    reported_at: datetime


@dataclass(frozen=True)
class OverrideRow:
    id: str
    authorization_id: str
    patient: str
    patient_name: str
    actor: str
    role: str
    reason: str
    bypassed: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Dashboard:
    on: date
    visits_today: list[VisitRow]
    ready: list[VisitRow]
    doses_due: list[DoseDueRow]
    holds: list[HoldRow]
    overdue: list[DueItemRow]
    reauthorizations: list[ReauthorizationRow]
    adverse_events: list[AdverseEventRow]
    overrides: list[OverrideRow]
    infusions_per_week: list[tuple[date, int]]
    decisions: dict[str, int]
    strata: dict[str, int]
    overdue_by_item: dict[str, int] = field(default_factory=dict)


def visits_on(
    session: Session, *, on: date, within: Select[Any] | None, zone: tzinfo = UTC, site_id: str | None = None
) -> list[VisitRow]:
    """The checklists of ``on`` (the day in ``zone``); with ``site_id`` only those made at that site."""
    start, end = _day_bounds(on, zone)
    stmt = (
        select(Authorization, Patient.key, Patient.name, Site.key)
        .join(Patient, Patient.id == Authorization.patient_id)
        .join(Site, Site.id == Authorization.site_id)
        .where(Authorization.visit_at >= start, Authorization.visit_at < end)
        .order_by(Authorization.visit_at)
    )
    if site_id is not None:
        stmt = stmt.where(Authorization.site_id == site_id)
    return [
        VisitRow(a.id, key, name, a.program_id, site, a.visit_at, a.dose_number, a.decision, a.status)
        for a, key, name, site in session.execute(_scoped(stmt, Authorization.patient_id, within))
    ]


def ready_to_infuse(
    session: Session, *, now: datetime, within: Select[Any] | None, zone: tzinfo = UTC, site_id: str | None = None
) -> list[VisitRow]:
    """Doses authorized (or cleared, or overridden) and still valid now, with no infusion recorded yet.

    An authorization without its own end is valid until the end of its visit
    day; here that day is the site's (``zone``), so the list never offers one
    the infusion record would refuse as stale.
    """
    start, _ = _day_bounds(now.astimezone(zone).date(), zone)
    stmt = (
        select(Authorization, Patient.key, Patient.name, Site.key)
        .join(Patient, Patient.id == Authorization.patient_id)
        .join(Site, Site.id == Authorization.site_id)
        .outerjoin(Infusion, Infusion.authorization_id == Authorization.id)
        .where(
            Infusion.id.is_(None),
            Authorization.status.in_(("authorized", "cleared", "overridden")),
            Authorization.is_infusable.is_(True),
            Authorization.visit_at <= now,
            or_(
                Authorization.valid_until > now,
                and_(Authorization.valid_until.is_(None), Authorization.visit_at >= start),
            ),
        )
        .order_by(Authorization.visit_at)
    )
    if site_id is not None:
        stmt = stmt.where(Authorization.site_id == site_id)
    return [
        VisitRow(a.id, key, name, a.program_id, site, a.visit_at, a.dose_number, a.decision, a.status)
        for a, key, name, site in session.execute(_scoped(stmt, Authorization.patient_id, within))
    ]


def doses_due(session: Session, *, on: date, within: Select[Any] | None, horizon_days: int = 7) -> list[DoseDueRow]:
    """Authorized patients whose next dose may be given on or before ``on`` + horizon."""
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
    rows: list[DoseDueRow] = []
    for enrollment, key, name, last_at, count in session.execute(_scoped(stmt, Enrollment.patient_id, within)):
        if effective_status(enrollment, on) != "authorized":
            continue
        program = get_program(enrollment.program_id)
        minimum = phase_min_interval(program, int(count) + 1)
        if minimum is None:
            continue
        last_on = last_at.date()
        next_on = shift(last_on, minimum) - timedelta(days=program.early_tolerance_days())
        if next_on <= on + timedelta(days=horizon_days):
            rows.append(DoseDueRow(key, name, enrollment.program_id, last_on, next_on, int(count)))
    return sorted(rows, key=lambda r: (r.next_dose_on, r.patient))


def holds(session: Session, *, within: Select[Any] | None) -> list[HoldRow]:
    stmt = (
        select(Authorization, Patient.key, Patient.name, Site.key, Prescriber.key)
        .join(Patient, Patient.id == Authorization.patient_id)
        .join(Site, Site.id == Authorization.site_id)
        .join(Prescriber, Prescriber.id == Authorization.prescriber_id)
        .where(Authorization.status == "hold")
        .order_by(Authorization.visit_at)
    )
    return [
        HoldRow(
            a.id,
            key,
            name,
            a.program_id,
            site,
            doc,
            a.visit_at,
            tuple((str(c["id"]), str(c["reason"])) for c in failed_checks(a)),
        )
        for a, key, name, site, doc in session.execute(_scoped(stmt, Authorization.patient_id, within))
    ]


def due_items(session: Session, *, on: date, within: Select[Any] | None, overdue_only: bool = True) -> list[DueItemRow]:
    soon = on + timedelta(days=DUE_SOON_DAYS)
    stmt = (
        select(
            Patient.key, Patient.name, Enrollment.program_id, ScheduleItem.item, ScheduleItem.title, ScheduleItem.due_on
        )
        .join(Enrollment, Enrollment.id == ScheduleItem.enrollment_id)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .where(ScheduleItem.due_on < on if overdue_only else ScheduleItem.due_on <= soon)
        .order_by(ScheduleItem.due_on, Patient.key)
    )
    return [
        DueItemRow(key, name, program, item, title, due_on, "overdue" if due_on < on else "due")
        for key, name, program, item, title, due_on in session.execute(_scoped(stmt, Enrollment.patient_id, within))
    ]


def reauthorizations_due(session: Session, *, on: date, within: Select[Any] | None) -> list[ReauthorizationRow]:
    stmt = (
        select(Enrollment, Patient.key, Patient.name, Prescriber.key)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .join(Prescriber, Prescriber.id == Enrollment.prescriber_id)
        .where(
            Enrollment.status.in_(("authorized", "lapsed")),
            Enrollment.authorized_until_on.is_not(None),
            Enrollment.authorized_until_on <= on + REAUTHORIZATION_HORIZON,
        )
        .order_by(Enrollment.authorized_until_on, Patient.key)
    )
    return [
        ReauthorizationRow(key, name, e.program_id, doc, e.authorized_until_on, effective_status(e, on))
        for e, key, name, doc in session.execute(_scoped(stmt, Enrollment.patient_id, within))
    ]


def open_adverse_events(session: Session, *, within: Select[Any] | None) -> list[AdverseEventRow]:
    stmt = (
        select(AdverseEvent, Patient.key, Patient.name, Enrollment.program_id)
        .join(Patient, Patient.id == AdverseEvent.patient_id)
        .join(Enrollment, Enrollment.id == AdverseEvent.enrollment_id)
        .where(AdverseEvent.outcome.in_(OPEN_OUTCOMES))
        .order_by(AdverseEvent.reported_at.desc())
    )
    return [
        AdverseEventRow(ae.id, key, name, program, ae.kind, ae.serious, ae.onset_on, ae.outcome, ae.reported_at)
        for ae, key, name, program in session.execute(_scoped(stmt, AdverseEvent.patient_id, within))
    ]


def pending_overrides(session: Session, *, within: Select[Any] | None) -> list[OverrideRow]:
    stmt = (
        select(Override, Patient.key, Patient.name)
        .join(Authorization, Authorization.id == Override.authorization_id)
        .join(Patient, Patient.id == Authorization.patient_id)
        .where(Override.reconciled_at.is_(None))
        .order_by(Override.at)
    )
    return [
        OverrideRow(
            o.id,
            o.authorization_id,
            key,
            name,
            o.actor,
            o.role,
            o.reason,
            tuple(o.bypassed.get("requirements", [])),
            o.at,
        )
        for o, key, name in session.execute(_scoped(stmt, Authorization.patient_id, within))
    ]


# --------------------------------------------------------------------------- chart series


def week_start(on: date) -> date:
    return on - timedelta(days=on.weekday())


def infusions_per_week(session: Session, *, on: date, within: Select[Any] | None) -> list[tuple[date, int]]:
    """Infusions in each of the last ``CHART_WEEKS`` weeks (Monday-based), oldest first."""
    first = week_start(on) - timedelta(weeks=CHART_WEEKS - 1)
    start = datetime.combine(first, time(0), tzinfo=UTC)
    day = func.date(Infusion.started_at)
    stmt = select(day, func.count(Infusion.id)).where(Infusion.started_at >= start).group_by(day)
    weeks = Counter[date]()
    for value, count in session.execute(_scoped(stmt, Infusion.patient_id, within)):
        when = value if isinstance(value, date) else date.fromisoformat(str(value))
        weeks[week_start(when)] += int(count)
    return [(first + timedelta(weeks=i), weeks.get(first + timedelta(weeks=i), 0)) for i in range(CHART_WEEKS)]


def decision_counts(session: Session, *, on: date, within: Select[Any] | None) -> dict[str, int]:
    """Per-dose decisions over the chart window, by outcome."""
    start = datetime.combine(week_start(on) - timedelta(weeks=CHART_WEEKS - 1), time(0), tzinfo=UTC)
    stmt = (
        select(Authorization.decision, func.count(Authorization.id))
        .where(Authorization.visit_at >= start)
        .group_by(Authorization.decision)
    )
    found = {str(k): int(v) for k, v in session.execute(_scoped(stmt, Authorization.patient_id, within))}
    return {d: int(found.get(d, 0)) for d in ("authorized", "hold", "do-not-infuse")}


def stratum_counts(session: Session, *, within: Select[Any] | None) -> dict[str, int]:
    """Risk stratum of each active enrollment, read from its latest per-dose assessment."""
    latest = (
        select(Authorization.enrollment_id, func.max(Authorization.visit_at).label("at"))
        .group_by(Authorization.enrollment_id)
        .subquery()
    )
    # Assessments stored under contract 1 carry the stratum under its old key only.
    stratum = func.coalesce(
        Authorization.assessment["risk_stratum"]["id"].as_string(),
        Authorization.assessment[DEPRECATED_STRATUM_KEY]["id"].as_string(),
    )
    stmt = (
        select(stratum, func.count(Authorization.id))
        .join(latest, (latest.c.enrollment_id == Authorization.enrollment_id) & (latest.c.at == Authorization.visit_at))
        .join(Enrollment, Enrollment.id == Authorization.enrollment_id)
        .where(Enrollment.status.in_((*ACTIVE, "suspended")), stratum.is_not(None))
        .group_by(stratum)
    )
    return {str(k): int(v) for k, v in session.execute(_scoped(stmt, Authorization.patient_id, within)) if k}


def dashboard(
    session: Session,
    *,
    on: date,
    within: Select[Any] | None,
    zone: tzinfo = UTC,
    site_id: str | None = None,
    now: datetime | None = None,
) -> Dashboard:
    """Everything the dashboard shows, for the patients in ``within``.

    ``on`` is today in ``zone`` (the site's); with ``site_id`` (site staff)
    the day's checklists and the doses ready to infuse are those of that site.
    Doses due are those whose window has opened by ``on``.
    """
    overdue = due_items(session, on=on, within=within)
    moment = now or datetime.combine(on, time(12), tzinfo=zone)
    return Dashboard(
        on=on,
        visits_today=visits_on(session, on=on, within=within, zone=zone, site_id=site_id),
        ready=ready_to_infuse(session, now=moment, within=within, zone=zone, site_id=site_id),
        doses_due=doses_due(session, on=on, within=within, horizon_days=0),
        holds=holds(session, within=within),
        overdue=overdue,
        reauthorizations=reauthorizations_due(session, on=on, within=within),
        adverse_events=open_adverse_events(session, within=within),
        overrides=pending_overrides(session, within=within),
        infusions_per_week=infusions_per_week(session, on=on, within=within),
        decisions=decision_counts(session, on=on, within=within),
        strata=stratum_counts(session, within=within),
        overdue_by_item=dict(Counter(row.item for row in overdue).most_common()),
    )


# --------------------------------------------------------------------------- one patient


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # enrollment | authorization | infusion | monitoring | adverse-event | consent | clearance | override
    title: str
    detail: str
    program: str
    ref: str = ""  # id of the record a page can open (authorization, consent)
    tone: str = "neutral"  # ok | warn | stop | neutral
    actor: str = ""  # who recorded it


@dataclass(frozen=True)
class EnrollmentView:
    id: str
    program: str
    program_title: str
    drug: str
    indication: str
    prescriber: str
    prescriber_name: str
    status: str
    enrolled_at: datetime
    authorized_until_on: date | None
    follow_up_due_on: date | None
    discontinuation_reason: str | None


@dataclass(frozen=True)
class ConsentView:
    id: str
    program: str
    document_id: str
    version: str
    language: str
    patient_signed_at: datetime
    prescriber_signed_at: datetime
    text_sha256: str


@dataclass(frozen=True)
class PatientFile:
    key: str
    name: str
    birth_on: date | None
    sex: str | None
    enrollments: list[EnrollmentView]
    timeline: list[TimelineEntry]
    consents: list[ConsentView]
    calendar: list[DueItemRow]
    stratum: dict[str, Any] | None
    stratum_from: datetime | None
    has_risk_model: bool  # a pack of the patient's programs defines a risk model (risk.yaml)
    previous_answers: dict[str, Any]  # checklist answers of the latest visit (shown again: symptoms get hidden)
    open_holds: list[str]
    infusable: list[str]
    latest_authorization: str | None


def _enrollments(session: Session, patient: Patient, on: date) -> list[tuple[Enrollment, Prescriber]]:
    stmt = (
        select(Enrollment, Prescriber)
        .join(Prescriber, Prescriber.id == Enrollment.prescriber_id)
        .where(Enrollment.patient_id == patient.id)
        .order_by(Enrollment.enrolled_at)
    )
    return [(e, p) for e, p in session.execute(stmt)]


def _tone(decision_or_status: str) -> str:
    return {
        "authorized": "ok",
        "infused": "ok",
        "cleared": "ok",
        "hold": "warn",
        "deferred": "warn",
        "overridden": "warn",
        "lapsed": "warn",
        "do-not-infuse": "stop",
        "suspended": "stop",
        "discontinued": "stop",
    }.get(decision_or_status, "neutral")


def _timeline(session: Session, patient: Patient, programs: dict[str, str]) -> list[TimelineEntry]:
    ids = list(programs)
    out: list[TimelineEntry] = []
    for ev in session.execute(select(EnrollmentEvent).where(EnrollmentEvent.enrollment_id.in_(ids))).scalars():
        out.append(
            TimelineEntry(
                ev.at,
                "enrollment",
                ev.to_status,
                ev.reason,
                programs[ev.enrollment_id],
                tone=_tone(ev.to_status),
                actor=ev.actor,
            )
        )
    for a in session.execute(select(Authorization).where(Authorization.patient_id == patient.id)).scalars():
        reasons = "; ".join(c["id"] for c in failed_checks(a))
        out.append(
            TimelineEntry(
                a.visit_at, "authorization", a.decision, reasons, a.program_id, a.id, _tone(a.decision), a.actor
            )
        )
    for i in session.execute(select(Infusion).where(Infusion.patient_id == patient.id)).scalars():
        detail = f"{i.product} {i.dose:g} {i.dose_unit}, lot {i.lot}"
        out.append(
            TimelineEntry(
                i.started_at, "infusion", f"dose {i.dose_number}", detail, i.drug, i.authorization_id, "ok", i.actor
            )
        )
    for m in session.execute(select(MonitoringEvent).where(MonitoringEvent.enrollment_id.in_(ids))).scalars():
        values = [describe_measurements(programs[m.enrollment_id], m.measurements), m.result, m.note]
        at = datetime.combine(m.occurred_on, time(12), tzinfo=UTC)
        out.append(
            TimelineEntry(at, "monitoring", m.kind, " · ".join(v for v in values if v), programs[m.enrollment_id])
        )
    for ae in session.execute(select(AdverseEvent).where(AdverseEvent.patient_id == patient.id)).scalars():
        detail = f"{ae.description} (onset {ae.onset_on}, {ae.outcome})"
        out.append(
            TimelineEntry(
                ae.reported_at,
                "adverse-event",
                ae.kind,
                detail,
                programs[ae.enrollment_id],
                ae.id,
                "stop" if ae.serious else "warn",
                ae.actor,
            )
        )
    for c in session.execute(select(Consent).where(Consent.enrollment_id.in_(ids))).scalars():
        out.append(
            TimelineEntry(
                c.recorded_at,
                "consent",
                f"{c.document_id} {c.document_version}",
                f"signed in {c.language}",
                programs[c.enrollment_id],
                c.id,
                "ok",
                c.actor,
            )
        )
    clearances = (
        select(Clearance, Authorization.program_id, Prescriber.key)
        .join(Authorization, Authorization.id == Clearance.authorization_id)
        .join(Prescriber, Prescriber.id == Clearance.prescriber_id)
        .where(Authorization.patient_id == patient.id)
    )
    for cl, program, cl_actor in session.execute(clearances):
        out.append(
            TimelineEntry(
                cl.at,
                "clearance",
                cl.outcome,
                cl.reason,
                program,
                cl.authorization_id,
                "ok" if cl.outcome == "proceed" else "warn",
                cl_actor,
            )
        )
    overrides = (
        select(Override, Authorization.program_id)
        .join(Authorization, Authorization.id == Override.authorization_id)
        .where(Authorization.patient_id == patient.id)
    )
    for o, program in session.execute(overrides):
        out.append(TimelineEntry(o.at, "override", o.role, o.reason, program, o.authorization_id, "warn", o.actor))
    return sorted(out, key=lambda e: e.at, reverse=True)


def _latest_visit(session: Session, patient: Patient) -> tuple[dict[str, Any] | None, datetime | None, dict[str, Any]]:
    row = session.execute(
        select(Authorization.assessment, Authorization.visit_at, Authorization.answers)
        .where(Authorization.patient_id == patient.id)
        .order_by(Authorization.visit_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, None, {}
    assessment, at, answers = row
    return stratum_of(assessment), at, dict(answers or {})


def patient_file(session: Session, patient: Patient, *, on: date) -> PatientFile:
    """The whole patient on one page: standing, history, stratum, calendar, consents."""
    pairs = _enrollments(session, patient, on)
    programs = {e.id: e.program_id for e, _ in pairs}
    enrollments = [
        EnrollmentView(
            e.id,
            e.program_id,
            get_program(e.program_id).definition.title,
            e.drug,
            e.indication,
            p.key,
            p.name,
            effective_status(e, on),
            e.enrolled_at,
            e.authorized_until_on,
            e.follow_up_due_on,
            e.discontinuation_reason,
        )
        for e, p in pairs
    ]
    consents = [
        ConsentView(
            c.id,
            programs[c.enrollment_id],
            c.document_id,
            c.document_version,
            c.language,
            c.patient_signed_at,
            c.prescriber_signed_at,
            c.text_sha256,
        )
        for c in session.execute(
            select(Consent).where(Consent.enrollment_id.in_(list(programs))).order_by(Consent.recorded_at)
        ).scalars()
    ]
    calendar = [
        r
        for r in due_items(
            session, on=on, within=select(Patient.id).where(Patient.id == patient.id), overdue_only=False
        )
    ]
    calendar += _upcoming(session, patient, on)
    stratum, stratum_at, answers = _latest_visit(session, patient)
    pending = session.execute(
        select(Authorization.id, Authorization.status, Authorization.is_infusable)
        .outerjoin(Infusion, Infusion.authorization_id == Authorization.id)
        .where(
            Authorization.patient_id == patient.id,
            Infusion.id.is_(None),
            Authorization.status.in_(("hold", "authorized", "cleared", "overridden")),
        )
        .order_by(Authorization.visit_at.desc())
    ).all()
    latest = session.execute(
        select(Authorization.id)
        .where(Authorization.patient_id == patient.id)
        .order_by(Authorization.visit_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return PatientFile(
        key=patient.key,
        name=patient.name,
        birth_on=patient.birth_on,
        sex=patient.sex,
        enrollments=enrollments,
        timeline=_timeline(session, patient, programs),
        consents=consents,
        calendar=calendar,
        stratum=stratum,
        stratum_from=stratum_at,
        has_risk_model=any(get_program(e.program_id).pack.risk is not None for e, _ in pairs),
        previous_answers=answers,
        open_holds=[i for i, status, _ in pending if status == "hold"],
        infusable=[i for i, _, infusable in pending if infusable],
        latest_authorization=latest,
    )


def _upcoming(session: Session, patient: Patient, on: date) -> list[DueItemRow]:
    """Calendar items beyond the due-soon window (the calendar shows everything scheduled)."""
    soon = on + timedelta(days=DUE_SOON_DAYS)
    stmt = (
        select(
            Patient.key, Patient.name, Enrollment.program_id, ScheduleItem.item, ScheduleItem.title, ScheduleItem.due_on
        )
        .join(Enrollment, Enrollment.id == ScheduleItem.enrollment_id)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .where(Patient.id == patient.id, ScheduleItem.due_on > soon)
        .order_by(ScheduleItem.due_on)
    )
    return [DueItemRow(k, n, p, i, t, d, "upcoming") for k, n, p, i, t, d in session.execute(stmt)]


def authorization_history(session: Session, authorization_id: str) -> list[AuthorizationEvent]:
    """Every state change of one per-dose authorization, oldest first."""
    stmt = (
        select(AuthorizationEvent)
        .where(AuthorizationEvent.authorization_id == authorization_id)
        .order_by(AuthorizationEvent.at)
    )
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True)
class PatientRow:
    key: str
    name: str
    programs: tuple[tuple[str, str], ...]  # (program, status today)
    birth_on: date | None = None


def _birth_filter(search: str) -> Any:
    """A search for a date of birth: ``1984-05-17`` (the day), ``1984-05`` (the month) or ``1984`` (the year)."""
    parts = search.split("-")
    if not all(p.isdigit() for p in parts) or len(parts[0]) != 4 or len(parts) > 3:
        return None
    try:
        numbers = [int(p) for p in parts]
        if len(numbers) == 3:
            return Patient.birth_on == date(*numbers)
        start = date(numbers[0], numbers[1] if len(numbers) == 2 else 1, 1)
    except ValueError:
        return None
    if len(numbers) == 2:
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    else:
        end = date(start.year + 1, 1, 1)
    return (Patient.birth_on >= start) & (Patient.birth_on < end)


def patient_list(session: Session, *, on: date, within: Select[Any] | None, search: str = "") -> list[PatientRow]:
    """Patients in scope with each program's status today; ``search`` matches key or name, or a date of
    birth (``1984-05-17``, ``1984-05``, ``1984``)."""
    stmt = (
        select(Patient.key, Patient.name, Patient.birth_on, Enrollment)
        .outerjoin(Enrollment, Enrollment.patient_id == Patient.id)
        .order_by(Patient.name, Patient.birth_on, Patient.key)
    )
    if search.strip():
        born = _birth_filter(search.strip())
        if born is not None:
            stmt = stmt.where(born)
        else:
            like = f"%{search.strip().lower()}%"
            stmt = stmt.where(func.lower(Patient.name).like(like) | func.lower(Patient.key).like(like))
    rows: dict[str, PatientRow] = {}
    for key, name, birth_on, enrollment in session.execute(_scoped(stmt, Patient.id, within)):
        found = rows.get(key) or PatientRow(key, name, (), birth_on)
        if enrollment is not None:
            status = (enrollment.program_id, effective_status(enrollment, on))
            found = PatientRow(key, name, (*found.programs, status), birth_on)
        rows[key] = found
    return list(rows.values())
