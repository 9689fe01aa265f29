"""How long a patient has been treated is read from every record of treatment, not only administrations.

EHRs record a long-running infusion therapy in many ways: the infusions themselves
(MedicationAdministration), the pharmacy's dispenses, a statement "taking since", or procedures
naming the drug. "Treated for more than 2 years" (a PML risk factor) must come out the same from
each; an order alone, or a statement that the patient intends to start, is not treatment.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.knowledge.loader import load_all

PACKS = load_all()
READER = reader_for(PACKS)
AT = date(2026, 1, 5)
DRUG = {"text": "Tysabri 300 mg"}


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1985-04-02"}
    lab = {"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p"}}
    results = [
        lab | {"code": {"text": "JCV antibody"}, "valueString": "Positive", "effectiveDateTime": "2025-12-10"},
        lab | {"code": {"text": "JCV index"}, "valueQuantity": {"value": 1.8}, "effectiveDateTime": "2025-12-10"},
    ]
    own = [r | {"subject": {"reference": "Patient/p"}} for r in resources]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient, *results, *own)],
    }


def _days(first: date) -> list[date]:
    return [first + timedelta(days=28 * i) for i in range(200) if first + timedelta(days=28 * i) < AT]


FORMS = {
    "administrations": lambda first: [
        {"resourceType": "MedicationAdministration", "status": "completed", "medicationCodeableConcept": DRUG,
         "effectiveDateTime": d.isoformat()} for d in _days(first)
    ],
    "dispenses": lambda first: [
        {"resourceType": "MedicationDispense", "status": "completed", "medicationCodeableConcept": DRUG,
         "whenHandedOver": d.isoformat()} for d in _days(first)
    ],
    "statement": lambda first: [
        {"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": DRUG,
         "effectivePeriod": {"start": first.isoformat()}}
    ],
    "procedures": lambda first: [
        {"resourceType": "Procedure", "status": "completed", "code": {"text": "Tysabri infusion"},
         "performedDateTime": d.isoformat()} for d in _days(first)
    ],
}  # fmt: skip


def _stratum(resources: list[dict[str, Any]]) -> str | None:
    result = assess(PACKS["natalizumab"], READER.read(_bundle(*resources), None), at=AT, jurisdiction="EU")
    return result.stratum.id if result.stratum else None


@settings(max_examples=25, deadline=None)
@given(months=st.integers(min_value=3, max_value=48))
def test_every_form_of_the_same_history_gives_the_same_stratum(months: int) -> None:
    first = AT - timedelta(days=round(months * 30.44))
    strata = {form: _stratum(make(first)) for form, make in FORMS.items()}
    assert len(set(strata.values())) == 1, strata
    assert (strata["administrations"] == "higher-risk-eu") == (first < date(2024, 1, 5))


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "authoredOn": "2023-01-02",
         "medicationCodeableConcept": DRUG},
        {"resourceType": "MedicationStatement", "status": "intended", "medicationCodeableConcept": DRUG,
         "effectivePeriod": {"start": "2023-01-02"}},
        {"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": DRUG,
         "effectivePeriod": {"start": "2023-01-02"}, "subject": {"reference": "Patient/someone-else"}},
    ],
    ids=["order", "intended", "another-patient"],
)  # fmt: skip
def test_an_order_an_intention_or_another_patient_is_not_treatment(resource: dict[str, Any]) -> None:
    patient = resource.get("subject")
    bundle = _bundle(resource)
    if patient:  # keep the other patient's subject as written
        bundle["entry"][-1]["resource"]["subject"] = patient
        bundle["entry"].append({"resource": {"resourceType": "Patient", "id": "someone-else"}})
    result = assess(PACKS["natalizumab"], READER.read(bundle, "p"), at=AT, jurisdiction="EU")
    assert result.stratum is not None and result.stratum.id != "higher-risk-eu"


LEMTRADA = {"text": "LEMTRADA 12 mg/1.2 mL"}
COURSE = {
    "administrations": lambda day: [
        {"resourceType": "MedicationAdministration", "status": "completed", "medicationCodeableConcept": LEMTRADA,
         "effectiveDateTime": (day + timedelta(days=i)).isoformat()} for i in range(5)
    ],
    "statement": lambda day: [
        {"resourceType": "MedicationStatement", "status": "completed", "medicationCodeableConcept": LEMTRADA,
         "effectivePeriod": {"start": day.isoformat(), "end": (day + timedelta(days=4)).isoformat()}}
    ],
    "dispenses": lambda day: [
        {"resourceType": "MedicationDispense", "status": "completed", "medicationCodeableConcept": LEMTRADA,
         "whenHandedOver": (day + timedelta(days=i)).isoformat()} for i in range(5)
    ],
}  # fmt: skip


@pytest.mark.parametrize("months_ago", [6, 30, 47, 49, 60])
def test_monitoring_after_the_last_dose_is_the_same_whatever_records_the_course(months_ago: int) -> None:
    day = AT - timedelta(days=round(months_ago * 30.44))
    fired = {}
    for form, make in COURSE.items():
        result = assess(PACKS["alemtuzumab"], READER.read(_bundle(*make(day)), None), at=AT, jurisdiction="US")
        fired[form] = {f.rule_id for f in result.findings if f.rule_id.startswith("alemtuzumab.monthly")}
    assert fired["statement"] == fired["administrations"] == fired["dispenses"], fired
    assert bool(fired["administrations"]) == (months_ago < 48)
