"""The restricted-distribution program over REST: participants, patients, doses, monitoring, audit.

Each route checks the caller's role (``user.require``), narrows to the caller's
scope (:mod:`rxguard.access.scope`: out of scope is 404), calls one program
service inside the request's transaction, and shapes the result. Who did it
(``actor``) is always the signed-in user, never a field of the request.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from rxguard.access import records, scope
from rxguard.access.policy import OVERRIDE_ROLE
from rxguard.api.deps import ClockDep, SessionDep, UserDep
from rxguard.api.idempotency import IdempotencyDep, idempotent
from rxguard.api.problems import problem_responses
from rxguard.api.routes import API_PREFIX
from rxguard.api.routes.pagination import PageDep
from rxguard.api.schemas import Open, Page
from rxguard.errors import AccessDeniedError
from rxguard.program import (
    adverse_events,
    authorization,
    certification,
    clearance,
    enrollment,
    icsr,
    identities,
    monitoring,
    participants,
    reconciliation,
    transfer,
)
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.program.registry import all_programs, get_program
from rxguard.store import audit
from rxguard.store.models import Authorization

router = APIRouter(prefix=API_PREFIX, tags=["program"])
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422)
Key = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[\w-]+$", description="A participant key, e.g. pat_amy")
]
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w-]+$", description="A record id (UUID)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


# --------------------------------------------------------------------------- shapes


def authorization_out(row: Authorization) -> dict[str, Any]:
    return {
        "id": row.id,
        "program": row.program_id,
        "drug": row.drug,
        "dose_number": row.dose_number,
        "decision": row.decision,
        "status": row.status,
        "infusable": row.is_infusable,
        "visit_at": row.visit_at.isoformat(),
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "checks": authorization.checks_of(row),
        "assessment": row.assessment,
    }


def _participant(row: Any) -> dict[str, Any]:
    return {"key": row.key, "name": row.name, "created_at": row.created_at.isoformat()}


# --------------------------------------------------------------------------- programs and participants


@router.get("/programs", operation_id="list_programs", response_model=Page[Open], responses=READ)
def list_programs(user: UserDep, page: PageDep) -> dict[str, Any]:
    """The restricted-distribution programs rxguard runs (from the packs' program.yaml)."""
    user.require("read")
    items = [
        {"id": p.id, "title": p.definition.title, "kind": p.definition.kind, "drug": p.drug,
         "jurisdiction": p.definition.jurisdiction, "products": p.definition.products}
        for p in all_programs()
    ]  # fmt: skip
    return page.page(items)


@router.get("/programs/{program_id}", operation_id="get_program", response_model=Open, responses=READ)
def get_program_definition(user: UserDep, program_id: Key) -> dict[str, Any]:
    """One program's definition: indications, certification, consent, reauthorization, forms, sources."""
    user.require("read")
    return get_program(program_id).definition.model_dump(mode="json")


@router.get("/programs/{program_id}/record-kinds", operation_id="get_record_kinds", response_model=Open, responses=READ)
def get_record_kinds(user: UserDep, program_id: Key) -> dict[str, Any]:
    """The monitoring and adverse-event kinds and the measurements (type, UCUM unit, range) the program records."""
    user.require("read")
    return get_program(program_id).kinds.model_dump(mode="json")


class ParticipantIn(Body):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class SiteRegistrationIn(ParticipantIn):
    timezone: str | None = Field(
        default=None, max_length=64,
        description="The IANA time zone the site's people see and type times in (e.g. Asia/Shanghai); "
        "empty for the installation's zone. Stored times stay UTC",
    )  # fmt: skip


@router.get("/prescribers", operation_id="list_prescribers", response_model=Page[Open], responses=READ)
def list_prescribers(user: UserDep, session: SessionDep, page: PageDep) -> dict[str, Any]:
    """Registered prescribers."""
    user.require("read")
    rows, total = records.list_prescribers(session, page.limit, page.offset)
    return page.page([_participant(r) for r in rows], total)


@router.post("/prescribers", operation_id="register_prescriber", status_code=201, response_model=Open, responses=WRITE)
@idempotent(201)
def register_prescriber(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: ParticipantIn
) -> dict[str, Any]:
    """Register a prescriber (program administrator)."""
    user.require("administer")
    row = participants.register_prescriber(session, key=body.key, name=body.name, at=clock(), actor=user.name)
    return _participant(row)


@router.get("/sites", operation_id="list_sites", response_model=Page[Open], responses=READ)
def list_sites(user: UserDep, session: SessionDep, page: PageDep) -> dict[str, Any]:
    """Registered infusion sites."""
    user.require("read")
    rows, total = records.list_sites(session, page.limit, page.offset)
    return page.page([_participant(r) for r in rows], total)


@router.post("/sites", operation_id="register_site", status_code=201, response_model=Open, responses=WRITE)
@idempotent(201)
def register_site(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: SiteRegistrationIn
) -> dict[str, Any]:
    """Register an infusion site with its time zone (program administrator)."""
    user.require("administer")
    row = participants.register_site(
        session, key=body.key, name=body.name, at=clock(), actor=user.name, timezone=body.timezone
    )
    return {**_participant(row), "timezone": row.timezone}


@router.post(
    "/sites/{site_key}/pharmacies", operation_id="register_pharmacy", status_code=201, response_model=Open,
    responses=WRITE,
)  # fmt: skip
@idempotent(201)
def register_pharmacy(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, site_key: Key, body: ParticipantIn
) -> dict[str, Any]:
    """Register a pharmacy of an infusion site (program administrator)."""
    user.require("administer")
    row = participants.add_pharmacy(
        session, site_key=site_key, key=body.key, name=body.name, at=clock(), actor=user.name
    )
    return _participant(row)


class CertifyIn(Body):
    program: str = Field(max_length=64)
    kind: Literal["prescriber", "site"]
    key: str = Field(max_length=64)
    training_attested_at: AwareDatetime | None = None
    site_authorization_number: str | None = Field(default=None, max_length=64)


def _certification_out(cert: Any, program: str, kind: str, key: str) -> dict[str, Any]:
    return {"program": program, "kind": kind, "key": key, "status": cert.status}


@router.post("/certifications", operation_id="certify_participant", response_model=Open, responses=WRITE)
@idempotent(200)
def certify_participant(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: CertifyIn
) -> dict[str, Any]:
    """Enroll (if needed) and certify a prescriber or site after its training attestation (administrator)."""
    user.require("administer")
    now = clock()
    try:
        certification.get_certification(session, body.program, body.kind, body.key)
    except Exception:  # not yet enrolled in the program
        certification.enroll_participant(session, program_id=body.program, kind=body.kind, key=body.key, at=now,
                                         actor=user.name)  # fmt: skip
    cert = certification.certify(
        session, program_id=body.program, kind=body.kind, key=body.key, at=now, actor=user.name,
        training_attested_at=body.training_attested_at or now, site_authorization_number=body.site_authorization_number,
    )  # fmt: skip
    return _certification_out(cert, body.program, body.kind, body.key)


class ReasonIn(Body):
    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/certifications/{program_id}/{kind}/{key}/{change}", operation_id="change_certification", response_model=Open,
    responses=WRITE,
)  # fmt: skip
@idempotent(200)
def change_certification(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, program_id: Key,
    kind: Literal["prescriber", "site"], key: Key, change: Literal["suspend", "reinstate", "revoke"], body: ReasonIn,
) -> dict[str, Any]:  # fmt: skip
    """Suspend, reinstate or revoke a certification, with a reason (administrator)."""
    user.require("administer")
    service = getattr(certification, change)
    cert = service(session, program_id=program_id, kind=kind, key=key, at=clock(), actor=user.name, reason=body.reason)
    return _certification_out(cert, program_id, kind, key)


# --------------------------------------------------------------------------- patients


class PatientIn(ParticipantIn):
    birth_on: date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None


@router.get("/patients", operation_id="list_patients", response_model=Page[Open], responses=READ)
def list_patients(user: UserDep, session: SessionDep, page: PageDep) -> dict[str, Any]:
    """Patients in your scope (your own as prescriber, your site's as site staff, all for admin/auditor)."""
    user.require("read")
    rows, total = records.list_patients(session, user, page.limit, page.offset)
    return page.page([{"key": r.key, "name": r.name} for r in rows], total)


@router.post("/patients", operation_id="register_patient", status_code=201, response_model=Open, responses=WRITE)
@idempotent(201)
def register_patient(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: PatientIn
) -> dict[str, Any]:
    """Register a patient (prescriber or administrator); enroll them next."""
    user.require("prescribe", "administer")
    row = participants.register_patient(session, key=body.key, name=body.name, birth_on=body.birth_on, sex=body.sex,
                                        at=clock(), actor=user.name)  # fmt: skip
    return {"key": row.key, "name": row.name}


@router.get("/patients/{patient_key}", operation_id="get_patient", response_model=Open, responses=READ)
def get_patient(user: UserDep, session: SessionDep, clock: ClockDep, patient_key: Key) -> dict[str, Any]:
    """A patient's standing: enrollments with today's status, and the sites that care for them."""
    user.require("read")
    patient = scope.scoped_patient(session, user, patient_key)
    now = clock()
    records.record_read(session, user, patient, at=now, what="file")
    return records.patient_file(session, patient, on=now.date())


class SiteIn(Body):
    site: str = Field(max_length=64)


@router.post(
    "/patients/{patient_key}/sites", operation_id="assign_site", status_code=201, response_model=Open, responses=WRITE
)
@idempotent(201)
def assign_site(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, patient_key: Key, body: SiteIn
) -> dict[str, Any]:
    """Hand a patient to an infusion site (the patient's prescriber, or the administrator)."""
    user.require("prescribe", "administer")
    scope.scoped_patient(session, user, patient_key)
    scope.assign_site(session, patient_key=patient_key, site_key=body.site, at=clock(), actor=user.name)
    return {"patient": patient_key, "site": body.site}


class EnrollIdentifier(Body):
    """The enrolling EHR's identifier for the patient (linked at enrollment)."""

    issuer: str = Field(min_length=1, max_length=255, description="The EHR's JWT iss")
    tenant: str = Field(default="", max_length=64)
    system: str = Field(default="urn:rxguard:fhir-id", min_length=1, max_length=255)
    value: str = Field(min_length=1, max_length=128)


class EnrollIn(Body):
    program: str = Field(max_length=64)
    patient: str = Field(max_length=64)
    indication: str = Field(max_length=64)
    identifiers: list[EnrollIdentifier] = Field(default_factory=list, max_length=20)


@router.post("/enrollments", operation_id="enroll_patient", status_code=201, response_model=Open, responses=WRITE)
@idempotent(201)
def enroll_patient(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: EnrollIn
) -> dict[str, Any]:
    """A certified prescriber enrolls a registered patient (as themself)."""
    user.require("prescribe")
    prescriber = scope.own_prescriber_key(session, user, None)
    scope.enrollable_patient(session, user, body.patient)
    row = enrollment.enroll_patient(session, program_id=body.program, patient_key=body.patient, prescriber_key=prescriber,
                                    indication=body.indication, at=clock(), actor=user.name)  # fmt: skip
    links = identities.enroll_links(
        session, patient_key=body.patient, at=clock(), actor=user.name,
        links=[(identities.Namespace(i.issuer, i.tenant), identities.Identifier(i.system, i.value))
               for i in body.identifiers],
    )  # fmt: skip
    return {"id": row.id, "program": row.program_id, "patient": body.patient, "status": row.status,
            "identifiers": [identities.identity_out(session, link) for link in links]}  # fmt: skip


class ProgramIn(Body):
    program: str = Field(max_length=64)


class ConsentIn(ProgramIn):
    version: str = Field(max_length=32)
    language: Literal["en", "zh"] = "en"
    patient_signed_at: AwareDatetime | None = None
    prescriber_signed_at: AwareDatetime | None = None


def _prescriber_acting_on(user: Any, session: Any, patient_key: str) -> str:
    user.require("prescribe")
    scope.scoped_patient(session, user, patient_key)
    return scope.own_prescriber_key(session, user, None)


def _status_out(row: Any, patient_key: str) -> dict[str, Any]:
    return {
        "patient": patient_key, "program": row.program_id, "status": row.status,
        "authorized_until_on": row.authorized_until_on.isoformat() if row.authorized_until_on else None,
        "follow_up_due_on": row.follow_up_due_on.isoformat() if row.follow_up_due_on else None,
    }  # fmt: skip


@router.post("/patients/{patient_key}/consents", operation_id="record_consent", status_code=201, response_model=Open,
             responses=WRITE)  # fmt: skip
@idempotent(201)
def record_consent(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, patient_key: Key, body: ConsentIn
) -> dict[str, Any]:
    """Record the patient's and the prescriber's signatures on a consent document version."""
    prescriber = _prescriber_acting_on(user, session, patient_key)
    now = clock()
    signed = body.patient_signed_at or now
    row = enrollment.record_consent(
        session, program_id=body.program, patient_key=patient_key, version=body.version, language=body.language,
        patient_signed_at=signed, prescriber_key=prescriber, prescriber_signed_at=body.prescriber_signed_at or signed,
        at=now, actor=user.name,
    )  # fmt: skip
    return {"id": row.id, "patient": patient_key, "program": body.program, "version": body.version}


class FormIn(ProgramIn):
    form: str = Field(max_length=64)
    note: str = Field(default="", max_length=2000)


@router.post("/patients/{patient_key}/forms", operation_id="record_form", status_code=201, response_model=Open,
             responses=WRITE)  # fmt: skip
@idempotent(201)
def record_form(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, patient_key: Key, body: FormIn
) -> dict[str, Any]:
    """Record a completed program form (e.g. patient-alert-card, treatment-continuation)."""
    _prescriber_acting_on(user, session, patient_key)
    row = enrollment.record_form(session, program_id=body.program, patient_key=patient_key, form_id=body.form,
                                 at=clock(), actor=user.name, note=body.note)  # fmt: skip
    return {"id": row.id, "patient": patient_key, "form": body.form}


@router.post("/patients/{patient_key}/treatment-authorizations", operation_id="authorize_treatment", response_model=Open,
             responses=WRITE)  # fmt: skip
@idempotent(200)
def authorize_treatment(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, patient_key: Key, body: ProgramIn
) -> dict[str, Any]:
    """The patient's prescriber authorizes treatment once the consent in force is signed."""
    prescriber = _prescriber_acting_on(user, session, patient_key)
    row = enrollment.authorize_treatment(session, program_id=body.program, patient_key=patient_key,
                                         prescriber_key=prescriber, at=clock(), actor=user.name)  # fmt: skip
    return _status_out(row, patient_key)


@router.post("/patients/{patient_key}/reauthorizations", operation_id="reauthorize_patient", response_model=Open,
             responses=WRITE)  # fmt: skip
@idempotent(200)
def reauthorize_patient(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, patient_key: Key, body: ProgramIn
) -> dict[str, Any]:
    """The periodic reauthorization by the patient's prescriber."""
    prescriber = _prescriber_acting_on(user, session, patient_key)
    row = enrollment.reauthorize(session, program_id=body.program, patient_key=patient_key, prescriber_key=prescriber,
                                 at=clock(), actor=user.name)  # fmt: skip
    return _status_out(row, patient_key)


class ProgramReasonIn(ProgramIn):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/patients/{patient_key}/resumptions", operation_id="resume_patient", response_model=Open, responses=WRITE)
@idempotent(200)
def resume_patient(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    patient_key: Key,
    body: ProgramReasonIn,
) -> dict[str, Any]:
    """Lift a suspension (e.g. the suspected event excluded), with a reason."""
    prescriber = _prescriber_acting_on(user, session, patient_key)
    row = enrollment.resume(session, program_id=body.program, patient_key=patient_key, prescriber_key=prescriber,
                            at=clock(), actor=user.name, reason=body.reason)  # fmt: skip
    return _status_out(row, patient_key)


@router.post("/patients/{patient_key}/discontinuations", operation_id="discontinue_patient", response_model=Open,
             responses=WRITE)  # fmt: skip
@idempotent(200)
def discontinue_patient(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    patient_key: Key,
    body: ProgramReasonIn,
) -> dict[str, Any]:
    """Discontinue treatment with a reason; the program's follow-up is scheduled."""
    _prescriber_acting_on(user, session, patient_key)
    row = enrollment.discontinue(session, program_id=body.program, patient_key=patient_key, at=clock(),
                                 actor=user.name, reason=body.reason)  # fmt: skip
    return _status_out(row, patient_key)


# --------------------------------------------------------------------------- doses


class DoseIn(Body):
    patient: str = Field(max_length=64)
    answers: dict[str, bool | float] = Field(default_factory=dict, description="Pre-infusion checklist answers")
    bundle: dict[str, Any] | None = Field(default=None, description="FHIR R4 Bundle with the latest clinical facts")
    program: str | None = Field(default=None, max_length=64)
    site: str | None = Field(default=None, max_length=64, description="Defaults to your own site")


@router.post("/authorizations", operation_id="authorize_dose", status_code=201, response_model=Open, responses=WRITE)
@idempotent(201)
def authorize_dose(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: DoseIn
) -> dict[str, Any]:
    """Per-dose authorization at your site: AUTHORIZED, HOLD or DO-NOT-INFUSE, stored either way."""
    user.require("infuse")
    site_key = scope.own_site_key(session, user, body.site)
    scope.scoped_patient(session, user, body.patient)
    row = authorization.authorize_dose(session, site_key=site_key, patient_key=body.patient, at=clock(),
                                       answers=dict(body.answers), actor=user.name, bundle=body.bundle,
                                       program_id=body.program)  # fmt: skip
    out = authorization_out(row)
    notice = authorization.notice_of(row)
    if notice:  # a pending hold continued, or the dose already authorized at this visit
        out["notice"] = notice
    return out


@router.get("/authorizations/{authorization_id}", operation_id="get_authorization", response_model=Open, responses=READ)
def get_authorization(user: UserDep, session: SessionDep, authorization_id: RecordId) -> dict[str, Any]:
    """One per-dose authorization with every check and the engine's assessment."""
    user.require("read")
    return authorization_out(scope.scoped_authorization(session, user, authorization_id))


class ClearanceIn(Body):
    outcome: Literal["proceed", "defer", "discontinue"]
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/authorizations/{authorization_id}/clearances", operation_id="clear_hold", status_code=201,
             response_model=Open, responses=WRITE)  # fmt: skip
@idempotent(201)
def clear_hold(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    authorization_id: RecordId,
    body: ClearanceIn,
) -> dict[str, Any]:
    """The patient's prescriber answers a HOLD: proceed, defer or discontinue, with a reason."""
    user.require("prescribe")
    scope.scoped_authorization(session, user, authorization_id)
    prescriber = scope.own_prescriber_key(session, user, None)
    row = clearance.clear_hold(session, authorization_id=authorization_id, prescriber_key=prescriber,
                               outcome=body.outcome, reason=body.reason, at=clock())  # fmt: skip
    return {"id": row.id, "authorization": authorization_id, "outcome": row.outcome}


class OverrideIn(Body):
    reason: str = Field(min_length=1, max_length=2000)
    bypassed: list[str] = Field(min_length=1, max_length=20, description="Ids of the failed checks bypassed")


def _signer(user: Any) -> clearance.Signer:
    """The signed-in user as one of an override's two people (role, site and prescriber from the account)."""
    role = OVERRIDE_ROLE.get(user.role)
    if role is None:
        raise AccessDeniedError(f"role {user.role} holds no program override role")
    return clearance.Signer(user.name, role, site_id=user.site_id, prescriber_id=user.prescriber_id)


def override_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "authorization": row.authorization_id,
        "asked_by": row.actor,
        "role": row.role,
        "reason": row.reason,
        "bypassed": row.bypassed.get("requirements", []),
        "at": row.at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "state": "confirmed" if row.confirmed_at else "awaiting-confirmation",
        "confirmed_by": row.confirmed_by,
        "confirmed_role": row.confirmed_role,
        "confirmation_reason": row.confirmation_reason,
        "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
    }


@router.post("/authorizations/{authorization_id}/overrides", operation_id="override_authorization", status_code=201,
             response_model=Open, responses=WRITE)  # fmt: skip
@idempotent(201)
def override_authorization(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    authorization_id: RecordId,
    body: OverrideIn,
) -> dict[str, Any]:
    """Ask for an emergency bypass of named overridable checks; a second person confirms it before any dose.

    A hard stop (suspended, discontinued, no consent, not certified...) is refused with 409
    ``hard-stop``, naming each check and what would lift it.
    """
    user.require("override")
    scope.scoped_authorization(session, user, authorization_id)
    row = clearance.request_override(session, authorization_id=authorization_id, requester=_signer(user),
                                     reason=body.reason, bypassed=body.bypassed, at=clock())  # fmt: skip
    return override_out(row)


class ConfirmationIn(Body):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/overrides/{override_id}/confirmation", operation_id="confirm_override", response_model=Open,
             responses=WRITE)  # fmt: skip
def confirm_override(
    user: UserDep, session: SessionDep, clock: ClockDep, override_id: RecordId, body: ConfirmationIn
) -> dict[str, Any]:
    """The second person confirms an override (not the one who asked; of the visit's site or its prescriber)."""
    user.require("override")
    pending = clearance.get_override(session, override_id)
    scope.scoped_authorization(session, user, pending.authorization_id)
    row = clearance.confirm_override(session, override_id=override_id, confirmer=_signer(user), reason=body.reason,
                                     at=clock())  # fmt: skip
    return override_out(row)


@router.get("/overrides", operation_id="list_overrides", response_model=Page[Open], responses=READ)
def list_overrides(user: UserDep, session: SessionDep, page: PageDep) -> dict[str, Any]:
    """Overrides not yet reconciled (administrator, auditor)."""
    user.require("administer", "audit")
    items = [{**override_out(o), "actor": o.actor} for o in clearance.unreconciled_overrides(session)]
    return page.page(items)


class NoteIn(Body):
    note: str = Field(min_length=1, max_length=2000)


@router.post("/overrides/{override_id}/reconciliation", operation_id="reconcile_override", response_model=Open,
             responses=WRITE)  # fmt: skip
@idempotent(200)
def reconcile_override(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    override_id: RecordId,
    body: NoteIn,
) -> dict[str, Any]:
    """Reconcile an override after review: the administrator, or a pharmacist of the site where it was given,
    who neither asked for nor confirmed it."""
    user.require("administer", "infuse")
    if not user.sees_everything:
        scope.scoped_authorization(session, user, clearance.get_override(session, override_id).authorization_id)
    reviewer = reconciliation.Reviewer(user.name, user.role, user.site_id)
    row = reconciliation.reconcile(session, override_id=override_id, reviewer=reviewer, note=body.note, at=clock())
    return {"id": row.id, "reconciled_at": row.reconciled_at.isoformat() if row.reconciled_at else None}


class InfusionIn(Body):
    idempotency_key: str = Field(min_length=8, max_length=128, description="Same key on a retry: recorded once")
    product: str = Field(max_length=64)
    lot: str = Field(max_length=64)
    dose: float = Field(gt=0)
    dose_unit: str = Field(default="mg", max_length=16)
    diluent: str = Field(default="0.9% sodium chloride", max_length=128)
    volume_ml: float = Field(gt=0)
    prepared_at: AwareDatetime
    storage: Literal["refrigerated", "room_temperature"] = "refrigerated"
    started_at: AwareDatetime
    stopped_at: AwareDatetime
    observation_end_at: AwareDatetime | None = None
    reactions: str = Field(default="", max_length=2000)
    confirm_unusual: bool = Field(
        default=False, description="Set after checking the warnings of a 422 confirmation-needed answer"
    )
    product_code: str = Field(
        default="", max_length=32,
        description="The code on the carton (NDC, EU number), checked against the product's codes in its pack; "
        "without it the record says the code could not be verified",
    )  # fmt: skip
    vial_expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the vial expires (the end of its printed expiry day where it is used); a vial used after "
        "it is refused; without it the record says the expiry could not be verified",
    )


@router.post("/authorizations/{authorization_id}/infusions", operation_id="record_infusion", status_code=201,
             response_model=Open, responses=WRITE)  # fmt: skip
@idempotent(201)
def record_infusion_route(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    authorization_id: RecordId,
    body: InfusionIn,
) -> dict[str, Any]:
    """Record an infusion under its authorization, checked against the pack (retries are safe)."""
    user.require("infuse")
    row = scope.scoped_authorization(session, user, authorization_id)
    if row.site_id != user.site_id:
        raise AccessDeniedError("an infusion is recorded by the site that holds the authorization")
    request = InfusionRequest(authorization_id=authorization_id, **body.model_dump())
    infusion = record_infusion(session, request, at=clock(), actor=user.name)
    return {"id": infusion.id, "dose_number": infusion.dose_number, "warnings": infusion.warnings["warnings"]}


# --------------------------------------------------------------------------- monitoring, adverse events


class MonitoringIn(Body):
    kind: str = Field(
        max_length=48, description="A monitoring kind the patient's program declares (GET /programs/{id}/record-kinds)"
    )
    on: date | None = None
    program: str | None = Field(default=None, max_length=64)
    result: str = Field(default="", max_length=2000)
    measurements: dict[Annotated[str, StringConstraints(max_length=48)], int | float] = Field(
        default_factory=dict,
        max_length=32,
        description="Measurement id -> value, in the unit the pack declares (e.g. a score); checked against the "
        "pack's type and range",
    )


@router.get("/patients/{patient_key}/monitoring", operation_id="get_monitoring", response_model=Open, responses=READ)
def get_monitoring(
    user: UserDep, session: SessionDep, clock: ClockDep, patient_key: Key,
    program: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:  # fmt: skip
    """One patient's monitoring calendar (every item with its status today) and the trend of every measurement."""
    user.require("read")
    patient = scope.scoped_patient(session, user, patient_key)
    now = clock()
    records.record_read(session, user, patient, at=now, what="monitoring")
    enrolled = enrollment.enrollment_of(session, patient_key, program)
    return {
        "calendar": [row.to_dict() for row in monitoring.calendar(session, enrolled, on=now.date())],
        "measurements": monitoring.measurement_trend(session, enrolled),
    }


@router.post("/patients/{patient_key}/monitoring", operation_id="record_monitoring", status_code=201,
             response_model=Open, responses=WRITE)  # fmt: skip
@idempotent(201)
def record_monitoring(
    user: UserDep,
    session: SessionDep,
    clock: ClockDep,
    idempotency: IdempotencyDep,
    patient_key: Key,
    body: MonitoringIn,
) -> dict[str, Any]:
    """Record a monitoring item of a kind the pack declares, with its measurements (checked against the pack)."""
    user.require("report")
    scope.scoped_patient(session, user, patient_key)
    now = clock()
    day = body.on or now.date()
    enrolled = enrollment.enrollment_of(session, patient_key, body.program, lock=True)
    declared = monitoring.monitoring_kind(monitoring.kinds_of(enrolled), body.kind)
    if declared.companion is not None:  # an assessment is the prescriber's
        user.require("prescribe")
    monitoring.record(session, enrolled, kind=body.kind, on=day, at=now, actor=user.name, result=body.result,
                      measurements=body.measurements)  # fmt: skip
    return {"patient": patient_key, "kind": body.kind, "on": day.isoformat()}


@router.get("/monitoring/due", operation_id="list_due", response_model=Page[Open], responses=READ)
def list_due(
    user: UserDep, session: SessionDep, clock: ClockDep, page: PageDep,
    on: Annotated[date | None, Query(description="Default: today")] = None,
) -> dict[str, Any]:  # fmt: skip
    """The population list: who in your scope is overdue or due, for what (one SQL query)."""
    user.require("read")
    keys = records.visible_patient_keys(session, user)
    day = on or clock().date()
    due = monitoring.population_due(session, on=day) + adverse_events.alert_clock(session, on=day)
    rows = [
        r.to_dict()
        for r in sorted(due, key=lambda r: (r.due_on, r.patient, r.item))
        if keys is None or r.patient in keys
    ]
    return page.page(rows)


class AdverseEventIn(Body):
    patient: str = Field(max_length=64)
    kind: str = Field(max_length=48)
    description: str = Field(min_length=1, max_length=4000)
    onset_on: date
    outcome: str = Field(default="unknown", max_length=32)
    serious: bool = False
    seriousness: list[str] = Field(default_factory=list, max_length=10)
    program: str | None = Field(default=None, max_length=64)
    expectedness: Literal["unexpected", "expected", "unassessed"] = "unassessed"
    meddra_version: str | None = Field(default=None, max_length=8, description="MedDRA version, e.g. 27.1")
    meddra_llt: str | None = Field(default=None, max_length=16, description="MedDRA LLT code (8 digits)")
    meddra_pt: str | None = Field(default=None, max_length=16, description="MedDRA PT code (8 digits)")


@router.post(
    "/adverse-events", operation_id="report_adverse_event", status_code=201, response_model=Open, responses=WRITE
)
@idempotent(201)
def report_adverse_event(
    user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, body: AdverseEventIn
) -> dict[str, Any]:
    """Report an adverse event for a patient in your scope; a kind the pack marks as suspending suspends treatment."""
    user.require("report")
    scope.scoped_patient(session, user, body.patient)
    row = adverse_events.report_adverse_event(
        session, program_id=body.program, patient_key=body.patient, kind=body.kind,
        serious=body.serious or bool(body.seriousness), seriousness=body.seriousness, onset_on=body.onset_on,
        outcome=body.outcome, description=body.description, at=clock(), actor=user.name,
        expectedness=body.expectedness, meddra_version=body.meddra_version, meddra_llt=body.meddra_llt,
        meddra_pt=body.meddra_pt,
    )  # fmt: skip
    return {"id": row.id, "patient": body.patient, "kind": row.kind}


class AdverseEventAssessmentIn(Body):
    """What a safety officer adds to a report: MedDRA coding, expectedness, the 15-day report's submission."""

    meddra_version: str | None = Field(default=None, max_length=8)
    meddra_llt: str | None = Field(default=None, max_length=16)
    meddra_pt: str | None = Field(default=None, max_length=16)
    expectedness: Literal["unexpected", "expected", "unassessed"] | None = None
    alert_submitted_on: date | None = None


@router.post(
    "/adverse-events/{event_id}/assessments", operation_id="assess_adverse_event", status_code=201,
    response_model=Open, responses=WRITE,
)  # fmt: skip
def assess_adverse_event(
    user: UserDep, session: SessionDep, clock: ClockDep, event_id: RecordId, body: AdverseEventAssessmentIn
) -> dict[str, Any]:
    """Code an event in MedDRA, record its expectedness or the 15-day alert report's submission (in scope)."""
    user.require("report", "administer")
    row = records.scoped_adverse_event(session, user, event_id)
    now = clock()
    if body.meddra_llt or body.meddra_version:
        adverse_events.code_adverse_event(session, event_id=row.id, version=body.meddra_version or "",
                                          llt=body.meddra_llt or "", pt=body.meddra_pt, at=now, actor=user.name)  # fmt: skip
    if body.expectedness:
        adverse_events.assess_expectedness(session, event_id=row.id, expectedness=body.expectedness, at=now,
                                           actor=user.name)  # fmt: skip
    if body.alert_submitted_on:
        adverse_events.record_alert_submission(session, event_id=row.id, on=body.alert_submitted_on, at=now,
                                               actor=user.name)  # fmt: skip
    return adverse_events.to_fhir(session, row)


@router.get(
    "/adverse-events/{event_id}/icsr", operation_id="get_adverse_event_icsr", responses=READ,
    response_class=Response,
)  # fmt: skip
def get_adverse_event_icsr(user: UserDep, session: SessionDep, clock: ClockDep, event_id: RecordId) -> Response:
    """The event as an ICH E2B(R3) ICSR (XML); ``X-ICSR-Problems`` lists required elements still missing."""
    user.require("read")
    row = records.scoped_adverse_event(session, user, event_id)
    xml = icsr.to_icsr(session, row, icsr.configured_sender(), now=clock())
    problems = icsr.check_icsr(xml)
    return Response(xml, media_type="application/xml", headers={"X-ICSR-Problems": str(len(problems))})


@router.get("/adverse-events", operation_id="list_adverse_events", response_model=Page[Open], responses=READ)
def list_adverse_events(
    user: UserDep, session: SessionDep, page: PageDep,
    format: Annotated[Literal["fhir", "medwatch"], Query(description="FHIR AdverseEvent or MedWatch 3500A fields")] = "fhir",
) -> dict[str, Any]:  # fmt: skip
    """Adverse events of patients in your scope, as FHIR AdverseEvent or the MedWatch field set."""
    user.require("read")
    rows, total = records.list_adverse_events(session, user, page.limit, page.offset)
    shape = adverse_events.to_fhir if format == "fhir" else adverse_events.to_medwatch
    return page.page([shape(session, row) for row in rows], total)


# --------------------------------------------------------------------------- exports, audit


@router.get(
    "/exports/program", operation_id="export_program", response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                     "description": "FHIR NDJSON"}, **problem_responses(401, 403)},
)  # fmt: skip
def export_program(user: UserDep, session: SessionDep, clock: ClockDep) -> Response:
    """The whole program as FHIR NDJSON, history and audit chain included (administrator, auditor); audited."""
    user.require("audit")
    lines = list(transfer.export_ndjson(session))
    body = "".join(line + "\n" for line in lines)
    transfer.record_export(session, resources=len(lines), digest=hashlib.sha256(body.encode()).hexdigest(),
                           at=clock(), actor=user.name)  # fmt: skip
    return Response(body, media_type="application/x-ndjson")


@router.get(
    "/audit/verification", operation_id="verify_audit", response_model=Open, responses=problem_responses(401, 403)
)
def verify_audit(user: UserDep, session: SessionDep) -> dict[str, Any]:
    """Walk the audit log's hash chain, recompute its Merkle root and check every business record has its entry.

    Checking against signed checkpoints kept outside the database is ``rxguard audit verify --checkpoint``.
    """
    user.require("audit")
    report = audit.verify_log(session)
    return {"ok": report.ok, "entries": report.entries, "first_bad_seq": report.chain.first_bad_seq,
            "root": base64.b64encode(report.root).decode(), "problems": report.problems,
            "message": report.message()}  # fmt: skip
