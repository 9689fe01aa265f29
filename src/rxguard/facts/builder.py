"""Compact patient descriptions -> real FHIR R4 Bundles.

Vignettes, demo data and tests describe patients in a few lines of YAML; this
module writes them out as ordinary FHIR R4 JSON so that every test goes
through the same reader as production input. It is not a FHIR authoring
library: it writes exactly the fields :mod:`rxguard.facts.fhir` reads.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any

from rxguard.errors import InputError
from rxguard.facts.labs import RXGUARD_LAB_SYSTEM, LabCatalogue

_SYSTEM_URLS = {
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "atc": "http://www.whocc.no/atc",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "cvx": "http://hl7.org/fhir/sid/cvx",
}
_PATIENT_KEYS = {
    "id", "age", "birth_date", "sex", "conditions", "allergies", "medications", "labs",
    "procedures", "infusions", "order", "pregnant", "breastfeeding", "immunizations",
}  # fmt: skip


def _installed_labs() -> LabCatalogue:
    """The core labs and those of every installed pack (the same catalogue the engine reads with)."""
    from rxguard.knowledge.labs import installed_catalogue  # the knowledge layer sits above facts

    return installed_catalogue()


def _d(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"patient.{field}: {value!r} is not a date (YYYY-MM-DD)") from None


def _duration_days(text: str) -> tuple[int, int]:
    from rxguard.knowledge.schema import parse_duration

    return parse_duration(text)


def _back(day: date, months: int, days: int, times: int) -> date:
    total = day.year * 12 + day.month - 1 - months * times
    year, month = divmod(total, 12)
    shifted = date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    return shifted - timedelta(days=days * times)


def _concept(item: dict[str, Any], field: str) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if "text" in item:
        concept["text"] = str(item["text"])
    code = item.get("code")
    if code:
        system, _, value = str(code).partition("|")
        if not value:
            raise InputError(f"patient.{field}: code {code!r} must be 'system|code'")
        concept["coding"] = [{"system": _SYSTEM_URLS.get(system, system), "code": value}]
    if not concept:
        raise InputError(f"patient.{field}: give a text or a code")
    return concept


class _Builder:
    def __init__(self, at: date, drug: str, labs: LabCatalogue | None) -> None:
        self.at = at
        self.drug = drug
        self._labs = labs
        self.entries: list[dict[str, Any]] = []
        self.patient_ref = "Patient/p1"

    @property
    def labs(self) -> LabCatalogue:
        if self._labs is None:
            self._labs = _installed_labs()
        return self._labs

    def add(self, resource: dict[str, Any]) -> None:
        resource["id"] = f"{resource['resourceType'].lower()}-{len(self.entries)}"
        if resource["resourceType"] != "Patient":
            resource.setdefault(
                "patient" if resource["resourceType"] in ("AllergyIntolerance", "Immunization") else "subject",
                {"reference": self.patient_ref},
            )
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})

    def condition(self, item: dict[str, Any]) -> None:
        status = item.get("status", "resolved" if item.get("abated") else "active")
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
            },
            "code": _concept(item, "conditions"),
        }
        if "onset" in item:
            res["onsetDateTime"] = _d(item["onset"], "conditions.onset").isoformat()
        if "abated" in item:
            res["abatementDateTime"] = _d(item["abated"], "conditions.abated").isoformat()
        self.add(res)

    def allergy(self, item: dict[str, Any]) -> None:
        self.add({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": item.get("status", "active")}]},
            "code": _concept(item, "allergies"),
        })  # fmt: skip

    def medication(self, item: dict[str, Any]) -> None:
        kind = item.get("kind", "statement")
        concept = _concept(item, "medications")
        status = item.get("status", "active")
        start = _d(item["start"], "medications.start").isoformat() if "start" in item else None
        end = _d(item["end"], "medications.end").isoformat() if "end" in item else None
        if kind == "statement":
            res: dict[str, Any] = {
                "resourceType": "MedicationStatement",
                "status": status,
                "medicationCodeableConcept": concept,
            }
            if start or end:
                res["effectivePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
            if "dose_text" in item:
                res["dosage"] = [{"text": item["dose_text"]}]
        elif kind == "request":
            res = {
                "resourceType": "MedicationRequest",
                "status": status,
                "intent": item.get("intent", "order"),
                "medicationCodeableConcept": concept,
            }
            if start:
                res["authoredOn"] = start
            dosage: dict[str, Any] = {}
            if "dose_text" in item:
                dosage["text"] = item["dose_text"]
            if end:
                dosage["timing"] = {"repeat": {"boundsPeriod": {"start": start or end, "end": end}}}
            if dosage:
                res["dosageInstruction"] = [dosage]
        elif kind == "administration":
            res = {
                "resourceType": "MedicationAdministration",
                "status": item.get("status", "completed"),
                "medicationCodeableConcept": concept,
            }
            res["effectiveDateTime"] = start or self.at.isoformat()
        else:
            raise InputError(f"patient.medications.kind: {kind!r} is not statement, request or administration")
        self.add(res)

    def immunization(self, item: dict[str, Any]) -> None:
        res: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": item.get("status", "completed"),
            "vaccineCode": _concept(item, "immunizations"),
        }
        if "on_text" in item:
            res["occurrenceString"] = str(item["on_text"])
        else:
            res["occurrenceDateTime"] = _d(item.get("on", self.at), "immunizations.on").isoformat()
        if "patient" in item:  # another patient's record
            res["patient"] = {"reference": str(item["patient"])}
        self.add(res)

    def lab(self, item: dict[str, Any]) -> None:
        test = item.get("test")
        if not isinstance(test, str) or test not in self.labs:
            known = ", ".join(sorted(self.labs))
            raise InputError(
                f"patient.labs.test: {test!r} is not a known lab key ({known}); a pack declares its labs in labs.yaml"
            )
        lab = self.labs[test]
        coding = (
            {"system": "http://loinc.org", "code": lab.loinc[0], "display": lab.display}
            if lab.loinc
            else {"system": RXGUARD_LAB_SYSTEM, "code": test, "display": lab.display}
        )
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "status": item.get("status", "final"),
            "code": {"coding": [coding], "text": lab.display},
            "effectiveDateTime": _d(item.get("on", self.at), "labs.on").isoformat(),
        }
        if "value" in item:
            res["valueQuantity"] = {"value": item["value"], "unit": item.get("unit", lab.unit)}
        elif "result" in item:
            res["valueCodeableConcept"] = {"text": str(item["result"])}
        if "high" in item or "low" in item:
            rng: dict[str, Any] = {}
            if "high" in item:
                rng["high"] = {"value": item["high"], "unit": item.get("unit", lab.unit)}
            if "low" in item:
                rng["low"] = {"value": item["low"], "unit": item.get("unit", lab.unit)}
            res["referenceRange"] = [rng]
        self.add(res)

    def procedure(self, item: dict[str, Any]) -> None:
        self.add({
            "resourceType": "Procedure",
            "status": "completed",
            "code": _concept(item, "procedures"),
            "performedDateTime": _d(item.get("on", self.at), "procedures.on").isoformat(),
        })  # fmt: skip

    def infusions(self, spec: dict[str, Any]) -> None:
        if "dates" in spec:
            dates = [_d(v, "infusions.dates") for v in spec["dates"]]
        else:
            count = int(spec.get("count", 0))
            months, days = _duration_days(str(spec.get("every", "P4W")))
            if "last" in spec:
                last = _d(spec["last"], "infusions.last")
                dates = [_back(last, months, days, i) for i in range(count)]
            elif "first" in spec:
                first = _d(spec["first"], "infusions.first")
                dates = [_back(first, -months, -days, i) for i in range(count)]
            else:
                raise InputError("patient.infusions: give dates, or count with last or first")
        for day in sorted(dates):
            self.add({
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "medicationCodeableConcept": {"text": str(spec.get("text", self.drug))},
                "effectiveDateTime": day.isoformat(),
            })  # fmt: skip

    def order(self, spec: dict[str, Any]) -> None:
        res: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "status": spec.get("status", "draft"),
            "intent": "order",
            "medicationCodeableConcept": {"text": str(spec.get("text", self.drug))},
            "authoredOn": _d(spec.get("on", self.at), "order.on").isoformat(),
        }
        dosage: dict[str, Any] = {}
        if "dose" in spec:
            dosage["doseAndRate"] = [{"doseQuantity": {"value": spec["dose"], "unit": spec.get("unit", "mg")}}]
        if "route" in spec:
            dosage["route"] = {"text": spec["route"]}
        if dosage:
            res["dosageInstruction"] = [dosage]
        self.add(res)


def build_bundle(patient: dict[str, Any], *, at: date, drug: str, labs: LabCatalogue | None = None) -> dict[str, Any]:
    """A FHIR R4 collection Bundle for a compact patient description (see docs/packs.md).

    ``labs`` is the catalogue lab keys are written from (LOINC code, display, unit); without
    it, the core labs and those of every installed pack.
    """
    unknown = set(patient) - _PATIENT_KEYS
    if unknown:
        raise InputError(f"patient: unknown field(s) {sorted(unknown)}; expected some of {sorted(_PATIENT_KEYS)}")
    builder = _Builder(at, drug, labs)
    res: dict[str, Any] = {"resourceType": "Patient", "gender": patient.get("sex", "unknown")}
    if "birth_date" in patient:
        res["birthDate"] = _d(patient["birth_date"], "birth_date").isoformat()
    elif "age" in patient:
        years = float(patient["age"])
        whole = int(years)
        months = round((years - whole) * 12)
        born = _back(at, whole * 12 + months, 1, 1)
        res["birthDate"] = born.isoformat()
    builder.add(res)
    builder.patient_ref = f"Patient/{res['id']}"
    for item in patient.get("conditions", []):
        builder.condition(dict(item))
    if patient.get("pregnant"):
        spec = patient["pregnant"]
        onset = spec.get("onset") if isinstance(spec, dict) else None
        builder.condition({"text": "Pregnancy", "code": "sct|77386006", **({"onset": onset} if onset else {})})
    if patient.get("breastfeeding"):
        builder.condition({"text": "Breastfeeding"})
    for item in patient.get("allergies", []):
        builder.allergy(dict(item))
    for item in patient.get("medications", []):
        builder.medication(dict(item))
    for item in patient.get("labs", []):
        builder.lab(dict(item))
    for item in patient.get("procedures", []):
        builder.procedure(dict(item))
    for item in patient.get("immunizations", []):
        builder.immunization(dict(item))
    if patient.get("infusions"):
        builder.infusions(dict(patient["infusions"]))
    if patient.get("order"):
        builder.order(dict(patient["order"]))
    return {"resourceType": "Bundle", "type": "collection", "entry": builder.entries}
