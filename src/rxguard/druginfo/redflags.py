"""Red flags: symptoms in a question that always get the pack's urgent action.

A question that describes the warning signs a label names (new neurological
symptoms, a fever that has not settled many hours after an infusion) must get
the urgent action whatever else it asks, even when rxguard cannot tell what the question is about. The
symptoms and the actions are pack data (``red_flags`` in ``monograph.yaml``),
cited like every statement; this module only matches them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rxguard.druginfo.labels import Language
from rxguard.druginfo.tokens import has_han, to_simplified

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack
    from rxguard.knowledge.monograph import RedFlag


@dataclass(frozen=True)
class RaisedFlag:
    flag: RedFlag
    matched: tuple[str, ...]


@functools.lru_cache(maxsize=512)
def _pattern(cue: str) -> re.Pattern[str]:
    return re.compile(rf"\b{cue}", re.IGNORECASE)


def _group_hit(question: str, simplified: str, flag: RedFlag, groups_lang: Language) -> tuple[str, ...] | None:
    hits: list[str] = []
    for group in flag.cues[groups_lang]:
        found = None
        for cue in group:
            if groups_lang == "zh":
                if cue in simplified:
                    found = cue
                    break
            else:
                match = _pattern(cue).search(question)
                if match:
                    found = match.group(0)
                    break
        if found is None:
            return None
        hits.append(found)
    return tuple(hits)


def raised_flags(question: str, pack: Pack) -> list[RaisedFlag]:
    """The pack's red flags whose every cue group matches the question (either language's cues)."""
    from rxguard.knowledge.monograph import monograph_of

    mono = monograph_of(pack)
    if mono is None:
        return []
    simplified = to_simplified(question)
    out: list[RaisedFlag] = []
    for flag in mono.red_flags:
        langs: tuple[Language, ...] = ("zh", "en") if has_han(question) else ("en",)
        for lang in langs:
            hit = _group_hit(question, simplified, flag, lang)
            if hit is not None:
                out.append(RaisedFlag(flag, hit))
                break
    return out
