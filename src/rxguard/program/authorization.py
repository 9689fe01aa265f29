"""Per-dose authorization: load the visit, decide it, store the decision, whatever it is.

The decision is AUTHORIZED, HOLD or DO-NOT-INFUSE and is stored whether or
not the patient is infused (the TOUCH checklist is submitted either way). The
checks themselves are the pure :func:`rxguard.program.decision.decide`; the SQL
that reads a visit and writes its decision is :mod:`rxguard.store.visits`.

One authorization per dose and visit (enforced by ``uq_authorization_open_dose``):
a checklist submitted again while the visit's hold is pending continues that hold
(and says so); again while the dose is authorized, it either confirms that
authorization or, when it finds something new, withdraws it and decides anew; at
another site while one is open, it is refused. Each authorization is valid until
``valid_until`` (the program's ``authorization_window``: the visit's day by
default); the infusion must start inside that window.

Everything runs under a row lock on the patient's enrollment, and the
certifications are read with a share lock, so a concurrent suspension or a
concurrent authorization of the same patient waits for this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from rxguard.engine import read_facts
from rxguard.errors import ConflictError, InputError
from rxguard.facts.model import MedicationUse, PatientFacts
from rxguard.program import schedule
from rxguard.program.common import (
    find_enrollment,
    flush_or_conflict,
    lock_enrollment,
    patient,
    require_aware,
    site,
)
from rxguard.program.decision import (
    HOLD,
    STOP,
    Decision,
    PatientState,
    Visit,
    checklist_questions,
    decide,
    valid_until,
    visit_day,
)
from rxguard.program.enrollment import effective_status, notice_lapse
from rxguard.program.gate_facts import with_program_records
from rxguard.program.registry import Program, get_program
from rxguard.program.transitions import transition
from rxguard.store import audit, visits
from rxguard.store.models import (
    OPEN_AUTHORIZATION_STATES,
    Authorization,
    Enrollment,
    Prescriber,
    new_id,
)
from rxguard.store.models import Patient as PatientRow


def _locked_enrollment(
    session: Session, patient_key: str, site_key: str, program_id: str | None
) -> tuple[Enrollment, PatientRow, str]:
    """The patient's enrollment, locked, with the patient and the key of their prescriber."""
    found = visits.lock_enrollment_row(session, patient_key, program_id)
    if found is not None:
        return found
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
) -> tuple[str, str, visits.Cert | None, visits.Cert | None]:
    found = visits.site_and_certifications(session, program_id, site_key, prescriber_id)
    if found is None:  # neither is enrolled in the program, or there is no such site (NotFoundError)
        where = site(session, site_key)
        return where.id, where.key, None, None
    return found


# --------------------------------------------------------------------------- answers


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


def clinical_facts(program: Program, bundle: dict[str, Any] | None, held: PatientFacts) -> PatientFacts:
    """The request's FHIR bundle read once; what rxguard holds (``held``: the demographics) when it has no Patient."""
    if bundle is None:
        return held
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("the clinical facts must be a FHIR R4 Bundle (resourceType 'Bundle')")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("Bundle.entry should be an array of entries")
    return read_facts(bundle, {program.drug: program.pack}, held=held)


def merge_history(held: Iterable[date], drug: str, facts: PatientFacts, before: date) -> list[date]:
    """The infusion dates rxguard holds before ``before``, with the FHIR MedicationAdministrations of the drug."""
    days = {d for d in held if d < before}
    for med in facts.tagged("medication", drug):
        if isinstance(med, MedicationUse) and med.kind == "administration" and med.start and med.start < before:
            days.add(med.start)
    return sorted(days)


@dataclass(frozen=True)
class _Read:
    """What a visit reads before its decision: the enrollment, the site, the held history, the same visit."""

    enrollment: Enrollment
    program: Program
    site_id: str
    site_key: str
    prescriber_key: str
    site_cert: visits.Cert | None
    prescriber_cert: visits.Cert | None
    answers: dict[str, bool | float]
    facts: PatientFacts
    held: visits.Held
    same: list[visits.SameVisit]
    open_now: list[visits.SameVisit]


def _read(
    session: Session, *, site_key: str, patient_key: str, at: datetime, answers: dict[str, Any],
    bundle: dict[str, Any] | None, program_id: str | None,
) -> _Read:  # fmt: skip
    enrollment, pat, prescriber_key = _locked_enrollment(session, patient_key, site_key, program_id)
    program = get_program(enrollment.program_id)
    site_id, site_key, site_cert, prescriber_cert = _site_and_certifications(
        session, program.id, site_key, enrollment.prescriber_id
    )
    clean = validate_answers(program, answers)
    facts = clinical_facts(program, bundle, schedule.demographics(pat.id, pat.birth_on, pat.sex))
    document = program.consent_document(at.date())
    held = visits.read_held(
        session, enrollment, at=at, form_ids=tuple(form.id for form in program.definition.forms),
        document=(document.id, document.version), site_cert=site_cert, prescriber_cert=prescriber_cert,
    )  # fmt: skip
    dose_number = len(held.infusions) + 1
    same = visits.read_same_visit(session, enrollment.id, dose_number, visit_day(at))
    open_now = [v for v in same if v.status in OPEN_AUTHORIZATION_STATES]
    return _Read(enrollment, program, site_id, site_key, prescriber_key, site_cert, prescriber_cert, clean, facts,
                 held, same, open_now)  # fmt: skip


def _visit(session: Session, read: _Read, *, at: datetime, status: str) -> Visit:
    """The visit as :func:`decide` reads it, with what the program itself recorded reaching it as facts."""
    enrollment, program, held = read.enrollment, read.program, read.held
    records = visits.read_program_records(
        session, patient_id=enrollment.patient_id, enrollment_id=enrollment.id, at=at,
        adverse_kinds=tuple(sorted(program.records.adverse_events)),
        monitoring_kinds=tuple(sorted(program.records.monitoring)),
    )  # fmt: skip
    facts = with_program_records(read.facts, program.records, records, drug=program.drug, infusions=held.infusions)
    # Infusions earlier on the visit's own day count too: a second dose the same day is "too early".
    history = merge_history(
        (started.date() for started in held.infusions), enrollment.drug, facts, at.date() + timedelta(days=1)
    )
    state = PatientState(status, enrollment.indication, enrollment.authorized_until_on,
                         enrollment.discontinuation_reason)  # fmt: skip
    return Visit(program, state, read.site_key, read.prescriber_key, at, read.answers, facts, history, held,
                 tuple(read.same), read.site_cert, read.prescriber_cert)  # fmt: skip


def _open_elsewhere(read: _Read, patient_key: str) -> ConflictError | None:
    open_now = read.open_now
    if not open_now or open_now[0].site_id == read.site_id:
        return None
    dose_number = len(read.held.infusions) + 1
    return ConflictError(
        f"dose {dose_number} of patient {patient_key} already has an open authorization today at another site "
        f"(since {open_now[0].visit_at:%H:%M} UTC, {open_now[0].status}); one authorization per dose and visit: "
        "that site records the infusion, or the prescriber defers that visit"
    )


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
    read = _read(session, site_key=site_key, patient_key=patient_key, at=at, answers=answers, bundle=bundle,
                 program_id=program_id)  # fmt: skip
    elsewhere = _open_elsewhere(read, patient_key)
    if elsewhere is not None:
        raise elsewhere
    open_now, program, enrollment = read.open_now, read.program, read.enrollment
    if open_now and open_now[0].status == "hold":
        return _continue_hold(session, open_now[0], read.answers, at=at, actor=actor, program=program)
    status = notice_lapse(session, enrollment, at=at, actor=actor)
    visit = _visit(session, read, at=at, status=status)
    decision = decide(visit)
    if open_now:  # authorized, cleared or overridden at this visit, not yet infused
        earlier = session.get(Authorization, open_now[0].id)
        assert earlier is not None
        if decision.decision == "authorized":
            earlier.notice = (  # type: ignore[attr-defined]
                f"this dose is already authorized at this visit (since {earlier.visit_at:%H:%M} UTC); "
                "the checklist again found nothing new — record the infusion under that authorization"
            )
            return earlier
        transition(earlier, "do-not-infuse", at=at, actor=actor,
                   reason="withdrawn: the checks were run again at this visit and failed "
                   f"({', '.join(decision.failed)})")  # fmt: skip
    return _store(session, visit, decision, enrollment, read.site_id, actor)


@dataclass(frozen=True)
class GatePreview:
    """What the dose gate will say before the checklist is sent, if every checklist answer is "no".

    ``state`` is ``authorized``, ``hold`` or ``do-not-infuse`` (the decision the checks would store), or the
    visit's own state when one is already open: ``hold-pending`` (a new checklist continues that hold),
    ``already-authorized`` (record the infusion under it) or ``open-elsewhere`` (another site holds the dose).
    ``blocking`` are the checks that would hold or stop the dose, with their reasons, in the stored shape.
    """

    state: str
    dose_number: int
    blocking: list[dict[str, Any]]
    authorization_id: str | None = None
    message: str = ""


def preview_gate(
    session: Session, *, site_key: str, patient_key: str, at: datetime, program_id: str | None = None
) -> GatePreview:
    """The gate's state for this visit, read like :func:`authorize_dose` reads it, stored nowhere.

    The checklist is taken as all "no": what still blocks is what the nurse must know before she asks
    the questions (program status, certifications, the dose interval, the clinical assessment, a pending hold).
    """
    require_aware(at)
    read = _read(session, site_key=site_key, patient_key=patient_key, at=at, answers={}, bundle=None,
                 program_id=program_id)  # fmt: skip
    read = replace(read, answers={q: False for q in checklist_questions(read.program)})
    dose_number = len(read.held.infusions) + 1
    elsewhere = _open_elsewhere(read, patient_key)
    if elsewhere is not None:
        return GatePreview("open-elsewhere", dose_number, [], read.open_now[0].id, str(elsewhere))
    if read.open_now and read.open_now[0].status == "hold":
        return GatePreview("hold-pending", dose_number, [], read.open_now[0].id)
    status = effective_status(read.enrollment, at.date())
    decision = decide(_visit(session, read, at=at, status=status))
    if read.open_now and decision.decision == "authorized":
        return GatePreview("already-authorized", dose_number, [], read.open_now[0].id)
    blocking = [c.to_dict() for c in decision.checks if c.outcome in (HOLD, STOP)]
    return GatePreview(decision.decision, dose_number, blocking)


def _continue_hold(
    session: Session, pending: visits.SameVisit, answers: dict[str, bool | float], *, at: datetime, actor: str,
    program: Program,
) -> Authorization:  # fmt: skip
    """A checklist on a visit whose hold is pending: the same hold continues (recorded, never a second one)."""
    row = session.get(Authorization, pending.id)
    assert row is not None
    yes = [q for q in checklist_questions(program) if answers.get(q) is True]
    found = f"answered yes: {', '.join(yes)}" if yes else "all answers no"
    reason = (
        f"checklist submitted again ({found}); the hold of {pending.visit_at:%H:%M} UTC is pending for the "
        "prescriber and continues — a new checklist never replaces it"
    )
    transition(row, "hold", at=at, actor=actor, reason=reason)
    row.notice = reason  # type: ignore[attr-defined]
    return row


def _cert_citation(cert: visits.Cert | None, certified_event: str | None) -> tuple[str | None, str | None, str | None]:
    if cert is None:
        return None, None, None
    if cert.status != "certified":
        return cert.id, None, cert.status
    return cert.id, certified_event, cert.status


def _store(
    session: Session, visit: Visit, decision: Decision, enrollment: Enrollment, site_id: str, actor: str
) -> Authorization:
    site_cert = _cert_citation(visit.site_cert, visit.held.site_certified_event)
    doc_cert = _cert_citation(visit.prescriber_cert, visit.held.prescriber_certified_event)
    verdict = decision.decision
    values: dict[str, Any] = {
        "id": new_id(),
        "program_id": visit.program.id,
        "drug": visit.program.drug,
        "enrollment_id": enrollment.id,
        "patient_id": enrollment.patient_id,
        "site_id": site_id,
        "prescriber_id": enrollment.prescriber_id,
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
        "decision": verdict,
        "status": verdict,
        "is_infusable": verdict == "authorized",
        "answers": dict(visit.answers),
        "checks": {"checks": [c.to_dict() for c in decision.checks]},
        "assessment": decision.assessment.to_dict(),
        "created_at": visit.at,
        "actor": actor,
    }
    event = {
        "id": new_id(),
        "authorization_id": values["id"],
        "from_status": None,
        "to_status": verdict,
        "actor": actor,
        "at": visit.at,
        "reason": "decision",
    }
    row = visits.save_decision(session, values, event)
    audit.record(
        session,
        at=visit.at,
        actor=actor,
        action=f"authorization.{verdict}",
        entity="authorization",
        entity_id=row.id,
        payload={
            "patient": enrollment.patient_id,
            "site": visit.site_key,
            "program": visit.program.id,
            "dose_number": row.dose_number,
            "failed": decision.failed,
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
