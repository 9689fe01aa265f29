"""The held-out questions (heldout.yaml, written after tuning): the figures must not regress.

Measured when the set was written (drug / topic / key facts): English 100 % / 80 % / 96 %,
Chinese 100 % / 90 % / 96 %. The floors sit a little below, so a change that loses an
answer fails here; tuned.yaml keeps its own, higher floor.
"""

from __future__ import annotations

from typing import get_args

import pytest
from tests.druginfo.evaluation import evaluate, load_items

from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.monograph import SectionId

FLOORS = {
    "heldout.yaml": {"en": (0.95, 0.75, 0.90), "zh": (0.95, 0.85, 0.90)},
    "tuned.yaml": {"en": (0.95, 0.90, 0.90), "zh": (0.95, 0.90, 0.90)},
}
#: paraphrases.yaml (everyday phrasings: "can I get X if I have Y", "how long", "how often",
#: "X side effects"): measured before the phrasing changes at English 100 % / 67 % / 73 %,
#: Chinese 100 % / 81 % / 94 %; after, 100 % / 93 % / 100 % and 100 % / 100 % / 100 %.
PARAPHRASE_FLOORS = {
    "paraphrases.yaml": {"en": (0.95, 0.90, 0.95), "zh": (0.95, 0.90, 0.95)},
    # measured when written at 100/75/95 and 100/83/92; after the fixes 100/95/95 and 100/100/100
    "paraphrases_unseen.yaml": {"en": (0.95, 0.85, 0.90), "zh": (0.95, 0.90, 0.90)},
}


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


def test_the_sets_are_large_enough_and_balanced() -> None:
    for name in FLOORS:
        items = load_items(name)
        chinese = [i for i in items if any("\u4e00" <= ch <= "\u9fff" for ch in i["q"])]
        assert len(chinese) >= 25 and len(items) - len(chinese) >= 25, name
        assert any(i["drug"] is None for i in items) and any(i["topic"] is None for i in items), name
        assert sum(bool(i.get("facts")) for i in items) >= 40, name


@pytest.mark.parametrize("name", list(FLOORS))
def test_drug_topic_and_key_fact_figures_hold(packs: dict[str, Pack], name: str) -> None:
    figures = evaluate(load_items(name), packs)
    report = "; ".join(f.line(lang) for lang, f in figures.items())
    print(name, report)
    for lang, (drug, topic, facts) in FLOORS[name].items():
        got = figures[lang]
        assert got.drug >= drug and got.topic >= topic and got.facts >= facts, f"{report}; misses {got.misses}"


@pytest.mark.parametrize("name", list(PARAPHRASE_FLOORS))
def test_everyday_phrasings_hold(packs: dict[str, Pack], name: str) -> None:
    items = load_items(name)
    assert len(items) >= 30 and {i["drug"] for i in items} >= {"natalizumab", "mifamurtide", "alemtuzumab"}
    figures = evaluate(items, packs)
    report = "; ".join(f.line(lang) for lang, f in figures.items())
    for lang, (drug, topic, facts) in PARAPHRASE_FLOORS[name].items():
        got = figures[lang]
        assert got.drug >= drug and got.topic >= topic and got.facts >= facts, f"{report}; misses {got.misses}"


#: questions_heldout.yaml (220 questions over the three packs, written before the changes it
#: measures): drug / topic / key facts / statements quoted, measured when written at English
#: 100 / 81 / 76 / 80 %, Chinese 100 / 88 / 100 / 82 %; after the changes it prompted at
#: 100 / 95 / 95 (35 of 37) / 93 (117 of 126) % and 100 / 99 / 100 (4 of 4) / 99 (66 of 67) %;
#: after those of questions_personas.yaml at 100 / 97 / 97 / 96 % and 100 / 99 / 100 / 99 %.
#: The floors sit one question below the measured figures (Chinese has four key facts: one miss
#: is 75 %).
HELDOUT_FLOORS = {
    "questions_heldout.yaml": {"en": (0.99, 0.96, 0.94, 0.95), "zh": (0.99, 0.97, 0.75, 0.97)},
    # questions_personas.yaml (220 questions as patients, nurses, pharmacists and prescribers ask
    # them, written from the monographs' statements alone before the changes it measures):
    # measured when written at English 100 / 85 / 93 (26 of 28) / 85 (104 of 123) %, Chinese
    # 100 / 90 / 100 (11 of 11) / 84 (46 of 55) %; after the changes it prompted at
    # 100 / 96 / 100 / 93 % and 100 / 97 / 100 / 93 %. Floors one question below. (Some questions
    # are now answered from statements added since: missed dose, driving, overdose, storage.)
    "questions_personas.yaml": {"en": (0.99, 0.95, 0.96, 0.92), "zh": (0.99, 0.955, 0.90, 0.91)},
}


@pytest.mark.parametrize("name", list(HELDOUT_FLOORS))
def test_the_third_and_fourth_held_out_sets_cover_every_topic_drug_and_language(name: str) -> None:
    items = load_items(name)
    assert len(items) >= 150
    chinese = [i for i in items if any("\u4e00" <= ch <= "\u9fff" for ch in i["q"])]
    assert len(chinese) >= 50 and len(items) - len(chinese) >= 100
    assert {i["drug"] for i in items} == {"natalizumab", "mifamurtide", "alemtuzumab", None}
    topics = {t for i in items for t in (i["topic"] if isinstance(i["topic"], list) else [i["topic"]])}
    assert topics >= {*get_args(SectionId), None}
    assert sum(bool(i.get("items")) for i in items if i["topic"] is not None) >= 0.95 * sum(
        i["topic"] is not None for i in items
    )


@pytest.mark.parametrize("name", list(HELDOUT_FLOORS))
def test_held_out_answers_quote_the_expected_statements(packs: dict[str, Pack], name: str) -> None:
    figures = evaluate(load_items(name), packs)
    report = "; ".join(f.line(lang) for lang, f in figures.items())
    print(name, report)
    for lang, (drug, topic, facts, items) in HELDOUT_FLOORS[name].items():
        got = figures[lang]
        assert got.drug >= drug and got.topic >= topic and got.facts >= facts and got.items >= items, (
            f"{report}; misses {got.misses}"
        )
