"""Patient enrollment, consent, treatment authorization, reauthorization, discontinuation.

States: enrolled → authorized → (reauthorization due every N months) →
lapsed → authorized again by reauthorization; suspended (e.g. a suspected serious adverse event)
→ authorized when the prescriber resumes; discontinued (final), with a reason
and a follow-up due date. Lapsing happens by the passage of time; it is
appended as an event the moment the program notices it.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from rxguard.engine.predicates import shift
from rxguard.errors import InputError, TransitionError
from rxguard.program import monitoring, validation
from rxguard.program.common import (
    certification_for,
    find_enrollment,
    flush_or_conflict,
    lock_enrollment,
    patient,
    prescriber,
    require_aware,
)
from rxguard.program.registry import Program, get_program
from rxguard.program.transitions import require, transition
from rxguard.store import audit, enrollments
from rxguard.store.models import Authorization, Consent, Enrollment, EnrollmentEvent, FormRecord, Patient
from rxguard.store.transitions import Reason

#: The program's own reasons, when the prescriber gives none.
AUTHORIZED = Reason("treatment authorized", "treatment-authorized")
REAUTHORIZED = Reason("reauthorized", "reauthorized")


def _program_prescriber_is_certified(session: Session, program: Program, prescriber_id: str, key: str) -> None:
    cert = certification_for(session, program.id, prescriber_id=prescriber_id, share=True)
    if cert is None or cert.status != "certified":
        state = cert.status if cert else "not enrolled"
        raise TransitionError(
            f"prescriber {key} is {state} in program {program.id}; only a certified prescriber "
            "can enroll, authorize or reauthorize a patient"
        )


def enroll_patient(
    session: Session,
    *,
    program_id: str,
    patient_key: str,
    prescriber_key: str,
    indication: str,
    at: datetime,
    actor: str,
) -> Enrollment:
    """A certified prescriber enrolls a patient for an indication the program covers."""
    require_aware(at)
    program = get_program(program_id)
    indications = {i.id for i in program.definition.indications}
    if indication not in indications:
        raise InputError(
            f"indication {indication!r} is not covered by {program_id}; expected one of {', '.join(sorted(indications))}"
        )
    pat = patient(session, patient_key)
    doc = prescriber(session, prescriber_key)
    _program_prescriber_is_certified(session, program, doc.id, prescriber_key)
    existing = enrollments.existing(session, program_id, pat.id)
    if existing is not None:
        raise TransitionError(f"patient {patient_key} is already enrolled in {program_id} ({existing.status})")
    enrollment = Enrollment(
        program_id=program_id,
        drug=program.drug,
        patient_id=pat.id,
        prescriber_id=doc.id,
        indication=indication,
        status="enrolled",
        enrolled_at=at,
    )
    session.add(enrollment)
    flush_or_conflict(session, f"enrollment of {patient_key} in {program_id}")
    session.add(
        EnrollmentEvent(
            enrollment_id=enrollment.id,
            from_status=None,
            to_status="enrolled",
            actor=actor,
            at=at,
            **Reason(
                f"enrolled by {prescriber_key} for {indication}",
                "enrolled",
                {"prescriber": prescriber_key, "indication": indication},
            ).columns(),
        )
    )
    audit.record(
        session,
        at=at,
        actor=actor,
        action="enrollment.enrolled",
        entity="enrollment",
        entity_id=enrollment.id,
        payload={"program": program_id, "patient": patient_key, "prescriber": prescriber_key, "indication": indication},
    )
    return enrollment


def enrollment_of(session: Session, patient_key: str, program_id: str | None, *, lock: bool = False) -> Enrollment:
    enrollment = find_enrollment(session, patient(session, patient_key), program_id)
    return lock_enrollment(session, enrollment.id) if lock else enrollment


def record_consent(
    session: Session,
    *,
    program_id: str,
    patient_key: str,
    version: str,
    language: str,
    patient_signed_at: datetime,
    prescriber_key: str,
    prescriber_signed_at: datetime,
    at: datetime,
    actor: str,
) -> Consent:
    """Both signatures on one version of the program's consent document, in one language."""
    require_aware(at)
    require_aware(patient_signed_at, "patient_signed_at")
    require_aware(prescriber_signed_at, "prescriber_signed_at")
    if language not in ("en", "zh"):
        raise InputError(f"language {language!r} must be en or zh")
    if prescriber_signed_at < patient_signed_at:
        raise InputError("the prescriber countersigns after the patient signs")
    if max(patient_signed_at, prescriber_signed_at) > at:
        raise InputError("signatures cannot be dated after the moment they are recorded")
    program = get_program(program_id)
    document = program.find_consent_version(version)
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    patient_row = session.get(Patient, enrollment.patient_id)
    born = patient_row.birth_on if patient_row is not None else None
    validation.clinical_datetime(patient_signed_at, "patient_signed_at", now=at, born=born)
    doc = prescriber(session, prescriber_key)
    if doc.id != enrollment.prescriber_id:
        raise InputError(f"{prescriber_key} is not the enrolling prescriber of {patient_key} in {program_id}")
    digest = hashlib.sha256(document.text[language].encode()).hexdigest()  # type: ignore[index]
    consent = Consent(
        enrollment_id=enrollment.id,
        document_id=document.id,
        document_version=document.version,
        language=language,
        text_sha256=digest,
        patient_signed_at=patient_signed_at,
        prescriber_id=doc.id,
        prescriber_signed_at=prescriber_signed_at,
        recorded_at=at,
        actor=actor,
    )
    session.add(consent)
    flush_or_conflict(session, f"consent {document.id} {version} for {patient_key}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action="consent.signed",
        entity="consent",
        entity_id=consent.id,
        payload={
            "document": document.id,
            "version": version,
            "language": language,
            "text_sha256": digest,
            "patient_signed_at": patient_signed_at,
            "prescriber_signed_at": prescriber_signed_at,
        },
    )
    return consent


def has_current_consent(session: Session, program: Program, enrollment: Enrollment, on: date) -> tuple[bool, str]:
    return consent_in_force(session, program, enrollment.id, on)


def consent_in_force(reader: Session | Connection, program: Program, enrollment_id: str, on: date) -> tuple[bool, str]:
    """Whether the enrollment has the consent version in force on ``on`` signed, and why (session or connection)."""
    document = program.consent_document(on)
    if enrollments.consent_signed(reader, enrollment_id, document.id, document.version):
        return True, f"consent {document.id} version {document.version} signed by patient and prescriber"
    return False, f"no signed consent for {document.id} version {document.version} (the version in force)"


def record_form(
    session: Session, *, program_id: str, patient_key: str, form_id: str, at: datetime, actor: str, note: str = ""
) -> FormRecord:
    """A completed program form (EU initiation, continuation, discontinuation; alert card given)."""
    require_aware(at)
    program = get_program(program_id)
    forms = {f.id for f in program.definition.forms}
    if form_id not in forms:
        raise InputError(
            f"program {program_id} has no form {form_id!r}; its forms: {', '.join(sorted(forms)) or 'none'}"
        )
    note = validation.clean_text(note, "note", max_length=2000, multiline=True)
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    row = FormRecord(enrollment_id=enrollment.id, form_id=form_id, completed_at=at, actor=actor, note=note)
    session.add(row)
    flush_or_conflict(session, f"form {form_id}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action="form.completed",
        entity="form_record",
        entity_id=row.id,
        payload={"form": form_id, "enrollment": enrollment.id, "note": note},
    )
    if form_id == "treatment-continuation":
        monitoring.add_event(session, enrollment, kind="re-information", on=at.date(), at=at, actor=actor)
    if form_id == "patient-alert-card":
        monitoring.add_event(session, enrollment, kind="patient-alert-card", on=at.date(), at=at, actor=actor)
    return row


def _authorized_until(program: Program, on: date) -> date | None:
    every = program.definition.reauthorization_every
    return shift(on, every) if every else None


def authorize_treatment(
    session: Session,
    *,
    program_id: str,
    patient_key: str,
    prescriber_key: str,
    at: datetime,
    actor: str,
    reason: str | Reason = AUTHORIZED,
) -> Enrollment:
    """The prescriber authorizes treatment once the consent in force is signed (``reason``: as typed, or
    the program's own)."""
    require_aware(at)
    program = get_program(program_id)
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    if enrollment.status != "enrolled":
        raise TransitionError(
            f"{patient_key} is {enrollment.status} in {program_id}; first authorization is from 'enrolled' "
            "(use reauthorize for a lapsed or authorized patient)"
        )
    _check_prescriber(session, program, enrollment, prescriber_key)
    ok, why = has_current_consent(session, program, enrollment, at.date())
    if not ok:
        raise TransitionError(f"cannot authorize {patient_key}: {why}")
    enrollment.authorized_until_on = _authorized_until(program, at.date())
    transition(
        enrollment,
        "authorized",
        at=at,
        actor=actor,
        reason=reason,
        extra={"authorized_until_on": enrollment.authorized_until_on},
    )
    flush_or_conflict(session, "authorization of treatment")
    return enrollment


def _check_prescriber(session: Session, program: Program, enrollment: Enrollment, prescriber_key: str) -> None:
    doc = prescriber(session, prescriber_key)
    if doc.id != enrollment.prescriber_id:
        raise InputError(f"{prescriber_key} is not the enrolling prescriber of this patient in {program.id}")
    _program_prescriber_is_certified(session, program, doc.id, prescriber_key)


class EnrollmentState(Protocol):
    """What :func:`effective_status` reads: an :class:`Enrollment` or a row of its columns."""

    @property
    def status(self) -> str: ...

    @property
    def authorized_until_on(self) -> date | None: ...


def effective_status(enrollment: EnrollmentState, on: date) -> str:
    """'lapsed' once the reauthorization date has passed; otherwise the stored status."""
    if enrollment.status == "authorized" and enrollment.authorized_until_on and on > enrollment.authorized_until_on:
        return "lapsed"
    return enrollment.status


def notice_lapse(session: Session, enrollment: Enrollment, *, at: datetime, actor: str) -> str:
    """Append the authorized → lapsed change when time has made it true; return the status."""
    status = effective_status(enrollment, at.date())
    if status == "lapsed" and enrollment.status != "lapsed":
        transition(
            enrollment,
            "lapsed",
            at=at,
            actor=actor,
            reason=Reason(
                f"reauthorization was due by {enrollment.authorized_until_on}",
                "lapsed",
                {"until_on": str(enrollment.authorized_until_on)},
            ),
        )
    return status


def reauthorize(
    session: Session,
    *,
    program_id: str,
    patient_key: str,
    prescriber_key: str,
    at: datetime,
    actor: str,
    reason: str | Reason = REAUTHORIZED,
) -> Enrollment:
    """The periodic reauthorization: renews the authorization for another period (``reason``: what the
    prescriber's form recorded, or the program's own)."""
    require_aware(at)
    program = get_program(program_id)
    if not program.definition.reauthorization_every:
        raise TransitionError(f"program {program_id} has no periodic reauthorization")
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    status = notice_lapse(session, enrollment, at=at, actor=actor)
    if status not in ("authorized", "lapsed"):
        raise TransitionError(
            f"{patient_key} is {status} in {program_id}; only an authorized or lapsed patient is reauthorized"
        )
    _check_prescriber(session, program, enrollment, prescriber_key)
    ok, why = has_current_consent(session, program, enrollment, at.date())
    if not ok:
        raise TransitionError(f"cannot reauthorize {patient_key}: {why}")
    enrollment.authorized_until_on = _authorized_until(program, at.date())
    transition(
        enrollment,
        "authorized",
        at=at,
        actor=actor,
        reason=reason,
        extra={"authorized_until_on": enrollment.authorized_until_on},
    )
    monitoring.add_event(session, enrollment, kind="reauthorization", on=at.date(), at=at, actor=actor)
    flush_or_conflict(session, "reauthorization")
    return enrollment


def suspend_patient(
    session: Session, enrollment: Enrollment, *, at: datetime, actor: str, reason: str | Reason
) -> None:
    """Suspend at once and make every not-yet-infused authorization unusable."""
    if enrollment.status in ("suspended", "discontinued"):
        return
    transition(enrollment, "suspended", at=at, actor=actor, reason=reason)
    for pending in _pending_authorizations(session, enrollment):
        transition(pending, "suspended", at=at, actor=actor, reason=reason)


def resume(
    session: Session, *, program_id: str, patient_key: str, prescriber_key: str, at: datetime, actor: str, reason: str
) -> Enrollment:
    """Lift a suspension (e.g. the suspected event excluded): the prescriber decides, with a reason."""
    require_aware(at)
    program = get_program(program_id)
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    if enrollment.status != "suspended":
        raise TransitionError(f"{patient_key} is {enrollment.status}, not suspended")
    if not reason.strip():
        raise InputError("a reason is required to resume treatment")
    _check_prescriber(session, program, enrollment, prescriber_key)
    enrollment.authorized_until_on = _authorized_until(program, at.date())
    transition(enrollment, "authorized", at=at, actor=actor, reason=reason)
    flush_or_conflict(session, "resume")
    return enrollment


def _pending_authorizations(session: Session, enrollment: Enrollment) -> list[Authorization]:
    return enrollments.infusable_not_infused(session, enrollment.id)


def discontinue(
    session: Session,
    *,
    program_id: str,
    patient_key: str,
    at: datetime,
    actor: str,
    reason: str,
) -> Enrollment:
    """Final: stop treatment, with a reason, and schedule the follow-up the program requires."""
    require_aware(at)
    if not reason.strip():
        raise InputError("a reason is required to discontinue treatment")
    program = get_program(program_id)
    enrollment = enrollment_of(session, patient_key, program_id, lock=True)
    discontinue_enrollment(session, program, enrollment, at=at, actor=actor, reason=reason)
    return enrollment


def discontinue_enrollment(
    session: Session, program: Program, enrollment: Enrollment, *, at: datetime, actor: str, reason: str
) -> None:
    require(enrollment, "discontinued", name=f"in {program.id}")
    follow_up = program.definition.discontinuation_follow_up
    enrollment.discontinued_at = at
    enrollment.discontinuation_reason = reason
    enrollment.follow_up_due_on = shift(at.date(), follow_up) if follow_up else None
    for pending in _pending_authorizations(session, enrollment):
        transition(pending, "discontinued", at=at, actor=actor, reason=reason)
    transition(
        enrollment,
        "discontinued",
        at=at,
        actor=actor,
        reason=reason,
        extra={"follow_up_due_on": enrollment.follow_up_due_on},
    )
    monitoring.refresh_schedule(session, enrollment, at=at)
    flush_or_conflict(session, "discontinuation")
