"""The dose checks as they were before ``decide(visit)`` existed: the oracle ``decide`` must agree with.

This is the per-check code of ``program/authorization.py`` at the commit before the pure
decision was split out, kept verbatim except where it read the database during the checks
(marked ORACLE): the patient's status after a lapse is noticed and the failed checks of the
previous visit, which the typed visit now carries. Tests only; nothing in rxguard imports it.
"""

# ruff: noqa
# fmt: off
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rxguard.engine import Assessment, assess
from rxguard.engine.predicates import shift
from rxguard.program.decision import Visit
from rxguard.program.registry import Program, cite

PASS, WARN, HOLD, STOP = "pass", "warn", "hold", "do-not-infuse"
_RANK = {PASS: 0, WARN: 0, HOLD: 1, STOP: 2}
DECISION = {0: "authorized", 1: "hold", 2: "do-not-infuse"}


def visit_day(at):  # as it was
    return at.date()


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


def _patient_checks(visit: Visit) -> list[Check]:
    program, enrollment = visit.program, visit.patient
    sources = program.citations()
    status = enrollment.status  # ORACLE: the status notice_lapse gave, which the visit now carries
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


def _previous_visit_check(visit: Visit) -> Check:
    """A held visit that was never cleared to proceed needs the prescriber again now.

    A hold only for timing (dose too early) is not a clinical clearance, so it does not carry.
    """
    previous = visit.held.previous
    if previous is not None and previous.decision == "hold" and previous.status in ("hold", "deferred"):
        failed = set(previous.failed)  # ORACLE: the stored checks' failed ids, which the visit now carries
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


def _deferred_check(visit: Visit) -> Check:
    deferred = [v for v in visit.same_visit if v.status == "deferred"]
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


def old_decide(visit: Visit) -> tuple[list[Check], Assessment, str]:
    """The checks in the order ``authorize_dose`` ran them, the assessment and the decision."""
    checks = _participant_checks(visit) + _patient_checks(visit)
    assessment = _assessment(visit)
    checks += [
        _given_today_check(visit),
        _deferred_check(visit),
        _checklist_check(visit),
        _previous_visit_check(visit),
        _clinical_check(assessment),
        _interval_check(visit),
    ]
    course = _course_check(visit)
    if course:
        checks.append(course)
    return checks, assessment, DECISION[max(_RANK[c.outcome] for c in checks)]
