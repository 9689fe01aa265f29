"""Reading patient facts with every loaded pack's value sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rxguard.facts.fhir import FactsReader, parse_json
from rxguard.facts.model import PatientFacts
from rxguard.facts.vocabulary import Vocabulary, core_vocabulary
from rxguard.knowledge.labs import catalogue_for
from rxguard.knowledge.loader import Pack, load_all

_READERS: dict[tuple[int, ...], tuple[tuple[Pack, ...], FactsReader]] = {}


def vocabulary_for(packs: Mapping[str, Pack]) -> Vocabulary:
    """One vocabulary from the core tags plus every pack's value sets."""
    vocab = core_vocabulary()
    for pack in packs.values():
        for vs in pack.valuesets.values():
            vocab.add(
                vs.id,
                vs.code_values(),
                vs.match_names(),
                vs.excludes,
                [c.code for c in vs.exclude_codes],
                misspellings=vs.kind == "medication",
            )
        for exposure in pack.exposures:
            tag = exposure.member_tag(pack.identity.id)
            if tag is not None:
                vocab.add(tag, exposure.codes, exposure.names)
    return vocab


def reader_for(packs: Mapping[str, Pack] | None = None) -> FactsReader:
    packs = load_all() if packs is None else packs
    key = tuple(id(p) for p in packs.values())
    cached = _READERS.get(key)
    if cached is None:
        cached = (tuple(packs.values()), FactsReader(vocabulary_for(packs), catalogue_for(packs)))
        _READERS[key] = cached
    return cached[1]


def read_facts(
    data: Any,
    packs: Mapping[str, Pack] | None = None,
    *,
    patient: str | None = None,
    held: PatientFacts | None = None,
) -> PatientFacts:
    """FHIR R4 Bundle or prefetch (dict, bytes or str) -> PatientFacts tagged for all packs.

    ``patient`` chooses the Patient to assess when the input holds several (id, fullUrl or identifier);
    ``held``: the patient rxguard holds (demographics only), assessed when the input holds no Patient.
    """
    if isinstance(data, bytes | str):
        data = parse_json(data)
    return reader_for(packs).read(data, patient, held=held)
