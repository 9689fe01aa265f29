"""Which patients and records a principal may see: the scoping rules as queries.

* a **prescriber** sees patients with an enrollment that names them;
* **site staff** see patients assigned to their site (``patient_site``) and
  patients their site has requested a dose authorization for;
* **administrators** and **auditors** see everyone.

A record out of scope is reported as *not found* (404), never as forbidden,
so probing ids or keys tells a foreign site nothing about who exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from rxguard.access.policy import SITE_STAFF, Principal
from rxguard.errors import AccessDeniedError, InputError, NotFoundError
from rxguard.program.common import patient as patient_by_key
from rxguard.program.common import site as site_by_key
from rxguard.store import audit
from rxguard.store.auth_models import PatientSite
from rxguard.store.models import Authorization, Enrollment, Patient


def visible_patient_ids(principal: Principal) -> Select[Any] | None:
    """A sub-query of the patient ids in scope; None means every patient."""
    if principal.sees_everything:
        return None
    if principal.role == "prescriber":
        return select(Enrollment.patient_id).where(Enrollment.prescriber_id == principal.prescriber_id)
    if principal.role in SITE_STAFF:
        assigned = select(PatientSite.patient_id).where(PatientSite.site_id == principal.site_id)
        treated = select(Authorization.patient_id).where(Authorization.site_id == principal.site_id)
        return select(Patient.id).where(or_(Patient.id.in_(assigned), Patient.id.in_(treated)))
    return select(Patient.id).where(Patient.id.is_(None))  # deny by default


def is_visible(session: Session, principal: Principal, patient_id: str) -> bool:
    ids = visible_patient_ids(principal)
    if ids is None:
        return True
    return session.execute(select(Patient.id).where(Patient.id == patient_id, Patient.id.in_(ids))).first() is not None


def scoped_patient(session: Session, principal: Principal, key: str) -> Patient:
    """The patient by key, or NotFoundError when it does not exist or is out of scope."""
    try:
        row = patient_by_key(session, key)
    except NotFoundError:
        row = None
    if row is None or not is_visible(session, principal, row.id):
        raise NotFoundError(
            f"no patient with key {key!r} in your scope; check the key or ask the program administrator"
        )
    return row


def enrollable_patient(session: Session, principal: Principal, key: str) -> Patient:
    """A patient a prescriber may enroll: in their scope, or registered and enrolled nowhere yet.

    Without this, enrolling someone else's patient would answer "already
    enrolled (lapsed)" and tell a stranger the patient's program status.
    """
    try:
        row = patient_by_key(session, key)
    except NotFoundError:
        row = None
    if row is not None and (
        is_visible(session, principal, row.id)
        or session.execute(select(Enrollment.id).where(Enrollment.patient_id == row.id)).first() is None
    ):
        return row
    raise NotFoundError(f"no patient with key {key!r} that you may enroll; register the patient first")


def scoped_authorization(session: Session, principal: Principal, authorization_id: str) -> Authorization:
    row = session.get(Authorization, authorization_id)
    if row is None or not is_visible(session, principal, row.patient_id):
        raise NotFoundError(f"no authorization {authorization_id!r} in your scope; check the id")
    return row


def own_site_key(session: Session, principal: Principal, site_key: str | None) -> str:
    """Site staff act for their own site only; the key defaults to it."""
    from rxguard.store.models import Site

    own = session.get(Site, principal.site_id) if principal.site_id else None
    if own is None:
        raise AccessDeniedError(f"user {principal.name!r} is not linked to an infusion site")
    if site_key not in (None, own.key):
        raise AccessDeniedError(f"user {principal.name!r} acts for site {own.key!r} only, not {site_key!r}")
    return own.key


def own_prescriber_key(session: Session, principal: Principal, prescriber_key: str | None) -> str:
    """A prescriber acts as themself only; the key defaults to theirs."""
    from rxguard.store.models import Prescriber

    own = session.get(Prescriber, principal.prescriber_id) if principal.prescriber_id else None
    if own is None:
        raise AccessDeniedError(f"user {principal.name!r} is not linked to a prescriber")
    if prescriber_key not in (None, own.key):
        raise AccessDeniedError(f"user {principal.name!r} acts as prescriber {own.key!r} only, not {prescriber_key!r}")
    return own.key


def assign_site(session: Session, *, patient_key: str, site_key: str, at: datetime, actor: str) -> PatientSite:
    """Hand a patient to an infusion site (its nurses and pharmacists then see the patient)."""
    patient = patient_by_key(session, patient_key)
    site = site_by_key(session, site_key)
    exists = session.execute(
        select(PatientSite.id).where(PatientSite.patient_id == patient.id, PatientSite.site_id == site.id)
    ).first()
    if exists is not None:
        raise InputError(f"patient {patient_key} is already cared for at site {site_key}")
    row = PatientSite(patient_id=patient.id, site_id=site.id, assigned_at=at, actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, at=at, actor=actor, action="patient.site-assigned", entity="patient_site",
                 entity_id=row.id, payload={"patient": patient_key, "site": site_key})  # fmt: skip
    return row
