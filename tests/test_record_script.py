"""A record written in a script no value set names things in, with no code rxguard reads, is listed as not
read: the assessment's coverage is incomplete, never a silent complete ``ok`` (fail visible)."""

from __future__ import annotations

from datetime import date

import pytest

from rxguard.engine import assess, reader_for
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import load_all

PACKS = load_all()
READER = reader_for(PACKS)
AT = date(2026, 1, 5)
BASE = {"age": 40, "sex": "female", "conditions": [{"text": "Multiple sclerosis"}]}
#: Words in other scripts (what a Chinese or Russian record writes), none of them names a value set holds.
UNREAD = ("进行性多灶性白质脑病", "艾滋病", "布洛芬", "Прогрессирующая лейкоэнцефалопатия")
SLOTS = ("conditions", "allergies", "procedures", "medications", "immunizations")


def _assessment(slot: str, item: dict[str, str]) -> object:
    patient = {**BASE, slot: [*BASE.get(slot, []), item]}
    bundle = build_bundle(patient, at=AT, drug="natalizumab")
    return assess(PACKS["natalizumab"], READER.read(bundle), at=AT, jurisdiction="EU")


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("words", UNREAD)
def test_words_in_an_unread_script_make_coverage_incomplete(slot: str, words: str) -> None:
    a = _assessment(slot, {"text": words})
    assert not a.coverage.complete  # type: ignore[attr-defined]
    assert any(words in line for line in a.coverage.not_read)  # type: ignore[attr-defined]


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize(
    "words", ["Hypertension", "Interferon β-1a", "Appendectomy", "Vitamin B12 500 µg", "Ménière disease"]
)
def test_latin_and_greek_words_are_read_as_before(slot: str, words: str) -> None:
    """Words the value sets could name are read, named or not: a record naming nothing the rules ask about
    is not a gap."""
    a = _assessment(slot, {"text": words})
    assert not any(words in line for line in a.coverage.not_read)  # type: ignore[attr-defined]


@pytest.mark.parametrize("slot", ["conditions", "allergies", "procedures"])
def test_a_code_rxguard_reads_is_the_record_whatever_its_words(slot: str) -> None:
    """A SNOMED CT code is read (here one in no value set), so the Chinese text beside it leaves no gap."""
    a = _assessment(slot, {"text": "高血压", "code": "sct|38341003"})
    assert not any("高血压" in line for line in a.coverage.not_read)  # type: ignore[attr-defined]
