"""Holds, clearances and emergency overrides.

A HOLD waits for the patient's prescriber: ``proceed`` makes that visit's
authorization infusable (the clearance carries to that visit only),
``defer`` closes the visit without an infusion (the next visit then needs the
prescriber again), ``discontinue`` ends treatment.

An emergency override bypasses named *overridable* checks of one visit (the
program's ``checks`` in program.yaml say which, and which roles may). It takes
two people: one asks (``request_override``), a second, other person who holds
an allowed role and belongs to the visit's site or is the patient's prescriber
confirms (``confirm_override``); only then is the authorization infusable, and
only until the visit's window ends. A hard stop (suspended, discontinued, no
consent, not certified...) is never overridable: asking is refused with what
would lift it. Both people and reasons are recorded and listed until someone
reconciles the override; the decision column keeps what the checks said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rxguard.errors import AccessDeniedError, HardStopError, InputError, TransitionError
from rxguard.program import validation
from rxguard.program.authorization import failed_checks
from rxguard.program.common import (
    by_id,
    flush_or_conflict,
    lock_enrollment_of,
    prescriber,
    require_aware,
)
from rxguard.program.enrollment import _program_prescriber_is_certified, discontinue_enrollment
from rxguard.program.registry import Program, get_program
from rxguard.program.transitions import require, transition
from rxguard.store import audit, overrides
from rxguard.store.models import Authorization, Clearance, Enrollment, Override
from rxguard.store.transitions import Reason

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
    if outcome == "proceed":
        _require_open_visit(row, at, "a clearance to proceed")
    clearance = Clearance(authorization_id=row.id, prescriber_id=doc.id, outcome=outcome, reason=reason, at=at)
    session.add(clearance)
    flush_or_conflict(session, "clearance")
    said = Reason(f"{outcome}: {reason}", "clearance", {"outcome": outcome, "reason": reason})
    transition(row, OUTCOMES[outcome], at=at, actor=prescriber_key, reason=said)
    audit.record(session, at=at, actor=prescriber_key, action=f"clearance.{outcome}", entity="clearance",
                 entity_id=clearance.id, payload={"authorization": row.id, "reason": reason})  # fmt: skip
    if outcome == "discontinue":  # the enrollment is locked since the start
        discontinue_enrollment(session, program, enrollment, at=at, actor=prescriber_key, reason=reason)
    flush_or_conflict(session, "clearance")
    return clearance


@dataclass(frozen=True)
class Signer:
    """One of the two people of an override: who, in which program role, and whose visit they belong to.

    ``site_id``: the infusion site the person works at; ``prescriber_id``: the
    prescriber the person is. Both come from the signed-in user, never from a form.
    """

    name: str
    role: str
    site_id: str | None = None
    prescriber_id: str | None = None


def _belongs_to_visit(signer: Signer, row: Authorization) -> bool:
    return (signer.site_id is not None and signer.site_id == row.site_id) or (
        signer.prescriber_id is not None and signer.prescriber_id == row.prescriber_id
    )


def hard_stops(program: Program, row: Authorization) -> list[dict[str, Any]]:
    """The failed checks of this authorization that no override can lift, each with what would lift it."""
    stops = []
    for check in failed_checks(row):
        rule = program.check_rule(check["id"])
        if rule.kind == "hard-stop" or check["outcome"] not in rule.outcomes:
            stops.append({"check": check["id"], "outcome": check["outcome"], "reason": check["reason"],
                          "code": check.get("code", ""), "values": check.get("values", {}),
                          "lift": rule.lift})  # fmt: skip
    return stops


def _refuse_hard_stops(program: Program, row: Authorization) -> None:
    stops = hard_stops(program, row)
    if stops:
        lines = "; ".join(f"{s['check']} is a hard stop ({s['reason']}) — to lift it: {s['lift']}" for s in stops)
        raise HardStopError(
            f"no override can bypass this visit in {program.id}: {lines}. No person or role can override a hard "
            "stop; once it is lifted, authorize the dose again",
            stops,
        )


def _require_roles(program: Program, signer: Signer, bypassed: list[str], who: str) -> None:
    refused = [c for c in bypassed if signer.role not in program.check_rule(c).roles]
    if refused:
        allowed = "; ".join(f"{c}: {', '.join(program.check_rule(c).roles)}" for c in refused)
        raise AccessDeniedError(f"{who} {signer.name!r} ({signer.role}) may not override {', '.join(refused)} "
                                f"in {program.id}; roles allowed — {allowed}")  # fmt: skip


def _require_open_visit(row: Authorization, at: datetime, what: str) -> None:
    if row.valid_until is not None and at >= row.valid_until:
        raise TransitionError(
            f"the visit of authorization {row.id} ended at {row.valid_until.isoformat()}; {what} is for that visit "
            "only — authorize the dose again at the next visit"
        )


def request_override(
    session: Session,
    *,
    authorization_id: str,
    requester: Signer,
    reason: str,
    bypassed: list[str],
    at: datetime,
) -> Override:
    """Ask to bypass named failed checks of one visit; nothing is bypassed until a second person confirms."""
    require_aware(at)
    row, _ = _locked_authorization(session, authorization_id)
    program = get_program(row.program_id)
    require(row, "overridden")
    _refuse_hard_stops(program, row)
    if requester.role not in program.definition.override_roles:
        raise AccessDeniedError(
            f"role {requester.role!r} cannot override in {program.id}; "
            f"allowed: {', '.join(program.definition.override_roles)}"
        )
    if not reason.strip():
        raise InputError("an override needs a reason")
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
    _require_roles(program, requester, sorted(bypassed), "the person asking")
    if not (_belongs_to_visit(requester, row) or requester.role in program.definition.overrides.program_wide_roles):
        raise AccessDeniedError(
            f"{requester.name!r} ({requester.role}) neither works at the visit's site nor is the patient's prescriber; "
            "an override is asked at the site of the visit"
        )
    _require_open_visit(row, at, "an override")
    earlier = overrides.of_authorization(session, row.id)
    if earlier is not None:
        raise TransitionError(
            f"an override of authorization {row.id} was already asked by {earlier.actor} at {earlier.at.isoformat()}"
            + ("" if earlier.confirmed_at else f"; it waits for a second person to confirm it (override {earlier.id})")
        )
    record = Override(
        authorization_id=row.id,
        actor=requester.name,
        role=requester.role,
        reason=reason,
        bypassed={"requirements": sorted(bypassed)},
        at=at,
        expires_at=row.valid_until,
    )
    session.add(record)
    flush_or_conflict(session, "override")
    audit.record(
        session,
        at=at,
        actor=requester.name,
        action="override.requested",
        entity="override",
        entity_id=record.id,
        payload={"authorization": row.id, "role": requester.role, "bypassed": sorted(bypassed), "reason": reason},
    )
    return record


def confirm_override(session: Session, *, override_id: str, confirmer: Signer, reason: str, at: datetime) -> Override:
    """The second person confirms an override: only then is the visit's authorization infusable (until it ends)."""
    require_aware(at)
    pending = by_id(session, Override, override_id)
    row, _ = _locked_authorization(session, pending.authorization_id)
    record = by_id(session, Override, override_id, lock=True)
    program = get_program(row.program_id)
    if record.confirmed_at is not None:
        raise TransitionError(f"override {override_id} was already confirmed by {record.confirmed_by}")
    require(row, "overridden")
    _refuse_hard_stops(program, row)  # the program's classes may have changed since it was asked
    if confirmer.name == record.actor:
        raise AccessDeniedError(
            f"{confirmer.name!r} asked for this override; a second, other person must confirm it (two-person rule)"
        )
    if confirmer.role not in program.definition.override_roles:
        raise AccessDeniedError(
            f"role {confirmer.role!r} cannot confirm an override in {program.id}; "
            f"allowed: {', '.join(program.definition.override_roles)}"
        )
    bypassed = list(record.bypassed.get("requirements", []))
    _require_roles(program, confirmer, bypassed, "the confirming person")
    if not _belongs_to_visit(confirmer, row):
        raise AccessDeniedError(
            f"{confirmer.name!r} ({confirmer.role}) neither works at the visit's site nor is the patient's prescriber; "
            "the second person belongs to the visit"
        )
    if not reason.strip():
        raise InputError("confirming an override needs a reason")
    expires = record.expires_at or row.valid_until
    if expires is not None and at >= expires:
        raise TransitionError(
            f"override {override_id} expired with its visit at {expires.isoformat()}; authorize the dose again"
        )
    record.confirmed_by, record.confirmed_role = confirmer.name, confirmer.role
    record.confirmation_reason, record.confirmed_at = reason, at
    flush_or_conflict(session, "override confirmation")
    said = Reason(
        f"override asked by {record.actor} ({record.role}): {record.reason}; "
        f"confirmed by {confirmer.name} ({confirmer.role}): {reason}",
        "override-confirmed",
        {"asked_by": record.actor, "asked_role": record.role, "asked_reason": record.reason,
         "confirmed_by": confirmer.name, "confirmed_role": confirmer.role, "confirmed_reason": reason},
    )  # fmt: skip
    transition(row, "overridden", at=at, actor=confirmer.name, reason=said)
    audit.record(
        session,
        at=at,
        actor=confirmer.name,
        action="override.confirmed",
        entity="override",
        entity_id=record.id,
        payload={"authorization": row.id, "asked_by": record.actor, "asked_role": record.role,
                 "confirmed_by": confirmer.name, "confirmed_role": confirmer.role, "bypassed": bypassed,
                 "reason": reason, "expires_at": expires.isoformat() if expires else None},
    )  # fmt: skip
    flush_or_conflict(session, "override")
    return record


def get_override(session: Session, override_id: str) -> Override:
    return by_id(session, Override, override_id)


def pending_override(session: Session, authorization_id: str) -> Override | None:
    """The override asked for this authorization and not yet confirmed, if any."""
    return overrides.of_authorization(session, authorization_id, pending_only=True)


def unreconciled_overrides(session: Session) -> list[Override]:
    return overrides.unreconciled(session)


def reconcile_override(session: Session, *, override_id: str, actor: str, note: str, at: datetime) -> Override:
    require_aware(at)
    record = by_id(session, Override, override_id, lock=True)
    if record.reconciled_at is not None:
        raise TransitionError(f"override {override_id} was already reconciled on {record.reconciled_at}")
    if not note.strip():
        raise InputError("reconciling an override needs a note saying what was done")
    note = validation.clean_text(note, "note", max_length=4000, multiline=True)
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
