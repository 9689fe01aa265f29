"""Per-dose authorization: every check, each with its reason and source, then one decision.

The decision is AUTHORIZED, HOLD or DO-NOT-INFUSE and is stored whether or
not the patient is infused (the TOUCH checklist is submitted either way).

* Program status failures (site or prescriber not certified, patient not
  enrolled / consented / authorized, lapsed, suspended, discontinued, forms
  missing, course complete) are DO-NOT-INFUSE: "STOP — do not infuse".
* A "yes" (or a missing answer) on the pre-infusion checklist, an unresolved
  hold at the previous visit, an engine verdict of ``hold`` and a dose earlier
  than the pack's minimum interval are HOLD: the prescriber must clear it.
* An engine verdict of ``contraindicated`` is DO-NOT-INFUSE.

One authorization per dose and visit (enforced by ``uq_authorization_open_dose``):
a checklist submitted again while the visit's hold is pending continues that hold
(and says so); again while the dose is authorized, it either confirms that
authorization or, when it finds something new, withdraws it and decides anew; a
deferred visit is over (``visit-not-deferred``); a dose already given that day is
a hard stop (``dose-not-already-given``). Each authorization is valid until
``valid_until`` (the program's ``authorization_window``: the visit's day by
default); the infusion must start inside that window.

Everything runs under a row lock on the patient's enrollment, and the
certifications are read with a share lock, so a concurrent suspension or a
concurrent authorization of the same patient waits for this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, literal_column, or_, select, true
from sqlalchemy.orm import Session, load_only, make_transient_to_detached

from rxguard.engine import Assessment, assess, read_facts
from rxguard.engine.predicates import shift
from rxguard.errors import ConflictError, InputError
from rxguard.facts.model import MedicationUse, PatientFacts
from rxguard.program import monitoring
from rxguard.program.common import (
    Write,
    find_enrollment,
    flush_or_conflict,
    lock_enrollment,
    move_authorization,
    patient,
    require_aware,
    site,
    write_together,
)
from rxguard.program.enrollment import notice_lapse
from rxguard.program.gate_facts import ProgramRecord, with_program_records
from rxguard.program.registry import Program, cite, get_program
from rxguard.store import audit
from rxguard.store.models import (
    OPEN_AUTHORIZATION_STATES,
    AdverseEvent,
    Authorization,
    AuthorizationEvent,
    Certification,
    CertificationEvent,
    Consent,
    Enrollment,
    FormRecord,
    Infusion,
    MonitoringEvent,
    Patient,
    Prescriber,
    Site,
    new_id,
)

PASS, WARN, HOLD, STOP = "pass", "warn", "hold", "do-not-infuse"
_RANK = {PASS: 0, WARN: 0, HOLD: 1, STOP: 2}
DECISION = {0: "authorized", 1: "hold", 2: "do-not-infuse"}


@dataclass(frozen=True)
class Check:
    id: str
    outcome: str
    reason: str
    sources: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outcome": self.outcome,
            "reason": self.reason,
            "sources": [dict(s) for s in self.sources],
        }


@dataclass(frozen=True)
class Cert:
    """A site's or prescriber's certification as the decision reads it (under a share lock)."""

    id: str
    status: str
    site_authorization_number: str | None


@dataclass(frozen=True)
class Previous:
    """The patient's latest visit before this one."""

    id: str
    visit_at: datetime
    decision: str
    status: str


@dataclass(frozen=True)
class Held:
    """What rxguard holds about the patient for this visit, read under the patient's lock."""

    infusions: list[datetime]
    consent_signed: bool
    previous: Previous | None
    site_certified_event: str | None
    prescriber_certified_event: str | None
    forms: dict[str, datetime]


@dataclass
class Visit:
    """Everything one authorization looks at, gathered once."""

    program: Program
    enrollment: Enrollment
    site_id: str
    site_key: str
    prescriber_key: str
    at: datetime
    answers: dict[str, bool | float]
    facts: PatientFacts
    history: list[date]
    held: Held
    site_cert: Cert | None = None
    prescriber_cert: Cert | None = None


# --------------------------------------------------------------------------- reading what the visit needs
#
# Three statements, in lock order: the patient's enrollment (locked, with the patient and the
# prescriber's key), then the site with both certifications (share-locked), then everything
# else the checks read (one row per infusion of the drug, each carrying the single values).

_SITE: Table = Site.__table__  # type: ignore[assignment]
_CERTIFICATION: Table = Certification.__table__  # type: ignore[assignment]
_CERTIFICATION_EVENT: Table = CertificationEvent.__table__  # type: ignore[assignment]
_CONSENT: Table = Consent.__table__  # type: ignore[assignment]
_FORM: Table = FormRecord.__table__  # type: ignore[assignment]
_INFUSION: Table = Infusion.__table__  # type: ignore[assignment]
_AUTHORIZATION: Table = Authorization.__table__  # type: ignore[assignment]
_AUTHORIZATION_EVENT: Table = AuthorizationEvent.__table__  # type: ignore[assignment]
_ADVERSE_EVENT: Table = AdverseEvent.__table__  # type: ignore[assignment]
_MONITORING: Table = MonitoringEvent.__table__  # type: ignore[assignment]


def _enrollment_statement(by_program: bool) -> Any:
    stmt = (
        select(Enrollment, Patient, Prescriber.key)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .join(Prescriber, Prescriber.id == Enrollment.prescriber_id)
        .where(Patient.key == bindparam("patient_key"))
        .order_by(Enrollment.enrolled_at)
        .options(load_only(Patient.id, Patient.birth_on, Patient.sex))  # what the clinical facts need
        # populate_existing: an enrollment the session read before must be refreshed from the locked read.
        .with_for_update(of=Enrollment)
        .execution_options(populate_existing=True)
    )
    return stmt.where(Enrollment.program_id == bindparam("program_id")) if by_program else stmt


_ENROLLMENT_ANY = _enrollment_statement(False)
_ENROLLMENT_IN_PROGRAM = _enrollment_statement(True)

_SITE_AND_CERTIFICATIONS = (
    select(
        _SITE.c.id.label("site_id"),
        _SITE.c.key.label("site_key"),
        _CERTIFICATION.c.id,
        _CERTIFICATION.c.site_id.label("certification_site_id"),
        _CERTIFICATION.c.status,
        _CERTIFICATION.c.site_authorization_number,
    )
    .select_from(
        _SITE.join(
            _CERTIFICATION,
            and_(
                _CERTIFICATION.c.program_id == bindparam("program_id"),
                or_(
                    _CERTIFICATION.c.site_id == _SITE.c.id,
                    _CERTIFICATION.c.prescriber_id == bindparam("prescriber_id"),
                ),
            ),
        )
    )
    .where(_SITE.c.key == bindparam("site_key"))
    .with_for_update(read=True, of=_CERTIFICATION)
)


def _locked_enrollment(
    session: Session, patient_key: str, site_key: str, program_id: str | None
) -> tuple[Enrollment, Patient, str]:
    """The patient's enrollment, locked, with the patient and the key of their prescriber."""
    stmt = _ENROLLMENT_IN_PROGRAM if program_id else _ENROLLMENT_ANY
    rows = session.execute(stmt, {"patient_key": patient_key, "program_id": program_id}).all()
    if len(rows) == 1:
        enrollment, pat, prescriber_key = rows[0]
        return enrollment, pat, prescriber_key
    # No such patient, not enrolled, or enrolled twice: the plain look-ups raise the same errors, in the
    # same order (patient, then site, then enrollment), as they always have.
    pat = patient(session, patient_key)
    site(session, site_key)
    enrollment = lock_enrollment(session, find_enrollment(session, pat, program_id).id)
    doc = session.get(Prescriber, enrollment.prescriber_id)
    assert doc is not None
    return enrollment, pat, doc.key


def _site_and_certifications(
    session: Session, program_id: str, site_key: str, prescriber_id: str
) -> tuple[str, str, Cert | None, Cert | None]:
    """(site id, site key, the site's certification, the prescriber's), certifications share-locked."""
    params = {"program_id": program_id, "prescriber_id": prescriber_id, "site_key": site_key}
    rows = session.connection().execute(_SITE_AND_CERTIFICATIONS, params).all()
    if not rows:  # neither is enrolled in the program, or there is no such site (NotFoundError)
        where = site(session, site_key)
        return where.id, where.key, None, None
    site_cert = prescriber_cert = None
    for row in rows:
        cert = Cert(row.id, row.status, row.site_authorization_number)
        if row.certification_site_id == row.site_id:
            site_cert = cert
        else:
            prescriber_cert = cert
    return rows[0].site_id, rows[0].site_key, site_cert, prescriber_cert


def _certified_event(certification: str) -> Any:
    """The latest event that certified this certification (cited by AUTHORIZED decisions)."""
    return (
        select(_CERTIFICATION_EVENT.c.id)
        .where(
            _CERTIFICATION_EVENT.c.certification_id == bindparam(certification),
            _CERTIFICATION_EVENT.c.to_status == "certified",
        )
        .order_by(_CERTIFICATION_EVENT.c.at.desc())
        .limit(1)
        .scalar_subquery()
    )


@lru_cache(maxsize=64)
def _held_statement(form_ids: tuple[str, ...]) -> Any:
    """One statement for what the checks read once the locks are held.

    A one-row table is left-joined to the previous visit (at most one row) and to the
    infusions of the drug (any number), so there is always at least one row; the consent,
    the two certified events and each program form's latest completion are scalar
    subqueries on every row.
    """
    one = select(literal_column("1").label("one")).subquery("one")
    previous = (
        select(_AUTHORIZATION.c.id, _AUTHORIZATION.c.visit_at, _AUTHORIZATION.c.decision, _AUTHORIZATION.c.status)
        .where(
            _AUTHORIZATION.c.enrollment_id == bindparam("enrollment_id"),
            _AUTHORIZATION.c.visit_at < bindparam("at"),
            # A DO-NOT-INFUSE visit neither gave a dose nor cleared anything: the visit before it still counts.
            _AUTHORIZATION.c.status != "do-not-infuse",
        )
        .order_by(_AUTHORIZATION.c.visit_at.desc())
        .limit(1)
        .subquery("previous")
    )
    consent = (
        select(_CONSENT.c.id)
        .where(
            _CONSENT.c.enrollment_id == bindparam("enrollment_id"),
            _CONSENT.c.document_id == bindparam("document_id"),
            _CONSENT.c.document_version == bindparam("document_version"),
        )
        .limit(1)
        .scalar_subquery()
    )
    forms = [
        select(func.max(_FORM.c.completed_at))
        .where(_FORM.c.enrollment_id == bindparam("enrollment_id"), _FORM.c.form_id == form_id)
        .scalar_subquery()
        .label(f"form_{i}")
        for i, form_id in enumerate(form_ids)
    ]
    infusions = and_(_INFUSION.c.patient_id == bindparam("patient_id"), _INFUSION.c.drug == bindparam("drug"))
    return (
        select(
            previous.c.id.label("previous_id"),
            previous.c.visit_at.label("previous_visit_at"),
            previous.c.decision.label("previous_decision"),
            previous.c.status.label("previous_status"),
            consent.label("consent_id"),
            _certified_event("site_certification_id").label("site_certified_event"),
            _certified_event("prescriber_certification_id").label("prescriber_certified_event"),
            *forms,
            _INFUSION.c.started_at,
        )
        .select_from(one.outerjoin(previous, true()).outerjoin(_INFUSION, infusions))
        .order_by(_INFUSION.c.started_at)
    )


def _held(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    at: datetime,
    site_cert: Cert | None,
    prescriber_cert: Cert | None,
) -> Held:
    form_ids = tuple(form.id for form in program.definition.forms)
    document = program.consent_document(at.date())
    params = {
        "enrollment_id": enrollment.id,
        "at": at,
        "document_id": document.id,
        "document_version": document.version,
        "site_certification_id": site_cert.id if site_cert else None,
        "prescriber_certification_id": prescriber_cert.id if prescriber_cert else None,
        "patient_id": enrollment.patient_id,
        "drug": enrollment.drug,
    }
    rows = session.connection().execute(_held_statement(form_ids), params).all()
    first = rows[0]
    previous = (
        Previous(first.previous_id, first.previous_visit_at, first.previous_decision, first.previous_status)
        if first.previous_id is not None
        else None
    )
    values = first._mapping
    forms = {form_id: values[f"form_{i}"] for i, form_id in enumerate(form_ids) if values[f"form_{i}"] is not None}
    return Held(
        infusions=[row.started_at for row in rows if row.started_at is not None],
        consent_signed=first.consent_id is not None,
        previous=previous,
        site_certified_event=first.site_certified_event,
        prescriber_certified_event=first.prescriber_certified_event,
        forms=forms,
    )


@lru_cache(maxsize=16)
def _records_statement(adverse_kinds: tuple[str, ...], monitoring_kinds: tuple[str, ...]) -> Any:
    """The patient's adverse events and the enrollment's monitoring results the gate reads as facts."""
    events = select(
        literal_column("'adverse-event'").label("source"), _ADVERSE_EVENT.c.kind, _ADVERSE_EVENT.c.onset_on.label("on"),
        _ADVERSE_EVENT.c.outcome.label("result"), _ADVERSE_EVENT.c.reported_at.label("recorded_at"),
    ).where(
        _ADVERSE_EVENT.c.patient_id == bindparam("patient_id"), _ADVERSE_EVENT.c.kind.in_(adverse_kinds),
        _ADVERSE_EVENT.c.reported_at <= bindparam("at"),
    )  # fmt: skip
    results = select(
        literal_column("'monitoring'").label("source"), _MONITORING.c.kind, _MONITORING.c.occurred_on.label("on"),
        _MONITORING.c.result, _MONITORING.c.recorded_at,
    ).where(
        _MONITORING.c.enrollment_id == bindparam("enrollment_id"), _MONITORING.c.kind.in_(monitoring_kinds),
        _MONITORING.c.recorded_at <= bindparam("at"),
    )  # fmt: skip
    return events.union_all(results)


def _program_records(session: Session, program: Program, enrollment: Enrollment, at: datetime) -> list[ProgramRecord]:
    mapping = program.records
    if not mapping.adverse_events and not mapping.monitoring:
        return []
    stmt = _records_statement(tuple(sorted(mapping.adverse_events)), tuple(sorted(mapping.monitoring)))
    params = {"patient_id": enrollment.patient_id, "enrollment_id": enrollment.id, "at": at}
    return [ProgramRecord(*row) for row in session.connection().execute(stmt, params).all()]


# --------------------------------------------------------------------------- the visit's day and window


def visit_day(at: datetime) -> date:
    """The visit's calendar day, where the visit takes place (the offset of ``at`` as given)."""
    return at.date()


def valid_until(program: Program, at: datetime) -> datetime:
    """The end of the window an authorization made at ``at`` is valid in (program.yaml ``authorization_window``)."""
    window = program.definition.authorization_window
    if window.hours is not None:
        return at + timedelta(hours=window.hours)
    return datetime.combine(at.date() + timedelta(days=1), time(0), tzinfo=at.tzinfo)


@dataclass(frozen=True)
class SameVisit:
    """An authorization of this dose made earlier on the visit's day (open, or deferred)."""

    id: str
    status: str
    site_id: str
    visit_at: datetime


_SAME_VISIT = (
    select(_AUTHORIZATION.c.id, _AUTHORIZATION.c.status, _AUTHORIZATION.c.site_id, _AUTHORIZATION.c.visit_at)
    .where(
        _AUTHORIZATION.c.enrollment_id == bindparam("enrollment_id"),
        _AUTHORIZATION.c.dose_number == bindparam("dose_number"),
        _AUTHORIZATION.c.visit_on == bindparam("visit_on"),
        _AUTHORIZATION.c.status.in_((*OPEN_AUTHORIZATION_STATES, "deferred")),
    )
    .order_by(_AUTHORIZATION.c.visit_at)
)


def _same_visit(session: Session, enrollment: Enrollment, dose_number: int, day: date) -> list[SameVisit]:
    params = {"enrollment_id": enrollment.id, "dose_number": dose_number, "visit_on": day}
    return [SameVisit(*row) for row in session.connection().execute(_SAME_VISIT, params).all()]


# --------------------------------------------------------------------------- participants


def _certification_check(check_id: str, who: str, cert: Cert | None, program: Program, kind: str) -> Check:
    requirement = getattr(program.definition.certification, kind)
    sources = cite(requirement.sources)
    if cert is None:
        return Check(check_id, STOP, f"{who} is not enrolled in {program.id}", sources)
    if cert.status != "certified":
        return Check(check_id, STOP, f"{who} is {cert.status} in {program.id}, not certified", sources)
    if kind == "site" and requirement.site_authorization_number and not cert.site_authorization_number:
        return Check(check_id, STOP, f"{who} has no site authorization number", sources)
    number = f", site authorization number {cert.site_authorization_number}" if cert.site_authorization_number else ""
    return Check(check_id, PASS, f"{who} is certified in {program.id}{number}", sources)


def _participant_checks(visit: Visit) -> list[Check]:
    program = visit.program
    return [
        _certification_check("site-certified", f"site {visit.site_key}", visit.site_cert, program, "site"),
        _certification_check(
            "prescriber-certified", f"prescriber {visit.prescriber_key}", visit.prescriber_cert, program, "prescriber"
        ),
    ]


# --------------------------------------------------------------------------- patient status


def _patient_checks(session: Session, visit: Visit, actor: str) -> list[Check]:
    program, enrollment = visit.program, visit.enrollment
    sources = program.citations()
    status = notice_lapse(session, enrollment, at=visit.at, actor=actor)
    checks = [
        Check("patient-enrolled", PASS, f"enrolled in {program.id} for {enrollment.indication}", sources),
        _consent_check(visit),
    ]
    authorized = status in ("authorized", "lapsed")
    checks.append(
        Check(
            "patient-authorized",
            PASS if authorized else (STOP if status == "enrolled" else PASS),
            "treatment authorized by the prescriber"
            if authorized
            else (
                "treatment not yet authorized by the prescriber"
                if status == "enrolled"
                else f"status {status} (see below)"
            ),
            sources,
        )
    )
    if program.definition.reauthorization_every:
        until = enrollment.authorized_until_on
        checks.append(
            Check(
                "authorization-not-lapsed",
                STOP if status == "lapsed" else PASS,
                f"reauthorization was due by {until}; reauthorize first"
                if status == "lapsed"
                else f"authorized until {until}"
                if until
                else "no reauthorization due yet",
                sources,
            )
        )
    checks.append(
        Check(
            "not-discontinued",
            STOP if status == "discontinued" else PASS,
            f"discontinued: {enrollment.discontinuation_reason}" if status == "discontinued" else "not discontinued",
            sources,
        )
    )
    checks.append(
        Check(
            "not-suspended",
            STOP if status == "suspended" else PASS,
            "treatment suspended (see the enrollment history)" if status == "suspended" else "not suspended",
            sources,
        )
    )
    checks.extend(_form_checks(visit))
    return checks


def _consent_check(visit: Visit) -> Check:
    document = visit.program.consent_document(visit.at.date())
    # The same answer as enrollment.has_current_consent, from the row read with the other held records.
    if visit.held.consent_signed:
        why = f"consent {document.id} version {document.version} signed by patient and prescriber"
    else:
        why = f"no signed consent for {document.id} version {document.version} (the version in force)"
    return Check("consent-signed", PASS if visit.held.consent_signed else STOP, why, cite(document.sources))


def _form_checks(visit: Visit) -> list[Check]:
    forms = visit.program.definition.forms
    if not forms:
        return []
    done = visit.held.forms
    missing: list[str] = []
    sources: list[dict[str, str]] = []
    for form in forms:
        if form.moment == "enrollment" and form.id not in done:
            missing.append(form.title)
            sources += cite(form.sources)
        if form.moment == "continuation" and form.after and visit.history:
            due_on = shift(visit.history[0], form.after)
            last = done.get(form.id)
            if visit.at.date() >= due_on and (last is None or last.date() < due_on):
                missing.append(f"{form.title} (due {due_on.isoformat()})")
                sources += cite(form.sources)
    if missing:
        return [Check("program-forms", STOP, "missing: " + "; ".join(missing), sources)]
    return [Check("program-forms", PASS, "required forms recorded", [])]


# --------------------------------------------------------------------------- checklist


def _checklist_questions(program: Program) -> list[str]:
    return [q.id for q in program.pack.questions.values() if q.kind == "checklist"]


def validate_answers(program: Program, answers: dict[str, Any]) -> dict[str, bool | float]:
    known = program.pack.questions
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise InputError(
            f"unknown answer id(s) {', '.join(unknown)}; {program.id} asks: {', '.join(sorted(known)) or 'nothing'}"
        )
    clean: dict[str, bool | float] = {}
    for key, value in answers.items():
        if known[key].answer_type == "boolean" and not isinstance(value, bool):
            raise InputError(f"answer {key} must be true or false (yes/no), got {value!r}")
        if known[key].answer_type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InputError(f"answer {key} must be a number, got {value!r}")
        clean[key] = value
    return clean


def _checklist_check(visit: Visit) -> Check:
    questions = _checklist_questions(visit.program)
    if not questions:
        return Check("checklist", PASS, f"{visit.program.id} has no pre-infusion checklist", [])
    yes = [q for q in questions if visit.answers.get(q) is True]
    unanswered = [q for q in questions if q not in visit.answers]
    sources = [cite(visit.program.pack.questions[q].sources) for q in questions]
    flat = [s for group in sources for s in group]
    if yes:
        return Check("checklist", HOLD, "answered yes: " + ", ".join(yes) + "; contact the prescriber", flat)
    if unanswered:
        return Check("checklist", HOLD, "unanswered: " + ", ".join(unanswered) + "; complete the checklist", flat)
    return Check("checklist", PASS, f"all {len(questions)} checklist answers are no", flat)


def _previous_visit_check(session: Session, visit: Visit) -> Check:
    """A held visit that was never cleared to proceed needs the prescriber again now.

    A hold only for timing (dose too early) is not a clinical clearance, so it does not carry.
    """
    previous = visit.held.previous
    if previous is not None and previous.decision == "hold" and previous.status in ("hold", "deferred"):
        stored = session.execute(select(Authorization.checks).where(Authorization.id == previous.id)).scalar_one()
        failed = {c["id"] for c in stored.get("checks", []) if c["outcome"] in (HOLD, STOP)}
        if failed != {"dose-interval"}:
            return Check(
                "previous-visit-clearance",
                HOLD,
                f"the previous visit on {previous.visit_at.date()} was held ({previous.status}) and not infused; "
                "the prescriber must confirm before this infusion",
                visit.program.citations()[:1],
            )
    return Check("previous-visit-clearance", PASS, "no unresolved hold from the previous visit", [])


# --------------------------------------------------------------------------- clinical and schedule


def _assessment(visit: Visit) -> Assessment:
    context = {"infusions": visit.history}
    return assess(
        visit.program.pack,
        visit.facts,
        at=visit.at.date(),
        jurisdiction=visit.program.definition.jurisdiction,
        answers=visit.answers,
        context=context,
    )


def _clinical_check(assessment: Assessment) -> Check:
    """The engine's verdict; schedule findings are left to the dose-interval check."""
    findings = [f for f in assessment.findings if f.category != "schedule"]
    rank = {"contraindicated": 3, "hold": 2, "caution": 1, "info": 0}
    worst = max((rank.get(f.effective_severity, 0) for f in findings), default=0)
    top = [f for f in findings if rank.get(f.effective_severity, 0) == worst and worst > 0]
    reason = "; ".join(f"{f.rule_id}: {f.title}" for f in top) or "no clinical finding above info"
    sources = [{"source": s.id, "section": s.section} for f in top for s in f.sources]
    outcome = {3: STOP, 2: HOLD, 1: WARN}.get(worst, PASS)
    return Check("clinical-assessment", outcome, reason, sources)


def _phase_min_interval(program: Program, index: int) -> str | None:
    for phase in program.pack.dosing.phases:
        if phase.from_infusion <= index and (phase.to_infusion is None or index <= phase.to_infusion):
            return phase.min_interval
    return None


def _interval_check(visit: Visit) -> Check:
    program = visit.program
    sources = cite(program.pack.dosing.sources) + cite(program.definition.dose_interval.sources)
    if not visit.history:
        return Check("dose-interval", PASS, "first infusion", sources)
    index = len(visit.history) + 1
    minimum = _phase_min_interval(program, index)
    if minimum is None:
        return Check("dose-interval", PASS, f"no dose phase covers infusion {index}", sources)
    tolerance = program.early_tolerance_days()
    earliest = shift(visit.history[-1], minimum) - timedelta(days=tolerance)
    detail = (
        f"last infusion {visit.history[-1]}; minimum interval {minimum} for infusion {index}, tolerance {tolerance} d"
    )
    if visit.at.date() < earliest:
        return Check(
            "dose-interval", HOLD, f"too early: not before {earliest} ({detail}); the prescriber must confirm", sources
        )
    return Check("dose-interval", PASS, detail, sources)


def _given_today_check(visit: Visit) -> Check:
    """A dose of the drug already infused on the visit's day: a hard stop (one dose per visit day)."""
    day = visit_day(visit.at)
    today = [t for t in visit.held.infusions if t.astimezone(visit.at.tzinfo).date() == day]
    sources = cite(visit.program.pack.dosing.sources)
    if today:
        return Check(
            "dose-not-already-given",
            STOP,
            f"a dose was already infused today at {today[-1].astimezone(visit.at.tzinfo):%H:%M}; one dose per visit day",
            sources,
        )
    return Check("dose-not-already-given", PASS, "no dose infused today", sources)


def _deferred_check(visit: Visit, same: list[SameVisit]) -> Check:
    deferred = [v for v in same if v.status == "deferred"]
    if deferred:
        return Check(
            "visit-not-deferred",
            STOP,
            f"the prescriber deferred this dose at today's visit "
            f"({deferred[-1].visit_at.astimezone(visit.at.tzinfo):%H:%M}); the visit is over — authorize it again at the "
            "next visit",
            visit.program.citations()[:1],
        )
    return Check("visit-not-deferred", PASS, "this dose was not deferred today", [])


def _course_check(visit: Visit) -> Check | None:
    course = visit.program.definition.course
    if course is None:
        return None
    sources = cite(course.sources)
    if len(visit.history) >= course.total_infusions:
        return Check("course-limit", STOP, f"the course of {course.total_infusions} infusions is complete", sources)
    if visit.history and visit.at.date() > shift(visit.history[0], course.duration):
        return Check(
            "course-limit", HOLD, f"beyond the {course.duration} course that began {visit.history[0]}", sources
        )
    return Check("course-limit", PASS, f"infusion {len(visit.history) + 1} of {course.total_infusions}", sources)


# --------------------------------------------------------------------------- the service


def merged_bundle(bundle: dict[str, Any] | None, held: dict[str, Any]) -> dict[str, Any]:
    """The request's FHIR bundle plus what rxguard holds (its Patient, if the request has none)."""
    if bundle is None:
        return held
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("the clinical facts must be a FHIR R4 Bundle (resourceType 'Bundle')")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("Bundle.entry should be an array of entries")
    entries = list(entries)
    has_patient = any(
        isinstance(e, dict) and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Patient"
        for e in entries
    )
    if not has_patient:
        entries += held["entry"]
    return {**bundle, "entry": entries}


def infusion_history(session: Session, enrollment: Enrollment, facts: PatientFacts, before: date) -> list[date]:
    """Infusion dates rxguard holds, merged with FHIR MedicationAdministrations of the drug."""
    return merge_history(monitoring.infusion_dates(session, enrollment), enrollment.drug, facts, before)


def merge_history(held: Iterable[date], drug: str, facts: PatientFacts, before: date) -> list[date]:
    """The infusion dates rxguard holds before ``before``, with the FHIR MedicationAdministrations of the drug."""
    days = {d for d in held if d < before}
    for med in facts.tagged("medication", drug):
        if isinstance(med, MedicationUse) and med.kind == "administration" and med.start and med.start < before:
            days.add(med.start)
    return sorted(days)


def next_dose_number(session: Session, enrollment: Enrollment) -> int:
    count = session.execute(
        select(func.count(Infusion.id)).where(
            Infusion.patient_id == enrollment.patient_id, Infusion.drug == enrollment.drug
        )
    ).scalar_one()
    return int(count) + 1


def authorize_dose(
    session: Session,
    *,
    site_key: str,
    patient_key: str,
    at: datetime,
    answers: dict[str, Any],
    actor: str,
    bundle: dict[str, Any] | None = None,
    program_id: str | None = None,
) -> Authorization:
    """Run every check for one visit and store the decision, whatever it is."""
    require_aware(at)
    enrollment, pat, prescriber_key = _locked_enrollment(session, patient_key, site_key, program_id)
    program = get_program(enrollment.program_id)
    site_id, site_key, site_cert, prescriber_cert = _site_and_certifications(
        session, program.id, site_key, enrollment.prescriber_id
    )
    clean = validate_answers(program, answers)
    facts = read_facts(merged_bundle(bundle, monitoring.patient_bundle(pat)), {program.drug: program.pack})
    held = _held(session, program, enrollment, at, site_cert, prescriber_cert)
    # What the program itself recorded reaches the clinical check as facts, with where it comes from.
    facts = with_program_records(
        facts, program.records, _program_records(session, program, enrollment, at), drug=program.drug,
        infusions=held.infusions,
    )  # fmt: skip
    # Infusions earlier on the visit's own day count too: a second dose the same day is "too early".
    history = merge_history(
        (started.date() for started in held.infusions), enrollment.drug, facts, at.date() + timedelta(days=1)
    )
    visit = Visit(
        program, enrollment, site_id, site_key, prescriber_key, at, clean, facts, history, held, site_cert,
        prescriber_cert,
    )  # fmt: skip
    dose_number = len(held.infusions) + 1
    same = _same_visit(session, enrollment, dose_number, visit_day(at))
    open_now = [v for v in same if v.status in OPEN_AUTHORIZATION_STATES]
    if open_now and open_now[0].site_id != site_id:
        raise ConflictError(
            f"dose {dose_number} of patient {patient_key} already has an open authorization today at another site "
            f"(since {open_now[0].visit_at:%H:%M} UTC, {open_now[0].status}); one authorization per dose and visit: "
            "that site records the infusion, or the prescriber defers that visit"
        )
    if open_now and open_now[0].status == "hold":
        return _continue_hold(session, open_now[0], clean, at=at, actor=actor, program=program)
    checks = _participant_checks(visit) + _patient_checks(session, visit, actor)
    assessment = _assessment(visit)
    checks += [
        _given_today_check(visit),
        _deferred_check(visit, same),
        _checklist_check(visit),
        _previous_visit_check(session, visit),
        _clinical_check(assessment),
        _interval_check(visit),
    ]
    course = _course_check(visit)
    if course:
        checks.append(course)
    decision = DECISION[max(_RANK[c.outcome] for c in checks)]
    if open_now:  # authorized, cleared or overridden at this visit, not yet infused
        earlier = session.get(Authorization, open_now[0].id)
        assert earlier is not None
        if decision == "authorized":
            earlier.notice = (  # type: ignore[attr-defined]
                f"this dose is already authorized at this visit (since {earlier.visit_at:%H:%M} UTC); "
                "the checklist again found nothing new — record the infusion under that authorization"
            )
            return earlier
        failed = ", ".join(c.id for c in checks if c.outcome in (HOLD, STOP))
        move_authorization(session, earlier, "do-not-infuse", at=at, actor=actor, infusable=False,
                           reason=f"withdrawn: the checks were run again at this visit and failed ({failed})")  # fmt: skip
    return _store(session, visit, checks, assessment, decision, actor)


def _continue_hold(
    session: Session, pending: SameVisit, answers: dict[str, bool | float], *, at: datetime, actor: str,
    program: Program,
) -> Authorization:  # fmt: skip
    """A checklist on a visit whose hold is pending: the same hold continues (recorded, never a second one)."""
    row = session.get(Authorization, pending.id)
    assert row is not None
    yes = [q for q in _checklist_questions(program) if answers.get(q) is True]
    found = f"answered yes: {', '.join(yes)}" if yes else "all answers no"
    reason = (
        f"checklist submitted again ({found}); the hold of {pending.visit_at:%H:%M} UTC is pending for the "
        "prescriber and continues — a new checklist never replaces it"
    )
    move_authorization(session, row, "hold", at=at, actor=actor, reason=reason)
    row.notice = reason  # type: ignore[attr-defined]
    return row


def _cert_citation(cert: Cert | None, certified_event: str | None) -> tuple[str | None, str | None, str | None]:
    if cert is None:
        return None, None, None
    if cert.status != "certified":
        return cert.id, None, cert.status
    return cert.id, certified_event, cert.status


def _store(
    session: Session, visit: Visit, checks: list[Check], assessment: Assessment, decision: str, actor: str
) -> Authorization:
    site_cert = _cert_citation(visit.site_cert, visit.held.site_certified_event)
    doc_cert = _cert_citation(visit.prescriber_cert, visit.held.prescriber_certified_event)
    values: dict[str, Any] = {
        "id": new_id(),
        "program_id": visit.program.id,
        "drug": visit.program.drug,
        "enrollment_id": visit.enrollment.id,
        "patient_id": visit.enrollment.patient_id,
        "site_id": visit.site_id,
        "prescriber_id": visit.enrollment.prescriber_id,
        "site_certification_id": site_cert[0],
        "site_certification_event_id": site_cert[1],
        "site_certification_status": site_cert[2],
        "prescriber_certification_id": doc_cert[0],
        "prescriber_certification_event_id": doc_cert[1],
        "prescriber_certification_status": doc_cert[2],
        "visit_at": visit.at,
        "visit_on": visit_day(visit.at),
        "valid_until": valid_until(visit.program, visit.at),
        # The dose number is the dose window: every infusion of the drug so far, counted under the lock.
        "dose_number": len(visit.held.infusions) + 1,
        "decision": decision,
        "status": decision,
        "is_infusable": decision == "authorized",
        "answers": dict(visit.answers),
        "checks": {"checks": [c.to_dict() for c in checks]},
        "assessment": assessment.to_dict(),
        "created_at": visit.at,
        "actor": actor,
    }
    # Written once and never changed in this session: plain INSERTs, then the row joins the
    # session as if it had been read back (callers and the API read it after the commit).
    event = {
        "id": new_id(),
        "authorization_id": values["id"],
        "from_status": None,
        "to_status": decision,
        "actor": actor,
        "at": visit.at,
        "reason": "decision",
    }
    write_together(session, [Write(_AUTHORIZATION, values), Write(_AUTHORIZATION_EVENT, event)], what="authorization")
    row = Authorization(**values)
    make_transient_to_detached(row)
    session.add(row)
    failed = [c.id for c in checks if c.outcome in (HOLD, STOP)]
    audit.record(
        session,
        at=visit.at,
        actor=actor,
        action=f"authorization.{decision}",
        entity="authorization",
        entity_id=row.id,
        payload={
            "patient": visit.enrollment.patient_id,
            "site": visit.site_key,
            "program": visit.program.id,
            "dose_number": row.dose_number,
            "failed": failed,
            "answers": dict(visit.answers),
        },
    )
    flush_or_conflict(session, "authorization")  # e.g. the lapse noticed on the enrollment
    return row


def notice_of(row: Authorization) -> str | None:
    """What the gate said about this visit beyond the decision (a continued hold, an existing authorization)."""
    return getattr(row, "notice", None)


def checks_of(row: Authorization) -> list[dict[str, Any]]:
    return list(row.checks.get("checks", []))


def failed_checks(row: Authorization) -> list[dict[str, Any]]:
    return [c for c in checks_of(row) if c["outcome"] in (HOLD, STOP)]
