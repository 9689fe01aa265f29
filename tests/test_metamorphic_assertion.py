"""Metamorphic tests: every firing vignette with its load-bearing record negated, suspected or unconfirmed.

For each vignette of every pack that fires a rule, each Condition, AllergyIntolerance or
Procedure that the rule reads directly (``has_condition``, ``has_allergy``, ``has_procedure``,
``pregnant``, ``breastfeeding``: the record's tags meet the rule's value sets, and removing the
record silences the rule) is rewritten and assessed again:

- **negated** ("No history of X", "X ruled out", and phrases drawn from the trigger file), text
  only: the rule never counts as contraindicated; it says "could not verify" (counts as caution)
  with the record's text in its evidence, except for a status (pregnancy, breastfeeding), where a
  negating text counts as absent, as a negative test does;
- **uncertain** ("suspected X", "X, not ruled out", phrases from the file), text only; the record
  with a ``verificationStatus`` of provisional, differential or unconfirmed (an allergy:
  unconfirmed); and the coded record whose own text negates it: the rule fires, needs review, and
  counts as hold when its severity is hold or above, never as contraindicated by itself.

- **another person's** ("Family history of X", "Mother had X", "X (family history)", and the
  experiencer phrases drawn from the file), text only: as negated, the rule never counts as
  contraindicated; it says "could not verify", quoting the record and saying it is about another person.

Phrases rotate through the trigger file from case to case, so the whole file is exercised.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from rxguard.engine.facts import reader_for
from rxguard.engine.model import Finding
from rxguard.engine.vignettes import assess_vignette, vignette_bundle
from rxguard.facts.assertion import default_reader
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.schema import (
    SEVERITY_RANK,
    BreastfeedingCheck,
    HasAllergy,
    HasCondition,
    HasProcedure,
    NotOf,
    PregnantCheck,
    Vignette,
)

PACKS = load_all()
READER = reader_for(PACKS)
TRIGGERS = default_reader()
KINDS = {"Condition": "condition", "AllergyIntolerance": "allergy", "Procedure": "procedure"}
STATUS_FLAGS = {"pregnancy", "breastfeeding"}
Bundle = dict[str, Any]


def _phrases(kind: str, direction: str) -> list[str]:
    return sorted({t.phrase for t in TRIGGERS.triggers if t.kind == kind and t.direction == direction})


def _shadowed(phrase: str) -> bool:
    """A phrase that begins a longer trigger of another kind (that one would win before a name)."""
    words = tuple(phrase.split())
    return any(
        len(t.words) > len(words) and t.words[: len(words)] == words and t.kind != "negated" for t in TRIGGERS.triggers
    )


NEG_FORWARD = [p for p in _phrases("negated", "forward") if not _shadowed(p)]
NEG_BACKWARD = _phrases("negated", "backward")
POS_FORWARD = _phrases("possible", "forward")
POS_BACKWARD = _phrases("possible", "backward")
OTHER_FORWARD = [p for p in _phrases("other", "forward") if not _shadowed(p)]
OTHER_BACKWARD = _phrases("other", "backward")


def _negated(text: str, n: int) -> list[str]:
    return [
        f"No history of {text}",
        f"{text} ruled out",
        f"{NEG_FORWARD[n % len(NEG_FORWARD)]} {text}",
        f"{text} {NEG_BACKWARD[n % len(NEG_BACKWARD)]}",
    ]


def _family(text: str, n: int) -> list[str]:
    return [
        f"Family history of {text}",
        f"Mother had {text}",
        f"{OTHER_FORWARD[n % len(OTHER_FORWARD)]}: {text}",
        f"{OTHER_FORWARD[(n + 7) % len(OTHER_FORWARD)]} with {text}",
        f"{text} ({OTHER_BACKWARD[n % len(OTHER_BACKWARD)]})",
    ]


def _uncertain(text: str, n: int) -> list[str]:
    return [
        f"suspected {text}",
        f"{text}, not ruled out",
        f"{POS_FORWARD[n % len(POS_FORWARD)]} {text}",
        f"{text} {POS_BACKWARD[n % len(POS_BACKWARD)]}",
    ]


def _run(pack: Pack, vignette: Vignette, bundle: Bundle) -> dict[str, Finding]:
    result = assess_vignette(pack, vignette, READER.read(bundle))
    return {f.rule_id: f for f in result.findings}


def _leaves(node: Any, under_not: bool = False) -> Iterator[tuple[str, str]]:
    """(kind, value set) the rule reads directly, outside any ``not``."""
    if isinstance(node, NotOf):
        return
    children = node.children() if hasattr(node, "children") else ()
    if children:
        for child in children:
            yield from _leaves(child, under_not)
    elif isinstance(node, HasCondition):
        yield "condition", node.valueset
    elif isinstance(node, HasAllergy):
        yield "allergy", node.valueset
    elif isinstance(node, HasProcedure):
        yield "procedure", node.valueset
    elif isinstance(node, PregnantCheck) and node.root is True:
        yield "condition", "pregnancy"
    elif isinstance(node, BreastfeedingCheck) and node.root is True:
        yield "condition", "breastfeeding"


def _text(resource: dict[str, Any]) -> str:
    code = resource.get("code") or {}
    return code.get("text") or next((c["display"] for c in code.get("coding", []) if c.get("display")), "")


def _with(bundle: Bundle, index: int, *, text: str | None = None, codes: bool = False, status: str = "") -> Bundle:
    out = copy.deepcopy(bundle)
    res = out["entry"][index]["resource"]
    if text is not None:
        res["code"] = {"text": text, **({"coding": res["code"]["coding"]} if codes and "coding" in res["code"] else {})}
    if status:
        system = (
            "allergyintolerance-verification" if res["resourceType"] == "AllergyIntolerance" else "condition-ver-status"
        )
        res["verificationStatus"] = {
            "coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": status}]
        }
    return out


def _item_keys(resource: dict[str, Any]) -> frozenset[str]:
    alone = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}, {"resource": resource}]}
    return READER.read(alone).keys


def _cases() -> Iterator[Any]:
    n = 0
    for pack in PACKS.values():
        rules = {r.id: r for r in pack.rules}
        for vfile, index, vignette in pack.vignettes():
            bundle = vignette_bundle(pack, vfile, vignette)
            base = _run(pack, vignette, bundle)
            fired = {k: f for k, f in base.items() if not f.could_not_verify}
            if not fired:
                continue
            for i, entry in enumerate(bundle["entry"]):
                res = entry["resource"]
                kind = KINDS.get(res["resourceType"])
                text = _text(res)
                # A text that already carries a cue or punctuation is not rewritten: the phrase would not scope it whole.
                if kind is None or not text or TRIGGERS.read(text) is not None or any(c in text for c in ",;.?"):
                    continue
                gone = copy.deepcopy(bundle)
                del gone["entry"][i]
                without = _run(pack, vignette, gone)
                keys = _item_keys(res)
                direct = []
                for rule_id in fired:
                    if rule_id in without and not without[rule_id].could_not_verify:
                        continue
                    read = {f"{k}:{vs}" for k, vs in _leaves(rules[rule_id].when)}
                    if read & keys:
                        flag = {k.split(":", 1)[1] for k in read & keys} <= STATUS_FLAGS
                        direct.append((rule_id, flag))
                # The rule must fire from the text alone, else only the record's code made it fire.
                plain = _run(pack, vignette, _with(bundle, i, text=text))
                direct = [(k, flag) for k, flag in direct if k in plain and not plain[k].could_not_verify]
                if direct:
                    n += 1
                    yield pytest.param(
                        pack, vignette, bundle, i, tuple(direct), n, id=f"{pack.name}:{vfile.path.stem}:{index}:{i}"
                    )


CASES = list(_cases())


def _expected_uncertain(finding: Finding) -> str:
    return "hold" if SEVERITY_RANK[finding.severity] >= SEVERITY_RANK["hold"] else finding.severity


def test_the_families_cover_every_pack() -> None:
    assert {case.values[0].name for case in CASES} == set(PACKS)


@pytest.mark.parametrize(("pack", "vignette", "bundle", "index", "direct", "n"), CASES)
def test_a_negated_record_never_contraindicates_and_says_it_could_not_verify(
    pack: Pack, vignette: Vignette, bundle: Bundle, index: int, direct: tuple[tuple[str, bool], ...], n: int
) -> None:
    text = _text(bundle["entry"][index]["resource"])
    for phrased in _negated(text, n):
        out = _run(pack, vignette, _with(bundle, index, text=phrased))
        for rule_id, status_flag in direct:
            finding = out.get(rule_id)
            if status_flag:
                assert finding is None or finding.could_not_verify, (phrased, rule_id, finding)
                continue
            assert finding is not None, f"{rule_id} silent for {phrased!r}: a negated input must be visible"
            assert finding.could_not_verify, (phrased, rule_id, finding.evidence)
            assert finding.effective_severity in ("caution", "info"), (phrased, rule_id, finding.effective_severity)
            assert any(phrased in line for line in finding.evidence), (phrased, finding.evidence)


@pytest.mark.parametrize(("pack", "vignette", "bundle", "index", "direct", "n"), CASES)
def test_an_uncertain_record_needs_review_and_holds_at_hold_or_above(
    pack: Pack, vignette: Vignette, bundle: Bundle, index: int, direct: tuple[tuple[str, bool], ...], n: int
) -> None:
    res = bundle["entry"][index]["resource"]
    text = _text(res)
    variants: list[tuple[str, Bundle]] = [(p, _with(bundle, index, text=p)) for p in _uncertain(text, n)]
    statuses = {"Condition": ("provisional", "differential", "unconfirmed"), "AllergyIntolerance": ("unconfirmed",)}
    variants += [
        (f"verificationStatus {s}", _with(bundle, index, status=s)) for s in statuses.get(res["resourceType"], ())
    ]
    if res.get("code", {}).get("coding"):
        variants.append((f"coded, text {text} ruled out", _with(bundle, index, text=f"{text} ruled out", codes=True)))
    for label, variant in variants:
        out = _run(pack, vignette, variant)
        for rule_id, _ in direct:
            finding = out.get(rule_id)
            if label.startswith("coded") and (finding is None or finding.could_not_verify):
                # the code alone does not tag it (the text did): then the negated family applies
                continue
            assert finding is not None and not finding.could_not_verify, (label, rule_id, finding)
            assert finding.needs_review, (label, rule_id)
            assert finding.effective_severity == _expected_uncertain(finding), (
                label,
                rule_id,
                finding.effective_severity,
            )
            assert finding.effective_severity != "contraindicated"


@pytest.mark.parametrize(("pack", "vignette", "bundle", "index", "direct", "n"), CASES)
def test_another_persons_condition_never_contraindicates_and_says_whose_it_is(
    pack: Pack, vignette: Vignette, bundle: Bundle, index: int, direct: tuple[tuple[str, bool], ...], n: int
) -> None:
    text = _text(bundle["entry"][index]["resource"])
    for phrased in _family(text, n):
        out = _run(pack, vignette, _with(bundle, index, text=phrased))
        for rule_id, status_flag in direct:
            finding = out.get(rule_id)
            if status_flag:  # a relative's pregnancy says nothing of the patient's: as a negating text, absent
                assert finding is None or finding.could_not_verify, (phrased, rule_id, finding)
                continue
            assert finding is not None, f"{rule_id} silent for {phrased!r}: another person's record must be visible"
            assert finding.could_not_verify, (phrased, rule_id, finding.evidence)
            assert finding.effective_severity in ("caution", "info"), (phrased, rule_id, finding.effective_severity)
            assert any(phrased in line and "another person" in line for line in finding.evidence), (
                phrased,
                finding.evidence,
            )
