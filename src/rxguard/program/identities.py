"""Which program patient (or prescriber) another system means by its own identifier.

An EHR names a patient by its own id; rxguard names them by a program key.
The link between the two is a row an administrator (or the enrolling
prescriber) records, in the namespace of the system that sends the id:

* ``issuer`` — the EHR's JWT ``iss`` for CDS Hooks, SMART and FHIR callers
  signed by a trusted EHR; :data:`LOCAL_ISSUER` for identifiers recorded for
  rxguard's own users and pharmacy systems (bearer-token callers);
* ``tenant`` — the JWT's ``tenant`` claim ('' when the issuer has none);
* ``system`` and ``value`` — a FHIR identifier; :data:`FHIR_ID_SYSTEM` stands
  for the logical id of the resource on the EHR's FHIR server (what CDS Hooks
  sends as ``context.patientId`` and ``userId``).

Resolution never crosses namespaces: an identifier nobody linked for this
issuer and tenant is *unknown to this program*, even when the same value is
linked for another EHR or equals a program key. :data:`PATIENT_KEY_SYSTEM`
names rxguard's own keys; only callers already scoped to program patients
(signed-in users) may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from rxguard.errors import ConflictError, InputError, NotFoundError
from rxguard.program.common import flush_or_conflict, patient, prescriber, require_aware
from rxguard.store import audit, identity_reads
from rxguard.store.identity_models import ExternalIdentity
from rxguard.store.models import Patient, Prescriber
from rxguard.store.types import PatientIds

FHIR_ID_SYSTEM = "urn:rxguard:fhir-id"
PATIENT_KEY_SYSTEM = "urn:rxguard:patient-key"
PRESCRIBER_KEY_SYSTEM = "urn:rxguard:prescriber-key"
LOCAL_ISSUER = "rxguard"
_MAX = {"issuer": 255, "tenant": 64, "system": 255, "value": 128}


@dataclass(frozen=True)
class Namespace:
    """Whose identifiers these are: one EHR (and tenant), or rxguard's own callers."""

    issuer: str
    tenant: str = ""


@dataclass(frozen=True)
class Identifier:
    system: str
    value: str


def _check(field: str, text: str) -> str:
    if not isinstance(text, str) or not text.strip() or text != text.strip():
        raise InputError(f"identity {field} must be a non-empty string without surrounding spaces, got {text!r}")
    if len(text) > _MAX[field]:
        raise InputError(f"identity {field} is longer than {_MAX[field]} characters")
    if any(ord(c) < 32 for c in text):
        raise InputError(f"identity {field} must not contain control characters")
    return text


def _clean(namespace: Namespace, identifier: Identifier) -> tuple[str, str, str, str]:
    if identifier.system in (PATIENT_KEY_SYSTEM, PRESCRIBER_KEY_SYSTEM):
        raise InputError(f"{identifier.system} names rxguard's own keys, which need no link; use another system")
    tenant = namespace.tenant
    if tenant:
        _check("tenant", tenant)
    return (
        _check("issuer", namespace.issuer),
        tenant,
        _check("system", identifier.system),
        _check("value", identifier.value),
    )


def _taken(session: Session, kind: str, issuer: str, tenant: str, system: str, value: str) -> bool:
    return identity_reads.taken(session, kind, issuer, tenant, system, value)


def link_patient(
    session: Session, *, patient_key: str, namespace: Namespace, identifier: Identifier, at: datetime, actor: str
) -> ExternalIdentity:
    """Record that this issuer's identifier means this program patient."""
    return _link(session, "patient", patient(session, patient_key), namespace, identifier, at, actor)


def link_prescriber(
    session: Session, *, prescriber_key: str, namespace: Namespace, identifier: Identifier, at: datetime, actor: str
) -> ExternalIdentity:
    """Record that this issuer's identifier (e.g. its Practitioner id) means this program prescriber."""
    return _link(session, "prescriber", prescriber(session, prescriber_key), namespace, identifier, at, actor)


def _link(
    session: Session, kind: str, party: Patient | Prescriber, namespace: Namespace, identifier: Identifier,
    at: datetime, actor: str,
) -> ExternalIdentity:  # fmt: skip
    require_aware(at)
    issuer, tenant, system, value = _clean(namespace, identifier)
    if _taken(session, kind, issuer, tenant, system, value):
        # Says neither who holds the identifier nor whether it is the same party.
        raise ConflictError(
            f"{kind} identifier {system}|{value} of {issuer}{' / ' + tenant if tenant else ''} is already linked; "
            "an administrator can list and remove links with 'rxguard identity list|unlink'"
        )
    row = ExternalIdentity(
        party_kind=kind, issuer=issuer, tenant=tenant, system=system, value=value,
        patient_id=party.id if kind == "patient" else None, prescriber_id=party.id if kind == "prescriber" else None,
        created_at=at, actor=actor,
    )  # fmt: skip
    session.add(row)
    flush_or_conflict(session, f"{kind} identifier {system}|{value}")
    audit.record(
        session, at=at, actor=actor, action=f"identity.{kind}-linked", entity="external_identity", entity_id=row.id,
        payload={"key": party.key, "issuer": issuer, "tenant": tenant, "system": system, "value": value},
    )  # fmt: skip
    return row


def unlink(session: Session, *, identity_id: str, at: datetime, actor: str) -> None:
    """Remove a link (recorded in the audit log with what it was)."""
    require_aware(at)
    row = session.get(ExternalIdentity, identity_id)
    if row is None:
        raise NotFoundError(f"no identity link {identity_id!r}; 'rxguard identity list' shows the ids")
    payload = identity_out(session, row)
    session.delete(row)
    session.flush()
    audit.record(session, at=at, actor=actor, action=f"identity.{row.party_kind}-unlinked",
                 entity="external_identity", entity_id=identity_id, payload=payload)  # fmt: skip


def list_links(
    session: Session, *, patient_key: str | None = None, issuer: str | None = None
) -> list[ExternalIdentity]:
    patient_id = patient(session, patient_key).id if patient_key is not None else None
    return identity_reads.links(session, patient_id=patient_id, issuer=issuer)


def identity_out(session: Session, row: ExternalIdentity) -> dict[str, Any]:
    party: Patient | Prescriber | None = (
        session.get(Patient, row.patient_id) if row.patient_id else session.get(Prescriber, row.prescriber_id)
    )
    return {
        "id": row.id,
        "kind": row.party_kind,
        "key": party.key if party else None,
        "issuer": row.issuer,
        "tenant": row.tenant,
        "system": row.system,
        "value": row.value,
        "created_at": row.created_at.isoformat(),
        "actor": row.actor,
    }


# --------------------------------------------------------------------------- resolution


def patient_ids_for(namespace: Namespace, identifiers: Iterable[Identifier]) -> PatientIds:
    """The program patient ids these identifiers are linked to in this namespace (a sub-query)."""
    pairs = [(i.system, i.value) for i in identifiers if i.system != PATIENT_KEY_SYSTEM]
    return identity_reads.patient_ids_for(namespace.issuer, namespace.tenant, pairs)


def resolve_patient(
    reader: Session | Connection, namespace: Namespace | None, identifiers: Iterable[Identifier]
) -> str | None:
    """The program key of the one patient these identifiers name, or None (unknown to this program).

    ``namespace`` None means a caller already scoped to program patients (a
    signed-in user): it may name a patient by :data:`PATIENT_KEY_SYSTEM`, and
    its other identifiers are looked up among :data:`LOCAL_ISSUER`'s links.
    Identifiers that name two different patients resolve to nobody.
    """
    identifiers = list(identifiers)
    keys: set[str] = set()
    if namespace is None:
        own = [i.value for i in identifiers if i.system == PATIENT_KEY_SYSTEM]
        keys |= identity_reads.patient_keys(reader, keys=own)
        namespace = Namespace(LOCAL_ISSUER)
    linked = patient_ids_for(namespace, identifiers)
    keys |= identity_reads.patient_keys(reader, linked=linked)
    return keys.pop() if len(keys) == 1 else None


def resolve_prescriber(reader: Session | Connection, namespace: Namespace, identifier: Identifier) -> str | None:
    return identity_reads.prescriber_key(reader, namespace.issuer, namespace.tenant, identifier.system,
                                         identifier.value)  # fmt: skip


def identifiers_of(resource: Any) -> list[Identifier]:
    """The identifiers a FHIR Patient or Practitioner carries (its logical id as :data:`FHIR_ID_SYSTEM`)."""
    if not isinstance(resource, dict):
        return []
    out = []
    if isinstance(resource.get("id"), str) and resource["id"]:
        out.append(Identifier(FHIR_ID_SYSTEM, resource["id"]))
    for item in resource.get("identifier") or ():
        if isinstance(item, dict) and isinstance(item.get("system"), str) and isinstance(item.get("value"), str):
            out.append(Identifier(item["system"], item["value"]))
    return out


def parse_identifier(text: str) -> Identifier:
    """``system|value`` (a FHIR token) or a bare value, which means :data:`FHIR_ID_SYSTEM`."""
    system, sep, value = text.rpartition("|")
    if not sep:
        return Identifier(FHIR_ID_SYSTEM, text)
    if not system or not value:
        raise InputError(f"identifier {text!r} must look like system|value (e.g. http://hospital.example/mrn|12345)")
    return Identifier(system, value)


def enroll_links(
    session: Session, *, patient_key: str, links: Iterable[tuple[Namespace, Identifier]], at: datetime, actor: str
) -> list[ExternalIdentity]:
    """Links given with an enrollment: the enrolling EHR's ids for the patient."""
    return [
        link_patient(session, patient_key=patient_key, namespace=ns, identifier=ident, at=at, actor=actor)
        for ns, ident in links
    ]
