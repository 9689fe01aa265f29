"""One drug-name resolver for every interface (CLI, API, web, ``rxguard ask``).

Why one resolver: a clinician may type the INN, a brand, a biosimilar's US
proper name (an INN with a four-letter suffix, ``exampledrug-abcd``), a former
name, a Chinese name or a misspelling copied from a web page. Each
interface must land on the same pack, say how it got there, and refuse to
guess when the input is too far from any known name.

Every name comes from the packs' ``identity`` (pack.yaml): there is no second
list of names here. Input-only aliases (misspellings, typos of a program
name) are accepted but never shown as a drug name: a :class:`Resolution`
always displays the INN, a product name or a program name.

Matching, in order:

1. exact, after normalisation (NFKC, case-folded, punctuation and spaces
   removed, so "BRANDREMS" equals "BRAND REMS" and "exampledrug abcd"
   equals "exampledrug-abcd");
2. a Chinese name contained in the input (the name followed by 注射剂);
3. a single known name inside a longer input ("Brandname 300 mg");
4. fuzzy (rapidfuzz ``ratio``), accepted only at or above
   :data:`RESOLVE_THRESHOLD` and only when no other drug scores within
   :data:`AMBIGUITY_MARGIN`; otherwise :class:`UnknownDrugError` with ranked
   suggestions.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rapidfuzz import fuzz

from rxguard.errors import UnknownDrugError

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack
    from rxguard.knowledge.schema import Identity, Product

Via = Literal[
    "inn",
    "brand",
    "biosimilar",
    "proper-name",
    "former-name",
    "development-code",
    "chinese",
    "alias",
    "program",
    "fuzzy",
    "atc",
]

#: Fuzzy scores (0–1, rapidfuzz ratio on normalised names) at or above this
#: resolve; below it the caller gets suggestions instead of a guess. Chosen so
#: that one-letter misspellings of the packs' names (0.86) resolve while real
#: words and other medicines a few letters away (0.76 to 0.83) do not; the
#: cases are in tests/druginfo/test_names.py.
RESOLVE_THRESHOLD = 0.85
#: A fuzzy match is refused when another drug scores within this margin.
AMBIGUITY_MARGIN = 0.05
#: Fuzzy matching of single words inside free text (``rxguard ask``) is
#: stricter: only words at least this long are compared, so short English
#: words never turn into drug names.
MIN_FUZZY_WORD = 6
#: Lowest score worth showing as a suggestion.
SUGGESTION_FLOOR = 0.6
#: Capitalised program names up to this length count in free text only in capitals.
MAX_SHOUT_WORD = 6
#: Names this short (normalised) are only ever matched exactly.
MIN_FUZZY_NAME = 5
#: Chinese names at least this long also match truncated or with one character substituted
#: (never the first); a truncation keeps at least MIN_CJK_PREFIX characters and CJK_PREFIX_SHARE
#: of the name, so the first three characters of a five-character name read as that name, while
#: its last three (a suffix that other antibodies share) do not.
MIN_CJK_NEAR = 4
MIN_CJK_PREFIX = 3
CJK_PREFIX_SHARE = 0.6
#: A Latin word of at least this many letters that begins a known name, covering at least
#: PREFIX_SHARE of it, reads as that name in free text ("Tysab" in a Chinese sentence).
MIN_PREFIX_WORD = 5
PREFIX_SHARE = 0.6

_ATC = re.compile(r"^[A-Z]\d\d[A-Z]{2}\d\d$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z0-9]+")
_MAX_WORDS_IN_NAME = 4

# Exact matches compete by how authoritative the name is.
_PRIORITY: dict[str, int] = {
    "inn": 0,
    "brand": 1,
    "biosimilar": 1,
    "proper-name": 2,
    "program": 3,
    "chinese": 4,
    "former-name": 5,
    "development-code": 5,
    "atc": 6,
    "alias": 7,
}


@dataclass(frozen=True)
class Resolution:
    """What a name resolved to, and how: interfaces show ``display``, never ``matched``."""

    drug: str
    display: str
    matched: str
    via: Via
    product: str | None
    program: str | None
    confidence: float
    verified: bool


@dataclass(frozen=True)
class Suggestion:
    drug: str
    display: str
    score: float


@dataclass(frozen=True)
class _Name:
    """One known name of a pack, normalised for lookup."""

    key: str
    surface: str
    drug: str
    display: str
    via: Via
    product: str | None
    program: str | None
    verified: bool
    shout_only: bool  # in free text, match only when written in capitals (a program word)


def normalize(text: str) -> str:
    """Fold a name to its lookup key: NFKC, case-folded, Simplified Chinese, letters, digits and CJK only."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if is_cjk(folded):
        folded = to_simplified(folded)
    return "".join(ch for ch in folded if ch.isalnum())


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


# --------------------------------------------------------------------------- index


@dataclass(frozen=True)
class _Index:
    names: tuple[_Name, ...]
    by_key: dict[str, tuple[_Name, ...]]

    @property
    def fuzzy_names(self) -> tuple[_Name, ...]:
        return tuple(n for n in self.names if len(n.key) >= MIN_FUZZY_NAME and not is_cjk(n.key))


def _inn_display(identity: Identity) -> str:
    return identity.display.get("en") or identity.inn


def _is_short_word(surface: str) -> bool:
    """A short capitalised program name ("TOUCH") is also an English word: in free text it
    counts only when written in capitals, so "in touch with" never names a program."""
    return surface.isupper() and len(normalize(surface)) <= MAX_SHOUT_WORD


def _product_names(identity: Identity, product: Product) -> Iterable[_Name]:
    drug = identity.id
    brand_via: Via = "biosimilar" if product.kind == "biosimilar" else "brand"
    yield _Name(normalize(product.name), product.name, drug, product.name, brand_via,
                product.id, None, True, False)  # fmt: skip
    if product.proper_name:
        yield _Name(normalize(product.proper_name), product.proper_name, drug,
                    product.proper_name, "proper-name", product.id, None, True, False)  # fmt: skip
    if product.program:
        yield _Name(normalize(product.program), product.program, drug, product.name, "program",
                    product.id, product.program, True, False)  # fmt: skip
        first = product.program.split()[0]
        if first.isupper() and len(first) >= 4 and normalize(first) != normalize(product.name):
            # A program's first word alone ("EXAMPLE" of "EXAMPLE Prescribing Program") names it.
            yield _Name(normalize(first), first, drug, product.name, "program", product.id,
                        product.program, True, _is_short_word(first))  # fmt: skip


def _program_score(alias_key: str, program_key: str) -> float:
    """How well an alias names a program: a typo of it, or its first word."""
    if len(alias_key) >= 4 and program_key.startswith(alias_key):
        return 100.0
    return fuzz.ratio(alias_key, program_key)


def _program_product(identity: Identity, alias_text: str) -> Product | None:
    """The product whose program an alias (e.g. the typo "BRANDREMS") refers to."""
    key = normalize(alias_text)
    scored = [(_program_score(key, normalize(p.program)), p) for p in identity.products if p.program]
    if not scored:
        return None
    score, product = max(scored, key=lambda item: item[0])
    return product if score >= RESOLVE_THRESHOLD * 100 else None


_ALIAS_VIA: dict[str, Via] = {
    "development-code": "development-code",
    "former-name": "former-name",
    "program": "program",
}


def _alias_names(identity: Identity) -> Iterable[_Name]:
    drug, inn = identity.id, _inn_display(identity)
    for alias in identity.aliases:
        key = normalize(alias.text)
        if alias.refers_to == "program":
            product = _program_product(identity, alias.text)
            if product is not None:
                yield _Name(key, alias.text, drug, product.name, "program", product.id,
                            product.program, False, _is_short_word(alias.text))  # fmt: skip
                continue
        via = _ALIAS_VIA.get(alias.kind, "alias")
        yield _Name(key, alias.text, drug, inn, via, None, None, False, False)


def _identity_names(identity: Identity) -> Iterable[_Name]:
    drug, inn = identity.id, _inn_display(identity)
    yield _Name(normalize(identity.inn), identity.inn, drug, inn, "inn", None, None, True, False)
    chinese = {normalize(c.name): c for c in identity.chinese_names}
    for lang, text in identity.display.items():
        if is_cjk(text):
            entry = chinese.get(normalize(text))
            verified = entry.verified if entry else False
            yield _Name(normalize(text), text, drug, text, "chinese", None, None, verified, False)
        elif lang == "en" or not is_cjk(text):
            yield _Name(normalize(text), text, drug, inn, "inn", None, None, True, False)
    for product in identity.products:
        yield from _product_names(identity, product)
    for former in identity.former_names:
        via: Via = "development-code" if any(ch.isdigit() for ch in former) else "former-name"
        yield _Name(normalize(former), former, drug, inn, via, None, None, True, False)
    for name in identity.chinese_names:
        yield _Name(normalize(name.name), name.name, drug, name.name, "chinese", None, None,
                    name.verified, False)  # fmt: skip
    codes = [identity.atc, *(v for h in identity.atc_history for v in h.values())]
    for code in codes:
        if isinstance(code, str) and _ATC.match(code.strip()):
            yield _Name(normalize(code), code.strip(), drug, inn, "atc", None, None, True, True)
    yield from _alias_names(identity)


def _build_index(packs: Mapping[str, Pack]) -> _Index:
    names: list[_Name] = []
    for pack in packs.values():
        names.extend(n for n in _identity_names(pack.identity) if n.key)
    by_key: dict[str, list[_Name]] = {}
    for name in names:
        bucket = by_key.setdefault(name.key, [])
        if all((n.drug, n.via, n.product) != (name.drug, name.via, name.product) for n in bucket):
            bucket.append(name)
    ordered = {k: tuple(sorted(v, key=lambda n: _PRIORITY[n.via])) for k, v in by_key.items()}
    return _Index(tuple(names), ordered)


_CACHE: dict[int, tuple[Mapping[str, Pack], _Index]] = {}


def _index(packs: Mapping[str, Pack] | None) -> _Index:
    """The name index for these packs (built once per packs mapping)."""
    if packs is None:
        from rxguard.knowledge.loader import load_all

        packs = load_all()
    cached = _CACHE.get(id(packs))
    if cached is not None and cached[0] is packs:
        return cached[1]
    index = _build_index(packs)
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[id(packs)] = (packs, index)
    return index


# --------------------------------------------------------------------------- resolving


def _resolution(name: _Name, matched: str, confidence: float, via: Via | None = None) -> Resolution:
    return Resolution(
        drug=name.drug,
        display=name.display,
        matched=matched,
        via=via or name.via,
        product=name.product,
        program=name.program,
        confidence=round(confidence, 3),
        verified=name.verified,
    )


def _exact(index: _Index, text: str) -> list[_Name]:
    return list(index.by_key.get(normalize(text), ()))


def _scores(index: _Index, text: str) -> list[tuple[float, _Name]]:
    """Fuzzy score of every fuzzy-eligible name against the input, best first."""
    key = normalize(text)
    if not key:
        return []
    scored = [(fuzz.ratio(key, n.key) / 100.0, n) for n in index.fuzzy_names]
    return sorted(scored, key=lambda item: (-item[0], _PRIORITY[item[1].via]))


def _best_per_drug(scored: Iterable[tuple[float, _Name]]) -> list[tuple[float, _Name]]:
    best: dict[str, tuple[float, _Name]] = {}
    for score, name in scored:
        if name.drug not in best or score > best[name.drug][0]:
            best[name.drug] = (score, name)
    return sorted(best.values(), key=lambda item: -item[0])


def _unknown(text: str, index: _Index, reason: str) -> UnknownDrugError:
    suggestions = [s.display for s in _suggest(index, text, 5)]
    return UnknownDrugError(
        f"{reason} Give the INN, a brand or a listed name (`rxguard names resolve NAME` shows how a name resolves).",
        suggestions=suggestions,
    )


def resolve_drug(text: str, packs: Mapping[str, Pack] | None = None) -> Resolution:
    """Resolve one drug name to a pack, or raise UnknownDrugError with suggestions."""
    index = _index(packs)
    given = text.strip()
    if not normalize(given):
        example = next((f", e.g. {name.surface}" for name in index.names if name.via == "inn"), "")
        raise UnknownDrugError(f"No drug name given. Give the INN or a brand name{example}.")
    exact = _exact(index, given)
    if exact:
        if len({n.drug for n in exact}) > 1:
            raise _unknown(given, index, f"{given!r} names more than one drug.")
        return _resolution(exact[0], given, 1.0)
    inside = _single_drug_inside(index, given)
    if inside is not None:
        return inside
    return _fuzzy(index, given)


def _single_drug_inside(index: _Index, text: str) -> Resolution | None:
    """A longer input that names exactly one drug exactly ("Brandname 300 mg", a Chinese name + 注射剂)."""
    found = [r for r in _mentions(index, text, fuzzy=False)]
    drugs = {r.drug for r in found}
    if len(drugs) != 1:
        return None
    best = _pick(found)
    return Resolution(best.drug, best.display, text, best.via, best.product, best.program,
                      best.confidence, best.verified)  # fmt: skip


def _fuzzy(index: _Index, text: str) -> Resolution:
    ranked = _best_per_drug(_scores(index, text))
    if not ranked or ranked[0][0] < RESOLVE_THRESHOLD:
        raise _unknown(text, index, f"rxguard has no pack for {text!r}.")
    score, name = ranked[0]
    if len(ranked) > 1 and score - ranked[1][0] < AMBIGUITY_MARGIN:
        raise _unknown(text, index, f"{text!r} is too close to more than one drug to choose.")
    return _fuzzy_resolution(name, text, score)


def _fuzzy_resolution(name: _Name, text: str, score: float) -> Resolution:
    # A fuzzy hit on an input-only alias still displays the drug, never the alias.
    return _resolution(name, text, score, via="fuzzy")


def _suggest(index: _Index, text: str, limit: int) -> list[Suggestion]:
    key = normalize(text)
    if not key:
        return []
    best: dict[str, Suggestion] = {}
    for name in index.names:
        if is_cjk(key) != is_cjk(name.key):
            continue
        score = fuzz.ratio(key, name.key) / 100.0
        if len(key) >= 3:
            score = max(score, 0.9 * fuzz.partial_ratio(key, name.key) / 100.0)
        if score < SUGGESTION_FLOOR:
            continue
        display = name.display
        if display not in best or score > best[display].score:
            best[display] = Suggestion(name.drug, display, round(score, 3))
    return sorted(best.values(), key=lambda s: (-s.score, s.display))[:limit]


def suggest(text: str, packs: Mapping[str, Pack] | None = None, limit: int = 5) -> list[Suggestion]:
    """Ranked names the input may have meant (displayable names only, never aliases)."""
    return _suggest(_index(packs), text, limit)


# --------------------------------------------------------------------------- free text


@dataclass(frozen=True)
class _Mention:
    start: int
    resolution: Resolution


@functools.cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters folded to Simplified (單抗 -> 单抗)."""
    if not is_cjk(text):
        return text
    converted: str = _t2s().convert(text)
    return converted


def _cjk_mentions(index: _Index, text: str) -> Iterable[_Mention]:
    """Chinese names in the text: exact, then (per drug not found exactly) a truncated name or
    one character substituted, never at the name's first character."""
    folded = to_simplified(unicodedata.normalize("NFKC", text))
    key_text = normalize(folded)
    cjk_names = [n for n in index.names if is_cjk(n.key)]
    exact: set[str] = set()
    for name in cjk_names:
        pos = key_text.find(name.key)
        if pos >= 0:
            exact.add(name.drug)
            yield _Mention(folded.find(name.surface) if name.surface in folded else pos,
                           _resolution(name, name.surface, 1.0))  # fmt: skip
    near: dict[str, tuple[float, int, _Name, str]] = {}
    for name in cjk_names:
        if name.drug in exact or len(name.key) < MIN_CJK_NEAR:
            continue
        for found in _near_cjk(key_text, name.key):
            pos, piece, score = found
            if name.drug not in near or score > near[name.drug][0]:
                near[name.drug] = (score, pos, name, piece)
    drugs_by_piece: dict[str, set[str]] = {}
    for name in cjk_names:
        for _score, _pos, _n, piece in near.values():
            if piece in name.key or _hamming_one(piece, name.key[: len(piece)]):
                drugs_by_piece.setdefault(piece, set()).add(name.drug)
    for score, pos, name, piece in near.values():
        if len(drugs_by_piece.get(piece, {name.drug})) == 1:
            yield _Mention(pos, _resolution(name, piece, score, via="fuzzy"))


def _hamming_one(a: str, b: str) -> bool:
    return len(a) == len(b) and a[0] == b[0] and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _near_cjk(key_text: str, name_key: str) -> Iterable[tuple[int, str, float]]:
    """Where ``key_text`` holds a truncated ``name_key`` (at least 3 characters and 60 %) or the
    name with one character other than the first substituted."""
    length = len(name_key)
    for size in range(length - 1, max(MIN_CJK_PREFIX, math.ceil(CJK_PREFIX_SHARE * length)) - 1, -1):
        pos = key_text.find(name_key[:size])
        if pos >= 0:
            yield pos, name_key[:size], round(size / length, 3)
            break
    for pos in range(len(key_text) - length + 1):
        piece = key_text[pos : pos + length]
        if is_cjk(piece) and _hamming_one(piece, name_key):
            yield pos, piece, round((length - 1) / length, 3)


def _word_mentions(index: _Index, text: str, *, fuzzy: bool) -> Iterable[_Mention]:
    """Known names among runs of 1–4 words; the longest exact run wins at each position."""
    words = list(_WORD.finditer(unicodedata.normalize("NFKC", text)))
    i = 0
    while i < len(words):
        hit = _longest_exact_run(index, words, i)
        if hit is not None:
            length, mention = hit
            yield mention
            i += length
            continue
        if fuzzy:
            near = _fuzzy_word(index, words[i])
            if near is not None:
                yield near
        i += 1


def _longest_exact_run(index: _Index, words: list[re.Match[str]], start: int) -> tuple[int, _Mention] | None:
    for length in range(min(_MAX_WORDS_IN_NAME, len(words) - start), 0, -1):
        run = words[start : start + length]
        surface = " ".join(w.group() for w in run)
        candidates = [
            n for n in index.by_key.get(normalize(surface), ())
            if not n.shout_only or surface.isupper()
        ]  # fmt: skip
        if len({n.drug for n in candidates}) == 1:
            return length, _Mention(run[0].start(), _resolution(candidates[0], surface, 1.0))
    return None


def _fuzzy_word(index: _Index, word: re.Match[str]) -> _Mention | None:
    token = word.group()
    if len(token) < MIN_FUZZY_WORD or token.isdigit():
        return _prefix_word(index, word) if not token.isdigit() else None
    ranked = _best_per_drug(_scores(index, token))
    if not ranked or ranked[0][0] < RESOLVE_THRESHOLD:
        return _prefix_word(index, word)
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < AMBIGUITY_MARGIN:
        return None
    score, name = ranked[0]
    return _Mention(word.start(), _fuzzy_resolution(name, token, score))


def _prefix_word(index: _Index, word: re.Match[str]) -> _Mention | None:
    """A truncated name ("Tysab", "natalizu"): the word begins names of exactly one drug."""
    key = normalize(word.group())
    if len(key) < MIN_PREFIX_WORD or not key.isalpha():
        return None
    hits = [n for n in index.fuzzy_names if not n.shout_only and n.key.startswith(key) and n.key != key
            and len(key) / len(n.key) >= PREFIX_SHARE]  # fmt: skip
    if len({n.drug for n in hits}) != 1:
        return None
    best = min(hits, key=lambda n: (_PRIORITY[n.via], len(n.key)))
    return _Mention(word.start(), _fuzzy_resolution(best, word.group(), len(key) / len(best.key)))


def _mentions(index: _Index, text: str, *, fuzzy: bool) -> list[Resolution]:
    found = [*_cjk_mentions(index, text), *_word_mentions(index, text, fuzzy=fuzzy)]
    return [m.resolution for m in sorted(found, key=lambda m: m.start)]


def _pick(found: list[Resolution]) -> Resolution:
    """The most informative mention of one drug: exact over fuzzy, then program, product."""
    return max(
        found,
        key=lambda r: (r.confidence, r.program is not None, r.product is not None, r.verified),
    )


def find_drugs_in_text(text: str, packs: Mapping[str, Pack] | None = None) -> list[Resolution]:
    """Every drug named in free text (English or Chinese), one Resolution per drug.

    Drugs come in order of first mention; for each, the most informative
    mention is returned (an exact brand beats a fuzzy INN, a named program
    beats a bare brand). Fuzzy matching applies to single words of at least
    :data:`MIN_FUZZY_WORD` letters, with the same threshold as
    :func:`resolve_drug`, so an ordinary word never becomes a drug.
    """
    mentions = _mentions(_index(packs), text, fuzzy=True)
    order: list[str] = []
    by_drug: dict[str, list[Resolution]] = {}
    for res in mentions:
        if res.drug not in by_drug:
            order.append(res.drug)
        by_drug.setdefault(res.drug, []).append(res)
    return [_pick(by_drug[drug]) for drug in order]


__all__ = [
    "RESOLVE_THRESHOLD",
    "Resolution",
    "Suggestion",
    "find_drugs_in_text",
    "normalize",
    "resolve_drug",
    "suggest",
    "to_simplified",
]
