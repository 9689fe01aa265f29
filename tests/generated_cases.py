"""What the generated-variant tests start from: the packs' firing vignettes and their condition names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from rxguard.facts.vocabulary import Vocabulary
from rxguard.knowledge.loader import Pack
from rxguard.knowledge.schema import Vignette


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


def firing_patient_vignettes(packs: Mapping[str, Pack]) -> Iterator[tuple[Pack, Vignette]]:
    """Every vignette written as a patient (not a Bundle) that expects a rule to fire, with its pack."""
    for pack in packs.values():
        for _vfile, _index, vignette in pack.vignettes():
            if not vignette.bundle and vignette.patient and vignette.expect.fires:
                yield pack, vignette
