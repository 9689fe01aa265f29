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

from sqlalchemy.orm import Session

from rxguard.engine.model import DEPRECATED_STRATUM_KEY, stratum_of
from rxguard.engine.predicates import shift
from rxguard.program.authorization import failed_checks
from rxguard.program.decision import phase_min_interval
from rxguard.program.enrollment import effective_status
from rxguard.program.monitoring import DUE_SOON_DAYS, describe_measurements
from rxguard.program.registry import get_program
from rxguard.store import overview as reads
from rxguard.store.models import AuthorizationEvent, Enrollment, Patient, Prescriber
from rxguard.store.overview import Scope

REAUTHORIZATION_HORIZON = timedelta(days=30)
CHART_WEEKS = 12
OPEN_OUTCOMES = ("not-recovered", "recovering", "unknown")
ACTIVE = ("enrolled", "authorized", "lapsed")


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
    failed: tuple[dict[str, Any], ...] = ()  # each failed check as stored (with its message code and values)


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
    program: str


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
    session: Session, *, on: date, within: Scope, zone: tzinfo = UTC, site_id: str | None = None
) -> list[VisitRow]:
    """The checklists of ``on`` (the day in ``zone``); with ``site_id`` only those made at that site."""
    start, end = _day_bounds(on, zone)
    return [
        VisitRow(a.id, key, name, a.program_id, site, a.visit_at, a.dose_number, a.decision, a.status)
        for a, key, name, site in reads.visits_between(session, start=start, end=end, within=within, site_id=site_id)
    ]


def ready_to_infuse(
    session: Session, *, now: datetime, within: Scope, zone: tzinfo = UTC, site_id: str | None = None
) -> list[VisitRow]:
    """Doses authorized (or cleared, or overridden) and still valid now, with no infusion recorded yet.

    An authorization without its own end is valid until the end of its visit
    day; here that day is the site's (``zone``), so the list never offers one
    the infusion record would refuse as stale.
    """
    start, _ = _day_bounds(now.astimezone(zone).date(), zone)
    rows = reads.unused_authorizations(session, now=now, day_start=start, within=within, site_id=site_id)
    return [
        VisitRow(a.id, key, name, a.program_id, site, a.visit_at, a.dose_number, a.decision, a.status)
        for a, key, name, site in rows
    ]


def doses_due(session: Session, *, on: date, within: Scope, horizon_days: int = 7) -> list[DoseDueRow]:
    """Authorized patients whose next dose may be given on or before ``on`` + horizon."""
    rows: list[DoseDueRow] = []
    for enrollment, key, name, last_at, count in reads.last_infusions_of_authorized(session, within=within):
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


def holds(session: Session, *, within: Scope) -> list[HoldRow]:
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
            tuple(failed_checks(a)),
        )
        for a, key, name, site, doc in reads.held_authorizations(session, within=within)
    ]


def due_items(session: Session, *, on: date, within: Scope, overdue_only: bool = True) -> list[DueItemRow]:
    soon = on + timedelta(days=DUE_SOON_DAYS)
    if overdue_only:
        found = reads.schedule_items(session, within=within, before=on)
    else:
        found = reads.schedule_items(session, within=within, through=soon)
    return [
        DueItemRow(key, name, program, item, title, due_on, "overdue" if due_on < on else "due")
        for key, name, program, item, title, due_on in found
    ]


def reauthorizations_due(session: Session, *, on: date, within: Scope) -> list[ReauthorizationRow]:
    rows = reads.enrollments_expiring(session, through=on + REAUTHORIZATION_HORIZON, within=within)
    return [
        ReauthorizationRow(key, name, e.program_id, doc, e.authorized_until_on, effective_status(e, on))
        for e, key, name, doc in rows
    ]


def open_adverse_events(session: Session, *, within: Scope) -> list[AdverseEventRow]:
    return [
        AdverseEventRow(ae.id, key, name, program, ae.kind, ae.serious, ae.onset_on, ae.outcome, ae.reported_at)
        for ae, key, name, program in reads.adverse_events_with_outcome(session, outcomes=OPEN_OUTCOMES, within=within)
    ]


def pending_overrides(session: Session, *, within: Scope) -> list[OverrideRow]:
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
            program,
        )
        for o, key, name, program in reads.unreconciled_overrides(session, within=within)
    ]


# --------------------------------------------------------------------------- chart series


def week_start(on: date) -> date:
    return on - timedelta(days=on.weekday())


def infusions_per_week(session: Session, *, on: date, within: Scope) -> list[tuple[date, int]]:
    """Infusions in each of the last ``CHART_WEEKS`` weeks (Monday-based), oldest first."""
    first = week_start(on) - timedelta(weeks=CHART_WEEKS - 1)
    start = datetime.combine(first, time(0), tzinfo=UTC)
    weeks = Counter[date]()
    for value, count in reads.infusions_per_day(session, since=start, within=within):
        when = value if isinstance(value, date) else date.fromisoformat(str(value))
        weeks[week_start(when)] += count
    return [(first + timedelta(weeks=i), weeks.get(first + timedelta(weeks=i), 0)) for i in range(CHART_WEEKS)]


def decision_counts(session: Session, *, on: date, within: Scope) -> dict[str, int]:
    """Per-dose decisions over the chart window, by outcome."""
    start = datetime.combine(week_start(on) - timedelta(weeks=CHART_WEEKS - 1), time(0), tzinfo=UTC)
    found = reads.decisions_since(session, since=start, within=within)
    return {d: int(found.get(d, 0)) for d in ("authorized", "hold", "do-not-infuse")}


def stratum_counts(session: Session, *, within: Scope) -> dict[str, int]:
    """Risk stratum of each active enrollment, read from its latest per-dose assessment."""
    # Assessments stored under contract 1 carry the stratum under its old key only.
    return reads.latest_strata(
        session, statuses=(*ACTIVE, "suspended"), stratum_keys=("risk_stratum", DEPRECATED_STRATUM_KEY), within=within
    )


def dashboard(
    session: Session,
    *,
    on: date,
    within: Scope,
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
    values: dict[str, Any] = field(default_factory=dict)  # the parts of title and detail, for an interface to word


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


def _enrollments(session: Session, patient: Patient) -> list[tuple[Enrollment, Prescriber]]:
    return reads.enrollments_of(session, patient.id)


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
    for ev in reads.enrollment_events(session, ids):
        said = {"code": ev.reason_code, "params": dict(ev.reason_values or {})} if ev.reason_code else {}
        out.append(
            TimelineEntry(
                ev.at,
                "enrollment",
                ev.to_status,
                ev.reason,
                programs[ev.enrollment_id],
                tone=_tone(ev.to_status),
                actor=ev.actor,
                values=said,
            )
        )
    for a in reads.authorizations_of(session, patient.id):
        failed = [c["id"] for c in failed_checks(a)]
        out.append(
            TimelineEntry(
                a.visit_at,
                "authorization",
                a.decision,
                "; ".join(failed),
                a.program_id,
                a.id,
                _tone(a.decision),
                a.actor,
                {"checks": failed},
            )
        )
    for i in reads.infusions_of(session, patient.id):
        detail = f"{i.product} {i.dose:g} {i.dose_unit}, lot {i.lot}"
        out.append(
            TimelineEntry(
                i.started_at,
                "infusion",
                f"dose {i.dose_number}",
                detail,
                i.drug,
                i.authorization_id,
                "ok",
                i.actor,
                {
                    "dose_number": i.dose_number,
                    "product": i.product,
                    "dose": f"{i.dose:g}",
                    "unit": i.dose_unit,
                    "lot": i.lot,
                },
            )
        )
    for m in reads.monitoring_events(session, ids):
        values = [describe_measurements(programs[m.enrollment_id], m.measurements), m.result, m.note]
        at = datetime.combine(m.occurred_on, time(12), tzinfo=UTC)
        parts = {"measurements": dict(m.measurements or {}), "result": m.result or "", "note": m.note or ""}
        out.append(
            TimelineEntry(
                at, "monitoring", m.kind, " · ".join(v for v in values if v), programs[m.enrollment_id], values=parts
            )
        )
    for ae in reads.adverse_events_of(session, patient.id):
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
                {"description": ae.description, "onset_on": ae.onset_on.isoformat(), "outcome": ae.outcome},
            )
        )
    for c in reads.consents(session, ids):
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
                {"document": c.document_id, "version": c.document_version, "language": c.language},
            )
        )
    for cl, program, cl_actor in reads.clearances_of(session, patient.id):
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
    for o, program in reads.overrides_of(session, patient.id):
        out.append(TimelineEntry(o.at, "override", o.role, o.reason, program, o.authorization_id, "warn", o.actor))
    return sorted(out, key=lambda e: e.at, reverse=True)


def _latest_visit(session: Session, patient: Patient) -> tuple[dict[str, Any] | None, datetime | None, dict[str, Any]]:
    row = reads.latest_visit(session, patient.id)
    if row is None:
        return None, None, {}
    assessment, at, answers = row
    return stratum_of(assessment), at, dict(answers or {})


def patient_file(session: Session, patient: Patient, *, on: date) -> PatientFile:
    """The whole patient on one page: standing, history, stratum, calendar, consents."""
    pairs = _enrollments(session, patient)
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
        for c in reads.consents(session, list(programs), oldest_first=True)
    ]
    calendar = due_items(session, on=on, within=reads.only_patient(patient.id), overdue_only=False)
    calendar += _upcoming(session, patient, on)
    stratum, stratum_at, answers = _latest_visit(session, patient)
    pending = reads.open_authorizations(session, patient.id, statuses=("hold", *reads.INFUSABLE_STATUSES))
    latest = reads.latest_authorization_id(session, patient.id)
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
    found = reads.schedule_items(session, within=reads.only_patient(patient.id), after=soon)
    return [DueItemRow(k, n, p, i, t, d, "upcoming") for k, n, p, i, t, d in found]


def authorization_history(session: Session, authorization_id: str) -> list[AuthorizationEvent]:
    """Every state change of one per-dose authorization, oldest first."""
    return reads.authorization_events(session, authorization_id)


@dataclass(frozen=True)
class PatientRow:
    key: str
    name: str
    programs: tuple[tuple[str, str], ...]  # (program, status today)
    birth_on: date | None = None


def _birth_range(search: str) -> tuple[date, date | None] | None:
    """A search for a date of birth: ``1984-05-17`` (the day), ``1984-05`` (the month) or ``1984`` (the year),
    as [first day, day after the last) (None: no day after the calendar's last)."""
    parts = search.split("-")
    if not all(p.isdigit() for p in parts) or len(parts[0]) != 4 or len(parts) > 3:
        return None
    try:
        numbers = [int(p) for p in parts]
        start = date(numbers[0], numbers[1] if len(numbers) >= 2 else 1, numbers[2] if len(numbers) == 3 else 1)
    except ValueError:
        return None
    try:
        if len(numbers) == 3:
            return start, start + timedelta(days=1)
        if len(numbers) == 2:
            return start, date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return start, date(start.year + 1, 1, 1)
    except (ValueError, OverflowError):
        return start, None


def patient_list(session: Session, *, on: date, within: Scope, search: str = "") -> list[PatientRow]:
    """Patients in scope with each program's status today; ``search`` matches key or name, or a date of
    birth (``1984-05-17``, ``1984-05``, ``1984``)."""
    wanted = search.strip()
    born = _birth_range(wanted) if wanted else None
    text = wanted if wanted and born is None else None
    rows: dict[str, PatientRow] = {}
    for key, name, birth_on, enrollment in reads.patients_with_enrollments(
        session, within=within, born=born, text=text
    ):
        found = rows.get(key) or PatientRow(key, name, (), birth_on)
        if enrollment is not None:
            status = (enrollment.program_id, effective_status(enrollment, on))
            found = PatientRow(key, name, (*found.programs, status), birth_on)
        rows[key] = found
    return list(rows.values())
