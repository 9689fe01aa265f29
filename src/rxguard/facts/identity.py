"""Whose record is this: choosing the Patient to assess and reading only that patient's resources.

A Bundle may hold several patients (a ward list, a merged export, a test
fixture). rxguard assesses exactly one: the only Patient in the input, or the
one named by ``patient`` (its id, ``Patient/id``, its fullUrl, or one of its
identifier values). A resource is that patient's when its ``subject`` (or
``patient``) reference resolves to it: the Patient's fullUrl (``urn:uuid:...``),
``Patient/id``, an absolute URL ending in ``/Patient/id``, or a logical
reference by identifier. A resource that names another Patient of the input
is never read. A resource whose reference resolves to no Patient of the input
(or that has none) is read only when the input holds one Patient, and the
assessment says so; with several Patients it is left out, and said so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from rxguard.errors import FactsError

Owner = Literal["own", "other", "unresolved"]


@dataclass(frozen=True, slots=True)
class PatientEntry:
    resource: Mapping[str, Any]
    references: frozenset[str]
    identifiers: frozenset[str]
    label: str

    @classmethod
    def of(cls, full_url: str, resource: Mapping[str, Any]) -> PatientEntry:
        rid = resource.get("id")
        refs = {full_url} if full_url else set()
        if isinstance(rid, str) and rid:
            refs |= {f"Patient/{rid}", rid}
        return cls(resource, frozenset(refs), _identifiers(resource.get("identifier")), _label(full_url, resource))

    def is_referenced_by(self, reference: Mapping[str, Any]) -> bool:
        ref = reference.get("reference")
        if isinstance(ref, str) and ref:
            ref = _HISTORY.sub("", ref.strip())  # a versioned reference names the same patient
            if ref in self.references:
                return True
            if ref.startswith("Patient?"):  # a conditional reference (transaction Bundles): by identifier
                wanted = set(parse_qs(ref.partition("?")[2]).get("identifier", ()))
                values = {ident.partition("|")[2] for ident in self.identifiers}
                return bool(wanted & self.identifiers or {w for w in wanted if "|" not in w} & values)
            rid = self.resource.get("id")
            return isinstance(rid, str) and bool(rid) and ref.rstrip("/").endswith(f"/Patient/{rid}")
        ident = _identifiers([reference.get("identifier")])
        return bool(ident & self.identifiers)


def _identifiers(raw: Any) -> frozenset[str]:
    out = set()
    for item in raw if isinstance(raw, list) else ():
        if isinstance(item, dict) and isinstance(item.get("value"), str):
            system = item.get("system") if isinstance(item.get("system"), str) else ""
            out.add(f"{system}|{item['value']}")
    return frozenset(out)


def _label(full_url: str, resource: Mapping[str, Any]) -> str:
    rid = resource.get("id")
    return f"Patient/{rid}" if isinstance(rid, str) and rid else full_url or "Patient (no id)"


def distinct_patients(entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[PatientEntry]:
    """One PatientEntry per patient: a prefetch may repeat the same Patient in several Bundles."""
    found: dict[str, PatientEntry] = {}
    for full_url, resource in entries:
        entry = PatientEntry.of(full_url, resource)
        key = entry.label
        if key in found:
            old = found[key]
            entry = PatientEntry(old.resource, old.references | entry.references, old.identifiers, key)
        found[key] = entry
    return list(found.values())


def choose_patient(patients: Sequence[PatientEntry], wanted: str | None) -> PatientEntry:
    """The Patient to assess, or a FactsError that says how to choose."""
    if not patients:
        raise FactsError("the Bundle has no Patient resource; include the patient the question is about")
    if wanted:
        for entry in patients:
            values = {value.split("|", 1)[1] for value in entry.identifiers}
            if wanted in entry.references or wanted in values or wanted in entry.identifiers:
                return entry
        known = ", ".join(p.label for p in patients)
        raise FactsError(f"no Patient {wanted!r} in the input (it holds {known}); give one of these ids")
    if len(patients) > 1:
        known = ", ".join(p.label for p in patients)
        raise FactsError(
            f"the input holds {len(patients)} patients ({known}); say which one to assess "
            "(rxguard check --patient ID, or ?patient=ID on the API)"
        )
    return patients[0]


def subject_of(resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The reference to the patient a clinical resource is about (``subject``, or ``patient``)."""
    for key in ("subject", "patient"):
        value = resource.get(key)
        if isinstance(value, dict):
            return value
    return None


_HISTORY = re.compile(r"/_history/[^/]+$")
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def named_subject(resource: Mapping[str, Any]) -> str | None:
    """Whom a resource's literal reference names: ``Patient/123`` for a Patient (relative or absolute
    URL), else the reference as written (``urn:uuid:...``, ``Group/g1``); None without one."""
    reference = subject_of(resource)
    ref = reference.get("reference") if reference is not None else None
    if not isinstance(ref, str) or not ref.strip() or "?" in ref:
        return None  # none, or a conditional reference that names an identifier, not a subject
    match = _PATIENT_REFERENCE.search(ref.strip())
    return f"Patient/{match.group(1)}" if match else ref.strip()


def owner_of(resource: Mapping[str, Any], chosen: PatientEntry, others: Sequence[PatientEntry]) -> Owner:
    reference = subject_of(resource)
    if reference is None:
        return "unresolved"
    if chosen.is_referenced_by(reference):
        return "own"
    if any(other.is_referenced_by(reference) for other in others):
        return "other"
    return "unresolved"
