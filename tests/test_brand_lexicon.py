"""A brand named by one value set counts in every medication set that names its ingredient."""

from __future__ import annotations

import dataclasses

from rxguard.engine.facts import brand_lexicon, vocabulary_for
from rxguard.facts.vocabulary import normalize_text
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.schema import Brand, ValueSet

PACKS = load_all()


def _statement(text: str) -> tuple[tuple[str, ...], str]:
    return (), text


def test_every_brand_of_a_named_ingredient_matches_every_set_that_names_it() -> None:
    """Over the real packs: for each medication set and each ingredient it names, every brand any
    pack lists for that ingredient, written alone as an EHR writes free text, carries the set's tag."""
    vocab = vocabulary_for(PACKS)
    lexicon = brand_lexicon(PACKS)
    checked = 0
    for pack in PACKS.values():
        for vs in pack.valuesets.values():
            if vs.kind != "medication":
                continue
            for name in vs.names:
                for brand in lexicon.get(normalize_text(name), ()):
                    tags = vocab.tags_for(*_statement(f"{brand} 50 mg tablet"))
                    assert vs.id in tags, f"{brand} ({name}) is not read as {pack.name}:{vs.id}"
                    checked += 1
    # Brands reach sets that do not list them (methotrexate's brands, listed under the
    # immunosuppressants, are also antineoplastics); the loop above must have checked those.
    assert checked > sum(len(vs.brands) for p in PACKS.values() for vs in p.valuesets.values())


def test_a_brand_reaches_another_set_only_through_its_ingredient() -> None:
    listed = ValueSet(
        id="listing-set",
        title="Lists the brand",
        kind="medication",
        names=["examplumab"],
        brands=[Brand(name="Exampla", ingredient="examplumab", source="S1")],
    )
    naming = ValueSet(id="naming-set", title="Names the ingredient", kind="medication", names=["Examplumab"])
    other = ValueSet(id="other-set", title="Another ingredient", kind="medication", names=["otherumab"])
    condition = ValueSet(id="condition-set", title="A condition", kind="condition", names=["examplumab"])
    pack = next(iter(PACKS.values()))
    toy = dataclasses.replace(pack, valuesets={vs.id: vs for vs in (listed, naming, other, condition)}, exposures=())
    vocab = vocabulary_for({"toy": toy})
    assert vocab.tags_for((), "Exampla 100 mg") >= {"listing-set", "naming-set"}
    assert "other-set" not in vocab.tags_for((), "Exampla 100 mg")
    assert "condition-set" not in vocab.tags_for((), "Exampla 100 mg")
