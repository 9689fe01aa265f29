"""Reading records as EHRs write them: whose record, allergy or intolerance, exposures, units, shapes."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from rxguard.cli import run
from rxguard.engine.check import check_patient
from rxguard.engine.facts import read_facts
from rxguard.errors import FactsError

AT = date(2026, 1, 5)
PID = "urn:uuid:amy"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def bundle(
    *resources: dict[str, Any], patient: dict[str, Any] | None = None, extra: tuple[Any, ...] = ()
) -> dict[str, Any]:
    amy = {"resourceType": "Patient", "id": "amy", "gender": "female", "birthDate": "1990-04-01", **(patient or {})}
    entries = [{"fullUrl": PID, "resource": amy}, *extra]
    for resource in resources:
        key = "patient" if resource["resourceType"] == "AllergyIntolerance" else "subject"
        entries.append({"resource": {key: {"reference": PID}, **resource}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def fired(
    data: dict[str, Any], drug: str = "natalizumab", jurisdiction: str | None = "EU", **kw: Any
) -> dict[str, Any]:
    result = check_patient(drug, data, at=AT, jurisdiction=jurisdiction, **kw)
    return {f.rule_id: f for f in result.assessment.findings}


PML = {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "22255007"}], "text": "PML"}}
BEN = {"resourceType": "Patient", "id": "ben", "gender": "male", "birthDate": "1960-01-01"}


# --------------------------------------------------------------------------- identity


def test_two_patients_without_a_choice_is_a_clear_error() -> None:
    data = bundle(extra=({"fullUrl": "urn:uuid:ben", "resource": BEN},))
    with pytest.raises(FactsError, match=r"2 patients \(Patient/amy, Patient/ben\); say which one"):
        read_facts(data)
    assert read_facts(data, patient="ben").patient_id == "ben"
    assert read_facts(data, patient="Patient/amy").patient_id == "amy"
    with pytest.raises(FactsError, match="no Patient 'carl'"):
        read_facts(data, patient="carl")


def test_another_patients_pml_never_blocks_this_patient() -> None:
    other_pml = {"resource": {**PML, "subject": {"reference": "urn:uuid:ben"}}}
    data = bundle(extra=({"fullUrl": "urn:uuid:ben", "resource": BEN}, other_pml))
    assert "natalizumab.pml-history" not in fired(data, patient="amy")
    assert "natalizumab.pml-history" in fired(data, patient="ben")
    facts = read_facts(data, patient="amy")
    assert any("another patient" in note for note in facts.reading_notes)


def test_references_by_patient_id_and_absolute_url_resolve() -> None:
    for ref in ("Patient/amy", "https://ehr.example.org/fhir/Patient/amy", "Patient/amy/_history/3"):
        data = bundle(
            extra=({"fullUrl": "urn:uuid:ben", "resource": BEN}, {"resource": {**PML, "subject": {"reference": ref}}})
        )
        assert "natalizumab.pml-history" in fired(data, patient="amy"), ref


def test_a_resource_naming_no_patient_of_the_input_is_read_only_with_one_patient_and_said() -> None:
    dangling = {"resource": {**PML, "subject": {"reference": "Patient/ehr-123"}}}
    single = check_patient("natalizumab", bundle(extra=(dangling,)), at=AT, jurisdiction="EU").assessment
    assert single.fired("natalizumab.pml-history") is not None
    assert any("read as Patient/amy's" in note for note in single.coverage.notes)
    two = bundle(extra=({"fullUrl": "urn:uuid:ben", "resource": BEN}, dangling))
    assert "natalizumab.pml-history" not in fired(two, patient="amy")


def test_a_resource_naming_another_patient_id_beside_the_patients_own_is_not_read() -> None:
    """Once the other resources refer to the patient, Patient/ehr-123 is someone else: their PML is not read."""
    ms = {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "24700007"}]}}
    versioned = {"resource": {**PML, "subject": {"reference": "https://ehr.example.org/fhir/Patient/amy/_history/7"}}}
    assessment = check_patient("natalizumab", bundle(ms, extra=(versioned,)), at=AT, jurisdiction="EU").assessment
    assert assessment.fired("natalizumab.pml-history") is not None, "a versioned reference is the same patient"
    for ref in ("Patient/ehr-123", "https://ehr.example.org/fhir/Patient/ehr-123", "urn:uuid:nobody", "Group/ward-4"):
        elsewhere = {"resource": {**PML, "subject": {"reference": ref}}}
        assessment = check_patient("natalizumab", bundle(ms, extra=(elsewhere,)), at=AT, jurisdiction="EU").assessment
        assert assessment.fired("natalizumab.pml-history") is None, ref
        assert any("name another patient" in note and "not read" in note for note in assessment.coverage.notes), ref


def test_a_conditional_reference_by_the_patients_identifier_is_the_patients_record() -> None:
    ms = {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "24700007"}]}}
    amy = {"identifier": [{"system": "urn:example:mrn", "value": "MRN-7"}]}
    for ref in ("Patient?identifier=urn:example:mrn|MRN-7", "Patient?identifier=MRN-7"):
        conditional = {"resource": {**PML, "subject": {"reference": ref}}}
        data = bundle(ms, patient=amy, extra=(conditional,))
        assessment = check_patient("natalizumab", data, at=AT, jurisdiction="EU").assessment
        assert assessment.fired("natalizumab.pml-history") is not None, ref


def test_resources_naming_several_patients_none_of_them_given_are_a_clear_error() -> None:
    a = {"resource": {**PML, "subject": {"reference": "Patient/ehr-1"}}}
    b = {"resource": {"resourceType": "Condition", "code": {"text": "MS"}, "subject": {"reference": "Patient/ehr-2"}}}
    with pytest.raises(FactsError, match="name 2 patients"):
        read_facts(bundle(extra=(a, b)))


def test_a_result_carried_in_a_report_is_the_reports_patients_unless_it_or_the_report_says_otherwise() -> None:
    alt = {
        "resourceType": "Observation", "id": "a", "status": "final", "effectiveDateTime": "2026-01-02",
        "code": {"coding": [{"system": LOINC, "code": "1742-6"}]}, "valueQuantity": {"value": 240, "unit": "U/L"},
    }  # fmt: skip
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "Liver panel"},
        "contained": [alt],
    }
    assert read_facts(bundle(report)).latest("alt") is not None
    in_error = {**report, "status": "entered-in-error"}
    assert read_facts(bundle(in_error)).latest("alt") is None
    ms = {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "24700007"}]}}
    elsewhere = {**report, "contained": [{**alt, "subject": {"reference": "Patient/ehr-9"}}]}
    assert read_facts(bundle(ms, elsewhere)).latest("alt") is None


def test_a_deceased_patient_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FactsError, match="recorded as deceased on 2025-12-01"):
        check_patient("natalizumab", bundle(patient={"deceasedDateTime": "2025-12-01"}), at=AT)
    with pytest.raises(FactsError, match="recorded as deceased"):
        check_patient("natalizumab", bundle(patient={"deceasedBoolean": True}), at=AT)
    check_patient("natalizumab", bundle(patient={"deceasedDateTime": "2026-06-01"}), at=AT)  # alive on the day assessed
    path = tmp_path / "b.json"
    path.write_bytes(orjson.dumps(bundle(patient={"deceasedBoolean": True})))
    code = run(["check", "--drug", "natalizumab", "--bundle", str(path), "--at", AT.isoformat()])
    err = capsys.readouterr().err
    assert code == 2 and "deceased" in err and "Traceback" not in err


def test_the_cli_chooses_the_patient_and_prints_coverage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.json"
    other_pml = {"resource": {**PML, "subject": {"reference": "urn:uuid:ben"}}}
    path.write_bytes(orjson.dumps(bundle(extra=({"fullUrl": "urn:uuid:ben", "resource": BEN}, other_pml))))
    args = ["check", "--drug", "natalizumab", "--bundle", str(path), "--at", AT.isoformat()]
    assert run(args) == 2 and "--patient" in capsys.readouterr().err
    assert run([*args, "--patient", "ben", "--format", "json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert data["verdict"] == "contraindicated" and data["coverage"]["version"] == 1
    assert run([*args, "--patient", "amy"]) == 0
    out = capsys.readouterr().out
    assert "Coverage:" in out and "another patient" in out


# --------------------------------------------------------------------------- allergy or intolerance


def allergy(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "code": {"text": "natalizumab"}, **fields}


def status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def test_an_allergy_contraindicates_and_a_mild_intolerance_asks_for_confirmation() -> None:
    rule = "natalizumab.hypersensitivity"
    assert fired(bundle(allergy()))[rule].effective_severity == "contraindicated"
    assert (
        fired(bundle(allergy(type="allergy", reaction=[{"severity": "mild"}])))[rule].effective_severity
        == "contraindicated"
    )
    mild = fired(
        bundle(
            allergy(
                type="intolerance",
                criticality="low",
                reaction=[{"severity": "mild", "manifestation": [{"text": "Headache"}]}],
            )
        )
    )[rule]
    assert mild.could_not_verify and mild.effective_severity == "caution" and "intolerance" in mild.evidence[0]
    anaphylaxis = allergy(type="intolerance", reaction=[{"manifestation": [{"text": "Anaphylaxis"}]}])
    assert fired(bundle(anaphylaxis))[rule].effective_severity == "contraindicated"
    assert fired(bundle(allergy(type="intolerance", criticality="high")))[rule].effective_severity == "contraindicated"


@pytest.mark.parametrize(
    "fields",
    [
        {"verificationStatus": status("allergyintolerance-verification", "refuted")},
        {"verificationStatus": status("allergyintolerance-verification", "entered-in-error")},
        {"clinicalStatus": status("allergyintolerance-clinical", "resolved")},
        {"clinicalStatus": status("allergyintolerance-clinical", "inactive")},
    ],
)
def test_a_refuted_erroneous_or_resolved_allergy_never_fires(fields: dict[str, Any]) -> None:
    assert "natalizumab.hypersensitivity" not in fired(bundle(allergy(**fields)))


# --------------------------------------------------------------------------- exposure


def med(kind: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": kind, "medicationCodeableConcept": {"text": text}, **fields}


def day(days_before: int) -> str:
    return (AT - timedelta(days=days_before)).isoformat()


RULE = "natalizumab.current-immunosuppressive-therapy"


def test_an_infliximab_infusion_counts_for_its_dosing_interval_and_needs_review() -> None:
    recent = fired(
        bundle(med("MedicationAdministration", "infliximab 400 mg IV", status="completed", effectiveDateTime=day(49)))
    )
    finding = recent[RULE]
    assert finding.needs_review and finding.effective_severity == "hold" and "P8W" in finding.evidence[0]
    old = fired(
        bundle(med("MedicationAdministration", "infliximab 400 mg IV", status="completed", effectiveDateTime=day(60)))
    )
    assert RULE not in old


def test_an_ocrelizumab_infusion_counts_for_six_months() -> None:
    rule = "natalizumab.combination-with-other-dmt"
    given = med(
        "MedicationAdministration",
        "ocrelizumab 600 mg in 500 mL infusion",
        status="completed",
        effectiveDateTime=day(150),
    )
    assert fired(bundle(given))[rule].effective_severity == "contraindicated"
    assert rule not in fired(bundle({**given, "effectiveDateTime": day(200)}))


def test_an_administration_with_no_stated_duration_could_not_be_verified_unless_given_today() -> None:
    given = med("MedicationAdministration", "azathioprine 50 mg", status="completed", effectiveDateTime=day(3))
    gap = fired(bundle(given))[RULE]
    assert gap.could_not_verify and gap.effective_severity == "caution" and "no source" in gap.evidence[0]
    today = fired(bundle({**given, "effectiveDateTime": AT.isoformat()}))[RULE]
    assert not today.could_not_verify and today.effective_severity == "contraindicated"


@pytest.mark.parametrize("state", ["stopped", "entered-in-error", "not-done"])
def test_a_stopped_or_not_given_administration_is_never_current(state: str) -> None:
    given = med("MedicationAdministration", "azathioprine 50 mg", status=state, effectiveDateTime=AT.isoformat())
    assert RULE not in fired(bundle(given))


def test_a_dispense_counts_for_its_days_of_supply() -> None:
    supply = {"value": 30, "unit": "days", "system": UCUM, "code": "d"}
    within = med(
        "MedicationDispense",
        "Azathioprine 50 MG Oral Tablet",
        status="completed",
        whenHandedOver=day(20),
        daysSupply=supply,
    )
    assert fired(bundle(within))[RULE].effective_severity == "contraindicated"
    after = {**within, "whenHandedOver": day(40)}
    assert RULE not in fired(bundle(after))


def test_a_medication_reference_to_a_bundled_medication_is_read() -> None:
    medication = {
        "fullUrl": "urn:uuid:m1",
        "resource": {"resourceType": "Medication", "code": {"text": "methotrexate 2.5 mg"}},
    }
    statement = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationReference": {"reference": "urn:uuid:m1"},
    }
    assert RULE in fired(bundle(statement, extra=(medication,)))


# --------------------------------------------------------------------------- observations and units


def alt(value: float, unit: dict[str, str], high: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": "1742-6"}]},
        "effectiveDateTime": day(2), "valueQuantity": {"value": value, **unit}, **fields,
    }  # fmt: skip
    if high is not None:
        obs["referenceRange"] = [{"high": high}]
    return obs


LIVER = "natalizumab.liver-enzymes-3x-uln"


def test_alt_in_microkatal_with_a_range_in_units_per_litre_is_converted() -> None:
    finding = fired(bundle(alt(2.5, {"unit": "µkat/L"}, {"value": 40, "unit": "U/L", "code": "U/L", "system": UCUM})))[
        LIVER
    ]
    assert not finding.could_not_verify and "ALT 150 U/L" in finding.evidence[0] and "3.8× ULN" in finding.evidence[0]
    below = fired(bundle(alt(0.5, {"unit": "µkat/L"}, {"value": 0.67, "unit": "µkat/L"})))
    assert LIVER not in below, "0.5 µkat/L against 0.67 µkat/L is below the limit, not 45× it"


@pytest.mark.parametrize(
    ("unit", "high"),
    [
        ({"unit": "furlongs"}, {"value": 40}),
        ({}, {"value": 40}),
        ({"unit": "U/L", "code": "U/L", "system": UCUM}, {"value": 0.7, "unit": "mg/dL"}),
        ({"unit": "U/L", "code": "U/L", "system": UCUM}, None),
    ],
)
def test_an_alt_that_cannot_be_compared_holds_with_could_not_verify(
    unit: dict[str, str], high: dict[str, Any] | None
) -> None:
    gap = fired(bundle(alt(200, unit, high)))[LIVER]
    assert gap.could_not_verify and gap.effective_severity == "hold"


def test_effective_instant_and_coded_pregnancy_are_read() -> None:
    coded = {
        "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
        "effectiveInstant": f"{day(1)}T08:00:00Z",
        "valueCodeableConcept": {"coding": [{"system": SCT, "code": "77386006", "display": "Patient currently pregnant"}]},
    }  # fmt: skip
    assert "natalizumab.pregnancy" in fired(bundle(coded))
    words = {**coded, "valueCodeableConcept": {"text": "Patient currently pregnant"}}
    assert "natalizumab.pregnancy" in fired(bundle(words))
    negative = {**coded, "valueCodeableConcept": {"text": "Not pregnant"}}
    assert "natalizumab.pregnancy" not in fired(bundle(negative))
    unclear = fired(bundle({**coded, "valueCodeableConcept": {"text": "Unknown"}}))["natalizumab.pregnancy"]
    assert unclear.could_not_verify


def test_an_undated_result_is_listed_as_not_read() -> None:
    undated = {k: v for k, v in alt(200, {"unit": "U/L"}, {"value": 40}).items() if k != "effectiveDateTime"}
    result = check_patient("natalizumab", bundle(undated), at=AT, jurisdiction="EU").assessment
    assert result.fired(LIVER) is not None and result.fired(LIVER).could_not_verify  # type: ignore[union-attr]
    assert any("has no date" in line for line in result.coverage.not_read) and not result.coverage.complete


def test_a_dose_in_spelled_out_or_other_units_is_converted_and_a_dose_per_area_is_not_compared() -> None:
    def order(qty: dict[str, Any], drug: str = "natalizumab") -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest", "status": "draft", "intent": "order", "authoredOn": AT.isoformat(),
            "medicationCodeableConcept": {"text": drug}, "dosageInstruction": [{"doseAndRate": [{"doseQuantity": qty}]}],
        }  # fmt: skip

    rule = "natalizumab.dose-not-300-mg"
    for qty in (
        {"value": 300, "unit": "milligram"},
        {"value": 0.3, "unit": "g", "code": "g", "system": UCUM},
        {"value": 300, "unit": "MG"},
    ):
        assert rule not in fired(bundle(order(qty))), qty
    assert rule in fired(bundle(order({"value": 150, "unit": "milligram"})))
    gap = fired(bundle(order({"value": 4, "unit": "mg/m²"})))[rule]
    assert gap.could_not_verify and gap.effective_severity == "hold"
    mepact = fired(bundle(order({"value": 3.4, "unit": "mg"}, "mifamurtide")), drug="mifamurtide")
    assert mepact["mifamurtide.dose-not-2-mg-per-m2"].could_not_verify
    assert "mifamurtide.dose-not-2-mg-per-m2" not in fired(
        bundle(order({"value": 2, "unit": "mg/m²"}, "mifamurtide")), drug="mifamurtide"
    )
