"""Integrity of the built-in packs: cited rules, vignettes both ways, recorded conflicts."""

from __future__ import annotations

import pytest

from rxguard.engine.vignettes import coverage
from rxguard.knowledge.loader import Pack, load_all

PACKS = load_all()
RULES = [(pack, rule) for pack in PACKS.values() for rule in pack.rules]


def test_both_builtin_packs_load() -> None:
    assert {"natalizumab", "mifamurtide"} <= set(PACKS)


@pytest.mark.parametrize(("pack", "rule"), RULES, ids=[rule.id for _, rule in RULES])
def test_every_rule_is_cited_and_has_vignettes_both_ways(pack: Pack, rule) -> None:  # type: ignore[no-untyped-def]
    assert rule.sources, "a rule cites at least one source"
    for citation in rule.sources:
        assert citation.source in pack.sources and citation.section.strip()
    fires, quiet = coverage(pack)[rule.id]
    assert fires, f"{rule.id} has no vignette where it fires"
    assert quiet, f"{rule.id} has no vignette where it must not fire"


@pytest.mark.parametrize("pack", PACKS.values(), ids=list(PACKS))
def test_unverified_sources_never_back_a_hard_block_alone(pack: Pack) -> None:
    """A contraindication resting only on unverified tier-D sources must be flagged for review or be a protocol rule."""
    for rule in pack.rules:
        tiers = {pack.sources[c.source].tier for c in rule.sources}
        if rule.severity_in(None) == "contraindicated" and tiers == {"D"}:
            assert rule.needs_review or rule.protocol, rule.id


@pytest.mark.parametrize("pack", PACKS.values(), ids=list(PACKS))
def test_conflicts_are_recorded_with_sources_and_resolution(pack: Pack) -> None:
    assert pack.conflicts, "every built-in pack records where its sources disagree"
    for conflict in pack.conflicts:
        assert len(conflict.claims) >= 1 and conflict.resolution.strip()
        for claim in conflict.claims:
            assert claim.source in pack.sources


def test_seed_pages_are_tier_d_unverified_sources() -> None:
    seeded = 0
    for pack in PACKS.values():
        seeds = [s for s in pack.sources.values() if s.id.startswith("seed-")]
        seeded += bool(seeds)
        assert all(s.tier == "D" and not s.verified for s in seeds), pack.name
    assert seeded, "no pack registers a seed page"


@pytest.mark.parametrize(
    ("drug", "refs"),
    [("natalizumab", [f"N{i}" for i in range(1, 21)]), ("mifamurtide", [f"M{i}" for i in range(1, 10)])],
)
def test_every_clinical_facts_vignette_is_encoded(drug: str, refs: list[str]) -> None:
    present = {v.ref for _, _, v in PACKS[drug].vignettes()}
    missing = [ref for ref in refs if ref not in present]
    assert not missing, f"{drug}: vignettes missing for {missing}"


def test_input_only_aliases_are_never_display_names() -> None:
    for pack in PACKS.values():
        shown = {pack.identity.inn.casefold(), *(v.casefold() for v in pack.identity.display.values())}
        shown |= {p.name.casefold() for p in pack.identity.products}
        for alias in pack.identity.aliases:
            assert alias.text.casefold() not in shown, alias.text


@pytest.mark.parametrize("pack", PACKS.values(), ids=list(PACKS))
def test_every_value_set_tested_for_current_use_says_how_long_an_administration_counts(pack: Pack) -> None:
    """exposure.yaml has a default entry (a cited duration, or none with needs_review) for each such value set."""
    from rxguard.knowledge.references import iter_predicates

    conditions = [rule.when for rule in pack.rules]
    conditions += [s.when for s in pack.risk.strata] if pack.risk else []
    current = {
        pred.valueset
        for condition in conditions
        for kind, pred in iter_predicates(condition)
        if kind == "has_medication" and pred.status == "active" and pred.valueset != pack.identity.id
    }
    defaults = {e.valueset for e in pack.exposures if e.member_tag(pack.identity.id) is None}
    missing = sorted(current - defaults)
    assert not missing, (
        f"{pack.name}/exposure.yaml: add a default entry for {missing} (needs_review if no source states one)"
    )
    for exposure in pack.exposures:
        if exposure.after_administration is not None:
            assert exposure.sources, exposure.id
        else:
            assert exposure.needs_review and exposure.review_note, exposure.id


def test_a_schedule_items_title_says_what_is_due_and_its_basis_says_where_it_comes_from() -> None:
    """A card's summary is the item's title: "(seed page; ...)" belongs to the basis, shown beside it in plain words."""
    from rxguard.cds_hooks.cards import BASIS_WORDS

    for pack in load_all().values():
        for item in pack.monitoring:
            assert "seed" not in item.title.lower() and "label requirement" not in item.title, item.id
            assert item.basis in BASIS_WORDS, item.id
