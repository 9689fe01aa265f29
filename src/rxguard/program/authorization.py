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

Everything runs under a row lock on the patient's enrollment, and the
certifications are read with a share lock, so a concurrent suspension or a
concurrent authorization of the same patient waits for this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rxguard.engine import Assessment, assess, read_facts
from rxguard.engine.predicates import shift
from rxguard.errors import InputError
from rxguard.facts.model import MedicationUse, PatientFacts
from rxguard.program import monitoring
from rxguard.program.common import (
    certification_for,
    certified_event,
    find_enrollment,
    flush_or_conflict,
    lock_enrollment,
    patient,
    require_aware,
    site,
)
from rxguard.program.enrollment import has_current_consent, notice_lapse
from rxguard.program.registry import Program, cite, get_program
from rxguard.store import audit
from rxguard.store.models import (
    Authorization,
    AuthorizationEvent,
    Certification,
    Enrollment,
    FormRecord,
    Infusion,
    Prescriber,
    Site,
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
        return asdict(self)


@dataclass
class Visit:
    """Everything one authorization looks at, gathered once."""

    program: Program
    enrollment: Enrollment
    site: Site
    at: datetime
    answers: dict[str, bool | float]
    facts: PatientFacts
    history: list[date]
    site_cert: Certification | None = None
    prescriber_cert: Certification | None = None


# --------------------------------------------------------------------------- participants


def _certification_check(check_id: str, who: str, cert: Certification | None, program: Program, kind: str) -> Check:
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


def _participant_checks(session: Session, visit: Visit) -> list[Check]:
    program, enrollment = visit.program, visit.enrollment
    visit.site_cert = certification_for(session, program.id, site_id=visit.site.id, share=True)
    visit.prescriber_cert = certification_for(session, program.id, prescriber_id=enrollment.prescriber_id, share=True)
    doc = session.get(Prescriber, enrollment.prescriber_id)
    assert doc is not None
    return [
        _certification_check("site-certified", f"site {visit.site.key}", visit.site_cert, program, "site"),
        _certification_check(
            "prescriber-certified", f"prescriber {doc.key}", visit.prescriber_cert, program, "prescriber"
        ),
    ]


# --------------------------------------------------------------------------- patient status


def _patient_checks(session: Session, visit: Visit, actor: str) -> list[Check]:
    program, enrollment = visit.program, visit.enrollment
    sources = program.citations()
    status = notice_lapse(session, enrollment, at=visit.at, actor=actor)
    checks = [
        Check("patient-enrolled", PASS, f"enrolled in {program.id} for {enrollment.indication}", sources),
        _consent_check(session, visit),
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
    checks.extend(_form_checks(session, visit))
    return checks


def _consent_check(session: Session, visit: Visit) -> Check:
    document = visit.program.consent_document(visit.at.date())
    ok, why = has_current_consent(session, visit.program, visit.enrollment, visit.at.date())
    return Check("consent-signed", PASS if ok else STOP, why, cite(document.sources))


def _form_checks(session: Session, visit: Visit) -> list[Check]:
    forms = visit.program.definition.forms
    if not forms:
        return []
    done = {
        form_id: completed
        for form_id, completed in session.execute(
            select(FormRecord.form_id, func.max(FormRecord.completed_at))
            .where(FormRecord.enrollment_id == visit.enrollment.id)
            .group_by(FormRecord.form_id)
        )
    }
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
    previous = session.execute(
        select(Authorization)
        .where(Authorization.enrollment_id == visit.enrollment.id, Authorization.visit_at < visit.at)
        .order_by(Authorization.visit_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    sources = visit.program.citations()[:1]
    clinical = previous is not None and {c["id"] for c in failed_checks(previous)} != {"dose-interval"}
    if previous is not None and clinical and previous.decision == "hold" and previous.status in ("hold", "deferred"):
        return Check(
            "previous-visit-clearance",
            HOLD,
            f"the previous visit on {previous.visit_at.date()} was held ({previous.status}) and not infused; "
            "the prescriber must confirm before this infusion",
            sources,
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
    days = {d for d in monitoring.infusion_dates(session, enrollment) if d < before}
    for med in facts.tagged("medication", enrollment.drug):
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
    pat = patient(session, patient_key)
    where = site(session, site_key)
    enrollment = lock_enrollment(session, find_enrollment(session, pat, program_id).id)
    program = get_program(enrollment.program_id)
    clean = validate_answers(program, answers)
    facts = read_facts(merged_bundle(bundle, monitoring.patient_bundle(pat)), {program.drug: program.pack})
    # Infusions earlier on the visit's own day count too: a second dose the same day is "too early".
    history = infusion_history(session, enrollment, facts, at.date() + timedelta(days=1))
    visit = Visit(program, enrollment, where, at, clean, facts, history)
    checks = _participant_checks(session, visit) + _patient_checks(session, visit, actor)
    assessment = _assessment(visit)
    checks += [
        _checklist_check(visit),
        _previous_visit_check(session, visit),
        _clinical_check(assessment),
        _interval_check(visit),
    ]
    course = _course_check(visit)
    if course:
        checks.append(course)
    decision = DECISION[max(_RANK[c.outcome] for c in checks)]
    row = _store(session, visit, checks, assessment, decision, actor)
    return row


def _cert_citation(session: Session, cert: Certification | None) -> tuple[str | None, str | None, str | None]:
    if cert is None:
        return None, None, None
    if cert.status != "certified":
        return cert.id, None, cert.status
    event = certified_event(session, cert.id)
    return cert.id, event.id if event else None, cert.status


def _store(
    session: Session, visit: Visit, checks: list[Check], assessment: Assessment, decision: str, actor: str
) -> Authorization:
    site_cert = _cert_citation(session, visit.site_cert)
    doc_cert = _cert_citation(session, visit.prescriber_cert)
    row = Authorization(
        program_id=visit.program.id,
        drug=visit.program.drug,
        enrollment_id=visit.enrollment.id,
        patient_id=visit.enrollment.patient_id,
        site_id=visit.site.id,
        prescriber_id=visit.enrollment.prescriber_id,
        site_certification_id=site_cert[0],
        site_certification_event_id=site_cert[1],
        site_certification_status=site_cert[2],
        prescriber_certification_id=doc_cert[0],
        prescriber_certification_event_id=doc_cert[1],
        prescriber_certification_status=doc_cert[2],
        visit_at=visit.at,
        dose_number=next_dose_number(session, visit.enrollment),
        decision=decision,
        status=decision,
        is_infusable=decision == "authorized",
        answers=dict(visit.answers),
        checks={"checks": [c.to_dict() for c in checks]},
        assessment=assessment.to_dict(),
        created_at=visit.at,
        actor=actor,
    )
    session.add(row)
    flush_or_conflict(session, "authorization")
    session.add(
        AuthorizationEvent(
            authorization_id=row.id, from_status=None, to_status=decision, actor=actor, at=visit.at, reason="decision"
        )
    )
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
            "site": visit.site.key,
            "program": visit.program.id,
            "dose_number": row.dose_number,
            "failed": failed,
            "answers": dict(visit.answers),
        },
    )
    flush_or_conflict(session, "authorization")
    return row


def checks_of(row: Authorization) -> list[dict[str, Any]]:
    return list(row.checks.get("checks", []))


def failed_checks(row: Authorization) -> list[dict[str, Any]]:
    return [c for c in checks_of(row) if c["outcome"] in (HOLD, STOP)]
