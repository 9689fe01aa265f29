"""Infusion records, checked against the pack before they are stored.

A bag past its jurisdiction's limit, or held at room temperature, is rejected
with the reason (the pack's ``preparation`` rules); a short infusion warns;
the first N infusions in a program that requires it need a post-infusion
observation. One infusion per authorization and one per patient and dose
number are database constraints; the idempotency key makes a client retry
return the first record instead of failing or writing twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.orm import Session, load_only, make_transient_to_detached

from rxguard.engine import assess, read_facts
from rxguard.errors import ConflictError, InfusionRejectedError, InputError
from rxguard.program import monitoring
from rxguard.program.authorization import infusion_history, merge_history
from rxguard.program.common import Write, by_id, flush_or_conflict, move_authorization, require_aware
from rxguard.program.registry import Program, get_program
from rxguard.store import audit
from rxguard.store.models import STORAGE, Authorization, Enrollment, Infusion, Patient, new_id

INFUSABLE = ("authorized", "cleared", "overridden")


@dataclass(frozen=True)
class InfusionRequest:
    authorization_id: str
    idempotency_key: str
    product: str
    lot: str
    dose: float
    dose_unit: str
    diluent: str
    volume_ml: float
    prepared_at: datetime
    storage: str
    started_at: datetime
    stopped_at: datetime
    observation_end_at: datetime | None = None
    reactions: str = ""

    def digest(self) -> str:
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _validate(request: InfusionRequest, program: Program) -> None:
    for name in ("prepared_at", "started_at", "stopped_at"):
        require_aware(getattr(request, name), name)
    if request.observation_end_at is not None:
        require_aware(request.observation_end_at, "observation_end_at")
    if request.storage not in STORAGE:
        raise InputError(f"storage {request.storage!r} must be one of {', '.join(STORAGE)}")
    products = program.definition.products
    if request.product not in products:
        raise InputError(
            f"product {request.product!r} is not dispensed under {program.id}; expected {', '.join(products)}"
        )
    if not request.idempotency_key.strip():
        raise InputError("an idempotency key is required so that a retry cannot record the infusion twice")
    if request.dose <= 0 or request.volume_ml <= 0:
        raise InputError("dose and volume must be positive")
    if not (request.prepared_at <= request.started_at < request.stopped_at):
        raise InputError("times must run prepared ≤ started < stopped")
    if request.observation_end_at is not None and request.observation_end_at < request.stopped_at:
        raise InputError("the observation cannot end before the infusion stops")


def _pack_findings(
    session: Session,
    program: Program,
    enrollment: Enrollment,
    request: InfusionRequest,
    *,
    patient_row: Patient | None = None,
    held: list[date] | None = None,
) -> tuple[list[str], list[str]]:
    """(reasons to reject, warnings) from the pack's preparation and administration rules.

    ``patient_row`` and ``held`` (the infusion dates rxguard holds) are read here unless the caller has them.
    """
    if patient_row is None:
        patient_row = session.get(Patient, enrollment.patient_id)
        assert patient_row is not None
    facts = read_facts(monitoring.patient_bundle(patient_row), {program.drug: program.pack})
    before = request.started_at.date()
    history = (
        infusion_history(session, enrollment, facts, before)
        if held is None
        else merge_history(held, enrollment.drug, facts, before)
    )
    context: dict[str, Any] = {
        "infusions": history,
        "preparation": {
            "prepared_at": request.prepared_at.isoformat(),
            "storage": request.storage,
            "infusion_start_at": request.started_at.isoformat(),
            "infusion_end_at": request.stopped_at.isoformat(),
        },
        "order": {
            "text": f"{program.drug} {request.dose:g} {request.dose_unit} IV infusion",
            "dose": request.dose,
            "unit": request.dose_unit,
        },
    }
    result = assess(
        program.pack, facts, at=request.started_at.date(), jurisdiction=program.definition.jurisdiction, context=context
    )
    reject, warn = [], []
    for finding in result.findings:
        if finding.category not in ("preparation", "administration"):
            continue
        line = f"{finding.rule_id}: {finding.message.strip()}"
        if finding.effective_severity in ("hold", "contraindicated"):
            reject.append(line)
        elif finding.effective_severity == "caution":
            warn.append(line)
    return reject, warn


def _observation_problem(program: Program, dose_number: int, request: InfusionRequest) -> str | None:
    rule = program.definition.observation
    if rule is None or dose_number > rule.first_infusions:
        return None
    needed = request.stopped_at + timedelta(minutes=rule.minutes)
    if request.observation_end_at is None or request.observation_end_at < needed:
        sources = ", ".join(f"{c.source} {c.section}" for c in rule.sources)
        return (
            f"infusion {dose_number} is one of the first {rule.first_infusions}: observe for {rule.minutes} "
            f"minutes after it stops (until {needed.isoformat()}) and record the end of observation [{sources}]"
        )
    return None


def _check_start(authorization: Authorization, request: InfusionRequest, at: datetime) -> None:
    """The infusion starts after its authorization, inside its window, and not in the future."""
    if request.started_at > at:
        raise InputError(
            f"the infusion start {request.started_at.isoformat()} is in the future (now {at.isoformat()}); "
            "record an infusion once it has started"
        )
    if request.started_at < authorization.visit_at:
        raise ConflictError(
            f"the infusion start {request.started_at.isoformat()} is before its authorization "
            f"({authorization.visit_at.isoformat()}); an infusion is recorded under the authorization made before it"
        )
    until = authorization.valid_until or datetime.combine(
        authorization.visit_at.date() + timedelta(days=1), time(0), tzinfo=authorization.visit_at.tzinfo
    )
    if request.started_at >= until:
        raise ConflictError(
            f"authorization {authorization.id} was valid until {until.isoformat()} (its visit); the infusion started "
            f"{request.started_at.isoformat()} — authorize the dose again at this visit"
        )


def _earlier_attempt(session: Session, request: InfusionRequest) -> Infusion | None:
    """The infusion an earlier request with this idempotency key stored, if any."""
    existing = session.execute(
        select(Infusion).where(Infusion.idempotency_key == request.idempotency_key)
    ).scalar_one_or_none()
    if existing is not None and existing.request_sha256 != request.digest():
        raise ConflictError(f"idempotency key {request.idempotency_key!r} was already used for a different infusion")
    return existing


_INFUSION: Table = Infusion.__table__  # type: ignore[assignment]
_AUTHORIZATION: Table = Authorization.__table__  # type: ignore[assignment]

#: The patient's enrollment, locked, found through the authorization, with the patient.
_LOCK_ENROLLMENT = (
    select(Enrollment, Patient)
    .join(Patient, Patient.id == Enrollment.patient_id)
    .where(
        Enrollment.id
        == select(_AUTHORIZATION.c.enrollment_id)
        .where(_AUTHORIZATION.c.id == bindparam("authorization_id"))
        .scalar_subquery()
    )
    .options(load_only(Patient.id, Patient.birth_on, Patient.sex))  # what the pack's facts need
    .with_for_update(of=Enrollment)
    .execution_options(populate_existing=True)
)

#: Under the patient's lock: the authorization (locked), whether this idempotency key was used, and
#: one row per infusion of the patient's drug (its date and dose number; none: one row of NULLs).
_LOCK_AUTHORIZATION = (
    select(
        Authorization,
        select(_INFUSION.c.id)
        .where(_INFUSION.c.idempotency_key == bindparam("idempotency_key"))
        .scalar_subquery()
        .label("earlier_id"),
        _INFUSION.c.started_at,
        _INFUSION.c.dose_number.label("infused_dose_number"),
    )
    .outerjoin(
        _INFUSION, and_(_INFUSION.c.patient_id == Authorization.patient_id, _INFUSION.c.drug == Authorization.drug)
    )
    .where(Authorization.id == bindparam("authorization_id"))
    .order_by(_INFUSION.c.started_at)
    # Not the stored checks, assessment and answers (JSON, never changed): the rest of the row is what counts here.
    .options(
        load_only(
            Authorization.id,
            Authorization.program_id,
            Authorization.drug,
            Authorization.patient_id,
            Authorization.site_id,
            Authorization.dose_number,
            Authorization.status,
            Authorization.is_infusable,
            Authorization.visit_at,
            Authorization.valid_until,
        )
    )
    .with_for_update(of=Authorization)
    .execution_options(populate_existing=True)
)


def record_infusion(session: Session, request: InfusionRequest, *, at: datetime, actor: str) -> Infusion:
    """Store one infusion under its authorization, or return the same one on a retry."""
    require_aware(at)
    found = session.execute(_LOCK_ENROLLMENT, {"authorization_id": request.authorization_id}).first()
    if found is None:
        existing = _earlier_attempt(session, request)  # the answers the caller got before: a retry first
        if existing is not None:
            return existing
        by_id(session, Authorization, request.authorization_id)  # NotFoundError
        raise AssertionError("an authorization without its enrollment")  # pragma: no cover (a foreign key)
    enrollment, patient_row = found
    params = {"authorization_id": request.authorization_id, "idempotency_key": request.idempotency_key}
    rows = session.execute(_LOCK_AUTHORIZATION, params).all()
    authorization: Authorization = rows[0][0]
    # Under the patient's lock: a retry that raced its own first request returns that record.
    if rows[0].earlier_id is not None:
        existing = _earlier_attempt(session, request)
        assert existing is not None
        return existing
    program = get_program(authorization.program_id)
    _validate(request, program)
    if authorization.status not in INFUSABLE or not authorization.is_infusable:
        raise ConflictError(
            f"authorization {authorization.id} is {authorization.status}; it does not allow an infusion"
        )
    if any(row.infused_dose_number == authorization.dose_number for row in rows):
        raise ConflictError(
            f"dose {authorization.dose_number} of this patient was already infused; "
            "one infusion per dose window — authorize the next dose when it is due"
        )
    _check_start(authorization, request, at)
    if enrollment.status in ("suspended", "discontinued", "enrolled"):
        raise ConflictError(
            f"the patient is {enrollment.status} in {program.id}; no dose is given "
            "(a hard stop no override lifts: resume or authorize the patient in the program first)"
        )
    held = [row.started_at.date() for row in rows if row.started_at is not None]
    reject, warnings = _pack_findings(session, program, enrollment, request, patient_row=patient_row, held=held)
    problem = _observation_problem(program, authorization.dose_number, request)
    if problem:
        reject.append(f"{program.id}.post-infusion-observation: {problem}")
    if reject:
        raise InfusionRejectedError("infusion record rejected: " + " | ".join(reject), reject)
    values: dict[str, Any] = {
        "id": new_id(),
        "authorization_id": authorization.id,
        "idempotency_key": request.idempotency_key,
        "request_sha256": request.digest(),
        "patient_id": authorization.patient_id,
        "drug": authorization.drug,
        "dose_number": authorization.dose_number,
        "authorization_infusable": True,
        "site_id": authorization.site_id,
        "product": request.product,
        "lot": request.lot,
        "dose": request.dose,
        "dose_unit": request.dose_unit,
        "diluent": request.diluent,
        "volume_ml": request.volume_ml,
        "prepared_at": request.prepared_at,
        "storage": request.storage,
        "started_at": request.started_at,
        "stopped_at": request.stopped_at,
        "observation_end_at": request.observation_end_at,
        "reactions": request.reactions,
        "warnings": {"warnings": warnings},
        "recorded_at": at,
        "actor": actor,
    }
    infusion = Infusion(**values)
    # Written once: a plain INSERT (with the authorization's move to "infused", in one statement
    # where the engine allows), then the row joins the session as if read back.
    move_authorization(
        session,
        authorization,
        "infused",
        at=at,
        actor=actor,
        reason=f"infusion {infusion.id}",
        along_with=[Write(_INFUSION, values)],
        what="infusion",
    )
    make_transient_to_detached(infusion)
    session.add(infusion)
    audit.record(
        session,
        at=at,
        actor=actor,
        action="infusion.recorded",
        entity="infusion",
        entity_id=infusion.id,
        payload={
            "authorization": authorization.id,
            "dose_number": infusion.dose_number,
            "product": request.product,
            "lot": request.lot,
            "warnings": warnings,
            "request_sha256": infusion.request_sha256,
        },
    )
    # patient_row is still referenced, so the schedule's look-up of the patient is served by the session.
    monitoring.refresh_schedule(session, enrollment, at=max(at, request.started_at))
    flush_or_conflict(session, "infusion")
    return infusion
