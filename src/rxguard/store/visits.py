"""Reading what one dose decision needs and writing the decision: the SQL of the per-dose gate.

The program layer (:mod:`rxguard.program.authorization`) loads a visit through
these functions, decides it with the pure :func:`rxguard.program.decision.decide`,
and saves the decision here. Three statements in lock order read the visit: the
patient's enrollment (locked, with the patient and the prescriber's key), the
site with both certifications (share-locked), then everything else the checks
read (one row per infusion of the drug, each carrying the single values); two
small ones read the visit's other authorizations of the dose and the program
records the clinical check reads as facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, literal_column, or_, select, true
from sqlalchemy.orm import Session, load_only, make_transient_to_detached

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
)
from rxguard.store.writes import Write, write_together


@dataclass(frozen=True)
class Cert:
    """A site's or prescriber's certification as the decision reads it (under a share lock)."""

    id: str
    status: str
    site_authorization_number: str | None


@dataclass(frozen=True)
class Previous:
    """The patient's latest visit before this one (DO-NOT-INFUSE visits aside)."""

    id: str
    visit_at: datetime
    decision: str
    status: str
    #: the checks that failed at it, read when it was a hold never cleared (else empty)
    failed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Held:
    """What rxguard holds about the patient for this visit, read under the patient's lock."""

    infusions: list[datetime]
    consent_signed: bool
    previous: Previous | None
    site_certified_event: str | None
    prescriber_certified_event: str | None
    forms: dict[str, datetime]


@dataclass(frozen=True)
class SameVisit:
    """An authorization of this dose made earlier on the visit's day (open, or deferred)."""

    id: str
    status: str
    site_id: str
    visit_at: datetime


@dataclass(frozen=True)
class ProgramRecord:
    """One row the gate reads as a fact: an adverse event or a monitoring result."""

    source: str  # "adverse-event" or "monitoring"
    kind: str
    on: date
    result: str
    recorded_at: datetime


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


def lock_enrollment_row(
    session: Session, patient_key: str, program_id: str | None
) -> tuple[Enrollment, Patient, str] | None:
    """The patient's only enrollment (in ``program_id``, if given), locked, with the patient and the prescriber's key.

    None when there is no such patient, no enrollment or more than one: the caller says which.
    """
    stmt = _ENROLLMENT_IN_PROGRAM if program_id else _ENROLLMENT_ANY
    rows = session.execute(stmt, {"patient_key": patient_key, "program_id": program_id}).all()
    if len(rows) != 1:
        return None
    enrollment, pat, prescriber_key = rows[0]
    return enrollment, pat, prescriber_key


def site_and_certifications(
    session: Session, program_id: str, site_key: str, prescriber_id: str
) -> tuple[str, str, Cert | None, Cert | None] | None:
    """(site id, site key, the site's certification, the prescriber's), certifications share-locked.

    None when neither is enrolled in the program, or there is no such site.
    """
    params = {"program_id": program_id, "prescriber_id": prescriber_id, "site_key": site_key}
    rows = session.connection().execute(_SITE_AND_CERTIFICATIONS, params).all()
    if not rows:
        return None
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


def read_held(
    session: Session,
    enrollment: Enrollment,
    *,
    at: datetime,
    form_ids: tuple[str, ...],
    document: tuple[str, str],
    site_cert: Cert | None,
    prescriber_cert: Cert | None,
) -> Held:
    """Everything else the checks read, once the locks are held (``document``: the consent id and version in force)."""
    params = {
        "enrollment_id": enrollment.id,
        "at": at,
        "document_id": document[0],
        "document_version": document[1],
        "site_certification_id": site_cert.id if site_cert else None,
        "prescriber_certification_id": prescriber_cert.id if prescriber_cert else None,
        "patient_id": enrollment.patient_id,
        "drug": enrollment.drug,
    }
    rows = session.connection().execute(_held_statement(form_ids), params).all()
    first = rows[0]
    previous = None
    if first.previous_id is not None:
        failed: frozenset[str] = frozenset()
        if first.previous_decision == "hold" and first.previous_status in ("hold", "deferred"):
            failed = failed_check_ids(session, first.previous_id)
        previous = Previous(
            first.previous_id, first.previous_visit_at, first.previous_decision, first.previous_status, failed
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


def failed_check_ids(session: Session, authorization_id: str) -> frozenset[str]:
    stored = session.execute(select(Authorization.checks).where(Authorization.id == authorization_id)).scalar_one()
    return frozenset(c["id"] for c in stored.get("checks", []) if c["outcome"] in ("hold", "do-not-infuse"))


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


def read_program_records(
    session: Session,
    *,
    patient_id: str,
    enrollment_id: str,
    at: datetime,
    adverse_kinds: tuple[str, ...],
    monitoring_kinds: tuple[str, ...],
) -> list[ProgramRecord]:
    """The patient's adverse events and the enrollment's monitoring results of these kinds, recorded by ``at``."""
    if not adverse_kinds and not monitoring_kinds:
        return []
    stmt = _records_statement(adverse_kinds, monitoring_kinds)
    params = {"patient_id": patient_id, "enrollment_id": enrollment_id, "at": at}
    return [ProgramRecord(*row) for row in session.connection().execute(stmt, params).all()]


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


def read_same_visit(session: Session, enrollment_id: str, dose_number: int, day: date) -> list[SameVisit]:
    """This dose's authorizations of the visit's day that are open or deferred, oldest first."""
    params = {"enrollment_id": enrollment_id, "dose_number": dose_number, "visit_on": day}
    return [SameVisit(*row) for row in session.connection().execute(_SAME_VISIT, params).all()]


def save_decision(session: Session, values: dict[str, Any], event: dict[str, Any]) -> Authorization:
    """Write the decision with its first event (one statement on PostgreSQL); the row joins the session.

    Written once and never changed in this session: plain INSERTs, then the row joins the session as
    if it had been read back (callers and the API read it after the commit).
    """
    write_together(session, [Write(_AUTHORIZATION, values), Write(_AUTHORIZATION_EVENT, event)], what="authorization")
    row = Authorization(**values)
    make_transient_to_detached(row)
    session.add(row)
    return row
