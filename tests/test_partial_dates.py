"""Dates records send with less precision than a day: a year, a month, an age, words, none at all.

FHIR allows a date to be only a year ("2025") or a year and month ("2025-03"). A reading that took
the first day of such a date for every purpose would end a medicine sent with ``end: "2026-01"`` on
1 January, and put a new symptom sent with ``onset: "2025"`` before a first infusion in March 2025:
both silently. The reader keeps the span a date covers and the rules say "could not verify" when it
leaves their answer open.

- Metamorphic: every firing vignette of every pack, with each Condition's onset, abatement and
  recorded date and each medicine's end date written as its month and as its year. Each rule that
  fired still fires or says "could not verify"; none goes silent.
- Mechanism: the span of a partial date, an onset age or range, and a recorded date; whether an
  onset falls in a rule's window.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from rxguard.engine.facts import reader_for
from rxguard.engine.predicates import abated_by, onset_window
from rxguard.engine.vignettes import assess_vignette, vignette_bundle
from rxguard.knowledge.loader import Pack, VignetteFile, load_all

PACKS = load_all()
READER = reader_for(PACKS)
Bundle = dict[str, Any]
Coarsen = Callable[[str], str]
MONTH: Coarsen = lambda day: day[:7]  # noqa: E731
YEAR: Coarsen = lambda day: day[:4]  # noqa: E731


def _fired(pack: Pack, vfile: VignetteFile, index: int, bundle: Bundle) -> dict[str, tuple[str, bool]]:
    vignette = vfile.vignettes[index]
    result = assess_vignette(pack, vignette, READER.read(bundle))
    return {f.rule_id: (f.effective_severity, f.could_not_verify) for f in result.findings}


def _dates(resource: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(object, key) of each full date a rewrite may coarsen: a Condition's onset, abatement and
    recorded date; the end of a medicine's period or of its dosage bounds."""
    rtype = resource["resourceType"]
    if rtype == "Condition":
        for key in ("onsetDateTime", "abatementDateTime", "recordedDate"):
            if key in resource:
                yield resource, key
    elif rtype == "MedicationStatement" and "end" in resource.get("effectivePeriod", {}):
        yield resource["effectivePeriod"], "end"
    elif rtype == "MedicationRequest":
        for dosage in resource.get("dosageInstruction", []):
            bounds = dosage.get("timing", {}).get("repeat", {}).get("boundsPeriod", {})
            if "end" in bounds:
                yield bounds, "end"


def _coarsened(bundle: Bundle, coarsen: Coarsen) -> tuple[Bundle, int]:
    out = copy.deepcopy(bundle)
    changed = 0
    for entry in out["entry"]:
        for holder, key in _dates(entry["resource"]):
            if len(holder[key]) >= 10:
                holder[key] = coarsen(holder[key])
                changed += 1
    return out, changed


def _cases() -> Iterator[Any]:
    for pack in PACKS.values():
        for vfile, index, vignette in pack.vignettes():
            bundle = vignette_bundle(pack, vfile, vignette)
            if _coarsened(bundle, YEAR)[1] and _fired(pack, vfile, index, bundle):
                yield pytest.param(pack, vfile, index, id=f"{pack.name}:{vfile.path.stem}:{index}")


CASES = list(_cases())


@pytest.mark.parametrize(("pack", "vfile", "index"), CASES)
def test_a_date_sent_as_its_month_or_year_never_silences_a_rule(pack: Pack, vfile: VignetteFile, index: int) -> None:
    bundle = vignette_bundle(pack, vfile, vfile.vignettes[index])
    base = _fired(pack, vfile, index, bundle)
    for name, coarsen in (("month", MONTH), ("year", YEAR)):
        variant, _ = _coarsened(bundle, coarsen)
        got = _fired(pack, vfile, index, variant)
        silenced = sorted(rule for rule in base if rule not in got)
        assert not silenced, f"{vfile.vignettes[index].name} [dates as their {name}]: {silenced} went silent"


def test_the_dates_of_every_pack_are_coarsened() -> None:
    assert {param.values[0].name for param in CASES} == set(PACKS) and len(CASES) >= 20


# --------------------------------------------------------------------------- mechanism


def _condition(**fields: Any) -> Any:
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1980-06-15"}
    resource = {"resourceType": "Condition", "subject": {"reference": "Patient/p"}, "code": {"text": "x"}, **fields}
    facts = READER.read({"resourceType": "Bundle", "entry": [{"resource": patient}, {"resource": resource}]})
    return facts.conditions[0]


@pytest.mark.parametrize(
    ("fields", "earliest", "latest"),
    [
        ({"onsetDateTime": "2025"}, date(2025, 1, 1), date(2025, 12, 31)),
        ({"onsetDateTime": "2024-02"}, date(2024, 2, 1), date(2024, 2, 29)),
        ({"onsetDateTime": "2025-03-04T10:00:00Z"}, date(2025, 3, 4), date(2025, 3, 4)),
        ({"onsetPeriod": {"start": "2025-11"}}, date(2025, 11, 1), date(2025, 11, 30)),
        ({"onsetAge": {"value": 44, "unit": "a"}}, date(2024, 6, 15), date(2025, 6, 14)),
        ({"onsetAge": {"value": 3, "code": "mo"}}, date(1980, 9, 15), date(1980, 10, 14)),
        ({"onsetRange": {"low": {"value": 40, "unit": "a"}, "high": {"value": 41, "unit": "a"}}},
         date(2020, 6, 15), date(2022, 6, 14)),
        ({"onsetString": "two weeks ago"}, None, None),
    ],
)  # fmt: skip
def test_an_onset_covers_the_span_it_was_sent_with(fields: dict[str, Any], earliest: Any, latest: Any) -> None:
    item = _condition(**fields)
    assert (item.onset, item.onset_latest) == (earliest, latest)


def test_a_period_end_sent_as_a_month_or_year_is_its_last_day() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    for end, last in (("2026-01", date(2026, 1, 31)), ("2026", date(2026, 12, 31)), ("2026-01-05", date(2026, 1, 5))):
        statement = {
            "resourceType": "MedicationStatement", "status": "active", "subject": {"reference": "Patient/p"},
            "medicationCodeableConcept": {"text": "x"}, "effectivePeriod": {"start": "2025", "end": end},
        }  # fmt: skip
        facts = READER.read({"resourceType": "Bundle", "entry": [{"resource": patient}, {"resource": statement}]})
        assert (facts.medications[0].start, facts.medications[0].end) == (date(2025, 1, 1), last)


def test_a_medicine_taken_or_handed_over_on_a_partial_date_counts_to_the_latest_day_it_allows() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    subject = {"reference": "Patient/p"}
    taken = {
        "resourceType": "MedicationStatement", "status": "completed", "subject": subject,
        "medicationCodeableConcept": {"text": "x"}, "effectiveDateTime": "2025",
    }  # fmt: skip
    handed = {
        "resourceType": "MedicationDispense", "status": "completed", "subject": subject,
        "medicationCodeableConcept": {"text": "x"}, "whenHandedOver": "2026-01",
        "daysSupply": {"value": 30, "unit": "d"},
    }  # fmt: skip
    entries = [{"resource": patient}, {"resource": taken}, {"resource": handed}]
    statement, dispense = READER.read({"resourceType": "Bundle", "entry": entries}).medications
    assert (statement.start, statement.end, statement.last_day()) == (date(2025, 1, 1), None, date(2025, 12, 31))
    assert (dispense.start, dispense.supply_end) == (date(2026, 1, 1), date(2026, 3, 2))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"onsetDateTime": "2025-06-01"}, True),
        ({"onsetDateTime": "2025-02-27"}, False),
        ({"onsetDateTime": "2025-03"}, True),
        ({"onsetDateTime": "2025-02"}, False),
        ({"onsetDateTime": "2025"}, None),
        ({"onsetAge": {"value": 44, "unit": "a"}}, None),
        ({"onsetString": "since the spring"}, None),
        ({}, None),
        ({"recordedDate": "2024-12-01"}, False),
        ({"recordedDate": "2025-04-01"}, None),
        ({"onsetDateTime": "2026-02-01"}, False),
    ],
)
def test_an_onset_the_record_leaves_open_is_neither_in_nor_out_of_the_window(
    fields: dict[str, Any], expected: bool | None
) -> None:
    since, at = date(2025, 3, 1), date(2026, 1, 10)
    assert onset_window(_condition(**fields), at, since) is expected


def test_an_abatement_after_the_day_assessed_has_not_ended_the_condition_yet() -> None:
    at = date(2026, 1, 10)
    status = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]}
    assert abated_by(_condition(clinicalStatus=status, abatementDateTime="2025-12-01"), at) is True
    assert abated_by(_condition(clinicalStatus=status, abatementDateTime="2026-03-01"), at) is False
    assert abated_by(_condition(clinicalStatus=status, abatementDateTime="2026"), at) is None
    assert abated_by(_condition(clinicalStatus=status, abatementDateTime="2026-01"), at) is None
