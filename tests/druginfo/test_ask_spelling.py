"""Misspelt and shortened words: a question with one word misspelt (two inner letters swapped,
one letter dropped) is read like the question as written, and a word start or a compound's end
is read as the packs' word it begins or ends. Metamorphic over the held-out questions."""

from __future__ import annotations

import re

import pytest
from tests.druginfo.evaluation import load_items

from rxguard.druginfo.ask import answer_question, library
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.names import find_drugs_in_text, is_cjk


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


def _variants(question: str, keep: set[str]) -> list[str]:
    """The question with its longest ordinary word misspelt two ways."""
    words = [w for w in re.findall(r"[A-Za-z]{7,}", question) if w.casefold() not in keep]
    if not words:
        return []
    word = max(words, key=len)
    swapped = word[:2] + word[3] + word[2] + word[4:]
    dropped = word[:3] + word[4:]
    return [question.replace(word, v, 1) for v in (swapped, dropped) if v.casefold() != word.casefold()]


def test_a_misspelt_word_is_read_like_the_word(packs: dict[str, Pack]) -> None:
    same = total = 0
    for item in load_items("questions_personas.yaml") + load_items("questions_heldout.yaml"):
        question = item["q"]
        if is_cjk(question) or item["drug"] is None:
            continue
        found = find_drugs_in_text(question, packs)
        keep = {w.casefold() for r in found for w in re.findall(r"[A-Za-z]+", r.matched)}
        base = answer_question(question, packs=packs)
        for variant in _variants(question, keep):
            answer = answer_question(variant, packs=packs)
            total += 1
            same += (answer.status, answer.topic) == (base.status, base.topic)
    assert total >= 100
    assert same / total >= 0.9, f"{same} of {total}"


def test_word_starts_and_compound_ends_are_read_as_the_packs_words(packs: dict[str, Pack]) -> None:
    lib = library(packs)
    for drug in packs:
        vocabulary = lib.index(drug, "en").vocabulary()
        long_words = [w for w in vocabulary.words if len(w) >= 10]
        assert long_words, drug
        for word in long_words[:: max(1, len(long_words) // 20)]:
            start = word[:6]
            if not vocabulary.is_unknown(start):
                continue
            assert word in vocabulary.completions(start) or len(vocabulary.completions(start)) == 3, (drug, start)
            assert vocabulary.correction(word[:3] + word[4:]) in (word, None), (drug, word)


def test_the_words_of_a_question_are_never_corrected_into_a_drug_found_in_it(packs: dict[str, Pack]) -> None:
    lib = library(packs)
    question = "Tysarbi and pregant"
    found = find_drugs_in_text(question, packs)
    assert found and found[0].drug == "natalizumab"
    corrected = lib.spelling().corrected(question, keep=[r.matched for r in found])
    assert corrected.startswith("Tysarbi") and "pregnan" in corrected
