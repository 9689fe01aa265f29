"""Condition names from the packs' value sets that the assertion tests rewrite with trigger phrases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rxguard.facts.vocabulary import Vocabulary
from rxguard.knowledge.loader import Pack


def single_set_condition_names(
    packs: Mapping[str, Pack], vocab: Vocabulary, trigger_words: Iterable[str]
) -> list[tuple[str, str]]:
    """(value set, name) for condition names that tag exactly their set and hold no trigger word."""
    words = set(trigger_words)
    out = []
    for pack in packs.values():
        for vs in pack.valuesets.values():
            if vs.kind != "condition":
                continue
            for name in vs.names:
                if "*" in name or set(name.casefold().split()) & words:
                    continue
                if vocab.tags_for((), name) == {vs.id}:
                    out.append((vs.id, name))
    return sorted(set(out))
