"""Metamorphic tests, lab side: the same result written another way is read as the same lab.

For every vignette that has lab results, each result's Observation is rewritten, from the lab
catalogue (the core labs and the packs' ``labs.yaml``):

- **code-only**: one of the lab's codes (LOINC or a local code the pack lists), or rxguard's
  own ``urn:rxguard:lab`` code, and no text or display;
- **display-only**: the lab's display or one of its names as the display of an unknown local
  code, with no ``text``; and as the ``text`` alone, without any coding;
- **other unit**: a numeric result and its reference range sent in another UCUM unit of the
  same dimension (the number converted);
- **panel component**: the result sent as a ``component`` of a panel Observation whose own code
  names no lab (a hepatic function panel, a blood count), the panel carrying status and date;
- **report contained**: the result carried in a DiagnosticReport's ``contained``, with no subject
  of its own (it is the report's patient's);
- **coded**: a positive or negative qualitative result sent as a SNOMED CT or LOINC answer code
  with no words.

Each variant must be read as the same lab with the same value or reading, and give the same
verdict, fired rules and risk stratum as the vignette. The variants come from the catalogue, so
a new lab, code or name in a pack adds variants without touching this file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rxguard.engine.facts import read_facts
from rxguard.engine.vignettes import assess_vignette
from rxguard.errors import PackError
from rxguard.facts import units
from rxguard.facts.fhir import RESULT_CODES
from rxguard.facts.labs import RXGUARD_LAB_SYSTEM, LabCatalogue, LabDef
from rxguard.facts.vocabulary import SYSTEMS
from rxguard.knowledge.labs import catalogue_for, pack_catalogue
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.references import iter_predicates
from rxguard.knowledge.schema import Vignette

PACKS = load_all()
CATALOGUE = catalogue_for(PACKS)
URLS = {short: url for url, short in SYSTEMS.items()}
LOCAL = "urn:example:hospital-lab"
# Candidate units for the "other unit" variant; a numeric lab takes the first one its unit converts to.
OTHER_UNITS = ("U/mL", "g/L", "ug/mL", "10*9/L", "/nL", "mmol/L", "d", "u[IU]/mL", "[IU]/L", "mL/s/{1.73_m2}")

Transform = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    pack: str
    vignette: Vignette
    lab: str
    label: str
    rewrite: Transform


def _lab_of(observation: dict[str, Any]) -> str | None:
    """The lab the reader's catalogue recognises an Observation's code as (codes, then text and displays)."""
    concept = observation.get("code", {})
    codings = concept.get("coding", [])
    codes = tuple(f"{SYSTEMS.get(c.get('system', ''), c.get('system', ''))}|{c['code']}" for c in codings)
    texts = [concept["text"]] if concept.get("text") else []
    texts += [c["display"] for c in codings if c.get("display")]
    return CATALOGUE.key_for(codes, " / ".join(texts))


def _code(concept: dict[str, Any]) -> Transform:
    def rewrite(observation: dict[str, Any]) -> None:
        observation["code"] = copy.deepcopy(concept)

    return rewrite


def _other_unit(lab: LabDef) -> str | None:
    for unit in OTHER_UNITS:
        if unit != lab.unit and units.is_convertible(lab.unit, unit):
            return unit
    return None


def _in_unit(target: str, canonical: str) -> Transform:
    def rewrite(observation: dict[str, Any]) -> None:
        quantities = [observation.get("valueQuantity")]
        for bounds in observation.get("referenceRange", []):
            quantities += [bounds.get("high"), bounds.get("low")]
        for qty in quantities:
            if isinstance(qty, dict) and "value" in qty:
                sent = qty.get("code") or qty.get("unit") or canonical
                qty["value"] = units.convert(float(qty["value"]), units.parse(sent), target)
                qty.update(unit=target, code=target, system=units.UCUM_SYSTEM)

    return rewrite


PANEL = {"coding": [{"system": LOCAL, "code": "PANEL-1", "display": "Results panel"}], "text": "Results panel"}


def _in_panel(observation: dict[str, Any]) -> None:
    component = {k: observation.pop(k) for k in list(observation) if k in ("code", "interpretation", "referenceRange")
                 or k.startswith("value")}  # fmt: skip
    observation["code"] = copy.deepcopy(PANEL)
    observation["component"] = [{"code": {"coding": [{"system": LOCAL, "code": "OTHER"}], "text": "Comment"}},
                                component]  # fmt: skip


def _in_report(observation: dict[str, Any]) -> None:
    """The result carried in a DiagnosticReport's ``contained``, the report naming it in ``result``."""
    result = copy.deepcopy(observation)
    result.pop("subject", None)
    result["id"] = "r1"
    subject, status = observation.get("subject"), observation.get("status", "final")
    observation.clear()
    observation.update(
        resourceType="DiagnosticReport", id="report", status=status, code=copy.deepcopy(PANEL), contained=[result],
        result=[{"reference": "#r1"}], **({"subject": subject} if subject else {}),
        **{k: v for k, v in result.items() if k.startswith("effective")},
    )  # fmt: skip


def _result_in(resource: dict[str, Any], label: str) -> dict[str, Any]:
    """The result a rewritten resource carries (itself, a panel's component, a report's contained)."""
    if label == "panel component":
        return dict(resource["component"][-1])
    if label == "report contained":
        return dict(resource["contained"][0])
    return resource


def _coded(system: str, code: str) -> Transform:
    def rewrite(observation: dict[str, Any]) -> None:
        for key in [k for k in observation if k.startswith("value")]:
            del observation[key]
        observation["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}

    return rewrite


def _result_codes(reading: str) -> Iterator[tuple[str, Transform]]:
    """One SNOMED CT and one LOINC answer code the reader reads as ``reading``."""
    for short in ("sct", "loinc"):
        code = next((c for c, read in RESULT_CODES.items() if read == reading and c.startswith(f"{short}|")), None)
        if code is not None:
            yield f"coded {code}", _coded(URLS[short], code.partition("|")[2])


def _variants(lab: LabDef, item: dict[str, Any]) -> Iterator[tuple[str, Transform]]:
    numeric_value = "value" in item
    for code in lab.codes:
        system, _, value = code.partition("|")
        yield f"code-only {code}", _code({"coding": [{"system": URLS.get(system, system), "code": value}]})
    yield "code-only rxguard", _code({"coding": [{"system": RXGUARD_LAB_SYSTEM, "code": lab.key}]})
    for name in (lab.display, *lab.names):
        yield f"display-only {name!r}", _code({"coding": [{"system": LOCAL, "code": "X-1", "display": name}]})
        yield f"text-only {name!r}", _code({"text": name})
    if lab.kind == "numeric" and lab.unit and numeric_value:
        target = _other_unit(lab)
        if target is not None:
            yield f"unit {target}", _in_unit(target, lab.unit)
    if "value" in item or "result" in item:
        yield "panel component", _in_panel
        yield "report contained", _in_report
    if lab.kind == "qualitative" and item.get("result") in ("positive", "negative"):
        yield from _result_codes(str(item["result"]))


PER_VARIANT = 4  # vignettes each variant of a lab is tried on


def _cases() -> list[Case]:
    cases = []
    tried: dict[tuple[str, str, str], int] = {}
    for pack in PACKS.values():
        for _, _, vignette in pack.vignettes():
            seen: set[str] = set()
            for item in vignette.patient.get("labs", []):
                key = item["test"]
                if key in seen:
                    continue
                seen.add(key)
                for label, rewrite in _variants(CATALOGUE[key], item):
                    count = tried.get((pack.name, key, label), 0)
                    if count < PER_VARIANT:
                        tried[pack.name, key, label] = count + 1
                        cases.append(Case(pack.name, vignette, key, label, rewrite))
    return cases


CASES = _cases()


def _bundle(pack: Pack, vignette: Vignette) -> dict[str, Any]:
    from rxguard.facts.builder import build_bundle

    return build_bundle(dict(vignette.patient), at=vignette.at, drug=pack.identity.inn, labs=pack_catalogue(pack))


def _outcome(pack: Pack, vignette: Vignette, bundle: dict[str, Any]) -> tuple[Any, ...]:
    facts = read_facts(bundle, PACKS)
    result = assess_vignette(pack, vignette, facts)
    stratum = result.stratum.id if result.stratum is not None else None
    readings = {
        test: [(r.effective, None if r.value is None else round(r.value, 6), r.interpretation, bool(r.problem))
               for r in results]
        for test, results in facts.labs.items()
    }  # fmt: skip
    return result.verdict, frozenset(f.rule_id for f in result.findings), stratum, readings


def test_variants_cover_every_way_of_writing_a_lab() -> None:
    labels = {case.label.split()[0] for case in CASES}
    assert {"code-only", "display-only", "text-only", "unit", "panel", "report", "coded"} <= labels
    assert {case.lab for case in CASES if case.label.startswith("unit")}, "no numeric lab got another unit"
    by_rules = {
        getattr(pred, "test", None)
        for pack in PACKS.values()
        for rule in pack.rules
        for _, pred in iter_predicates(rule.when)
    }
    own = {key for pack in PACKS.values() for key in pack.labs if key in by_rules}
    assert own, "no pack lab is read by a rule"
    assert own <= {case.lab for case in CASES}, "every pack lab a rule reads has a vignette result to rewrite"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.pack}:{c.vignette.name[:40]}:{c.lab}:{c.label}" for c in CASES])
def test_a_lab_written_another_way_reads_the_same(case: Case) -> None:
    pack = PACKS[case.pack]
    bundle = _bundle(pack, case.vignette)
    expected = _outcome(pack, case.vignette, bundle)
    rewritten = copy.deepcopy(bundle)
    hits = 0
    for entry in rewritten["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and _lab_of(resource) == case.lab:
            case.rewrite(resource)
            hits += 1
            inner = _result_in(resource, case.label)
            assert _lab_of(inner) == case.lab, f"{case.label}: not recognised as {case.lab}"
    assert hits, f"no {case.lab} result in the vignette's bundle"
    assert _outcome(pack, case.vignette, rewritten) == expected


def test_words_that_only_contain_a_lab_name_are_no_lab() -> None:
    for text in ("AST/ALT ratio", "Salt intake", "ALT (previous laboratory)", "Creatinine clearance"):
        assert CATALOGUE.key_for((f"{LOCAL}|X-9",), text) is None, text
    assert CATALOGUE.key_for((), "MRI of the brain with and without contrast") == "brain-mri"


def test_a_code_wins_over_the_words_beside_it() -> None:
    assert CATALOGUE.key_for(("loinc|1742-6",), "AST") == "alt"


def test_an_indeterminate_result_is_read_as_neither_positive_nor_negative() -> None:
    qualitative = [lab for lab in CATALOGUE.values() if lab.indeterminate]
    assert qualitative, "no lab declares indeterminate words"
    for lab in qualitative:
        observation = {
            "resourceType": "Observation", "status": "final", "effectiveDateTime": "2026-01-02",
            "code": {"coding": [{"system": RXGUARD_LAB_SYSTEM, "code": lab.key}]},
            "valueString": lab.indeterminate[0].title(),
        }  # fmt: skip
        patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1980-01-01"}
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": patient}, {"resource": observation}],
        }
        result = read_facts(bundle, PACKS).latest(lab.key)
        assert result is not None and result.interpretation == "" and "indeterminate" in result.problem


def test_labs_that_clash_are_refused_with_both_origins() -> None:
    base = LabCatalogue([LabDef("example", "Example", ("loinc|0000-0",), "mg/dL", origin="pack a")])
    with pytest.raises(ValueError, match=r"pack a.*pack b"):
        base.with_labs([LabDef("example", "Example", (), "", "qualitative", origin="pack b")])
    with pytest.raises(ValueError, match="names two labs"):
        base.with_labs([LabDef("other", "Other", ("loinc|0000-0",), "mg/dL", origin="pack b")])
    merged = base.with_labs([LabDef("example", "Example", ("loinc|1111-1",), "mg/dL", names=("ex",), origin="b")])
    assert merged.key_for(("loinc|1111-1",), "") == merged.key_for((), "EX") == "example"


def test_packs_whose_labs_disagree_are_refused() -> None:
    pack = next(p for p in PACKS.values() if p.labs)
    lab = next(iter(pack.labs.values()))
    other_kind = "numeric" if lab.kind != "numeric" else "qualitative"
    clone = copy.copy(pack)
    object.__setattr__(clone, "labs", {lab.id: lab.model_copy(update={"kind": other_kind, "unit": ""})})
    with pytest.raises(PackError, match="disagree"):
        catalogue_for({**PACKS, "clone": clone})
