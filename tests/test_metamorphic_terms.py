"""Metamorphic tests, terminology side: the same patient written another way gets the same verdict.

For every vignette with a finding, each medication, condition and allergy that a pack's value
set tags is rewritten:

- **code-only**: a code of the same value set(s) and no text at all;
- **display-only**: the text moved into a coding's display (no ``text``, an unknown local code);
- **brand-only**: the ingredient written only by a brand the value set lists;
- **ICD-10**: a condition coded in ICD-10 (instead of SNOMED CT or words), no text;
- the drug's own infusion history written code-only (ATC) or brand-only.

Each must give the same verdict and the same fired rules as the vignette itself. And, for the
must-not-fire side, the item replaced by a look-alike drug or a near-miss condition must behave
exactly as if the item were absent (same verdict, same fired rules as the vignette without it).
The variants are generated from the packs' own value sets, so a new code, brand or vignette
adds variants without touching this file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.generated_cases import firing_patient_vignettes

from rxguard.engine.facts import read_facts, vocabulary_for
from rxguard.engine.vignettes import assess_vignette
from rxguard.facts.assertion import default_reader
from rxguard.facts.builder import build_bundle
from rxguard.facts.vocabulary import expand_icd10_block, normalize_text
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.schema import Vignette

PACKS = load_all()
VOCAB = vocabulary_for(PACKS)
ITEM_FIELDS = ("medications", "conditions", "allergies")

# Look-alike drugs (sound-alike or spelling-alike names of unrelated medicines) and near-miss
# conditions, by the value set of the item they replace. None of them may be tagged by a pack.
LOOK_ALIKES: dict[str, str] = {
    "natalizumab": "Nalbuphine 10 MG/ML Injection",
    "immunosuppressants": "Azithromycin 250 MG Oral Tablet",
    "calcineurin-inhibitors": "Cycloserine 250 MG Oral Capsule",
    "immunocompromising-therapy": "Cyclobenzaprine 10 MG Oral Tablet",
    "antineoplastics": "Cisapride 10 MG Oral Tablet",
    "tnf-alpha-inhibitors": "Ertapenem 1 G Injection",
    "ms-dmts": "Interferon alfa-2b 3 MIU Injection",
    "oral-corticosteroids": "Prednisolone acetate 1% ophthalmic suspension (eye drops)",
    "aminosalicylates": "Aminophylline 100 MG Oral Tablet",
    "nsaids": "Acetaminophen 325 MG Oral Tablet",
    "corticosteroids": "Fluticasone propionate 50 MCG nasal spray",
    "doxorubicin": "Doxycycline 100 MG Oral Capsule",
    "ivig": "Intravenous iron sucrose",
    "mifamurtide": "Mifepristone 200 MG Oral Tablet",
    "pml": "PML-RARA fusion transcript detected",
    "pml-suggestive-signs": "Tension-type headache",
    "ms": "Systemic sclerosis",
    "crohns-disease": "Irritable bowel syndrome",
    "immunodeficiency": "HIV screening",
    "hiv": "HIV screening",
    "malignancy": "Basal cell carcinoma of skin",
    "liver-injury": "Fatty liver",
    "opportunistic-infections": "Community-acquired pneumonia",
    "herpes-cns-infection": "Herpes labialis",
    "acute-retinal-necrosis": "Retinal detachment",
    "arn-eye-symptoms": "Dry eye syndrome",
    "asthma-copd": "Subcutaneous emphysema",
    "autoimmune-inflammatory-disease": "Osteoarthritis of knee",
    "severe-hepatic-impairment": "Child-Pugh class A",
    "moderate-hepatic-impairment": "Child-Pugh class A",
    "severe-renal-impairment": "Chronic kidney disease stage 2",
    "venous-thrombosis-vasculitis": "Varicose veins of lower limb",
    "unstable-cardiovascular-disease": "Stable angina",
    "osteosarcoma": "Osteoarthritis",
    "metastatic-osteosarcoma": "Osteoarthritis",
}


CORE_TAGS = frozenset({"pregnancy", "breastfeeding"})  # tags the facts layer sets whatever packs are loaded


def _pack_tags(pack: Pack) -> frozenset[str]:
    return frozenset(pack.valuesets) | CORE_TAGS


def _tags(pack: Pack, codes: tuple[str, ...], text: str) -> frozenset[str]:
    return VOCAB.tags_for(codes, text) & _pack_tags(pack)


def _item_tags(pack: Pack, item: dict[str, Any]) -> frozenset[str]:
    code = item.get("code")
    return _tags(pack, (str(code),) if code else (), str(item.get("text", "")))


@dataclass(frozen=True)
class Case:
    pack: str
    vignette: Vignette
    label: str
    patient: dict[str, Any]
    transform: Callable[[dict[str, Any]], None] | None = None
    compare_with: dict[str, Any] | None = None  # None: the vignette's own patient


def _codes_for(pack: Pack, tags: frozenset[str], system: str | None, exclude_system: str | None) -> str | None:
    """A code whose tags (within the pack) are exactly ``tags``."""
    for vs in pack.valuesets.values():
        for entry in vs.code_entries():
            sys, _, value = entry.code.partition("|")
            if (system and sys != system) or (exclude_system and sys == exclude_system):
                continue
            code = f"{sys}|{expand_icd10_block(value)[0] if sys == 'icd10' and '-' in value else value}"
            if _tags(pack, (code,), "") == tags:
                return code
    return None


def _brand_for(pack: Pack, tags: frozenset[str], text: str) -> str | None:
    words = f" {normalize_text(text)} "
    for vs in pack.valuesets.values():
        for brand in vs.brands:
            if f" {normalize_text(brand.ingredient)} " in words and _tags(pack, (), brand.name) == tags:
                return brand.name
    return None


def _display_only(marker: str, display: str) -> Callable[[dict[str, Any]], None]:
    def transform(bundle: dict[str, Any]) -> None:
        for entry in bundle["entry"]:
            for concept in entry["resource"].values():
                if isinstance(concept, dict) and concept.get("text") == marker:
                    concept.pop("text")
                    concept["coding"] = [{"system": "urn:example:local-codes", "code": "L1", "display": display}]

    return transform


def _infusions_as(concept: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def transform(bundle: dict[str, Any]) -> None:
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "MedicationAdministration":
                text = normalize_text(res.get("medicationCodeableConcept", {}).get("text", ""))
                if text in ("natalizumab", "mifamurtide"):
                    res["medicationCodeableConcept"] = copy.deepcopy(concept)

    return transform


def _variants(pack: Pack, vignette: Vignette) -> Iterator[Case]:
    patient = dict(vignette.patient)
    for field in ITEM_FIELDS:
        for index, item in enumerate(patient.get(field, [])):
            tags = _item_tags(pack, item)
            if not tags or "text" not in item:
                continue
            if field != "medications" and default_reader().read(str(item["text"])) is not None:
                continue  # "PML ruled out" says more than a code can (tests/test_metamorphic_assertion.py)
            where = f"{field}[{index}] {item['text']!r}"

            def with_item(new: dict[str, Any] | None, *, field: str = field, index: int = index) -> dict[str, Any]:
                changed = copy.deepcopy(patient)
                if new is None:
                    del changed[field][index]
                else:
                    changed[field][index] = new
                return changed

            bare = {k: v for k, v in item.items() if k not in ("text", "code")}
            prefer_icd = field == "conditions"
            code = _codes_for(pack, tags, None, "icd10" if prefer_icd else None) or _codes_for(pack, tags, None, None)
            if code:
                yield Case(pack.name, vignette, f"code-only {code} for {where}", with_item({**bare, "code": code}))
            if field == "conditions":
                icd = _codes_for(pack, tags, "icd10", None)
                if icd:
                    yield Case(pack.name, vignette, f"ICD-10 {icd} for {where}", with_item({**bare, "code": icd}))
            marker = f"display-only-marker-{field}-{index}"
            yield Case(
                pack.name,
                vignette,
                f"display-only for {where}",
                with_item({**bare, "text": marker}),
                transform=_display_only(marker, str(item["text"])),
            )
            brand = _brand_for(pack, tags, str(item["text"]))
            if brand:
                yield Case(pack.name, vignette, f"brand-only {brand} for {where}", with_item({**bare, "text": brand}))
            look_alike = next((LOOK_ALIKES[t] for t in sorted(tags) if t in LOOK_ALIKES), None)
            if look_alike:
                yield Case(
                    pack.name,
                    vignette,
                    f"look-alike {look_alike!r} for {where}",
                    with_item({**bare, "text": look_alike}),
                    compare_with=with_item(None),
                )
    if patient.get("infusions") and "text" not in patient["infusions"]:
        drug = pack.valuesets[pack.identity.id]
        atc = next((e.code for e in drug.code_entries() if e.code.startswith("atc|") and e.verified), None)
        if atc:
            value = atc.partition("|")[2]
            concept = {"coding": [{"system": "http://www.whocc.no/atc", "code": value}]}
            yield Case(pack.name, vignette, f"infusions code-only {atc}", patient, transform=_infusions_as(concept))
        if drug.brands:
            concept = {"text": drug.brands[0].name}
            yield Case(
                pack.name, vignette, f"infusions brand-only {drug.brands[0].name}", patient,
                transform=_infusions_as(concept),
            )  # fmt: skip


def _run(pack: Pack, vignette: Vignette, patient: dict[str, Any], transform: Any = None) -> tuple[str, frozenset[str]]:
    bundle = build_bundle(patient, at=vignette.at, drug=pack.identity.inn)
    if transform is not None:
        transform(bundle)
    result = assess_vignette(pack, vignette, read_facts(bundle, PACKS))
    return result.verdict, frozenset(f.rule_id for f in result.findings)


def _cases() -> list[Case]:
    return [case for pack, vignette in firing_patient_vignettes(PACKS) for case in _variants(pack, vignette)]


CASES = _cases()


def test_variants_are_generated_for_every_kind() -> None:
    kinds = {case.label.split(" ")[0] for case in CASES}
    assert {"code-only", "display-only", "brand-only", "ICD-10", "look-alike", "infusions"} <= kinds, kinds
    assert len(CASES) >= 200, len(CASES)


def test_look_alikes_are_tagged_by_no_set_of_their_pack() -> None:
    for tag, text in LOOK_ALIKES.items():
        for pack in PACKS.values():
            if tag in pack.valuesets:
                assert not _tags(pack, (), text) - CORE_TAGS, f"look-alike for {tag} is tagged in {pack.name}: {text}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.pack}:{c.vignette.name[:50]}:{c.label}" for c in CASES])
def test_variant_gives_the_same_verdict(case: Case) -> None:
    pack = PACKS[case.pack]
    baseline = _run(pack, case.vignette, case.compare_with or dict(case.vignette.patient))
    variant = _run(pack, case.vignette, case.patient, case.transform)
    assert variant == baseline, (
        f"{case.label}: verdict/rules {variant[0]} {sorted(variant[1])} != {baseline[0]} {sorted(baseline[1])}"
    )
