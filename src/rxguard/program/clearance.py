"""Holds, clearances and emergency overrides.

A HOLD waits for the patient's prescriber: ``proceed`` makes that visit's
authorization infusable (the clearance carries to that visit only),
``defer`` closes the visit without an infusion (the next visit then needs the
prescriber again), ``discontinue`` ends treatment.

An emergency override lets a named role bypass named requirements of one
authorization. It is recorded (who, role, why, what was bypassed) and listed
until someone reconciles it; the database never lets an override stand in for
an AUTHORIZED decision (the decision column keeps what the checks said).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.errors import InputError, TransitionError
from rxguard.program.authorization import failed_checks
from rxguard.program.common import (
    by_id,
    flush_or_conflict,
    lock_enrollment_of,
    move_authorization,
    prescriber,
    require_aware,
)
from rxguard.program.enrollment import _program_prescriber_is_certified, discontinue_enrollment
from rxguard.program.registry import get_program
from rxguard.store import audit
from rxguard.store.models import Authorization, Clearance, Enrollment, Override

OUTCOMES = {"proceed": "cleared", "defer": "deferred", "discontinue": "discontinued"}


def _locked_authorization(session: Session, authorization_id: str) -> tuple[Authorization, Enrollment]:
    """The authorization and the patient's enrollment, both locked (the enrollment first, as everywhere)."""
    enrollment = lock_enrollment_of(session, authorization_id)
    return by_id(session, Authorization, authorization_id, lock=True), enrollment


def clear_hold(
    session: Session,
    *,
    authorization_id: str,
    prescriber_key: str,
    outcome: str,
    reason: str,
    at: datetime,
) -> Clearance:
    """The patient's certified prescriber answers a HOLD."""
    require_aware(at)
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r} must be one of {', '.join(OUTCOMES)}")
    if not reason.strip():
        raise InputError("a clearance needs a reason")
    row, enrollment = _locked_authorization(session, authorization_id)
    if row.status != "hold":
        raise TransitionError(f"authorization {authorization_id} is {row.status}; only a HOLD can be cleared")
    doc = prescriber(session, prescriber_key)
    if doc.id != row.prescriber_id:
        raise InputError(f"only the patient's prescriber can clear this hold, not {prescriber_key}")
    program = get_program(row.program_id)
    _program_prescriber_is_certified(session, program, doc.id, prescriber_key)
    clearance = Clearance(authorization_id=row.id, prescriber_id=doc.id, outcome=outcome, reason=reason, at=at)
    session.add(clearance)
    flush_or_conflict(session, "clearance")
    move_authorization(
        session,
        row,
        OUTCOMES[outcome],
        at=at,
        actor=prescriber_key,
        reason=f"{outcome}: {reason}",
        infusable=outcome == "proceed",
    )
    audit.record(session, at=at, actor=prescriber_key, action=f"clearance.{outcome}", entity="clearance",
                 entity_id=clearance.id, payload={"authorization": row.id, "reason": reason})  # fmt: skip
    if outcome == "discontinue":  # the enrollment is locked since the start
        discontinue_enrollment(session, program, enrollment, at=at, actor=prescriber_key, reason=reason)
    flush_or_conflict(session, "clearance")
    return clearance


def override(
    session: Session,
    *,
    authorization_id: str,
    actor: str,
    role: str,
    reason: str,
    bypassed: list[str],
    at: datetime,
) -> Override:
    """Emergency bypass of named failed requirements by a named role."""
    require_aware(at)
    row, _ = _locked_authorization(session, authorization_id)
    program = get_program(row.program_id)
    if role not in program.definition.override_roles:
        raise InputError(
            f"role {role!r} cannot override in {program.id}; allowed: {', '.join(program.definition.override_roles)}"
        )
    if not reason.strip():
        raise InputError("an override needs a reason")
    if row.status not in ("hold", "do-not-infuse"):
        raise TransitionError(
            f"authorization {authorization_id} is {row.status}; only HOLD or DO-NOT-INFUSE can be overridden"
        )
    failed = {c["id"] for c in failed_checks(row)}
    unknown = sorted(set(bypassed) - failed)
    if not bypassed or unknown:
        raise InputError(
            f"name the failed requirement(s) bypassed; failed here: {', '.join(sorted(failed))}"
            + (f"; not failed: {', '.join(unknown)}" if unknown else "")
        )
    missing = sorted(failed - set(bypassed))
    if missing:
        raise InputError(f"every failed requirement must be named to override; also failed: {', '.join(missing)}")
    record = Override(
        authorization_id=row.id,
        actor=actor,
        role=role,
        reason=reason,
        bypassed={"requirements": sorted(bypassed)},
        at=at,
    )
    session.add(record)
    flush_or_conflict(session, "override")
    move_authorization(
        session, row, "overridden", at=at, actor=actor, reason=f"emergency override by {role}: {reason}", infusable=True
    )
    audit.record(
        session,
        at=at,
        actor=actor,
        action="override.recorded",
        entity="override",
        entity_id=record.id,
        payload={"authorization": row.id, "role": role, "bypassed": sorted(bypassed), "reason": reason},
    )
    flush_or_conflict(session, "override")
    return record


def unreconciled_overrides(session: Session) -> list[Override]:
    stmt = select(Override).where(Override.reconciled_at.is_(None)).order_by(Override.at)
    return list(session.execute(stmt).scalars())


def reconcile_override(session: Session, *, override_id: str, actor: str, note: str, at: datetime) -> Override:
    require_aware(at)
    record = by_id(session, Override, override_id, lock=True)
    if record.reconciled_at is not None:
        raise TransitionError(f"override {override_id} was already reconciled on {record.reconciled_at}")
    if not note.strip():
        raise InputError("reconciling an override needs a note saying what was done")
    record.reconciled_at, record.reconciled_by, record.reconciliation_note = at, actor, note
    audit.record(
        session,
        at=at,
        actor=actor,
        action="override.reconciled",
        entity="override",
        entity_id=record.id,
        payload={"note": note},
    )
    flush_or_conflict(session, "reconciliation")
    return record
