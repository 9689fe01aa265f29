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
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.engine import assess, read_facts
from rxguard.errors import ConflictError, InfusionRejectedError, InputError
from rxguard.program import monitoring
from rxguard.program.authorization import infusion_history
from rxguard.program.common import by_id, flush_or_conflict, lock_enrollment, move_authorization, require_aware
from rxguard.program.registry import Program, get_program
from rxguard.store import audit
from rxguard.store.models import STORAGE, Authorization, Enrollment, Infusion, Patient

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
    session: Session, program: Program, enrollment: Enrollment, request: InfusionRequest
) -> tuple[list[str], list[str]]:
    """(reasons to reject, warnings) from the pack's preparation and administration rules."""
    patient_row = session.get(Patient, enrollment.patient_id)
    assert patient_row is not None
    facts = read_facts(monitoring.patient_bundle(patient_row), {program.drug: program.pack})
    context: dict[str, Any] = {
        "infusions": infusion_history(session, enrollment, facts, request.started_at.date()),
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


def _earlier_attempt(session: Session, request: InfusionRequest) -> Infusion | None:
    """The infusion an earlier request with this idempotency key stored, if any."""
    existing = session.execute(
        select(Infusion).where(Infusion.idempotency_key == request.idempotency_key)
    ).scalar_one_or_none()
    if existing is not None and existing.request_sha256 != request.digest():
        raise ConflictError(f"idempotency key {request.idempotency_key!r} was already used for a different infusion")
    return existing


def record_infusion(session: Session, request: InfusionRequest, *, at: datetime, actor: str) -> Infusion:
    """Store one infusion under its authorization, or return the same one on a retry."""
    require_aware(at)
    existing = _earlier_attempt(session, request)
    if existing is not None:
        return existing
    row = by_id(session, Authorization, request.authorization_id)
    enrollment = lock_enrollment(session, row.enrollment_id)
    # Again under the patient's lock: a retry that raced its own first request returns that record.
    existing = _earlier_attempt(session, request)
    if existing is not None:
        return existing
    authorization = by_id(session, Authorization, request.authorization_id, lock=True)
    program = get_program(authorization.program_id)
    _validate(request, program)
    if authorization.status not in INFUSABLE or not authorization.is_infusable:
        raise ConflictError(
            f"authorization {authorization.id} is {authorization.status}; it does not allow an infusion"
        )
    taken = session.execute(
        select(Infusion.id).where(
            Infusion.patient_id == authorization.patient_id,
            Infusion.drug == authorization.drug,
            Infusion.dose_number == authorization.dose_number,
        )
    ).first()
    if taken:
        raise ConflictError(
            f"dose {authorization.dose_number} of this patient was already infused; "
            "one infusion per dose window — authorize the next dose when it is due"
        )
    reject, warnings = _pack_findings(session, program, enrollment, request)
    problem = _observation_problem(program, authorization.dose_number, request)
    if problem:
        reject.append(f"{program.id}.post-infusion-observation: {problem}")
    if reject:
        raise InfusionRejectedError("infusion record rejected: " + " | ".join(reject), reject)
    infusion = Infusion(
        authorization_id=authorization.id,
        idempotency_key=request.idempotency_key,
        request_sha256=request.digest(),
        patient_id=authorization.patient_id,
        drug=authorization.drug,
        dose_number=authorization.dose_number,
        authorization_infusable=True,
        site_id=authorization.site_id,
        product=request.product,
        lot=request.lot,
        dose=request.dose,
        dose_unit=request.dose_unit,
        diluent=request.diluent,
        volume_ml=request.volume_ml,
        prepared_at=request.prepared_at,
        storage=request.storage,
        started_at=request.started_at,
        stopped_at=request.stopped_at,
        observation_end_at=request.observation_end_at,
        reactions=request.reactions,
        warnings={"warnings": warnings},
        recorded_at=at,
        actor=actor,
    )
    session.add(infusion)
    flush_or_conflict(session, "infusion")
    move_authorization(session, authorization, "infused", at=at, actor=actor, reason=f"infusion {infusion.id}")
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
    monitoring.refresh_schedule(session, enrollment, at=max(at, request.started_at))
    flush_or_conflict(session, "infusion")
    return infusion
