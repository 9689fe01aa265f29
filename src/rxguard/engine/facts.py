"""Reading patient facts with every loaded pack's value sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rxguard.facts.fhir import FactsReader, parse_json
from rxguard.facts.model import PatientFacts
from rxguard.facts.vocabulary import Vocabulary, core_vocabulary, normalize_text
from rxguard.knowledge.labs import catalogue_for
from rxguard.knowledge.loader import Pack, load_all

_READERS: dict[tuple[int, ...], tuple[tuple[Pack, ...], FactsReader]] = {}


def brand_lexicon(packs: Mapping[str, Pack]) -> dict[str, list[str]]:
    """Ingredient (normalized) -> every brand any loaded pack's medication value sets name for it.

    A brand is a fact about a product (its source says which ingredient it contains), not about
    one value set: a record that says "Rasuvo" is methotrexate in every set that names methotrexate,
    whichever pack happened to list the brand.
    """
    lexicon: dict[str, list[str]] = {}
    for pack in packs.values():
        for vs in pack.valuesets.values():
            for brand in vs.brands:
                names = lexicon.setdefault(normalize_text(brand.ingredient), [])
                if brand.name not in names:
                    names.append(brand.name)
    return lexicon


def _brands_by_ingredient(names: list[str], lexicon: Mapping[str, list[str]]) -> list[str]:
    return [brand for name in names for brand in lexicon.get(normalize_text(name), ())]


def vocabulary_for(packs: Mapping[str, Pack]) -> Vocabulary:
    """One vocabulary from the core tags plus every pack's value sets.

    A medication set matches its own names and brands and, through :func:`brand_lexicon`, the
    brands of the ingredients it names that other sets list.
    """
    vocab = core_vocabulary()
    lexicon = brand_lexicon(packs)
    for pack in packs.values():
        for vs in pack.valuesets.values():
            shared = _brands_by_ingredient(vs.names, lexicon) if vs.kind == "medication" else []
            vocab.add(
                vs.id,
                vs.code_values(),
                [*vs.match_names(), *shared],
                vs.excludes,
                [c.code for c in vs.exclude_codes],
                misspellings=vs.kind == "medication",
            )
        # A product's carton code (its NDC, current or former, as pack.yaml declares it) is the drug itself:
        # an order or a dispense sent with nothing but the NDC is still this pack's drug.
        ndcs = [
            f"ndc|{value}"
            for product in pack.identity.products
            for key, value in product.identifiers.items()
            if key.split("-", 1)[0] == "ndc"
        ]
        if ndcs:
            vocab.add(pack.identity.id, ndcs, [])
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
