"""Running a pack's vignettes: the cases where rules must fire and must not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rxguard.engine.assess import assess
from rxguard.engine.facts import read_facts
from rxguard.engine.model import Assessment
from rxguard.facts.builder import build_bundle
from rxguard.facts.fhir import parse_json
from rxguard.facts.model import PatientFacts
from rxguard.knowledge.labs import pack_catalogue
from rxguard.knowledge.loader import Pack, VignetteFile, load_all
from rxguard.knowledge.schema import Vignette


@dataclass(frozen=True)
class VignetteResult:
    pack: str
    path: Path
    line: int
    name: str
    ref: str
    problems: tuple[str, ...]
    assessment: Assessment

    @property
    def passed(self) -> bool:
        return not self.problems


def vignette_bundle(pack: Pack, vfile: VignetteFile, vignette: Vignette) -> dict[str, Any]:
    if vignette.bundle:
        bundle: dict[str, Any] = parse_json((vfile.path.parent / vignette.bundle).read_bytes())
        return bundle
    return build_bundle(dict(vignette.patient), at=vignette.at, drug=pack.identity.inn, labs=pack_catalogue(pack))


def check_expectations(vignette: Vignette, result: Assessment) -> list[str]:
    expect = vignette.expect
    fired = {f.rule_id: f for f in result.findings}
    problems = []
    if expect.verdict is not None and result.verdict != expect.verdict:
        summary = ", ".join(f"{f.rule_id} ({f.effective_severity})" for f in result.findings) or "no findings"
        problems.append(f"verdict {result.verdict!r}, expected {expect.verdict!r}; fired: {summary}")
    for rule_id in expect.fires:
        if rule_id not in fired:
            problems.append(f"rule {rule_id} did not fire")
    for rule_id in expect.does_not_fire:
        if rule_id in fired:
            problems.append(f"rule {rule_id} fired but must not; evidence: {'; '.join(fired[rule_id].evidence)}")
    for rule_id in expect.needs_review:
        if rule_id not in fired:
            problems.append(f"rule {rule_id} did not fire (expected it flagged for review)")
        elif not fired[rule_id].needs_review:
            problems.append(f"rule {rule_id} fired without needs_review")
    if expect.stratum is not None:
        got = result.stratum.id if result.stratum else None
        if got != expect.stratum:
            problems.append(f"risk stratum {got!r}, expected {expect.stratum!r}")
    due = {d.item: d.status for d in result.due}
    for item, status in expect.due.items():
        got_status = due.get(item, "not-due")
        if got_status != status:
            problems.append(f"monitoring item {item}: {got_status!r}, expected {status!r}")
    return problems


def _packs_with(pack: Pack) -> dict[str, Pack]:
    """The installed packs, plus ``pack`` when it is loaded from a folder (a pack under development)."""
    packs = load_all()
    return packs if packs.get(pack.name) is pack else {**packs, pack.name: pack}


def assess_vignette(pack: Pack, vignette: Vignette, facts: PatientFacts) -> Assessment:
    """``facts`` assessed as the vignette asks: its date, jurisdiction, answers, context and protocol rules."""
    return assess(
        pack,
        facts,
        at=vignette.at,
        jurisdiction=vignette.jurisdiction,
        answers=vignette.answers,
        context=vignette.context,
        protocol_rules=vignette.protocol_rules,
    )


def run_vignette(pack: Pack, vfile: VignetteFile, index: int) -> VignetteResult:
    vignette = vfile.vignettes[index]
    result = assess_vignette(pack, vignette, read_facts(vignette_bundle(pack, vfile, vignette), _packs_with(pack)))
    problems = check_expectations(vignette, result)
    return VignetteResult(
        pack.name, vfile.path, vfile.lines[index], vignette.name, vignette.ref, tuple(problems), result
    )


def run_all(packs: dict[str, Pack] | None = None) -> list[VignetteResult]:
    packs = load_all() if packs is None else packs
    return [run_vignette(pack, vfile, index) for pack in packs.values() for vfile, index, _ in pack.vignettes()]


def coverage(pack: Pack) -> dict[str, tuple[bool, bool]]:
    """rule id -> (some vignette expects it to fire, some vignette expects it not to)."""
    fires: set[str] = set()
    quiet: set[str] = set()
    for _vfile, _index, vignette in pack.vignettes():
        fires.update(vignette.expect.fires)
        fires.update(vignette.expect.needs_review)
        quiet.update(vignette.expect.does_not_fire)
    return {rule.id: (rule.id in fires, rule.id in quiet) for rule in pack.rules}
