"""FHIR Immunization is read as exposure: a vaccine given, tagged by the packs' value sets like any medicine.

The same vaccine must come out the same however the record writes it (a CVX code, words, both, a
date in occurrenceDateTime or in occurrenceString), and a record that says no vaccine was given
(not-done, entered-in-error) or that belongs to another patient must never count. A vaccine whose
date cannot say whether it followed the course is "could not verify", never a silent no.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import load_all

PACKS = load_all()
READER = reader_for(PACKS)
AT = date(2027, 2, 3)
RULE = "alemtuzumab.live-vaccine-after-course"
COURSE = ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05", "2026-02-06"]
LABS = [
    {"test": "cbc", "value": 1, "unit": "1", "on": "2027-01-25"},
    {"test": "creatinine", "value": 0.8, "unit": "mg/dL", "high": 1.1, "on": "2027-01-25"},
    {"test": "urinalysis", "value": 1, "unit": "1", "on": "2027-01-25"},
    {"test": "tsh", "value": 1.5, "unit": "m[IU]/L", "on": "2027-01-25"},
]
PACK = PACKS["alemtuzumab"]


def _bundle(*immunizations: dict[str, Any], infusions: list[str] | None = None) -> dict[str, Any]:
    patient: dict[str, Any] = {"age": 34, "sex": "female", "labs": LABS, "immunizations": list(immunizations)}
    if infusions is None:
        infusions = COURSE
    if infusions:
        patient["infusions"] = {"dates": infusions}
    return build_bundle(patient, at=AT, drug=PACK.identity.display or PACK.identity.id)


def _finding(bundle: dict[str, Any]) -> Any:
    result = assess(PACK, READER.read(bundle), at=AT, jurisdiction="US")
    return next((f for f in result.findings if f.rule_id == RULE), None), result


def _immunization(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization")


# The same live vaccine, written the ways a record writes it.
LIVE_FORMS = {
    "code and text": {"text": "MMR", "code": "cvx|03"},
    "code only": {"code": "cvx|03"},
    "ATC code only": {"code": "atc|J07BD52"},
    "SNOMED CT code only": {"code": "sct|2221000221107"},
    "text only": {"text": "measles, mumps and rubella virus vaccine"},
    "display only": None,  # the CVX display as the coding's display, no code text
}


@pytest.mark.parametrize("form", sorted(LIVE_FORMS))
@pytest.mark.parametrize("when", ["dateTime", "date only", "occurrenceString date", "occurrenceString month"])
def test_live_vaccine_after_course_fires_in_every_form(form: str, when: str) -> None:
    item = dict(LIVE_FORMS[form] or {"code": "cvx|03"})
    bundle = _bundle(item | {"on": "2026-09-01"})
    res = _immunization(bundle)
    if LIVE_FORMS[form] is None:
        res["vaccineCode"] = {"coding": [{"system": "http://example.org/local", "code": "x1", "display": "MMR"}]}
    if when == "dateTime":
        res["occurrenceDateTime"] = "2026-09-01T10:30:00+02:00"
    elif when.startswith("occurrenceString"):
        del res["occurrenceDateTime"]
        res["occurrenceString"] = "2026-09-01" if when.endswith("date") else "2026-09"
    finding, result = _finding(bundle)
    assert finding is not None and not finding.could_not_verify, result.findings
    assert finding.needs_review and finding.effective_severity == "hold"
    assert any("2026-02-02" in line for line in finding.evidence)


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_a_vaccine_not_given_never_counts(status: str) -> None:
    given_bundle = _bundle({"text": "MMR", "code": "cvx|03", "on": "2026-09-01"})
    assert _finding(given_bundle)[0] is not None  # the same record, given, fires
    finding, _ = _finding(_bundle({"text": "MMR", "code": "cvx|03", "on": "2026-09-01", "status": status}))
    assert finding is None


def test_another_patients_vaccine_is_not_read() -> None:
    bundle = _bundle({"text": "MMR", "code": "cvx|03", "on": "2026-09-01", "patient": "Patient/someone-else"})
    facts = READER.read(bundle)
    assert not any(m.kind == "immunization" for m in facts.medications)
    assert any("another patient" in note for note in facts.reading_notes)
    assert _finding(bundle)[0] is None


def test_an_inactivated_or_bacterial_vaccine_is_not_a_live_viral_one() -> None:
    for item in (
        {"text": "Influenza, seasonal, injectable", "code": "cvx|141"},
        {"text": "Zoster vaccine recombinant, adjuvanted"},
        {"text": "poliovirus vaccine, inactivated", "code": "cvx|10"},
        # Live but bacterial: the statement concerns live viral vaccines.
        {"code": "cvx|19"},
        {"code": "atc|J07AP01"},
    ):
        assert _finding(_bundle(item | {"on": "2026-09-01"}))[0] is None, item


def test_a_live_vaccine_before_the_first_course_is_not_after_it() -> None:
    assert _finding(_bundle({"text": "MMR", "code": "cvx|03", "on": "2025-11-01"}))[0] is None
    # No course yet: the rule does not apply.
    assert _finding(_bundle({"text": "MMR", "code": "cvx|03", "on": "2026-09-01"}, infusions=[]))[0] is None


@pytest.mark.parametrize("words", ["in childhood", "spring 2026"])
def test_a_live_vaccine_without_a_date_could_not_be_verified(words: str) -> None:
    bundle = _bundle({"text": "MMR", "code": "cvx|03", "on_text": words})
    facts = READER.read(bundle)
    assert any(words in u.reason and "Immunization/" in u.reason for u in facts.unreadable)
    finding, result = _finding(bundle)
    assert finding is not None and finding.could_not_verify, result.findings


def test_a_partial_date_that_straddles_the_first_infusion_could_not_be_verified() -> None:
    finding, result = _finding(_bundle({"text": "MMR", "code": "cvx|03", "on_text": "2026"}))
    assert finding is not None and finding.could_not_verify, result.findings
    finding, _ = _finding(_bundle({"text": "MMR", "code": "cvx|03", "on_text": "2025"}))
    assert finding is None


def test_a_live_vaccine_ordered_after_the_course_fires() -> None:
    bundle = _bundle()
    bundle["entry"].append({"resource": {
        "resourceType": "MedicationRequest", "id": "vx", "status": "active", "intent": "order",
        "authoredOn": "2027-01-20", "subject": {"reference": f"Patient/{bundle['entry'][0]['resource']['id']}"},
        "medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "121"}]},
    }})  # fmt: skip
    finding, result = _finding(bundle)
    assert finding is not None and not finding.could_not_verify, result.findings


@settings(max_examples=40, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 2, 3)))
def test_fires_exactly_when_the_vaccine_is_on_or_after_the_first_infusion(day: date) -> None:
    finding, _ = _finding(_bundle({"code": "cvx|21", "on": day.isoformat()}))
    assert (finding is not None) == (day >= date(2026, 2, 2))
