"""Medication recall: every medicine a pack's value set knows is recognised however the record writes it.

The cases are generated from the packs' own medication value sets (their codes, names and
brands), so a code or name added to a pack is checked without touching this file:

- every code the set lists, sent alone (no text); for an ATC class code, a code under it;
- every name in the forms EHRs write them: as written, in capitals, with a strength and dose
  form ("ibuprofen 400 MG Oral Tablet"), with the strength written onto the name
  ("Ibuprofen400mg"), as a salt with a strength, inside a combination product, and with the
  brand in brackets as RxNorm writes a branded drug ("... [Advil]");
- every brand alone, and in brackets.

And the record shapes that carry a medicine (inline, a contained or bundled Medication, a
Medication whose ingredient refers to a Substance), the statuses that record no use (not
taken, not done, cancelled, declined, in error, an order not to give it), and whose record it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from rxguard.engine.facts import reader_for
from rxguard.engine.predicates import Ctx
from rxguard.errors import FactsError
from rxguard.facts.model import PatientFacts
from rxguard.facts.vocabulary import normalize_text
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.schema import HasMedication, ValueSet

PACKS = load_all()
READER = reader_for(PACKS)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
AT = date(2026, 1, 10)
# An ATC code's shape, position by position (letter, 2 digits, 2 letters, 2 digits): a class code
# is completed into a code under it with placeholder characters of the right kind.
_ATC_SHAPE = "A00AA00"

SETS: list[tuple[str, ValueSet]] = sorted(
    {
        vs.id: (pack.name, vs) for pack in PACKS.values() for vs in pack.valuesets.values() if vs.kind == "medication"
    }.values(),
    key=lambda item: item[1].id,
)


def _bundle(*resources: dict[str, Any], patients: tuple[str, ...] = ("p1",)) -> dict[str, Any]:
    people = [{"fullUrl": f"urn:uuid:{p}", "resource": {"resourceType": "Patient", "id": p}} for p in patients]
    return {"resourceType": "Bundle", "type": "collection", "entry": [*people, *({"resource": r} for r in resources)]}


def _statement(concept: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
    }
    if concept is not None:
        res["medicationCodeableConcept"] = concept
    return {**res, **fields}


def _tags(bundle: dict[str, Any]) -> frozenset[str]:
    facts = READER.read(bundle)
    return frozenset(tag for med in facts.medications for tag in med.tags)


def _atc_under(code: str) -> str:
    return code + "".join("X" if c == "A" else "0" for c in _ATC_SHAPE[len(code) :])


def _code_cases() -> Iterator[Any]:
    for pack, vs in SETS:
        excluded = {c.code for c in vs.exclude_codes}
        for entry in vs.code_entries():
            system, _, value = entry.code.partition("|")
            if system == "rxnorm":
                yield pytest.param(vs.id, RXNORM, value, id=f"{pack}:{vs.id}:{entry.code}")
            elif system == "atc":
                under = _atc_under(value)
                if not any(under.startswith(x.partition("|")[2]) for x in excluded):
                    yield pytest.param(vs.id, ATC, under, id=f"{pack}:{vs.id}:atc|{under}")


def _member_names(vs: ValueSet) -> list[str]:
    """The names of a set that are words a record would write (not stems)."""
    return [name for name in vs.names if "*" not in name]


def _text_forms(name: str, brand: str | None) -> dict[str, str]:
    cap = name[:1].upper() + name[1:]
    forms = {
        "as written": name,
        "capitals": name.upper(),
        "strength and form": f"{name} 400 MG Oral Tablet",
        "salt and strength": f"{cap} sodium 5 MG/ML Oral Solution",
        "combination": f"acetaminophen 325 MG / {name} 5 MG Oral Tablet",
        "registered sign": f"{cap}® 10 mg",
    }
    last = normalize_text(name).rpartition(" ")[2]
    if last.isalpha() and len(last) >= 3:  # "FK506" + "400mg", "PE" + "400mg" are ambiguous to any reader
        forms["strength on the name"] = f"{cap}400mg tablets"
    if brand:
        forms["branded drug"] = f"{name} 5 MG Oral Tablet [{brand}]"
        forms["brand alone"] = brand
        forms["brand in brackets"] = f"[{brand.upper()}]"
    return forms


def _text_cases() -> Iterator[Any]:
    for pack, vs in SETS:
        brands = {b.ingredient.casefold(): b.name for b in vs.brands}
        for name in _member_names(vs):
            for form, text in _text_forms(name, brands.get(name.casefold())).items():
                yield pytest.param(vs.id, text, id=f"{pack}:{vs.id}:{name}:{form}")


CODE_CASES = list(_code_cases())
TEXT_CASES = list(_text_cases())


@pytest.mark.parametrize(("valueset", "system", "code"), CODE_CASES)
def test_a_medicine_sent_with_only_a_code_of_its_set_is_in_the_set(valueset: str, system: str, code: str) -> None:
    concept = {"coding": [{"system": system, "code": code}]}
    assert valueset in _tags(_bundle(_statement(concept))), f"{system}|{code} is not read as {valueset}"


@pytest.mark.parametrize(("valueset", "text"), TEXT_CASES)
def test_a_medicine_written_the_way_records_write_it_is_in_its_set(valueset: str, text: str) -> None:
    assert valueset in _tags(_bundle(_statement({"text": text}))), f"{text!r} is not read as {valueset}"


def test_cases_are_generated_for_every_medication_set_and_form() -> None:
    assert {vs for vs, *_ in (c.values for c in TEXT_CASES)} == {vs.id for _, vs in SETS}
    assert any(c.values[1] == ATC for c in CODE_CASES) and any(c.values[1] == RXNORM for c in CODE_CASES)
    assert len(TEXT_CASES) > 1000, len(TEXT_CASES)


# --------------------------------------------------------------------------- record shapes


def _a_member(vs: ValueSet) -> str:
    return next(name for name in _member_names(vs) if name.isalpha())


SHAPED = [
    pytest.param(vs.id, _a_member(vs), id=f"{pack}:{vs.id}")
    for pack, vs in SETS
    if any(n.isalpha() for n in _member_names(vs))
]


@pytest.mark.parametrize(("valueset", "name"), SHAPED)
def test_a_medication_whose_ingredient_refers_to_a_substance_is_read_as_that_ingredient(
    valueset: str, name: str
) -> None:
    substance = {"resourceType": "Substance", "id": "s1", "code": {"text": name}}
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"text": "Pharmacy compounded capsule"},
        "ingredient": [{"itemReference": {"reference": "Substance/s1"}, "isActive": True}],
    }
    bundled = _statement(medicationReference={"reference": "Medication/m1"})
    assert valueset in _tags(
        {**_bundle(bundled), "entry": [*_bundle(bundled)["entry"], {"resource": medication}, {"resource": substance}]}
    )
    contained = _statement(
        contained=[medication | {"ingredient": [{"itemReference": {"reference": "#s1"}}]}, substance],
        medicationReference={"reference": "#m1"},
    )
    assert valueset in _tags(_bundle(contained))
    inactive = medication | {"ingredient": [{"itemReference": {"reference": "#s1"}, "isActive": False}]}
    assert valueset not in _tags(
        _bundle(_statement(contained=[inactive, substance], medicationReference={"reference": "#m1"}))
    )


@pytest.mark.parametrize(
    "reference",
    ["Medication/m1", "Medication/m1/_history/3", "https://ehr.example.org/fhir/Medication/m1", "urn:uuid:med-1"],
)
def test_a_bundled_medication_is_found_however_the_reference_is_written(reference: str) -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "Ibuprofen 400 MG Oral Tablet"}}
    bundle = _bundle(_statement(medicationReference={"reference": reference}))
    bundle["entry"].append({"fullUrl": "urn:uuid:med-1", "resource": medication})
    assert "nsaids" in _tags(bundle)


def test_a_medicine_the_input_does_not_hold_is_said_to_be_unread() -> None:
    facts = READER.read(_bundle(_statement(medicationReference={"reference": "Medication/missing"})))
    assert any("Medication/missing" in note and "could not be read" in note for note in facts.reading_notes)
    shown = READER.read(
        _bundle(_statement(medicationReference={"reference": "Medication/missing", "display": "Ibuprofen 400 MG"}))
    )
    assert "nsaids" in shown.medications[0].tags and not any("could not be read" in n for n in shown.reading_notes)


# --------------------------------------------------------------------------- statuses and ownership

KINDS = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense")


def _record(kind: str, status: str, text: str, *, ended: bool, **fields: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": kind, "status": status, "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
    }  # fmt: skip
    day = "2025-06-01" if ended else AT.isoformat()
    if kind == "MedicationStatement":
        res["effectivePeriod"] = {"start": "2025-01-01", **({"end": day} if ended else {})}
    elif kind == "MedicationRequest":
        res |= {"intent": "order", "authoredOn": "2025-01-01"}
        if ended:
            res["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"start": "2025-01-01", "end": day}}}}]
    elif kind == "MedicationAdministration":
        res["effectiveDateTime"] = day
    else:
        res |= {
            "whenHandedOver": day,
            "daysSupply": {"value": 30, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
        }
    return res | fields


def _holds(facts: PatientFacts, valueset: str, status: str) -> bool:
    ctx = Ctx(facts, AT, None, {}, {}, (), None, None, {}, {}, None, {})
    return isinstance(HasMedication(valueset=valueset, status=status).compile()(ctx), list)  # type: ignore[arg-type]


# Statuses under which a record says the medicine was not, or will not be, taken (FHIR R4 value sets).
NO_USE = {
    "MedicationStatement": ("not-taken", "entered-in-error"),
    "MedicationRequest": ("cancelled", "entered-in-error"),
    "MedicationAdministration": ("not-done", "entered-in-error"),
    "MedicationDispense": ("declined", "cancelled", "entered-in-error", "preparation"),
}
# Statuses under which a record says the medicine was taken and is no longer.
ENDED = {
    "MedicationStatement": ("completed", "stopped"),
    "MedicationRequest": ("completed", "stopped"),
    "MedicationAdministration": ("completed", "stopped"),
    "MedicationDispense": ("completed", "stopped"),
}


@pytest.mark.parametrize(("kind", "status"), [(k, s) for k, v in NO_USE.items() for s in v])
@pytest.mark.parametrize(("valueset", "name"), SHAPED[:3])
def test_a_record_of_no_use_is_never_exposure(kind: str, status: str, valueset: str, name: str) -> None:
    for ended in (False, True):
        facts = READER.read(_bundle(_record(kind, status, name, ended=ended)))
        assert not any(_holds(facts, valueset, when) for when in ("active", "past", "ever")), (kind, status, ended)


@pytest.mark.parametrize(("kind", "status"), [(k, s) for k, v in ENDED.items() for s in v])
@pytest.mark.parametrize(("valueset", "name"), SHAPED[:3])
def test_a_record_of_use_that_ended_is_past_exposure(kind: str, status: str, valueset: str, name: str) -> None:
    facts = READER.read(_bundle(_record(kind, status, name, ended=True)))
    assert _holds(facts, valueset, "past") and _holds(facts, valueset, "ever")
    assert not _holds(facts, valueset, "active")


@pytest.mark.parametrize(("kind", "status"), [("MedicationRequest", "draft"), ("MedicationStatement", "intended")])
def test_an_intention_counts_as_current_use_but_never_as_use_that_happened(kind: str, status: str) -> None:
    for ended in (False, True):
        facts = READER.read(_bundle(_record(kind, status, "azathioprine 50 MG Oral Tablet", ended=ended)))
        assert not _holds(facts, "immunosuppressants", "past") and not _holds(facts, "immunosuppressants", "ever")
    current = READER.read(_bundle(_record(kind, status, "azathioprine 50 MG Oral Tablet", ended=False)))
    assert _holds(current, "immunosuppressants", "active")


def test_an_order_not_to_give_a_medicine_is_no_use_of_it() -> None:
    refused = _record("MedicationRequest", "active", "ibuprofen 400 MG Oral Tablet", ended=False, doNotPerform=True)
    assert not READER.read(_bundle(refused)).medications
    given = _record("MedicationRequest", "active", "ibuprofen 400 MG Oral Tablet", ended=False, doNotPerform=False)
    assert "nsaids" in READER.read(_bundle(given)).medications[0].tags
    with pytest.raises(FactsError, match="doNotPerform"):
        READER.read(_bundle(_record("MedicationRequest", "active", "ibuprofen", ended=False, doNotPerform="yes")))


@pytest.mark.parametrize("kind", KINDS)
def test_another_patients_medicine_is_never_read_whatever_resource_records_it(kind: str) -> None:
    other = _record(kind, "completed" if kind in ("MedicationAdministration", "MedicationDispense") else "active",
                    "azathioprine 50 MG Oral Tablet", ended=False) | {"subject": {"reference": "urn:uuid:p2"}}  # fmt: skip
    facts = READER.read(_bundle(other, patients=("p1", "p2")), "p1")
    assert not facts.medications and any("another patient" in note for note in facts.reading_notes)
    assert READER.read(_bundle(other, patients=("p1", "p2")), "p2").medications


# --------------------------------------------------------------------------- route and dose form

ROUTED = [
    pytest.param(vs.id, _a_member(vs), phrase, id=f"{pack}:{vs.id}:{phrase}")
    for pack, vs in SETS
    if any(n.isalpha() for n in _member_names(vs))
    for phrase in vs.excludes
]


@pytest.mark.parametrize(("valueset", "name", "phrase"), ROUTED)
def test_a_route_or_dose_form_the_set_excludes_takes_the_medicine_out_of_it(
    valueset: str, name: str, phrase: str
) -> None:
    concept = {"text": f"{name} 10 MG"}
    routed = _record("MedicationRequest", "active", name, ended=False) | {
        "medicationCodeableConcept": concept,
        "dosageInstruction": [{"route": {"text": phrase}}],
    }
    assert valueset not in _tags(_bundle(routed))
    given = _record("MedicationAdministration", "completed", name, ended=False) | {
        "dosage": {"route": {"text": phrase}}
    }
    assert valueset not in _tags(_bundle(given))
    medication = {"resourceType": "Medication", "id": "m1", "code": concept, "form": {"text": phrase}}
    formed = _statement(contained=[medication], medicationReference={"reference": "#m1"})
    assert valueset not in _tags(_bundle(formed))
    assert valueset in _tags(_bundle(_statement(concept))), "the medicine itself must be in the set"


def test_a_route_never_puts_a_medicine_in_a_set() -> None:
    assert ROUTED, "some medication set excludes a route"
    for _valueset, _name, phrase in (p.values for p in ROUTED):
        unrelated = _statement({"text": "Acetaminophen 325 MG"}, dosage=[{"route": {"text": phrase}}])
        assert not _tags(_bundle(unrelated))
