"""Results sent with a comparator: "<5", ">1000" (FHIR Quantity.comparator).

A laboratory reports a value beyond its measuring range as ">1000 U/L" or "<0.5". Read as the bare
number, ">100 U/L" (ALT) is 2.5 times a limit of 40 and passes a "3 times the limit" rule that the
true value may well meet. The engine compares the whole range such a value stands for.

- Property: for any value, comparator, comparison and threshold, ``holds`` says True only when the
  comparison holds for every value the result stands for, False only when it holds for none.
- Metamorphic: every vignette's numeric lab value v sent as a range that still holds it (">=v",
  "<=v", ">v/2", "<2v") never silences a rule that fired: it still fires or says "could not verify".
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxguard.engine.facts import reader_for
from rxguard.engine.predicates import holds
from rxguard.engine.vignettes import assess_vignette, vignette_bundle
from rxguard.facts.model import LabResult
from rxguard.knowledge.loader import Pack, VignetteFile, load_all

PACKS = load_all()
READER = reader_for(PACKS)
SYMBOLS = {"≥": float.__ge__, ">": float.__gt__, "<": float.__lt__, "≤": float.__le__}
COMPARATORS = ("", "<", "<=", ">=", ">")


def _stands_for(value: float, comparator: str) -> list[float]:
    """Values a result sent as ``comparator value`` stands for, near the value and far from it."""
    steps = (0.0, 1e-6, 0.5, 1.0, 10.0, 1e6)
    if comparator == "":
        return [value]
    below = [value - d for d in steps if d or comparator == "<="]
    above = [value + d for d in steps if d or comparator == ">="]
    return below if comparator in ("<", "<=") else above


@given(
    value=st.integers(-50, 50).map(float),
    threshold=st.integers(-50, 50).map(float),
    comparator=st.sampled_from(COMPARATORS),
    symbol=st.sampled_from(tuple(SYMBOLS)),
)
def test_a_comparison_holds_only_when_it_holds_for_every_value_the_result_stands_for(
    value: float, threshold: float, comparator: str, symbol: str
) -> None:
    result = LabResult("x", date(2026, 1, 1), value, comparator=comparator)
    said = holds(result, symbol, threshold)
    truths = {SYMBOLS[symbol](x, threshold) for x in _stands_for(value, comparator)}
    if said is True:
        assert truths == {True}
    elif said is False:
        assert truths == {False}
    else:
        assert comparator and truths == {True, False}
    if not comparator:
        assert said is SYMBOLS[symbol](value, threshold)


def _fired(pack: Pack, vfile: VignetteFile, index: int, bundle: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    vignette = vfile.vignettes[index]
    result = assess_vignette(pack, vignette, READER.read(bundle))
    return {f.rule_id: (f.effective_severity, f.could_not_verify) for f in result.findings}


def _with_comparator(bundle: dict[str, Any], comparator: str, factor: float = 1.0) -> dict[str, Any]:
    """Every result value v sent as ``comparator`` (v × factor): a range that still holds v."""
    out = copy.deepcopy(bundle)
    for entry in out["entry"]:
        quantity = (
            entry["resource"].get("valueQuantity") if entry["resource"]["resourceType"] == "Observation" else None
        )
        if isinstance(quantity, dict) and "value" in quantity:
            quantity["comparator"] = comparator
            quantity["value"] = quantity["value"] * factor
    return out


def _cases() -> Iterator[Any]:
    for pack in PACKS.values():
        for vfile, index, vignette in pack.vignettes():
            bundle = vignette_bundle(pack, vfile, vignette)
            numeric = any("valueQuantity" in e["resource"] for e in bundle["entry"])
            if numeric and _fired(pack, vfile, index, bundle):
                yield pytest.param(pack, vfile, index, id=f"{pack.name}:{vfile.path.stem}:{index}")


CASES = list(_cases())


@pytest.mark.parametrize(("pack", "vfile", "index"), CASES)
def test_a_value_sent_with_a_comparator_never_silences_a_rule(pack: Pack, vfile: VignetteFile, index: int) -> None:
    bundle = vignette_bundle(pack, vfile, vfile.vignettes[index])
    base = _fired(pack, vfile, index, bundle)
    for comparator, factor in ((">=", 1.0), ("<=", 1.0), (">", 0.5), ("<", 2.0)):
        got = _fired(pack, vfile, index, _with_comparator(bundle, comparator, factor))
        silenced = sorted(rule for rule in base if rule not in got)
        shown = f"{comparator}{factor:g}v"
        assert not silenced, f"{vfile.vignettes[index].name} [values as {shown}]: {silenced} went silent"


def test_numeric_results_of_every_pack_are_rewritten() -> None:
    assert len({param.values[0].name for param in CASES}) >= 2 and len(CASES) >= 10
