"""A value in a unit rxguard does not convert is still compared with its own reference range.

Bilirubin and creatinine come in µmol/L from many laboratories, and rxguard does not convert
µmol/L to mg/dL (it would need the molar mass). "Above the ULN", "3× the ULN" and "below the LLN"
need no conversion when the range is sent in the value's unit, so the same numbers must give the
same finding whichever unit they are in; a range in another unit, or a rule with a fixed number,
must still say "could not verify".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.knowledge.loader import load_all

PACKS = load_all()
READER = reader_for(PACKS)
AT = date(2026, 1, 5)
RULE = "natalizumab.liver-injury-by-labs"  # ALT ≥ 3× ULN together with bilirubin above its ULN


def _obs(loinc: str, value: float, unit: str, high: float | None, high_unit: str | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "urn:uuid:p"},
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": "2025-12-20",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }
    if high is not None:
        limit: dict[str, Any] = {"value": high}
        if high_unit:
            limit |= {"unit": high_unit, "system": "http://unitsofmeasure.org", "code": high_unit}
        res["referenceRange"] = [{"high": limit}]
    return res


def _finding(bilirubin: dict[str, Any]) -> tuple[bool, bool] | None:
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1985-04-02"}
    alt = _obs("1742-6", 200, "U/L", 40, "U/L")
    entries = [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate((patient, alt, bilirubin))]
    entries[0]["fullUrl"] = "urn:uuid:p"
    result = assess(
        PACKS["natalizumab"],
        READER.read({"resourceType": "Bundle", "type": "collection", "entry": entries}, None),
        at=AT,
        jurisdiction="US",
    )
    found = next((f for f in result.findings if f.rule_id == RULE), None)
    return None if found is None else (True, found.could_not_verify)


values = st.floats(min_value=0.1, max_value=500, allow_nan=False).map(lambda v: round(v, 1))


@settings(max_examples=60, deadline=None)
@given(value=values, high=values)
def test_the_same_numbers_give_the_same_finding_in_a_unit_that_is_not_converted(value: float, high: float) -> None:
    in_mg = _finding(_obs("1975-2", value, "mg/dL", high, "mg/dL"))
    in_umol = _finding(_obs("1975-2", value, "umol/L", high, "umol/L"))
    unit_only_on_value = _finding(_obs("1975-2", value, "umol/L", high, None))
    assert in_mg == in_umol == unit_only_on_value
    assert in_mg == ((True, False) if value > high else None)


def test_a_range_in_another_unit_still_cannot_be_verified() -> None:
    assert _finding(_obs("1975-2", 51, "umol/L", 1.2, "mg/dL")) == (True, True)


def test_without_a_range_an_unconverted_value_cannot_be_verified() -> None:
    assert _finding(_obs("1975-2", 51, "umol/L", None, None)) == (True, True)


def test_the_evidence_says_the_comparison_was_made_in_the_unit_sent() -> None:
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1985-04-02"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:p", "resource": patient},
            {"fullUrl": "urn:uuid:a", "resource": _obs("1742-6", 200, "U/L", 40, "U/L")},
            {"fullUrl": "urn:uuid:b", "resource": _obs("1975-2", 51, "umol/L", 21, "umol/L")},
        ],
    }
    result = assess(PACKS["natalizumab"], READER.read(bundle, None), at=AT, jurisdiction="US")
    finding = next(f for f in result.findings if f.rule_id == RULE)
    assert any("compared in umol/L as sent" in e for e in finding.evidence)
