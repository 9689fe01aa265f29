"""What an Observation's status says about its result (FHIR R4 ObservationStatus).

- ``registered``: "the existence of the observation is registered, but there is no result yet
  available": no result is read, whatever value the resource carries; a rule that needs the lab
  says it could not verify (or that the lab is missing), never that the result was normal.
- ``preliminary``: "an initial or interim observation: data may be incomplete or unverified": the
  result is used, and every finding a preliminary result supports asks for review (so it never
  contraindicates on its own), and the reading notes say the result is preliminary.
- ``final``, ``amended``, ``corrected``: read as results. ``cancelled`` and ``entered-in-error``:
  not read.

Checked over every vignette of every pack with lab results: each Observation is rewritten with the
status and the outcome compared with the vignette's own.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rxguard.engine.facts import read_facts
from rxguard.engine.vignettes import assess_vignette
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.labs import pack_catalogue
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.schema import SEVERITY_RANK, Vignette

PACKS = load_all()
# Evidence lines that show a lab result (lab_line), alone or as the line a comparison is about.
RESULT_LINES = frozenset({"lab-result", "lab-result-sent-as", "lab-result-word", "lab-result-recorded"})
VERDICT_RANK = {"ok": 0, **SEVERITY_RANK}

CASES = [
    (name, vignette)
    for name, pack in PACKS.items()
    for _, _, vignette in pack.vignettes()
    if vignette.patient.get("labs")
]


def _bundle(pack: Pack, vignette: Vignette, status: str | None = None) -> dict[str, Any]:
    bundle = build_bundle(dict(vignette.patient), at=vignette.at, drug=pack.identity.inn, labs=pack_catalogue(pack))
    if status is not None:
        bundle = copy.deepcopy(bundle)
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Observation":
                entry["resource"]["status"] = status
    return bundle


def _assess(pack: Pack, vignette: Vignette, bundle: dict[str, Any]) -> Any:
    return assess_vignette(pack, vignette, read_facts(bundle, PACKS))


def _shows_result(line: Any) -> bool:
    if getattr(line, "message_id", None) in RESULT_LINES:
        return True
    return any(_shows_result(v) for v in getattr(line, "params", {}).values() if isinstance(v, str))


def _outcome(result: Any) -> dict[str, tuple[bool, tuple[str, ...]]]:
    return {f.rule_id: (f.could_not_verify, tuple(f.evidence)) for f in result.findings}


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
@pytest.mark.parametrize(("pack", "vignette"), CASES, ids=[f"{p}:{v.name[:50]}" for p, v in CASES])
def test_final_amended_and_corrected_results_read_the_same(pack: str, vignette: Vignette, status: str) -> None:
    expected = _assess(PACKS[pack], vignette, _bundle(PACKS[pack], vignette))
    got = _assess(PACKS[pack], vignette, _bundle(PACKS[pack], vignette, status))
    assert got.verdict == expected.verdict
    assert _outcome(got) == _outcome(expected)


@pytest.mark.parametrize("status", ["preliminary", "unknown"])
@pytest.mark.parametrize(("pack", "vignette"), CASES, ids=[f"{p}:{v.name[:50]}" for p, v in CASES])
def test_a_preliminary_result_is_used_and_asks_for_review(pack: str, vignette: Vignette, status: str) -> None:
    """``unknown`` ("does not know which of the status values currently applies") may be preliminary:
    it is read as a preliminary result."""
    expected = _assess(PACKS[pack], vignette, _bundle(PACKS[pack], vignette))
    bundle = _bundle(PACKS[pack], vignette, status)
    got = _assess(PACKS[pack], vignette, bundle)
    # The same rules hold on the same evidence: the result is read as it was.
    assert _outcome(got) == _outcome(expected)
    before = {f.rule_id: f for f in expected.findings}
    on_result = got.stratum is not None and any(_shows_result(line) for line in got.stratum.evidence)
    if on_result:
        assert got.stratum.needs_review and "preliminary" in got.stratum.review_note
    for finding in got.findings:
        reads_stratum = any(getattr(line, "message_id", None) == "risk-stratum" for line in finding.evidence)
        if any(_shows_result(line) for line in finding.evidence) or (on_result and reads_stratum):
            assert finding.needs_review, f"{finding.rule_id} rests on a preliminary result without review"
            assert "preliminary" in finding.review_note
            assert finding.effective_severity != "contraindicated"
        else:
            assert finding.effective_severity == before[finding.rule_id].effective_severity or finding.needs_review
    assert VERDICT_RANK[got.verdict] <= VERDICT_RANK[expected.verdict]
    facts = read_facts(bundle, PACKS)
    assert any(status in note for note in facts.reading_notes)


@pytest.mark.parametrize(("pack", "vignette"), CASES, ids=[f"{p}:{v.name[:50]}" for p, v in CASES])
def test_a_registered_observation_has_no_result_yet(pack: str, vignette: Vignette) -> None:
    expected = _assess(PACKS[pack], vignette, _bundle(PACKS[pack], vignette))
    bundle = _bundle(PACKS[pack], vignette, "registered")
    facts = read_facts(bundle, PACKS)
    assert not facts.labs, "a registered Observation's value was read as a result"
    assert any(u.kind == "lab" and "registered" in u.reason for u in facts.unreadable)
    got = _assess(PACKS[pack], vignette, bundle)
    fired = {f.rule_id: f for f in got.findings}
    for finding in got.findings:
        assert not any(_shows_result(line) for line in finding.evidence), finding.rule_id
    for finding in expected.findings:
        if any(_shows_result(line) for line in finding.evidence):
            # A rule that held on a result now cannot be verified (or holds on another part): never silent.
            assert finding.rule_id in fired, f"{finding.rule_id} went silent when its result is only registered"


def test_the_checks_are_not_vacuous() -> None:
    """Some vignettes' findings rest on lab results, so the preliminary and registered checks bite."""
    resting = strata = 0
    for pack, vignette in CASES:
        result = _assess(PACKS[pack], vignette, _bundle(PACKS[pack], vignette))
        resting += sum(1 for f in result.findings if any(_shows_result(line) for line in f.evidence))
        strata += result.stratum is not None and any(_shows_result(line) for line in result.stratum.evidence)
    assert resting >= 5
    assert strata >= 3
