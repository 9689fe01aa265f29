"""Tagging coded and free-text items with value-set ids.

A :class:`Vocabulary` is built once from the knowledge packs' value sets
(``code`` lists and ``name`` lists). The FHIR reader asks it for the tags of
every Condition, medication, allergy and procedure, so the engine later tests
membership in a set instead of matching strings.

Codes are ``system|code`` with a short system name (see :data:`SYSTEMS`).
ATC codes match hierarchically: ``atc|L04AB`` covers ``atc|L04AB02``.
Names match whole words, case-insensitively: ``azathioprine`` matches
"Azathioprine 50 MG Oral Tablet" but not "azathioprinex".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SYSTEMS: dict[str, str] = {
    "http://snomed.info/sct": "sct",
    "http://loinc.org": "loinc",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "http://www.whocc.no/atc": "atc",
    "http://hl7.org/fhir/sid/icd-10": "icd10",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd10",
    "urn:rxguard:lab": "rxguard-lab",
    "urn:rxguard:procedure": "rxguard-procedure",
}
_WORD = re.compile(r"[^\w]+", re.UNICODE)


def short_system(system: str) -> str:
    return SYSTEMS.get(system, system)


@functools.lru_cache(maxsize=16384)
def normalize_text(text: str) -> str:
    """Lower case, punctuation to single spaces: the form names are matched in."""
    return " ".join(_WORD.split(text.casefold())).strip()


@dataclass
class Vocabulary:
    """Value-set membership by code and by name; built once, queried per item."""

    codes: dict[str, set[str]] = field(default_factory=dict)
    atc_prefixes: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)
    excludes: dict[str, set[str]] = field(default_factory=dict)
    max_words: int = 1
    _cache: dict[tuple[tuple[str, ...], str], frozenset[str]] = field(default_factory=dict)

    def add(self, tag: str, codes: Iterable[str], names: Iterable[str], excludes: Iterable[str] = ()) -> None:
        for code in codes:
            system, _, value = code.partition("|")
            system = short_system(system)
            if system == "atc":
                self.atc_prefixes.setdefault(value.upper(), set()).add(tag)
            else:
                self.codes.setdefault(f"{system}|{value}", set()).add(tag)
        for name in names:
            norm = normalize_text(name)
            if norm:
                self.names.setdefault(norm, set()).add(tag)
                self.max_words = max(self.max_words, norm.count(" ") + 1)
        for name in excludes:
            norm = normalize_text(name)
            if norm:
                self.excludes.setdefault(norm, set()).add(tag)
                self.max_words = max(self.max_words, norm.count(" ") + 1)
        self._cache.clear()

    def _phrases(self, text: str) -> Iterable[str]:
        words = normalize_text(text).split()
        for size in range(1, min(self.max_words, len(words)) + 1):
            for start in range(len(words) - size + 1):
                yield " ".join(words[start : start + size])

    def tags_for(self, codes: tuple[str, ...], text: str) -> frozenset[str]:
        key = (codes, text)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        found: set[str] = set()
        removed: set[str] = set()
        for code in codes:
            hit = self.codes.get(code)
            if hit:
                found |= hit
            if code.startswith("atc|"):
                value = code[4:].upper()
                for length in (1, 3, 4, 5, 7):
                    hit = self.atc_prefixes.get(value[:length])
                    if hit:
                        found |= hit
        if text:
            for phrase in self._phrases(text):
                hit = self.names.get(phrase)
                if hit:
                    found |= hit
                gone = self.excludes.get(phrase)
                if gone:
                    removed |= gone
        result = frozenset(found - removed)
        if len(self._cache) < 50_000:
            self._cache[key] = result
        return result


def core_vocabulary() -> Vocabulary:
    """Tags the facts layer itself relies on, whatever packs are loaded."""
    vocab = Vocabulary()
    # Pregnancy: SNOMED 77386006 "Pregnancy (finding)" (clinical-facts §5.3, tier D, unverified).
    vocab.add("pregnancy", ["sct|77386006"], ["pregnancy", "pregnant"])
    vocab.add("breastfeeding", [], ["breastfeeding", "breast feeding", "lactating", "lactation"])
    return vocab
