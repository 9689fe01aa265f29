"""Prescriber and infusion-site certification, per program.

enroll → certified (training attestation; a site authorization number where
the program issues one) → suspended ⇄ certified, and revoked from any state.
A revoked certification is final: certify again under a new program
enrollment is not possible, by design (the program must decide afresh).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rxguard.errors import InputError, NotFoundError, TransitionError
from rxguard.program import validation
from rxguard.program.common import (
    certification_for,
    flush_or_conflict,
    prescriber,
    require_aware,
    site,
)
from rxguard.program.registry import get_program
from rxguard.program.transitions import require, transition
from rxguard.store import audit
from rxguard.store.models import Certification, CertificationEvent


def _party(session: Session, kind: str, key: str) -> tuple[str | None, str | None]:
    if kind == "prescriber":
        return prescriber(session, key).id, None
    if kind == "site":
        return None, site(session, key).id
    raise InputError(f"participant kind {kind!r} must be 'prescriber' or 'site'")


def get_certification(session: Session, program_id: str, kind: str, key: str, *, lock: bool = False) -> Certification:
    prescriber_id, site_id = _party(session, kind, key)
    cert = certification_for(session, program_id, prescriber_id=prescriber_id, site_id=site_id, lock=lock)
    if cert is None:
        raise NotFoundError(f"{kind} {key} has not enrolled in program {program_id}; enroll it first")
    return cert


def enroll_participant(
    session: Session, *, program_id: str, kind: str, key: str, at: datetime, actor: str, reason: str = "enrolled"
) -> Certification:
    """Start a prescriber's or a site's certification in one program."""
    require_aware(at)
    get_program(program_id)
    prescriber_id, site_id = _party(session, kind, key)
    if certification_for(session, program_id, prescriber_id=prescriber_id, site_id=site_id):
        raise TransitionError(f"{kind} {key} is already enrolled in program {program_id}")
    cert = Certification(
        program_id=program_id,
        party_kind=kind,
        prescriber_id=prescriber_id,
        site_id=site_id,
        status="enrolled",
        created_at=at,
    )
    session.add(cert)
    flush_or_conflict(session, f"{kind} {key} enrollment in {program_id}")
    session.add(
        CertificationEvent(
            certification_id=cert.id, from_status=None, to_status="enrolled", actor=actor, at=at, reason=reason
        )
    )
    audit.record(
        session,
        at=at,
        actor=actor,
        action="certification.enrolled",
        entity="certification",
        entity_id=cert.id,
        payload={"program": program_id, "kind": kind, "key": key, "reason": reason},
    )
    return cert


def _transition(session: Session, cert: Certification, to: str, *, at: datetime, actor: str, reason: str) -> None:
    require(cert, to, name=f"in {cert.program_id}")
    if not reason.strip():
        raise InputError("a reason is required for every certification change")
    transition(cert, to, at=at, actor=actor, reason=reason, name=f"in {cert.program_id}")
    flush_or_conflict(session, f"certification change to {to}")


def certify(
    session: Session,
    *,
    program_id: str,
    kind: str,
    key: str,
    at: datetime,
    actor: str,
    training_attested_at: datetime,
    site_authorization_number: str | None = None,
    reason: str = "training attested",
) -> Certification:
    """Certify after the training attestation (and the site authorization number, for sites)."""
    require_aware(at)
    require_aware(training_attested_at, "training_attested_at")
    if training_attested_at > at:
        raise InputError("the training attestation cannot be dated after the certification")
    program = get_program(program_id)
    cert = get_certification(session, program_id, kind, key, lock=True)
    requirement = getattr(program.definition.certification, kind)
    if kind == "site" and requirement.site_authorization_number and not site_authorization_number:
        raise InputError(f"program {program_id} issues a site authorization number; give it to certify {key}")
    cert.training_attested_at = training_attested_at
    if site_authorization_number:
        site_authorization_number = validation.clean_text(
            site_authorization_number, "site_authorization_number", max_length=64
        )
        cert.site_authorization_number = site_authorization_number
    _transition(session, cert, "certified", at=at, actor=actor, reason=reason)
    return cert


def suspend(
    session: Session, *, program_id: str, kind: str, key: str, at: datetime, actor: str, reason: str
) -> Certification:
    cert = get_certification(session, program_id, kind, key, lock=True)
    _transition(session, cert, "suspended", at=require_aware(at), actor=actor, reason=reason)
    return cert


def reinstate(
    session: Session, *, program_id: str, kind: str, key: str, at: datetime, actor: str, reason: str
) -> Certification:
    cert = get_certification(session, program_id, kind, key, lock=True)
    if cert.status != "suspended":
        raise TransitionError(f"only a suspended certification can be reinstated; this one is {cert.status}")
    _transition(session, cert, "certified", at=require_aware(at), actor=actor, reason=reason)
    return cert


def revoke(
    session: Session, *, program_id: str, kind: str, key: str, at: datetime, actor: str, reason: str
) -> Certification:
    cert = get_certification(session, program_id, kind, key, lock=True)
    _transition(session, cert, "revoked", at=require_aware(at), actor=actor, reason=reason)
    return cert
