"""The labelled question set: drug and intent accuracy of `rxguard ask`, at least 95 % each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from rxguard.druginfo.ask import answer_question
from rxguard.druginfo.intents import INTENTS, classify_intent, out_of_scope_score
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.names import find_drugs_in_text, is_cjk

QUESTIONS: list[dict[str, Any]] = YAML(typ="safe").load((Path(__file__).parent / "questions.yaml").read_text("utf-8"))
THRESHOLD = 0.95


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


def _found_drug(question: str, packs: dict[str, Pack]) -> str | None:
    found = find_drugs_in_text(question, packs)
    return found[0].drug if found else None


def test_the_labelled_set_is_broad_enough() -> None:
    assert len(QUESTIONS) >= 80
    assert {q["intent"] for q in QUESTIONS} >= set(INTENTS) | {None}
    assert sum(is_cjk(q["q"]) for q in QUESTIONS) >= 25
    assert sum(q["drug"] is None for q in QUESTIONS) >= 5
    assert {q["drug"] for q in QUESTIONS} == {"natalizumab", "mifamurtide", None}


def test_drug_and_intent_accuracy_are_at_least_95_percent(packs: dict[str, Pack]) -> None:
    drug_misses = [q for q in QUESTIONS if _found_drug(q["q"], packs) != q["drug"]]
    intent_misses = [q for q in QUESTIONS if classify_intent(q["q"]) != q["intent"]]
    drug_accuracy = 1 - len(drug_misses) / len(QUESTIONS)
    intent_accuracy = 1 - len(intent_misses) / len(QUESTIONS)
    report = (
        f"{len(QUESTIONS)} questions: drug accuracy {drug_accuracy:.1%}, intent accuracy {intent_accuracy:.1%}; "
        f"drug misses {[q['q'] for q in drug_misses]}; intent misses {[q['q'] for q in intent_misses]}"
    )
    print(report)
    assert drug_accuracy >= THRESHOLD, report
    assert intent_accuracy >= THRESHOLD, report


def test_every_answer_is_honest_about_what_was_found(packs: dict[str, Pack]) -> None:
    """Per question, the answer's status follows from the drug and intent found (not the label),
    so a single misclassification counts against the accuracy above and nowhere else."""
    for item in QUESTIONS:
        question = item["q"]
        answer = answer_question(question, packs=packs)
        assert answer.lang == ("zh" if is_cjk(question) else "en"), question
        if _found_drug(question, packs) is None:
            assert answer.status == "no-drug", question
            assert "no pack" in answer.message or "没有" in answer.message, question
        elif classify_intent(question) is None and out_of_scope_score(question) > 0:
            assert answer.status == "no-intent", question
            assert answer.covers, question
        elif answer.status == "answered":
            for drug in answer.drugs:
                assert drug.direct and drug.topic, question
                assert all(st.citations for s in drug.sections for st in s.statements), question
                assert all(u.citations for u in drug.urgent), question
        else:
            assert answer.status == "no-intent" and classify_intent(question) is None, question


def test_the_answer_topic_follows_the_labelled_intent(packs: dict[str, Pack]) -> None:
    """Retrieval decides the topic with the intent as a prior: on the tuned set it agrees with the label."""
    answered = [q for q in QUESTIONS if q["drug"] is not None and q["intent"] is not None]
    misses = [q["q"] for q in answered if answer_question(q["q"], packs=packs).topic != q["intent"]]
    accuracy = 1 - len(misses) / len(answered)
    assert accuracy >= THRESHOLD, f"topic accuracy {accuracy:.1%}; misses {misses}"
