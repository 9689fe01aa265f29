"""Coverage: a rule whose input is in the record but cannot be read says "could not verify", never nothing.

For every vignette of both packs, each resource a rule may read is made
unreadable in the ways real records are (a unit no one can read, a result
with no date, a result that reads neither positive nor negative, an
intolerance instead of an allergy, a medicine given days ago whose duration
of effect no source states, an order dose in a unit that does not convert, a
Patient with no birth date). Every rule that fired before must still be
there afterwards: fired on other evidence, or as a "could not verify"
finding. A rule never goes silent because its input became unreadable.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from rxguard.engine.facts import reader_for
from rxguard.engine.model import Assessment
from rxguard.engine.vignettes import assess_vignette, vignette_bundle
from rxguard.knowledge.loader import Pack, VignetteFile, load_all
from rxguard.knowledge.schema import SEVERITY_RANK, Vignette

PACKS = load_all()
READER = reader_for(PACKS)
Bundle = dict[str, Any]


def _cases() -> Iterator[Any]:
    for pack in PACKS.values():
        for vfile, index, vignette in pack.vignettes():
            # Only vignettes where a rule fires have an input to make unreadable (chosen at collection).
            if not vignette.bundle and _run(pack, vignette, vignette_bundle(pack, vfile, vignette)).findings:
                yield pytest.param(pack, vfile, index, id=f"{pack.name}:{vfile.path.stem}:{index}")


def _run(pack: Pack, vignette: Vignette, bundle: Bundle) -> Assessment:
    return assess_vignette(pack, vignette, READER.read(bundle))


def _blurred(resource: dict[str, Any], vignette: Vignette) -> Iterator[tuple[str, dict[str, Any]]]:
    """The resource made unreadable in each way that applies to it."""
    rtype = resource["resourceType"]
    if rtype == "Observation":
        if "valueQuantity" in resource:
            out = copy.deepcopy(resource)
            out["valueQuantity"] = {"value": out["valueQuantity"].get("value", 1), "unit": "furlongs per fortnight"}
            yield "a unit no one can read", out
        elif "valueCodeableConcept" in resource or "valueString" in resource:
            out = {k: v for k, v in resource.items() if k not in ("valueCodeableConcept", "valueString")}
            yield "a result that reads neither way", {**out, "valueString": "indeterminate"}
        undated = {k: v for k, v in resource.items() if not k.startswith("effective") and k != "issued"}
        yield "a result with no date", undated
    elif rtype == "AllergyIntolerance":
        out = copy.deepcopy(resource)
        out.update(type="intolerance", criticality="low")
        out["reaction"] = [{"severity": "mild", "manifestation": [{"text": "Headache"}]}]
        yield "an intolerance, not an allergy", out
    elif rtype in ("MedicationStatement", "MedicationRequest") and resource.get("status") == "active":
        given = (vignette.at - timedelta(days=3)).isoformat()
        concept = resource.get("medicationCodeableConcept")
        yield "given three days ago", {
            "resourceType": "MedicationAdministration", "id": resource["id"], "subject": resource["subject"],
            "status": "completed", "medicationCodeableConcept": concept, "effectiveDateTime": given,
        }  # fmt: skip
    if rtype == "MedicationRequest" and resource.get("dosageInstruction"):
        out = copy.deepcopy(resource)
        for dosage in out["dosageInstruction"]:
            for rate in dosage.get("doseAndRate", []):
                rate["doseQuantity"] = {"value": rate["doseQuantity"].get("value"), "unit": "spoonfuls"}
        yield "a dose in a unit that does not convert", out
    if rtype == "Patient" and "birthDate" in resource:
        yield "no birth date", {k: v for k, v in resource.items() if k != "birthDate"}


@pytest.mark.parametrize(("pack", "vfile", "index"), list(_cases()))
def test_a_rule_whose_input_becomes_unreadable_says_could_not_verify(
    pack: Pack, vfile: VignetteFile, index: int
) -> None:
    vignette = vfile.vignettes[index]
    bundle = vignette_bundle(pack, vfile, vignette)
    fired = {f.rule_id for f in _run(pack, vignette, bundle).findings}
    for i, entry in enumerate(bundle["entry"]):
        for how, resource in _blurred(entry["resource"], vignette):
            changed = copy.deepcopy(bundle)
            changed["entry"][i] = {**entry, "resource": resource}
            result = _run(pack, vignette, changed)
            after = {f.rule_id: f for f in result.findings}
            silent = sorted(fired - set(after))
            assert not silent, f"{vignette.name}: {entry['resource'].get('id')} as {how}: {silent} went silent"
            for finding in result.coverage.could_not_verify:
                assert finding.evidence, f"{finding.rule_id}: a could-not-verify finding must say why"
                if finding.severity != "info":
                    assert SEVERITY_RANK[finding.effective_severity] >= SEVERITY_RANK["caution"]
