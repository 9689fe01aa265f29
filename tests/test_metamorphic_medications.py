"""Metamorphic tests, medication side: a co-medication written another way gives the same verdict.

For every vignette with a finding, each medicine (other than the pack's own drug) that a pack's
value set tags is rewritten the ways EHRs write medicines, all generated from the packs' own
value sets (their names, brands, ingredient codes and ATC classes):

- **salt and strength**: "Azathioprine sodium 5 MG/ML Oral Solution";
- **strength on the name**: "Azathioprine5mg tablet";
- **capitals**: the text in capitals;
- **combination**: the ingredient inside a two-ingredient product;
- **branded drug**: the RxNorm branded-drug form, "azathioprine 5 MG Oral Tablet [Imuran]";
- **ingredient code**: an RxNorm ingredient code of the set, with no text;
- **ATC class**: a code under the ATC class the set lists, with no text;
- **ingredient by reference**: a contained Medication whose ingredient refers to a Substance;
- **ended use in another record**: a completed or stopped statement written as a completed or
  stopped order, and the reverse (use that ended counts the same for rules that look back).

Each must give the same verdict and the same fired rules. And forms that record no use must
behave as if the medicine were absent: the record marked not taken / not done / cancelled /
declined for its resource type, an order not to give it, and the medicine recorded only for
another patient in the same input. A variant is generated only where it stays in exactly the
item's value sets (a salt form of a set that excludes a route is not an item of that set).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from tests.generated_cases import firing_patient_vignettes

from rxguard.engine.facts import brand_lexicon, reader_for, vocabulary_for
from rxguard.engine.vignettes import assess_vignette
from rxguard.facts.builder import build_bundle
from rxguard.facts.vocabulary import normalize_text
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.schema import Vignette

PACKS = load_all()
VOCAB = vocabulary_for(PACKS)
READER = reader_for(PACKS)
BRANDS = brand_lexicon(PACKS)
OTHER = "urn:uuid:another-patient"
_ATC_SHAPE = "A00AA00"
# The statuses under which each resource type says the medicine was not (or is not to be) taken.
NO_USE_STATUS = {
    "MedicationStatement": "not-taken",
    "MedicationRequest": "cancelled",
    "MedicationAdministration": "not-done",
    "MedicationDispense": "declined",
}
Bundle = dict[str, Any]


def _tags(pack: Pack, codes: tuple[str, ...], text: str) -> frozenset[str]:
    return VOCAB.tags_for(codes, text) & frozenset(pack.valuesets)


@dataclass(frozen=True)
class Case:
    pack: str
    vignette: Vignette
    kind: str
    label: str
    patient: dict[str, Any]
    transform: Callable[[Bundle], Bundle] | None = None
    compare_with: dict[str, Any] | None = None  # None: the vignette's own patient
    chosen: str | None = None


def _name_in(pack: Pack, tags: frozenset[str], text: str) -> str | None:
    """The first name of the item's value sets written as words in its text."""
    words = f" {normalize_text(text)} "
    for tag in sorted(tags):
        for name in pack.valuesets[tag].names:
            if "*" not in name and f" {normalize_text(name)} " in words:
                return name
    return None


def _ingredient_code(pack: Pack, tags: frozenset[str], name: str) -> str | None:
    for tag in sorted(tags):
        for entry in pack.valuesets[tag].code_entries():
            ingredient = entry.code.startswith("rxnorm|") and normalize_text(entry.display) == normalize_text(name)
            if ingredient and _tags(pack, (entry.code,), "") == tags:
                return entry.code
    return None


def _atc_class_code(pack: Pack, tags: frozenset[str]) -> str | None:
    for tag in sorted(tags):
        for entry in pack.valuesets[tag].code_entries():
            system, _, value = entry.code.partition("|")
            if system == "atc" and len(value) < len(_ATC_SHAPE):
                under = value + "".join("X" if c == "A" else "0" for c in _ATC_SHAPE[len(value) :])
                if _tags(pack, (f"atc|{under}",), "") == tags:
                    return f"atc|{under}"
    return None


def _marked(marker: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Bundle], Bundle]:
    """Apply ``change`` to the resource whose medicine text is ``marker``."""

    def transform(bundle: Bundle) -> Bundle:
        for entry in bundle["entry"]:
            concept = entry["resource"].get("medicationCodeableConcept")
            if isinstance(concept, dict) and concept.get("text") == marker:
                change(entry["resource"])
        return bundle

    return transform


def _restore(resource: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The item's own medicine concept, as the builder writes it."""
    written = build_bundle({"medications": [item]}, at=date(2026, 1, 1), drug="unused")["entry"][1]["resource"]
    return copy.deepcopy(written["medicationCodeableConcept"])


def _by_substance(item: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(resource: dict[str, Any]) -> None:
        concept = _restore(resource, item)
        del resource["medicationCodeableConcept"]
        resource["contained"] = [
            {"resourceType": "Substance", "id": "sub", "code": concept},
            {
                "resourceType": "Medication",
                "id": "med",
                "code": {"text": "Pharmacy compounded product"},
                "ingredient": [{"itemReference": {"reference": "#sub"}, "isActive": True}],
            },
        ]
        resource["medicationReference"] = {"reference": "#med"}

    return change


def _no_use(item: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(resource: dict[str, Any]) -> None:
        resource["medicationCodeableConcept"] = _restore(resource, item)
        resource["status"] = NO_USE_STATUS[resource["resourceType"]]

    return change


def _refused(item: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(resource: dict[str, Any]) -> None:
        concept = _restore(resource, item)
        kept = {k: resource[k] for k in ("id", "subject")}
        resource.clear()
        resource.update(kept)
        resource.update({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order", "doNotPerform": True,
            "medicationCodeableConcept": concept,
        })  # fmt: skip

    return change


def _of_another_patient(item: dict[str, Any]) -> Callable[[Bundle], Bundle]:
    marker = "another-patient-marker"

    def transform(bundle: Bundle) -> Bundle:
        for entry in bundle["entry"]:
            res = entry["resource"]
            concept = res.get("medicationCodeableConcept")
            if isinstance(concept, dict) and concept.get("text") == marker:
                res["medicationCodeableConcept"] = _restore(res, item)
                res["subject"] = {"reference": OTHER}
        bundle["entry"].append({"fullUrl": OTHER, "resource": {"resourceType": "Patient", "id": "another-patient"}})
        return bundle

    return transform


def _variants(pack: Pack, vignette: Vignette) -> Iterator[Case]:
    patient = dict(vignette.patient)
    own = pack.identity.id
    for index, item in enumerate(patient.get("medications", [])):
        if "text" not in item:
            continue
        code = item.get("code")
        tags = _tags(pack, (str(code),) if code else (), str(item["text"]))
        name = _name_in(pack, tags, str(item["text"]))
        if not tags or own in tags or name is None:
            continue
        where = f"medications[{index}] {item['text']!r}"
        bare = {k: v for k, v in item.items() if k not in ("text", "code")}
        cap = name[:1].upper() + name[1:]

        def with_item(new: dict[str, Any] | None, *, index: int = index) -> dict[str, Any]:
            changed = copy.deepcopy(patient)
            if new is None:
                del changed["medications"][index]
            else:
                changed["medications"][index] = new
            return changed

        texts = {
            "salt and strength": f"{cap} sodium 5 MG/ML Oral Solution",
            "capitals": str(item["text"]).upper(),
            "combination": f"acetaminophen 325 MG / {name} 5 MG Oral Tablet",
        }
        last = normalize_text(name).rpartition(" ")[2]
        if last.isalpha() and len(last) >= 3:  # a strength is read off a word of three letters or more
            texts["strength on the name"] = f"{cap}5mg tablet"
        brand = next(iter(BRANDS.get(normalize_text(name), ())), None)
        if brand:
            texts["branded drug"] = f"{name} 5 MG Oral Tablet [{brand}]"
        for label, text in texts.items():
            if _tags(pack, (), text) == tags:
                yield Case(pack.name, vignette, label, f"{text!r} for {where}", with_item({**bare, "text": text}))
        for label, found in (
            ("ingredient code", _ingredient_code(pack, tags, name)),
            ("ATC class", _atc_class_code(pack, tags)),
        ):
            if found:
                yield Case(pack.name, vignette, label, f"{found} for {where}", with_item({**bare, "code": found}))
        ended = item.get("end") is not None and str(item["end"]) < vignette.at.isoformat()
        if (
            ended
            and item.get("status") in ("completed", "stopped")
            and item.get("kind", "statement") in ("statement", "request")
        ):
            for kind, status in (
                ("statement", "stopped"),
                ("statement", "completed"),
                ("request", "completed"),
                ("request", "stopped"),
            ):
                if (kind, status) != (item.get("kind", "statement"), item.get("status")):
                    yield Case(
                        pack.name, vignette, "ended use in another record", f"{kind} {status} for {where}",
                        with_item({**item, "kind": kind, "status": status}),
                    )  # fmt: skip
        marker = f"medication-marker-{index}"
        marked = with_item({**bare, "text": marker})
        yield Case(
            pack.name, vignette, "ingredient by reference to a Substance", where, marked,
            transform=_marked(marker, _by_substance(item)),
        )  # fmt: skip
        absent = with_item(None)
        yield Case(
            pack.name, vignette, "recorded as not taken", where, marked,
            transform=_marked(marker, _no_use(item)), compare_with=absent,
        )  # fmt: skip
        yield Case(
            pack.name, vignette, "an order not to give it", where, marked,
            transform=_marked(marker, _refused(item)), compare_with=absent,
        )  # fmt: skip
        other = with_item({**bare, "text": "another-patient-marker"})
        yield Case(
            pack.name, vignette, "recorded only for another patient", where, other,
            transform=_of_another_patient(item), compare_with=absent, chosen="patient-0",
        )  # fmt: skip


def _run(
    pack: Pack,
    vignette: Vignette,
    patient: dict[str, Any],
    transform: Callable[[Bundle], Bundle] | None = None,
    chosen: str | None = None,
) -> tuple[str, frozenset[str]]:
    bundle = build_bundle(patient, at=vignette.at, drug=pack.identity.inn)
    if transform is not None:
        bundle = transform(bundle)
    result = assess_vignette(pack, vignette, READER.read(bundle, chosen))
    return result.verdict, frozenset(f.rule_id for f in result.findings)


def _cases() -> list[Case]:
    return [case for pack, vignette in firing_patient_vignettes(PACKS) for case in _variants(pack, vignette)]


CASES = _cases()


def test_variants_are_generated_for_every_form_and_every_pack_with_co_medication_rules() -> None:
    kinds = {case.kind for case in CASES}
    expected = {
        "salt and strength", "capitals", "combination", "strength on the name", "branded drug", "ingredient code",
        "ATC class", "ingredient by reference to a Substance", "recorded as not taken", "an order not to give it",
        "recorded only for another patient", "ended use in another record",
    }  # fmt: skip
    assert expected <= kinds, expected - kinds
    assert {"natalizumab", "mifamurtide"} <= {case.pack for case in CASES}
    assert len(CASES) >= 250, len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.pack}:{c.vignette.name[:40]}:{c.kind}:{c.label[:60]}" for c in CASES])
def test_a_co_medication_written_another_way_gives_the_same_verdict(case: Case) -> None:
    pack = PACKS[case.pack]
    baseline = _run(pack, case.vignette, case.compare_with or dict(case.vignette.patient))
    variant = _run(pack, case.vignette, case.patient, case.transform, case.chosen)
    assert variant == baseline, (
        f"{case.kind} {case.label}: verdict/rules {variant[0]} {sorted(variant[1])} != {baseline[0]} {sorted(baseline[1])}"
    )
