"""Metamorphic tests: every firing Condition of every vignette, recorded with another clinical status.

For each vignette of every pack, each Condition that makes a rule fire (the rule fires with it
and not without it; one the vignette records as ended already, for the rules asking "ever") is rewritten with ``clinicalStatus`` absent, ``inactive``, ``remission``
(alone and with an abatement date) or ``resolved``, and with an abatement date alone. For each
rule the Condition made fire, by how the rule asks for the Condition's value sets:

- ``status: ever``: the rule fires exactly as before, whatever the status;
- a set marked ``lifelong``: inactive or remission fire exactly as before; resolved or an
  abatement alone still give the rule (at least "could not verify");
- otherwise: inactive or remission never leave the rule silent (it fires, or says "could not
  verify"); resolved or an abatement alone give what the vignette gives without the Condition.

An absent clinicalStatus always gives the vignette's own assessment. The cases and the
expectations come from the packs, so a new vignette, rule or lifelong set adds cases here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from rxguard.engine.facts import reader_for
from rxguard.engine.vignettes import assess_vignette, vignette_bundle
from rxguard.knowledge.loader import Pack, VignetteFile, load_all
from rxguard.knowledge.references import iter_predicates
from rxguard.knowledge.schema import HasCondition, Vignette

PACKS = load_all()
READER = reader_for(PACKS)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
Bundle = dict[str, Any]
Fired = dict[str, tuple[str, bool]]  # rule id -> (what it counts as, could not verify)


def _fired(pack: Pack, vignette: Vignette, bundle: Bundle) -> Fired:
    result = assess_vignette(pack, vignette, READER.read(bundle))
    return {f.rule_id: (f.effective_severity, f.could_not_verify) for f in result.findings}


def _conditions(bundle: Bundle) -> list[int]:
    return [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition"]


def _without(bundle: Bundle, i: int) -> Bundle:
    out = copy.deepcopy(bundle)
    del out["entry"][i]
    return out


def _recorded(bundle: Bundle, i: int, status: str | None, abated: str | None) -> Bundle:
    out = copy.deepcopy(bundle)
    resource = out["entry"][i]["resource"]
    for key in [k for k in resource if k.startswith("abatement")]:
        del resource[key]
    resource.pop("clinicalStatus", None)
    if status is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": status}]}
    if abated is not None:
        resource["abatementDateTime"] = abated
    return out


def _recorded_active(resource: dict[str, Any]) -> bool:
    codings = resource.get("clinicalStatus", {}).get("coding", [{}])
    status = codings[0].get("code", "active") if codings else "active"
    return status in ("active", "recurrence", "relapse") and not any(k.startswith("abatement") for k in resource)


def _mode(pack: Pack, rule_id: str, tags: frozenset[str]) -> str:
    """How a rule asks for the value sets an item carries: ever, lifelong or active."""
    rule = next(r for r in pack.rules if r.id == rule_id)
    asks = [p for _, p in iter_predicates(rule.when) if isinstance(p, HasCondition) and p.valueset in tags]
    if any(p.status == "ever" for p in asks):
        return "ever"
    if any(pack.valuesets[p.valueset].lifelong for p in asks):
        return "lifelong"
    return "active" if asks else "other"


def _cases() -> Iterator[Any]:
    for pack in PACKS.values():
        for vfile, index, vignette in pack.vignettes():
            bundle = vignette_bundle(pack, vfile, vignette)
            base = _fired(pack, vignette, bundle)
            for i in _conditions(bundle):
                absent = _fired(pack, vignette, _without(bundle, i))
                if any(rule not in absent or absent[rule] != seen for rule, seen in base.items()):
                    yield pytest.param(pack, vfile, index, i, id=f"{pack.name}:{vfile.path.stem}:{index}:{i}")


CASES = list(_cases())


@pytest.mark.parametrize(("pack", "vfile", "index", "i"), CASES)
def test_a_condition_recorded_inactive_is_never_silently_ignored(
    pack: Pack, vfile: VignetteFile, index: int, i: int
) -> None:
    vignette = vfile.vignettes[index]
    bundle = vignette_bundle(pack, vfile, vignette)
    base = _fired(pack, vignette, bundle)
    absent = _fired(pack, vignette, _without(bundle, i))
    resource = bundle["entry"][i]["resource"]
    tags = READER.read({"resourceType": "Bundle", "entry": [bundle["entry"][0], bundle["entry"][i]]}).conditions[0].tags
    made = [rule for rule, seen in base.items() if absent.get(rule) != seen]
    abated = (vignette.at.replace(day=1)).isoformat()
    variants = {
        "no clinicalStatus": _recorded(bundle, i, None, None),
        "inactive": _recorded(bundle, i, "inactive", None),
        "remission": _recorded(bundle, i, "remission", None),
        "remission with an abatement date": _recorded(bundle, i, "remission", abated),
        "resolved": _recorded(bundle, i, "resolved", None),
        "abatement date alone": _recorded(bundle, i, None, abated),
    }
    got = {name: _fired(pack, vignette, b) for name, b in variants.items()}
    # A Condition the vignette records as ended already is varied for the rules that ask for "ever" only.
    active = _recorded_active(resource)
    if active:
        assert got["no clinicalStatus"] == base, vignette.name
    for rule in made:
        mode = _mode(pack, rule, tags)
        if not active and mode != "ever":
            continue
        for name, fired in got.items():
            if name == "no clinicalStatus":
                continue
            where = f"{vignette.name} [{resource.get('code')} {name}] {rule} ({mode})"
            quiet = name in ("inactive", "remission", "remission with an abatement date")
            if mode == "ever" or (mode == "lifelong" and quiet):
                assert fired.get(rule) == base[rule], where
            elif mode == "lifelong" or (mode == "active" and quiet):
                assert rule in fired, where
            elif mode == "active":
                assert fired.get(rule) == absent.get(rule), where


def test_conditions_of_every_pack_are_varied_and_a_lifelong_set_is_among_them() -> None:
    """Chosen at collection: every pack has firing Conditions, and some carry a lifelong set."""
    assert {param.values[0].name for param in CASES} == set(PACKS) and len(CASES) >= 20
    lifelong = {vs.id for pack in PACKS.values() for vs in pack.valuesets.values() if vs.lifelong}
    assert lifelong, "no value set is marked lifelong"
    hits = 0
    for param in CASES:
        pack, vfile, index, i = param.values
        bundle = vignette_bundle(pack, vfile, vfile.vignettes[index])
        facts = READER.read({"resourceType": "Bundle", "entry": [bundle["entry"][0], bundle["entry"][i]]})
        hits += bool(facts.conditions and facts.conditions[0].tags & lifelong)
    assert hits, "no vignette has a Condition of a lifelong set; the lifelong variants never run"
