"""Intent of a drug question, from keyword and phrase lists in English and Chinese.

Deterministic on purpose: no network and no language model, so the same
question always gets the same answer and every classification can be
explained by the phrases that matched. Each intent maps to one monograph
section. English patterns are regular expressions matched at a word start
(``contraindicat`` matches "contraindications"; "indication" does not match
inside "contraindication"); Chinese phrases are matched as substrings.

The generic words are data (``intents.yaml``, beside this module). A drug's own vocabulary (its disease, its lab, its
risk model's words) comes from its pack: each monograph section may list
``keywords`` that add to the words of the intent of the same id
(:func:`pack_keywords`).

A question that matches an out-of-scope phrase (price, mechanism, efficacy)
at least as strongly as any intent has no intent: rxguard says what it covers
instead of answering a different question.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack

Intent = Literal[
    "access",
    "indications",
    "contraindications",
    "warnings",
    "adverse-reactions",
    "monitoring",
    "administration",
    "special-populations",
    "interactions",
    "risk",
    "names",
]
#: Order used to break ties: the more specific intent first.
INTENTS: tuple[Intent, ...] = (
    "risk",
    "contraindications",
    "interactions",
    "special-populations",
    "adverse-reactions",
    "administration",
    "monitoring",
    "access",
    "indications",
    "names",
    "warnings",
)
#: The monograph section that answers each intent.
SECTION_OF: dict[Intent, str] = {intent: intent for intent in INTENTS}

_Weighted = dict[int, tuple[str, ...]]
_VOCABULARY = Path(__file__).with_name("intents.yaml")


@functools.cache
def _vocabulary() -> dict[str, Any]:
    """``intents.yaml``: the generic words of each intent, out-of-scope words and facets."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(_VOCABULARY.read_text("utf-8"), Loader=loader)
    return data


def intent_vocabulary() -> dict[str, Any]:
    """The parsed ``intents.yaml``."""
    return _vocabulary()


def _weighted(table: Mapping[Any, Any], who: str = "") -> _Weighted:
    return {int(w): tuple(p.replace("{who}", who) for p in ps) for w, ps in table.items()}


def _generic(lang: str) -> dict[str, _Weighted]:
    data = _vocabulary()
    unknown = set(data[lang]) - set(INTENTS)
    if unknown:
        raise ValueError(f"{_VOCABULARY.name}: {lang}: unknown intents {sorted(unknown)}; use one of {list(INTENTS)}")
    return {intent: _weighted(table, data["who"]) for intent, table in data[lang].items()}


_HAN = re.compile(r"[\u3400-\u9fff]")
_Patterns = tuple[tuple[re.Pattern[str], float], ...]
_Phrases = tuple[tuple[str, float], ...]


def _patterns(weighted: _Weighted) -> _Patterns:
    """English patterns, anchored at a word start, case-insensitive."""
    return tuple((re.compile(rf"\b{p}", re.IGNORECASE), float(w)) for w, ps in weighted.items() for p in ps)


def _phrases(weighted: _Weighted) -> _Phrases:
    return tuple((p, float(w)) for w, ps in weighted.items() for p in ps)


def pack_keywords(packs: Mapping[str, Pack]) -> tuple[dict[str, _Weighted], dict[str, _Weighted]]:
    """English and Chinese words by intent from the packs' monograph sections (``keywords``)."""
    en: dict[str, dict[int, list[str]]] = {}
    zh: dict[str, dict[int, list[str]]] = {}
    for pack in packs.values():
        mono = pack.extras.get("monograph.yaml")
        for section in getattr(mono, "sections", ()):
            if section.id not in INTENTS:
                continue
            for table, given in ((en, section.keywords.en), (zh, section.keywords.zh)):
                for weight, words in given.items():
                    found = table.setdefault(section.id, {}).setdefault(weight, [])
                    found.extend(w for w in words if w not in found)
    return (
        {intent: {w: tuple(ws) for w, ws in by.items()} for intent, by in en.items()},
        {intent: {w: tuple(ws) for w, ws in by.items()} for intent, by in zh.items()},
    )


def _merged(base: dict[str, _Weighted], extra: dict[str, _Weighted], intent: str) -> _Weighted:
    out = {w: list(ps) for w, ps in base.get(intent, {}).items()}
    for weight, phrases in extra.get(intent, {}).items():
        out.setdefault(weight, []).extend(p for p in phrases if p not in out[weight])
    return {w: tuple(ps) for w, ps in out.items()}


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, _Patterns], dict[str, _Phrases]]:
    """Every intent's English patterns and Chinese phrases: the generic ones and the installed packs'."""
    from rxguard.knowledge.loader import load_all  # the packs are read once, on the first question

    en, zh = pack_keywords(load_all())
    generic_en, generic_zh = _generic("en"), _generic("zh")
    return (
        {intent: _patterns(_merged(generic_en, en, intent)) for intent in INTENTS},
        {intent: _phrases(_merged(generic_zh, zh, intent)) for intent in INTENTS},
    )


@functools.cache
def _out_of_scope() -> tuple[_Patterns, _Phrases]:
    table = _vocabulary()["out_of_scope"]
    return _patterns(_weighted(table["en"])), _phrases(_weighted(table["zh"]))


@dataclass(frozen=True)
class IntentScore:
    intent: Intent
    score: float
    matched: tuple[str, ...]


def _score(
    text: str, patterns: tuple[tuple[re.Pattern[str], float], ...], phrases: _Phrases, names: tuple[str, ...] = ()
) -> tuple[float, list[str]]:
    score, matched = 0.0, []
    for pattern, weight in patterns:
        hit = pattern.search(text)
        if hit:
            score += weight
            matched.append(hit.group(0))
    upper = text.upper()
    chinese = bool(_HAN.search(text))
    for phrase, weight in phrases:
        # Latin phrases of the Chinese list (an abbreviation) count only in Chinese text; in English
        # text the English patterns already score them.
        if (chinese or _HAN.search(phrase)) and _zh_in(phrase, upper, names):
            score += weight
            matched.append(phrase)
    return score, matched


#: In a Chinese phrase, "…" stands for up to this many characters (a drug's name between two words).
_GAP = 12


@functools.lru_cache(maxsize=512)
def _gap_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(f"(?=({f'.{{0,{_GAP}}}?'.join(re.escape(part) for part in phrase.upper().split('…'))}))")


def _zh_in(phrase: str, upper_text: str, names: tuple[str, ...] = ()) -> bool:
    """Whether a Chinese phrase occurs in the (upper-cased) text; "…" in it matches a short gap,
    which must hold one of ``names`` when they are given (the drug: "能用…吗" matches 能用阿仑单抗吗,
    not 可以用激素吗, which asks about another medicine)."""
    if "…" not in phrase:
        return phrase.upper() in upper_text
    hits = [m.group(1) for m in _gap_pattern(phrase).finditer(upper_text)]
    if not names:
        return bool(hits)
    return any(name.upper() in hit for hit in hits for name in names)


def score_intents(question: str, names: tuple[str, ...] = ()) -> list[IntentScore]:
    """Every intent with a positive score, best first (ties by :data:`INTENTS` order); ``names``:
    how the drugs are written in the question, which a "…" of a Chinese phrase must hold."""
    scores = []
    en_re, zh_phrases = _tables()
    for intent in INTENTS:
        score, matched = _score(question, en_re[intent], zh_phrases[intent], names)
        if score > 0:
            scores.append(IntentScore(intent, score, tuple(matched)))
    return sorted(scores, key=lambda s: (-s.score, INTENTS.index(s.intent)))


def topic_words(question: str, min_weight: float = 3.0) -> tuple[str, ...]:
    """The phrases of the question that name a topic outright (weight 3 or more): "side effects",
    "用法用量". What is left once they are removed tells a broad question from a specific one."""
    found: list[str] = []
    chinese = bool(_HAN.search(question))
    upper = question.upper()
    en_re, zh_phrases = _tables()
    for intent in INTENTS:
        for pattern, weight in en_re[intent]:
            hit = pattern.search(question) if weight >= min_weight else None
            if hit:
                found.append(hit.group(0))
        for phrase, weight in zh_phrases[intent]:
            if weight >= min_weight and (chinese or _HAN.search(phrase)) and _zh_in(phrase, upper):
                found.append(phrase)
    return tuple(found)


def out_of_scope_score(question: str) -> float:
    score, _ = _score(question, *_out_of_scope())
    return score


def classify_intent(question: str) -> Intent | None:
    """The question's intent, or None when it matches none or is about something rxguard does not cover."""
    ranked = score_intents(question)
    if not ranked:
        return None
    if out_of_scope_score(question) >= ranked[0].score:
        return None
    return ranked[0].intent


# --------------------------------------------------------------------------- facets of a question


@functools.cache
def _facets() -> dict[str, tuple[re.Pattern[str], ...]]:
    """What kind of fact a question wants, beyond its topic (``facets`` in ``intents.yaml``): a
    duration ("how long does the infusion take") or a frequency ("how often"). A statement that
    states that kind of fact is preferred among those of the question's topic. Per facet: the
    question patterns (en, zh), then the statement patterns (en, zh)."""
    return {
        name: tuple(
            re.compile(pattern, re.IGNORECASE)
            for pattern in (f["question"]["en"], f["question"]["zh"], f["statement"]["en"], f["statement"]["zh"])
        )
        for name, f in _vocabulary()["facets"].items()
    }


def question_facets(question: str) -> tuple[str, ...]:
    """The facets a question asks for ("frequency" wins over "duration" for "多久一次")."""
    chinese = bool(_HAN.search(question))
    found = [n for n, (en, zh, _, _) in _facets().items() if (zh if chinese else en).search(question)]
    return ("frequency",) if "frequency" in found else tuple(found)


def states_facet(text: str, facet: str) -> bool:
    """Whether a statement's text states a fact of the facet (a duration, a frequency)."""
    _, _, en, zh = _facets()[facet]
    return bool((zh if _HAN.search(text) else en).search(text))


# --------------------------------------------------------------------------- concepts a pack may not state


@dataclass(frozen=True)
class Concept:
    """A thing a question may ask about that a monograph may not state (``concepts`` in
    ``intents.yaml``): what to do after a missed dose, vaccines, alcohol."""

    id: str
    title: dict[str, str]
    question: tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]
    statement: tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]
    unless: tuple[tuple[re.Pattern[str], ...], tuple[str, ...]] = ((), ())


def _concept_patterns(given: Mapping[str, Any]) -> tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]:
    return tuple(re.compile(rf"\b{p}", re.IGNORECASE) for p in given.get("en", ())), tuple(given.get("zh", ()))


@functools.cache
def concepts() -> tuple[Concept, ...]:
    return tuple(
        Concept(
            cid,
            dict(c["title"]),
            _concept_patterns(c["question"]),
            _concept_patterns(c["statement"]),
            _concept_patterns(c.get("unless", {})),
        )
        for cid, c in _vocabulary().get("concepts", {}).items()
    )


def question_concepts(question: str) -> tuple[Concept, ...]:
    """The concepts a question names (English patterns in any question, Chinese phrases in Chinese)."""
    upper = question.upper()

    def names(patterns: tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]) -> bool:
        return any(p.search(question) for p in patterns[0]) or any(_zh_in(z, upper) for z in patterns[1])

    return tuple(c for c in concepts() if names(c.question) and not names(c.unless))


@functools.cache
def _safety_patterns(kind: str) -> tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]:
    table = _vocabulary()[kind]
    return tuple(re.compile(p, re.IGNORECASE) for p in table["en"]), tuple(table["zh"])


def asks_whether_allowed(question: str) -> tuple[str, ...]:
    """What a question asks to be allowed: to take the drug with something else (``combining`` in
    ``intents.yaml``), or by someone with a condition (``eligibility``); empty when neither."""
    upper = question.upper()
    found = []
    for kind in ("combining", "eligibility"):
        en, zh = _safety_patterns(kind)
        if any(p.search(question) for p in en) or any(_zh_in(z, upper) for z in zh):
            found.append(kind)
    return tuple(found)


def states_concept(text: str, concept: Concept) -> bool:
    """Whether a statement's text states something about the concept."""
    if _HAN.search(text):
        upper = text.upper()
        if any(_zh_in(z, upper) for z in concept.statement[1]):
            return True
    return any(p.search(text) for p in concept.statement[0])
