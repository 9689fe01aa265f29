"""FHIR R4 input: what the reader understands, and the clear errors it gives."""

from __future__ import annotations

from datetime import date

import orjson
import pytest
from tests.conftest import SYNTHEA

from rxguard.errors import FactsError
from rxguard.facts import CORE_CATALOGUE, FactsReader, LabDef, Vocabulary
from rxguard.facts.labs import LabCatalogue
from rxguard.facts.vocabulary import core_vocabulary

# Two labs a pack would declare in its labs.yaml (the core catalogue has only generic labs).
PACK_LABS = CORE_CATALOGUE.with_labs([
    LabDef("anti-jcv-antibody", "Anti-JCV antibody", kind="qualitative", origin="test"),
    LabDef("anti-jcv-index", "Anti-JCV antibody index", origin="test"),
])  # fmt: skip


def reader() -> FactsReader:
    vocab = core_vocabulary()
    vocab.add("natalizumab", ["atc|L04AG03"], ["natalizumab", "tysabri"])
    vocab.add("nsaids", [], ["ibuprofen"])
    vocab.add("pml", ["sct|22255007"], [])
    return FactsReader(vocab, PACK_LABS)


def bundle(*resources: dict) -> dict:  # type: ignore[type-arg]
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1990-05-01", "gender": "female"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (patient, *resources)]}


def test_patient_demographics() -> None:
    facts = reader().read(bundle())
    assert facts.birth_date == date(1990, 5, 1) and facts.sex == "female"
    assert facts.age_on(date(2026, 4, 30)) == 35.0 and facts.age_on(date(2026, 5, 1)) == 36.0


def test_medication_by_reference_and_contained() -> None:
    med = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L04AG03"}]},
    }
    req = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/m1"},
        "authoredOn": "2026-01-01",
    }
    contained = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "contained": [{"resourceType": "Medication", "id": "c", "code": {"text": "Ibuprofen 800 MG"}}],
        "medicationReference": {"reference": "#c"},
    }
    facts = reader().read(bundle(med, req, contained))
    assert [m.tags for m in facts.medications] == [frozenset({"natalizumab"}), frozenset({"nsaids"})]


def test_statuses_that_mean_it_did_not_happen_are_ignored() -> None:
    cond = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "22255007"}]},
        "verificationStatus": {"coding": [{"code": "entered-in-error"}]},
    }
    refuted = {**cond, "verificationStatus": {"coding": [{"code": "refuted"}]}}
    med = {
        "resourceType": "MedicationStatement",
        "status": "entered-in-error",
        "medicationCodeableConcept": {"text": "ibuprofen"},
    }
    facts = reader().read(bundle(cond, refuted, med))
    assert facts.conditions == () and facts.medications == ()


def test_observations_by_loinc_and_rxguard_codes() -> None:
    alt = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "effectiveDateTime": "2026-01-02T08:30:00+01:00",
        "valueQuantity": {"value": 1.5, "unit": "µkat/L"},
        "referenceRange": [{"high": {"value": 0.5}}],
    }  # fmt: skip
    jcv = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "urn:rxguard:lab", "code": "anti-jcv-antibody"}]},
        "effectiveDateTime": "2025-12-01",
        "valueCodeableConcept": {"text": "Positive"},
    }
    index = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "anti-jcv-index"},
        "issued": "2025-12-01T10:00:00Z",
        "valueQuantity": {"value": 0.7},
    }
    facts = reader().read(bundle(alt, jcv, index))
    got = facts.latest("alt")
    assert (
        got is not None
        and got.value == 90
        and got.uln == 30
        and got.unit == "U/L"
        and got.effective == date(2026, 1, 2)
    )
    assert facts.latest("anti-jcv-antibody").interpretation == "positive"  # type: ignore[union-attr]
    assert facts.latest("anti-jcv-index").value == 0.7  # type: ignore[union-attr]


def test_a_cds_hooks_prefetch_object_is_read_like_a_bundle() -> None:
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p", "birthDate": "1980"},
        "medications": {
            "resourceType": "Bundle",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "status": "active",
                        "medicationCodeableConcept": {"text": "Tysabri 300 mg"},
                    }
                }
            ],
        },
        "conditions": None,
    }
    facts = reader().read(prefetch)
    assert facts.birth_date == date(1980, 1, 1) and facts.medications[0].tags == frozenset({"natalizumab"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "not a JSON object"),
        ({"resourceType": "Observation"}, "not a FHIR R4 Bundle"),
        ({"resourceType": "Bundle", "entry": []}, "no Patient"),
        ({"resourceType": "Bundle", "entry": "x"}, "Bundle.entry should be an array"),
        ({"foo": 1}, "not a FHIR R4 Bundle"),
    ],
)
def test_input_that_is_not_a_bundle_gets_a_clear_error(data: object, message: str) -> None:
    with pytest.raises(FactsError, match=message):
        reader().read(data)


@pytest.mark.parametrize(
    ("resource", "field"),
    [
        ({"resourceType": "Condition", "code": "PML"}, "'code'"),
        ({"resourceType": "Condition", "onsetDateTime": 20200101}, "'onsetDateTime'"),
        (
            {
                "resourceType": "Observation",
                "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
                "effectiveDateTime": "2026-01-01",
                "valueQuantity": {"value": "high"},
            },
            "valueQuantity.value",
        ),
        ({"resourceType": "MedicationRequest", "status": 3}, "'status'"),
        ({"resourceType": "Condition", "onsetDateTime": "2026-13-45"}, "'onsetDateTime'"),
    ],
)
def test_a_malformed_field_is_named_with_its_resource(resource: dict, field: str) -> None:  # type: ignore[type-arg]
    resource = {"id": "x1", **resource}
    with pytest.raises(FactsError, match=field) as info:
        reader().read(bundle(resource))
    assert f"{resource['resourceType']}/x1" in str(info.value)


def test_vocabulary_matches_whole_words_only() -> None:
    vocab = Vocabulary()
    vocab.add("nsaid", [], ["ibuprofen", "acetylsalicylic acid"])
    assert vocab.tags_for((), "Ibuprofen 400 MG Oral Tablet") == frozenset({"nsaid"})
    assert vocab.tags_for((), "ACETYLSALICYLIC-ACID 75 mg") == frozenset({"nsaid"})
    assert vocab.tags_for((), "ibuprofenate") == frozenset()


def test_every_synthea_bundle_is_read() -> None:
    files = sorted(SYNTHEA.glob("*.json"))
    assert len(files) >= 100
    for path in files:
        facts = reader().read(orjson.loads(path.read_bytes()))
        assert facts.birth_date is not None, path.name


def test_a_keyword_group_can_forbid_a_word_so_two_labs_of_one_virus_stay_apart() -> None:
    catalogue = LabCatalogue(
        [
            LabDef("virus-ab", "Virus antibody", kind="qualitative", keywords=(("xv", "antibody", "-index"),)),
            LabDef("virus-index", "Virus antibody index", keywords=(("xv", "index"),)),
        ]
    )
    assert catalogue.key_for((), "Anti-XV antibody, serum") == "virus-ab"
    assert catalogue.key_for((), "Anti-XV antibody index") == "virus-index"
    assert catalogue.key_for((), "XV antibody index value") == "virus-index"
    assert catalogue.key_for((), "XV DNA") is None


def test_real_spellings_of_the_antibody_and_index_tests_are_told_apart() -> None:
    from rxguard.engine.facts import reader_for
    from rxguard.knowledge.loader import load_all

    labs = reader_for(load_all()).labs
    index = [
        t
        for t in ("Anti-JCV antibody index", "JCV Ab index", "JC virus Ab, index value")
        if labs.key_for((), t) != "anti-jcv-index"
    ]
    status = [
        t
        for t in ("Anti-JCV Ab", "JC polyomavirus antibody, serum", "STRATIFY JCV antibody")
        if labs.key_for((), t) != "anti-jcv-antibody"
    ]
    assert index == [] and status == []
    assert labs.key_for((), "SGPT") == "alt" and labs.key_for((), "SGOT") == "ast"
    assert labs.key_for((), "AST/ALT ratio") is None


@pytest.mark.parametrize(
    "abatement",
    [
        {"abatementDateTime": "2020-01-01"},
        {"abatementPeriod": {"start": "2019-06-01", "end": "2020-01-01"}},
        {"abatementAge": {"value": 30, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}},
        {"abatementRange": {"low": {"value": 30, "unit": "a"}}},
        {"abatementString": "resolved after surgery"},
    ],
    ids=["dateTime", "period", "age", "range", "string"],
)
def test_a_condition_abated_in_any_form_is_not_active(abatement: dict) -> None:  # type: ignore[type-arg]
    condition = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "22255007"}]},
    }
    assert reader().read(bundle(condition)).conditions[0].active
    assert not reader().read(bundle(condition | abatement)).conditions[0].active


def test_a_medication_is_also_read_by_its_active_ingredients() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"text": "Compounded capsule"},
        "ingredient": [
            {"itemCodeableConcept": {"text": "ibuprofen"}, "isActive": True},
            {
                "itemCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "22255007"}]},
                "isActive": False,
            },
        ],
    }
    statement = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationReference": {"reference": "Medication/m1"},
        "effectivePeriod": {"start": "2025-06-01"},
    }
    use = reader().read(bundle(medication, statement)).medications[0]
    assert "nsaids" in use.tags
    assert "sct|22255007" not in use.codes  # an inactive ingredient (an excipient) is not what the patient takes
    plain = reader().read(bundle(medication | {"ingredient": []}, statement)).medications[0]
    assert "nsaids" not in plain.tags


def test_a_name_also_matches_its_plural_but_not_words_that_only_look_plural() -> None:
    vocab = Vocabulary()
    vocab.add("signs", [], ["visual field defect", "lymphoma", "opportunistic infection", "herpe"])
    vocab.add("therapy", [], ["biologic therapy"])
    assert "signs" in vocab.tags_for((), "Unspecified visual field defects")
    assert "signs" in vocab.tags_for((), "Lymphomas, unspecified")
    assert "signs" in vocab.tags_for((), "Opportunistic infections")
    assert "therapy" in vocab.tags_for((), "Biologic therapies")
    assert "signs" not in vocab.tags_for((), "Herpes zoster")  # "herpes" is not the plural of "herpe"


def test_an_order_sent_with_only_a_products_ndc_is_that_packs_drug_in_every_written_form() -> None:
    from rxguard.engine.facts import reader_for
    from rxguard.facts.vocabulary import ndc_forms
    from rxguard.knowledge.loader import load_all

    packs = load_all()
    read = reader_for(packs)
    checked = 0
    for pack in packs.values():
        for product in pack.identity.products:
            for key, value in product.identifiers.items():
                if key.split("-", 1)[0] != "ndc":
                    continue
                for form in {value, *ndc_forms(value)}:
                    order = {
                        "resourceType": "MedicationRequest",
                        "status": "active",
                        "intent": "order",
                        "authoredOn": "2026-01-04",
                        "medicationCodeableConcept": {
                            "coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": form}]
                        },
                    }
                    assert pack.identity.id in read.read(bundle(order)).medications[0].tags, (pack.name, form)
                    checked += 1
    assert checked >= 3  # TYSABRI's current and former NDC, each in more than one form
    assert ndc_forms("64406-008-01") == {"6440600801", "64406000801"}
    assert ndc_forms("0078-0986-15") == {"0078098615", "00078098615"}
