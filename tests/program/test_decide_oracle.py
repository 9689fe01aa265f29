"""``decide(visit)`` agrees with the dose checks as they were before it existed, on every check.

Generated visits (program state, certifications, consent, forms, the previous visit, the
visit's other authorizations, infusion history, checklist answers) get the clinical facts of
the packs' own vignettes, so the clinical check meets real findings at every severity. For
each, every check (id, outcome, reason, sources), the assessment and the decision of
:func:`rxguard.program.decision.decide` must equal the old per-check code's
(``decide_oracle.py``).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from decide_oracle import old_decide
from hypothesis import given, settings
from hypothesis import strategies as st
from test_decide_properties import AT, visits

from rxguard.engine import read_facts
from rxguard.facts.builder import build_bundle
from rxguard.facts.model import PatientFacts
from rxguard.program.decision import Visit, decide
from rxguard.program.registry import Program, get_program


def _vignette_facts(program: Program) -> tuple[PatientFacts, ...]:
    return _pack_facts(program.id)


@cache
def _pack_facts(program_id: str) -> tuple[PatientFacts, ...]:
    """The facts of every vignette of the program's pack that gives a patient, as of the visit."""
    pack = get_program(program_id).pack
    found = []
    for _, _, vignette in pack.vignettes():
        if not vignette.patient:
            continue
        bundle = build_bundle(vignette.patient, at=AT.date(), drug=pack.identity.id)
        found.append(read_facts(bundle, {pack.identity.id: pack}))
    return tuple(found)


@st.composite
def visits_with_findings(draw: st.DrawFn) -> Visit:
    visit = draw(visits())
    facts = _vignette_facts(visit.program)
    if facts and draw(st.booleans()):
        visit = replace(visit, facts=draw(st.sampled_from(facts)))
    return visit


def test_the_vignettes_give_the_clinical_check_every_outcome() -> None:
    """Without findings of every kind the agreement below would say little about the clinical check."""
    from test_decide_properties import PROGRAMS

    outcomes = set()
    for program in PROGRAMS:
        for facts in _vignette_facts(program):
            visit = Visit(program, *_plain(program, facts))
            outcomes.add(next(c.outcome for c in decide(visit).checks if c.id == "clinical-assessment"))
    assert outcomes == {"pass", "warn", "hold", "do-not-infuse"}


def _plain(program: Program, facts: PatientFacts) -> tuple:  # type: ignore[type-arg]
    from rxguard.program.decision import PatientState
    from rxguard.store.visits import Held

    held = Held([], True, None, "e", "e", {})
    return (PatientState("authorized", "x"), "site", "doc", AT, {}, facts, [], held)


@settings(max_examples=300, deadline=None)
@given(visits_with_findings())
def test_decide_agrees_with_the_old_checks_on_every_check(visit: Visit) -> None:
    checks, assessment, decision = old_decide(visit)
    new = decide(visit)
    worded = [{k: v for k, v in c.to_dict().items() if k not in ("code", "values")} for c in new.checks]
    assert worded == [c.to_dict() for c in checks]  # the message code and its values are new, the rest is as it was
    assert new.assessment.to_dict() == assessment.to_dict()
    assert new.decision == decision
