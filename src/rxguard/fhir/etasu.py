"""``$rems-etasu``: the ETASU status of a patient and medication as FHIR R4 GuidanceResponses.

Input (HL7 Medication REMS IG, "Out-of-band ETASU Check"): a ``Parameters``
with ``patient`` (a Patient resource, or ``valueIdentifier``), ``medication``
(a Medication or MedicationRequest resource, a ``valueCodeableConcept`` or a
``valueString`` name) and/or ``case_number`` (``valueString``). The patient is
matched by identifier through the caller's identity links (its logical id
counts as ``urn:rxguard:fhir-id``); a signed-in user may also name rxguard's
own key with ``urn:rxguard:patient-key``. The medication is matched by the
packs' codes (RxNorm, ATC) or names.

Output: a ``Parameters`` with one ``rems-etasu`` GuidanceResponse per program:
``success`` when every requirement is met, ``data-required`` otherwise, and
``failure`` when the patient (or case) is unknown to the program. Each
carries a contained ``Parameters`` (``outputParameters``) with one nested
GuidanceResponse per requirement (named by its title, ``success`` or
``data-required``, the detail in ``note``) and the ``case_number``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.access.scope import is_visible
from rxguard.cds_hooks.services import ordered_drugs
from rxguard.errors import InputError
from rxguard.fhir.callers import FhirCaller
from rxguard.program.common import patient as patient_by_key
from rxguard.program.etasu import EtasuStatus, case_of, patient_etasu
from rxguard.program.identities import (
    PATIENT_KEY_SYSTEM,
    Identifier,
    identifiers_of,
    resolve_patient,
)
from rxguard.program.registry import Program, all_programs
from rxguard.store.identity_models import ExternalIdentity
from rxguard.store.models import Patient

MODULE_URI = "http://hl7.org/fhir/us/medication-rems"
CASE_SYSTEM = "urn:rxguard:case-number"


@dataclass(frozen=True)
class EtasuQuery:
    identifiers: list[Identifier]
    subject: dict[str, Any] | None
    medication: dict[str, Any] | None
    case_number: str | None


def _params(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InputError("the body must be a FHIR R4 Parameters resource (resourceType 'Parameters')")
    params = body.get("parameter") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise InputError("Parameters.parameter must be an array of objects")
    return params


def parse_query(body: Any) -> EtasuQuery:
    identifiers: list[Identifier] = []
    subject: dict[str, Any] | None = None
    medication: dict[str, Any] | None = None
    case_number: str | None = None
    for param in _params(body):
        name, resource = param.get("name"), param.get("resource")
        if name == "patient":
            if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
                identifiers += identifiers_of(resource)
                subject = {"reference": f"Patient/{resource['id']}"} if isinstance(resource.get("id"), str) else None
            elif isinstance(param.get("valueIdentifier"), dict):
                found = identifiers_of({"identifier": [param["valueIdentifier"]]})
                identifiers += found
                if found:
                    subject = {"identifier": {"system": found[0].system, "value": found[0].value}}
            else:
                raise InputError("parameter 'patient' must carry a Patient resource or a valueIdentifier")
        elif name == "medication":
            medication = _medication(param)
        elif name in ("case_number", "authNumber"):
            if not isinstance(param.get("valueString"), str) or not param["valueString"]:
                raise InputError(f"parameter {name!r} must carry a valueString")
            case_number = param["valueString"]
    if not identifiers and case_number is None:
        raise InputError("give the parameter 'patient' (a Patient with an identifier) or 'case_number'")
    if medication is None and case_number is None:
        raise InputError("give the parameter 'medication' (Medication, MedicationRequest or a code) or 'case_number'")
    return EtasuQuery(identifiers, subject, medication, case_number)


def _medication(param: dict[str, Any]) -> dict[str, Any]:
    """The medication as a MedicationRequest (what the packs' order recognition reads)."""
    resource = param.get("resource")
    if isinstance(resource, dict) and resource.get("resourceType") == "MedicationRequest":
        return resource
    if isinstance(resource, dict) and resource.get("resourceType") == "Medication":
        concept = resource.get("code")
    elif isinstance(param.get("valueCodeableConcept"), dict):
        concept = param["valueCodeableConcept"]
    elif isinstance(param.get("valueString"), str):
        concept = {"text": param["valueString"]}
    else:
        raise InputError(
            "parameter 'medication' must carry a Medication or MedicationRequest resource, "
            "a valueCodeableConcept or a valueString name"
        )
    if not isinstance(concept, dict):
        raise InputError("the Medication has no code; send Medication.code with an RxNorm coding or a text name")
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": concept, "subject": {"reference": "Patient/etasu-query"}}  # fmt: skip


def _drugs(medication: dict[str, Any]) -> list[str]:
    contained = [r for r in medication.get("contained") or () if isinstance(r, dict)]
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in (*contained, medication)]}
    return sorted(ordered_drugs(bundle))


def _programs_for(drugs: list[str], jurisdiction: str | None) -> list[Program]:
    return [
        p for p in all_programs()
        if p.drug in drugs and (jurisdiction is None or p.definition.jurisdiction in (None, jurisdiction))
    ]  # fmt: skip


def _linked_in_namespace(session: Session, caller: FhirCaller, patient: Patient) -> bool:
    """An EHR reaches a case only for a patient it has linked (a case number is no way around the links)."""
    if caller.namespace is None:
        assert caller.principal is not None
        return is_visible(session, caller.principal, patient.id)
    return (
        session.execute(
            select(ExternalIdentity.id).where(
                ExternalIdentity.party_kind == "patient", ExternalIdentity.patient_id == patient.id,
                ExternalIdentity.issuer == caller.namespace.issuer, ExternalIdentity.tenant == caller.namespace.tenant,
            )
        ).first()
        is not None
    )  # fmt: skip


def _resolve(session: Session, caller: FhirCaller, query: EtasuQuery) -> Patient | None:
    if caller.namespace is not None:
        identifiers = [i for i in query.identifiers if i.system != PATIENT_KEY_SYSTEM]
    else:
        identifiers = query.identifiers
    key = resolve_patient(session, caller.namespace, identifiers) if identifiers else None
    if key is None:
        return None
    row = patient_by_key(session, key)
    if caller.principal is not None and not is_visible(session, caller.principal, row.id):
        return None
    return row


def rems_etasu(session: Session, caller: FhirCaller, body: Any, *, now: datetime) -> dict[str, Any]:
    """The operation: parse, resolve, read the program, shape the answer."""
    query = parse_query(body)
    on = now.date()
    programs: list[Program] = []
    if query.medication is not None:
        drugs = _drugs(query.medication)
        programs = _programs_for(drugs, caller.jurisdiction)
        if not programs:
            return _failure(query, now, "no restricted-distribution program in rxguard covers this medication")
    patient: Patient | None = None
    if query.case_number is not None:
        case = case_of(session, query.case_number)
        if case is not None and _linked_in_namespace(session, caller, case[0]):
            patient, program = case
            programs = [p for p in programs if p.id == program.id] if query.medication is not None else [program]
    else:
        patient = _resolve(session, caller, query)
    if patient is None or not programs:
        return _failure(query, now, "patient unknown to this program (no identity link for this caller)")
    site_id = caller.principal.site_id if caller.principal is not None else None
    statuses = patient_etasu(session, patient, programs, on, site_id=site_id)
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "rems-etasu", "resource": _guidance(s, query, now)} for s in statuses],
    }


def _subject(query: EtasuQuery) -> dict[str, Any] | None:
    return dict(query.subject) if query.subject else None


def _base(status: str, query: EtasuQuery, now: datetime) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "GuidanceResponse", "moduleUri": MODULE_URI, "status": status}
    subject = _subject(query)
    if subject:
        resource["subject"] = subject
    resource["occurrenceDateTime"] = now.isoformat()
    return resource


def _guidance(status: EtasuStatus, query: EtasuQuery, now: datetime) -> dict[str, Any]:
    nested = []
    for requirement in status.requirements:
        item = _base("success" if requirement.met else "data-required", query, now)
        item["note"] = [{"text": requirement.title}, {"text": requirement.detail}]
        nested.append({"name": requirement.title, "resource": item})
    if status.case_number:
        nested.append({"name": "case_number", "valueString": status.case_number})
    resource = _base("success" if status.met else "data-required", query, now)
    if status.case_number:
        resource["identifier"] = [{"system": CASE_SYSTEM, "value": status.case_number}]
    title = status.program.definition.title
    unmet = ", ".join(r.title for r in status.unmet)
    summary = f"{title}: every requirement is met" if status.met else f"{title}: not met: {unmet}"
    resource["note"] = [{"text": summary}]
    resource["contained"] = [{"resourceType": "Parameters", "id": "etasuOutputParameters", "parameter": nested}]
    resource["outputParameters"] = {"reference": "#etasuOutputParameters"}
    return resource


def _failure(query: EtasuQuery, now: datetime, why: str) -> dict[str, Any]:
    resource = _base("failure", query, now)
    resource["note"] = [{"text": why}]
    return {"resourceType": "Parameters", "parameter": [{"name": "rems-etasu", "resource": resource}]}


def operation_definition(base: str) -> dict[str, Any]:
    """The OperationDefinition of ``$rems-etasu`` as rxguard serves it."""
    return {
        "resourceType": "OperationDefinition",
        "id": "rems-etasu",
        "url": f"{base}/fhir/OperationDefinition/rems-etasu",
        "name": "RemsEtasu",
        "title": "REMS ETASU status (HL7 Medication REMS IG out-of-band check)",
        "status": "active",
        "kind": "operation",
        "code": "rems-etasu",
        "resource": ["GuidanceResponse"],
        "system": False,
        "type": True,
        "instance": False,
        "description": (
            "Whether the Elements to Assure Safe Use of each restricted-distribution program covering the "
            "medication are met for the patient, with one nested GuidanceResponse per requirement and the case number."
        ),
        "parameter": [
            {"name": "patient", "use": "in", "min": 0, "max": "1", "type": "Patient",
             "documentation": "Matched by identifier through the caller's identity links; "
                              "urn:rxguard:patient-key names rxguard's own keys (signed-in users only)."},
            {"name": "medication", "use": "in", "min": 0, "max": "1", "type": "Medication",
             "documentation": "Medication or MedicationRequest (RxNorm or ATC coding, or a name in text)."},
            {"name": "case_number", "use": "in", "min": 0, "max": "1", "type": "string",
             "documentation": "The REMS case number from an earlier answer."},
            {"name": "rems-etasu", "use": "out", "min": 1, "max": "*", "type": "GuidanceResponse",
             "documentation": "success, data-required or failure, per program."},
        ],
    }  # fmt: skip
