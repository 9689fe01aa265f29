"""The per-dose decision, as a pure function of the visit: ``decide(visit) -> Decision``.

It reads like the TOUCH pre-infusion checklist it implements: the site and the
prescriber certified; the patient enrolled, consented, authorized, not lapsed,
not discontinued, not suspended, with the program's forms; no dose already
given today and the visit not deferred; the checklist answered "no"; the
previous visit cleared; the clinical assessment (the engine, over the facts
with the program's own records); the dose interval; the course limit. No
clock, no database: the same visit always gives the same decision. Loading a
visit and saving its decision live in :mod:`rxguard.store.visits`.

* Program status failures are DO-NOT-INFUSE: "STOP — do not infuse".
* A "yes" (or a missing answer) on the checklist, an unresolved hold at the
  previous visit, an engine verdict of ``hold`` and a dose earlier than the
  pack's minimum interval are HOLD: the prescriber must clear it.
* An engine verdict of ``contraindicated`` is DO-NOT-INFUSE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from rxguard.engine import Assessment, assess
from rxguard.engine.predicates import shift
from rxguard.facts.model import PatientFacts
from rxguard.program.registry import Program, cite
from rxguard.store.visits import Cert, Held, SameVisit

PASS, WARN, HOLD, STOP = "pass", "warn", "hold", "do-not-infuse"
_RANK = {PASS: 0, WARN: 0, HOLD: 1, STOP: 2}
DECISION = {0: "authorized", 1: "hold", 2: "do-not-infuse"}


@dataclass(frozen=True)
class Check:
    """One check's outcome and reason.

    ``reason`` is the English sentence the API, the CLI and the audit trail
    keep; ``code`` and ``values`` say the same as data (a message key and its
    parts: ids, ISO dates, counts), so an interface can word it in the
    reader's language with dates in the reader's format.
    """

    id: str
    outcome: str
    reason: str
    sources: list[dict[str, str]] = field(default_factory=list)
    code: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outcome": self.outcome,
            "reason": self.reason,
            "code": self.code,
            "values": dict(self.values),
            "sources": [dict(s) for s in self.sources],
        }


@dataclass(frozen=True)
class PatientState:
    """The patient's enrollment as the checks read it (``status`` after a passed reauthorization date is noticed)."""

    status: str
    indication: str
    authorized_until_on: date | None = None
    discontinuation_reason: str | None = None


@dataclass(frozen=True)
class Visit:
    """Everything one authorization looks at, gathered once."""

    program: Program
    patient: PatientState
    site_key: str
    prescriber_key: str
    at: datetime
    answers: dict[str, bool | float]
    facts: PatientFacts
    history: list[date]
    held: Held
    same_visit: tuple[SameVisit, ...] = ()
    site_cert: Cert | None = None
    prescriber_cert: Cert | None = None


@dataclass(frozen=True)
class Decision:
    checks: list[Check]
    assessment: Assessment
    decision: str

    @property
    def failed(self) -> list[str]:
        return [c.id for c in self.checks if c.outcome in (HOLD, STOP)]


def decide(visit: Visit) -> Decision:
    """Every check for one visit, each with its outcome, reason and sources, and the decision (the worst)."""
    assessment = _assessment(visit)
    checks = [
        *_participant_checks(visit),
        *_patient_checks(visit),
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
    return Decision(checks, assessment, DECISION[max(_RANK[c.outcome] for c in checks)])


def visit_day(at: datetime) -> date:
    """The visit's calendar day, where the visit takes place (the offset of ``at`` as given)."""
    return at.date()


def valid_until(program: Program, at: datetime) -> datetime:
    """The end of the window an authorization made at ``at`` is valid in (program.yaml ``authorization_window``)."""
    window = program.definition.authorization_window
    if window.hours is not None:
        return at + timedelta(hours=window.hours)
    return datetime.combine(at.date() + timedelta(days=1), time(0), tzinfo=at.tzinfo)


# --------------------------------------------------------------------------- participants


def _certification_check(check_id: str, who: str, cert: Cert | None, program: Program, kind: str) -> Check:
    requirement = getattr(program.definition.certification, kind)
    sources = cite(requirement.sources)
    values: dict[str, Any] = {"program": program.id}
    if cert is None:
        return Check(check_id, STOP, f"{who} is not enrolled in {program.id}", sources, "cert-not-enrolled", values)
    if cert.status != "certified":
        reason = f"{who} is {cert.status} in {program.id}, not certified"
        return Check(check_id, STOP, reason, sources, "cert-not-certified", {**values, "status": cert.status})
    if kind == "site" and requirement.site_authorization_number and not cert.site_authorization_number:
        return Check(check_id, STOP, f"{who} has no site authorization number", sources, "cert-no-number", values)
    number = cert.site_authorization_number
    reason = f"{who} is certified in {program.id}" + (f", site authorization number {number}" if number else "")
    if number:
        return Check(check_id, PASS, reason, sources, "cert-certified-number", {**values, "number": number})
    return Check(check_id, PASS, reason, sources, "cert-certified", values)


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
    program, patient = visit.program, visit.patient
    sources = program.citations()
    status = patient.status
    checks = [
        Check(
            "patient-enrolled",
            PASS,
            f"enrolled in {program.id} for {patient.indication}",
            sources,
            "enrolled",
            {"program": program.id, "indication": patient.indication},
        ),
        _consent_check(visit),
    ]
    if status in ("authorized", "lapsed"):
        checks.append(
            Check("patient-authorized", PASS, "treatment authorized by the prescriber", sources, "authorized")
        )
    elif status == "enrolled":
        reason = "treatment not yet authorized by the prescriber"
        checks.append(Check("patient-authorized", STOP, reason, sources, "not-yet-authorized"))
    else:
        reason = f"status {status} (see below)"
        checks.append(Check("patient-authorized", PASS, reason, sources, "status-below", {"status": status}))
    if program.definition.reauthorization_every:
        until = patient.authorized_until_on
        until_on = {"until_on": until.isoformat()} if until else {}
        if status == "lapsed":
            reason = f"reauthorization was due by {until}; reauthorize first"
            checks.append(Check("authorization-not-lapsed", STOP, reason, sources, "lapsed", until_on))
        elif until:
            reason = f"authorized until {until}"
            checks.append(Check("authorization-not-lapsed", PASS, reason, sources, "authorized-until", until_on))
        else:
            reason = "no reauthorization due yet"
            checks.append(Check("authorization-not-lapsed", PASS, reason, sources, "no-reauthorization-due"))
    if status == "discontinued":
        why = patient.discontinuation_reason or ""
        checks.append(
            Check(
                "not-discontinued",
                STOP,
                f"discontinued: {patient.discontinuation_reason}",
                sources,
                "discontinued",
                {"reason": why},
            )
        )
    else:
        checks.append(Check("not-discontinued", PASS, "not discontinued", sources, "not-discontinued"))
    if status == "suspended":
        reason = "treatment suspended (see the enrollment history)"
        checks.append(Check("not-suspended", STOP, reason, sources, "suspended"))
    else:
        checks.append(Check("not-suspended", PASS, "not suspended", sources, "not-suspended"))
    checks.extend(_form_checks(visit))
    return checks


def _consent_check(visit: Visit) -> Check:
    document = visit.program.consent_document(visit.at.date())
    # The same answer as enrollment.has_current_consent, from the row read with the other held records.
    values = {"program": visit.program.id, "document": document.id, "version": document.version}
    if visit.held.consent_signed:
        why = f"consent {document.id} version {document.version} signed by patient and prescriber"
        return Check("consent-signed", PASS, why, cite(document.sources), "consent-signed", values)
    why = f"no signed consent for {document.id} version {document.version} (the version in force)"
    return Check("consent-signed", STOP, why, cite(document.sources), "consent-missing", values)


def _form_checks(visit: Visit) -> list[Check]:
    forms = visit.program.definition.forms
    if not forms:
        return []
    done = visit.held.forms
    missing: list[str] = []
    parts: list[dict[str, str]] = []
    sources: list[dict[str, str]] = []
    for form in forms:
        if form.moment == "enrollment" and form.id not in done:
            missing.append(form.title)
            parts.append({"id": form.id})
            sources += cite(form.sources)
        if form.moment == "continuation" and form.after and visit.history:
            due_on = shift(visit.history[0], form.after)
            last = done.get(form.id)
            if visit.at.date() >= due_on and (last is None or last.date() < due_on):
                missing.append(f"{form.title} (due {due_on.isoformat()})")
                parts.append({"id": form.id, "due_on": due_on.isoformat()})
                sources += cite(form.sources)
    values = {"program": visit.program.id, "forms": parts}
    if missing:
        return [Check("program-forms", STOP, "missing: " + "; ".join(missing), sources, "forms-missing", values)]
    return [Check("program-forms", PASS, "required forms recorded", [], "forms-recorded")]


# --------------------------------------------------------------------------- checklist


def checklist_questions(program: Program) -> list[str]:
    return [q.id for q in program.pack.questions.values() if q.kind == "checklist"]


def _checklist_check(visit: Visit) -> Check:
    questions = checklist_questions(visit.program)
    if not questions:
        reason = f"{visit.program.id} has no pre-infusion checklist"
        return Check("checklist", PASS, reason, [], "checklist-none", {"program": visit.program.id})
    yes = [q for q in questions if visit.answers.get(q) is True]
    unanswered = [q for q in questions if q not in visit.answers]
    sources = [cite(visit.program.pack.questions[q].sources) for q in questions]
    flat = [s for group in sources for s in group]
    pack = {"pack": visit.program.pack.name}
    if yes:
        reason = "answered yes: " + ", ".join(yes) + "; contact the prescriber"
        return Check("checklist", HOLD, reason, flat, "checklist-yes", {**pack, "questions": yes})
    if unanswered:
        reason = "unanswered: " + ", ".join(unanswered) + "; complete the checklist"
        return Check("checklist", HOLD, reason, flat, "checklist-unanswered", {**pack, "questions": unanswered})
    reason = f"all {len(questions)} checklist answers are no"
    return Check("checklist", PASS, reason, flat, "checklist-all-no", {"n": len(questions)})


def _previous_visit_check(visit: Visit) -> Check:
    """A held visit that was never cleared to proceed needs the prescriber again now.

    A hold only for timing (dose too early) is not a clinical clearance, so it does not carry.
    """
    previous = visit.held.previous
    held = previous is not None and previous.decision == "hold" and previous.status in ("hold", "deferred")
    if previous is not None and held and previous.failed != {"dose-interval"}:
        return Check(
            "previous-visit-clearance",
            HOLD,
            f"the previous visit on {previous.visit_at.date()} was held ({previous.status}) and not infused; "
            "the prescriber must confirm before this infusion",
            visit.program.citations()[:1],
            "previous-held",
            {"visit_on": previous.visit_at.date().isoformat(), "status": previous.status},
        )
    return Check("previous-visit-clearance", PASS, "no unresolved hold from the previous visit", [], "previous-clear")


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
    if not top:
        return Check("clinical-assessment", outcome, reason, sources, "clinical-none")
    rules = [f.rule_id for f in top]
    return Check("clinical-assessment", outcome, reason, sources, "clinical-findings", {"rules": rules})


def phase_min_interval(program: Program, index: int) -> str | None:
    for phase in program.pack.dosing.phases:
        if phase.from_infusion <= index and (phase.to_infusion is None or index <= phase.to_infusion):
            return phase.min_interval
    return None


def _interval_check(visit: Visit) -> Check:
    program = visit.program
    sources = cite(program.pack.dosing.sources) + cite(program.definition.dose_interval.sources)
    if not visit.history:
        return Check("dose-interval", PASS, "first infusion", sources, "interval-first")
    index = len(visit.history) + 1
    minimum = phase_min_interval(program, index)
    if minimum is None:
        reason = f"no dose phase covers infusion {index}"
        return Check("dose-interval", PASS, reason, sources, "interval-no-phase", {"n": index})
    tolerance = program.early_tolerance_days()
    earliest = shift(visit.history[-1], minimum) - timedelta(days=tolerance)
    detail = (
        f"last infusion {visit.history[-1]}; minimum interval {minimum} for infusion {index}, tolerance {tolerance} d"
    )
    values = {
        "last_on": visit.history[-1].isoformat(),
        "minimum": minimum,
        "n": index,
        "tolerance": tolerance,
        "earliest_on": earliest.isoformat(),
    }
    if visit.at.date() < earliest:
        reason = f"too early: not before {earliest} ({detail}); the prescriber must confirm"
        return Check("dose-interval", HOLD, reason, sources, "interval-too-early", values)
    return Check("dose-interval", PASS, detail, sources, "interval-ok", values)


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
            "given-today",
            {"at": today[-1].isoformat()},
        )
    return Check("dose-not-already-given", PASS, "no dose infused today", sources, "given-none")


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
            "deferred",
            {"at": deferred[-1].visit_at.isoformat()},
        )
    return Check("visit-not-deferred", PASS, "this dose was not deferred today", [], "not-deferred")


def _course_check(visit: Visit) -> Check | None:
    course = visit.program.definition.course
    if course is None:
        return None
    sources = cite(course.sources)
    total = course.total_infusions
    if len(visit.history) >= total:
        reason = f"the course of {total} infusions is complete"
        return Check("course-limit", STOP, reason, sources, "course-complete", {"total": total})
    if visit.history and visit.at.date() > shift(visit.history[0], course.duration):
        reason = f"beyond the {course.duration} course that began {visit.history[0]}"
        values = {"duration": course.duration, "start_on": visit.history[0].isoformat()}
        return Check("course-limit", HOLD, reason, sources, "course-beyond", values)
    reason = f"infusion {len(visit.history) + 1} of {total}"
    return Check("course-limit", PASS, reason, sources, "course-count", {"n": len(visit.history) + 1, "total": total})
