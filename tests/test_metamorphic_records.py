"""Metamorphic tests: every vignette that fires, rewritten the ways EHRs really write records.

For each vignette of both packs whose assessment has a finding, the test writes
its FHIR Bundle out again in forms that mean the same thing and checks that the
assessment does not change (verdict, rules fired and what they count as, PML
stratum):

- the resources shuffled;
- a second, unrelated Patient added with resources of their own (a PML
  diagnosis, an immunosuppressant, a high ALT, a pregnancy), the assessed
  patient chosen by id;
- each current medicine (not the pack's own drug) recorded instead as a
  MedicationAdministration over the same days, a MedicationDispense whose
  supply covers the day assessed, a MedicationRequest or a MedicationStatement,
  and through ``medicationReference`` to a contained or a bundled Medication;
- units spelled out or in SI units with converted values (U/L as µkat/L,
  10³/µL as 10⁹/L, g/dL as g/L, the order's mg as "milligram" or g);
- each SNOMED CT and ICD-10 coding's system written as its OID, a national
  edition (ICD-10-GM), over https or with a trailing slash.

And forms that must not count, checked against the same Bundle with the
resource removed: each resource marked ``entered-in-error`` (``refuted`` for a
Condition or an allergy), each resource moved to another patient in the
Bundle, and each resource referring to a subject the Bundle does not hold (a
Patient id, an absolute Patient URL, a urn:uuid, a Group) while the others
refer to the patient.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from rxguard.engine.facts import reader_for
from rxguard.engine.vignettes import assess_vignette, vignette_bundle
from rxguard.errors import FactsError
from rxguard.facts.vocabulary import SYSTEM_ALIASES, SYSTEMS
from rxguard.knowledge.loader import Pack, VignetteFile, load_all
from rxguard.knowledge.schema import Vignette

PACKS = load_all()
READER = reader_for(PACKS)
MEDICATIONS = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense")
OTHER = {"resourceType": "Patient", "id": "someone-else", "gender": "female", "birthDate": "1950-02-03"}
OTHER_URL = "urn:uuid:someone-else"
Bundle = dict[str, Any]
Summary = tuple[str, tuple[tuple[str, str, bool], ...], str | None]


def _assess(pack: Pack, vignette: Vignette, bundle: Bundle, patient: str | None = None) -> Summary:
    facts = READER.read(bundle, patient)
    result = assess_vignette(pack, vignette, facts)
    fired = tuple(sorted((f.rule_id, f.effective_severity, f.could_not_verify) for f in result.findings))
    return result.verdict, fired, result.stratum.id if result.stratum else None


def _cases() -> Iterator[Any]:
    """The vignettes where a rule fires (the others have nothing to rewrite), chosen at collection."""
    for pack in PACKS.values():
        for vfile, index, vignette in pack.vignettes():
            if _assess(pack, vignette, vignette_bundle(pack, vfile, vignette))[1]:
                yield pytest.param(pack, vfile, index, id=f"{pack.name}:{vfile.path.stem}:{index}")


def _patient(bundle: Bundle) -> tuple[str, str]:
    entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return entry["resource"]["id"], entry.get("fullUrl", "")


def _is_own_drug(pack: Pack, resource: dict[str, Any]) -> bool:
    if resource["resourceType"] not in MEDICATIONS:
        return False
    facts = READER.read(
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}, {"resource": resource}]}
    )
    return bool(facts.tagged("medication", pack.identity.id))


def _clinical(bundle: Bundle) -> list[int]:
    return [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] != "Patient"]


# --------------------------------------------------------------------------- same meaning


def _shuffled(bundle: Bundle, seed: int) -> Bundle:
    out = copy.deepcopy(bundle)
    random.Random(seed).shuffle(out["entry"])
    return out


def _with_another_patient(bundle: Bundle, at: date) -> Bundle:
    out = copy.deepcopy(bundle)
    subject = {"reference": OTHER_URL}
    day = (at - timedelta(days=3)).isoformat()
    others = [
        {"resourceType": "Condition", "id": "o1", "subject": subject, "code": {"coding": [{"system": "http://snomed.info/sct", "code": "22255007"}], "text": "Progressive multifocal leukoencephalopathy"}},
        {"resourceType": "MedicationStatement", "id": "o2", "subject": subject, "status": "active", "medicationCodeableConcept": {"text": "Azathioprine 50 MG Oral Tablet"}},
        {"resourceType": "MedicationAdministration", "id": "o3", "subject": subject, "status": "completed", "effectiveDateTime": day, "medicationCodeableConcept": {"text": "ciclosporin 100 mg infusion"}},
        {"resourceType": "Observation", "id": "o4", "subject": subject, "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]}, "effectiveDateTime": day, "valueQuantity": {"value": 900, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"}, "referenceRange": [{"high": {"value": 40}}]},
        {"resourceType": "Condition", "id": "o5", "subject": subject, "code": {"text": "Pregnancy"}},
        {"resourceType": "AllergyIntolerance", "id": "o6", "patient": subject, "code": {"text": "natalizumab"}},
    ]  # fmt: skip
    out["entry"] += [{"fullUrl": OTHER_URL, "resource": dict(OTHER)}] + [{"resource": r} for r in others]
    return out


def _current(resource: dict[str, Any], at: date) -> tuple[str | None, str | None] | None:
    """(start, end) of a current statement or request, or None when it is not current on ``at``."""
    if resource["resourceType"] == "MedicationStatement" and resource.get("status") == "active":
        period = resource.get("effectivePeriod") or {}
        start, end = period.get("start"), period.get("end")
    elif resource["resourceType"] == "MedicationRequest" and resource.get("status") == "active":
        bounds = (
            ((resource.get("dosageInstruction") or [{}])[0].get("timing") or {})
            .get("repeat", {})
            .get("boundsPeriod", {})
        )
        start, end = bounds.get("start") or resource.get("authoredOn"), bounds.get("end")
    else:
        return None
    if (start and date.fromisoformat(start) > at) or (end and date.fromisoformat(end) < at):
        return None
    return start, end


def _as_kind(resource: dict[str, Any], kind: str, at: date, span: tuple[str | None, str | None]) -> dict[str, Any]:
    start, end = span
    concept = resource["medicationCodeableConcept"]
    base = {"resourceType": kind, "id": resource["id"], "subject": resource["subject"]}
    if kind == "MedicationAdministration":
        return {**base, "status": "completed", "medicationCodeableConcept": concept,
                "effectivePeriod": {"start": start or at.isoformat(), "end": at.isoformat()}}  # fmt: skip
    if kind == "MedicationDispense":
        handed = date.fromisoformat(start) if start else at - timedelta(days=7)
        days = (at - handed).days + 30
        return {**base, "status": "completed", "medicationCodeableConcept": concept, "whenHandedOver": handed.isoformat(),
                "daysSupply": {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}}  # fmt: skip
    if kind == "MedicationRequest":
        out: dict[str, Any] = {**base, "status": "active", "intent": "order", "medicationCodeableConcept": concept}
        if start:
            out["authoredOn"] = start
        if end:
            out["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"start": start or end, "end": end}}}}]
        return out
    out = {**base, "status": "active", "medicationCodeableConcept": concept}
    if start or end:
        out["effectivePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    return out


def _by_reference(resource: dict[str, Any], contained: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    concept = resource.pop("medicationCodeableConcept")
    medication = {"resourceType": "Medication", "id": f"med-{resource['id']}", "code": concept}
    if contained:
        resource["contained"] = [medication]
        resource["medicationReference"] = {"reference": f"#{medication['id']}"}
        return resource, None
    resource["medicationReference"] = {"reference": f"urn:uuid:{medication['id']}"}
    return resource, {"fullUrl": f"urn:uuid:{medication['id']}", "resource": medication}


def _medication_variants(pack: Pack, bundle: Bundle, at: date) -> Iterator[tuple[str, Bundle]]:
    for i in _clinical(bundle):
        resource = bundle["entry"][i]["resource"]
        span = _current(resource, at) if "medicationCodeableConcept" in resource else None
        if span is None or _is_own_drug(pack, resource):
            continue
        for kind in MEDICATIONS:
            if kind == resource["resourceType"]:
                continue
            out = copy.deepcopy(bundle)
            out["entry"][i] = {**out["entry"][i], "resource": _as_kind(resource, kind, at, span)}
            yield f"{resource['id']} as {kind}", out
        for contained in (True, False):
            out = copy.deepcopy(bundle)
            changed, extra = _by_reference(out["entry"][i]["resource"], contained)
            out["entry"][i]["resource"] = changed
            if extra:
                out["entry"].append(extra)
            yield f"{resource['id']} by {'contained' if contained else 'bundled'} medicationReference", out


# UCUM code -> (another way records write it, factor to apply to the value)
_SPELLINGS: dict[str, list[tuple[dict[str, str], float]]] = {
    "U/L": [({"unit": "µkat/L"}, 1 / 60), ({"unit": "units/L"}, 1.0), ({"unit": "IU/L", "code": "IU/L"}, 1.0)],
    "10*3/uL": [({"unit": "10^9/L"}, 1.0), ({"unit": "K/uL"}, 1.0)],
    "g/dL": [({"unit": "g/L", "code": "g/L", "system": "http://unitsofmeasure.org"}, 10.0)],
    "mL/min/{1.73_m2}": [({"unit": "mL/min/1.73m2"}, 1.0)],
    "mg": [({"unit": "milligram"}, 1.0), ({"unit": "g", "code": "g"}, 0.001), ({"unit": "MG"}, 1.0)],
    "mg/m2": [({"unit": "mg/m²"}, 1.0), ({"unit": "milligrams per square metre"}, 1.0)],
}


def _respelled(quantity: dict[str, Any], spelling: dict[str, str], factor: float) -> dict[str, Any]:
    out = {"value": quantity["value"] * factor, **spelling}
    return out


def _unit_variants(bundle: Bundle) -> Iterator[tuple[str, Bundle]]:
    for i in _clinical(bundle):
        resource = bundle["entry"][i]["resource"]
        if resource["resourceType"] == "Observation" and "valueQuantity" in resource:
            quantity = resource["valueQuantity"]
            unit = quantity.get("code") or quantity.get("unit")
            for spelling, factor in _SPELLINGS.get(unit, []):
                out = copy.deepcopy(bundle)
                changed = out["entry"][i]["resource"]
                changed["valueQuantity"] = _respelled(quantity, spelling, factor)
                for rng in changed.get("referenceRange", []):
                    for bound in ("high", "low"):
                        if bound in rng:
                            rng[bound] = _respelled(rng[bound], spelling, factor)
                yield f"{resource['id']} in {spelling['unit']}", out
        if resource["resourceType"] == "MedicationRequest":
            for d, dosage in enumerate(resource.get("dosageInstruction", [])):
                for r, rate in enumerate(dosage.get("doseAndRate", [])):
                    quantity = rate.get("doseQuantity", {})
                    for spelling, factor in _SPELLINGS.get(quantity.get("code") or quantity.get("unit"), []):
                        out = copy.deepcopy(bundle)
                        target = out["entry"][i]["resource"]["dosageInstruction"][d]["doseAndRate"][r]
                        target["doseQuantity"] = _respelled(quantity, spelling, factor)
                        yield f"{resource['id']} dose in {spelling['unit']}", out


def _system_spellings(url: str) -> list[str]:
    """Other ways records name the code system ``url``: its registered aliases (an OID, a national
    edition), and the same URI over https or with a trailing slash."""
    short = SYSTEMS[url]
    return [alias for alias, name in SYSTEM_ALIASES.items() if name == short] + [
        url.replace("http://", "https://", 1),
        url + "/",
    ]


def _system_variants(bundle: Bundle) -> Iterator[tuple[str, Bundle, Bundle]]:
    """(label, the Bundle with one concept reduced to one SNOMED CT or ICD-10 code and no words, the same
    with that code's system written another way)."""
    for i in _clinical(bundle):
        resource = bundle["entry"][i]["resource"]
        for key in ("code", "medicationCodeableConcept"):
            for coding in resource.get(key, {}).get("coding", []):
                if coding.get("system") not in SYSTEMS or SYSTEMS[coding["system"]] not in ("sct", "icd10"):
                    continue
                only = copy.deepcopy(bundle)
                only["entry"][i]["resource"][key] = {"coding": [{"system": coding["system"], "code": coding["code"]}]}
                for spelling in _system_spellings(coding["system"]):
                    out = copy.deepcopy(only)
                    out["entry"][i]["resource"][key]["coding"][0]["system"] = spelling
                    yield f"{resource['id']} coded {coding['code']} in {spelling}", only, out


# --------------------------------------------------------------------------- must not count


def _not_counting(resource: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    rtype = out["resourceType"]
    if rtype in ("Condition", "AllergyIntolerance"):
        system = "http://terminology.hl7.org/CodeSystem/" + (
            "condition-ver-status" if rtype == "Condition" else "allergyintolerance-verification"
        )
        out["verificationStatus"] = {"coding": [{"system": system, "code": "refuted"}]}
    else:
        out["status"] = "entered-in-error"
    return out


def _moved_to_other_patient(resource: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    key = "patient" if out["resourceType"] == "AllergyIntolerance" else "subject"
    out[key] = {"reference": OTHER_URL}
    return out


def _referring_to(resource: dict[str, Any], reference: str) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    out["patient" if out["resourceType"] == "AllergyIntolerance" else "subject"] = {"reference": reference}
    return out


def _without(bundle: Bundle, i: int) -> Bundle:
    out = copy.deepcopy(bundle)
    del out["entry"][i]
    return out


def _replaced(bundle: Bundle, i: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Bundle:
    out = copy.deepcopy(bundle)
    out["entry"][i] = {**out["entry"][i], "resource": change(out["entry"][i]["resource"])}
    return out


def _with_other(bundle: Bundle) -> Bundle:
    out = copy.deepcopy(bundle)
    out["entry"].append({"fullUrl": OTHER_URL, "resource": dict(OTHER)})
    return out


@pytest.mark.parametrize(("pack", "vfile", "index"), list(_cases()))
def test_a_record_written_another_way_gives_the_same_assessment(pack: Pack, vfile: VignetteFile, index: int) -> None:
    vignette = vfile.vignettes[index]
    bundle = vignette_bundle(pack, vfile, vignette)
    base = _assess(pack, vignette, bundle)
    pid, _ = _patient(bundle)
    at = vignette.at
    variants: list[tuple[str, Bundle, str | None]] = [
        ("shuffled", _shuffled(bundle, index), None),
        ("shuffled again", _shuffled(bundle, index + 1000), None),
        ("with another patient's resources, this patient chosen", _with_another_patient(bundle, at), pid),
    ]
    variants += [(name, b, None) for name, b in _medication_variants(pack, bundle, at)]
    variants += [(name, b, None) for name, b in _unit_variants(bundle)]
    for name, only, spelled in _system_variants(bundle):
        assert _assess(pack, vignette, spelled) == _assess(pack, vignette, only), f"{vignette.name} [{name}]"
    for name, variant, patient in variants:
        assert _assess(pack, vignette, variant, patient) == base, f"{vignette.name} [{name}]"
    with pytest.raises(FactsError, match="say which one to assess"):
        READER.read(_with_another_patient(bundle, at))


@pytest.mark.parametrize(("pack", "vfile", "index"), list(_cases()))
def test_a_record_in_error_or_of_another_patient_counts_as_absent(pack: Pack, vfile: VignetteFile, index: int) -> None:
    vignette = vfile.vignettes[index]
    bundle = vignette_bundle(pack, vfile, vignette)
    pid, _ = _patient(bundle)
    for i in _clinical(bundle):
        resource = bundle["entry"][i]["resource"]
        absent = _assess(pack, vignette, _without(bundle, i))
        in_error = _assess(pack, vignette, _replaced(bundle, i, _not_counting))
        assert in_error == absent, f"{vignette.name} [{resource['id']} marked not counting]"
        moved = _with_other(_replaced(bundle, i, _moved_to_other_patient))
        assert _assess(pack, vignette, moved, pid) == absent, f"{vignette.name} [{resource['id']} of another patient]"
        if len(_clinical(bundle)) > 1:  # the others still show how the patient is referred to
            for elsewhere in (
                "Patient/not-in-the-input",
                "https://ehr.example/fhir/Patient/x9",
                "urn:uuid:0000",
                "Group/g1",
            ):
                away = _replaced(bundle, i, lambda r, to=elsewhere: _referring_to(r, to))
                assert _assess(pack, vignette, away) == absent, f"{vignette.name} [{resource['id']} of {elsewhere}]"


def test_every_pack_has_vignettes_to_rewrite() -> None:
    """Chosen at collection: each pack has vignettes where a rule fires, so the variants above really run."""
    packs = {param.values[0].name for param in _cases()}
    assert packs == set(PACKS) and len(list(_cases())) > 100
