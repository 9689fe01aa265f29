"""Find the statements that answer a question: BM25 over every cited statement of a pack.

What is indexed, per pack and language: every monograph statement, the
generated ones too (monitoring calendar from ``schedule.yaml``, risk strata
from ``risk.yaml``, "where sources disagree" from ``conflicts.yaml``), and in
English every rule's message and action (rules carry no Chinese wording; a
rule that a monograph statement already explains is not indexed twice).
Each passage keeps its citations.

Ranking is BM25 (:mod:`rxguard.druginfo.bm25`, the Lucene variant as ``bm25s`` computes it) over the terms of :mod:`rxguard.druginfo.tokens`,
plus the intent of the question (:mod:`rxguard.druginfo.intents`) as a
prior: a passage of the section the question's wording points at gets a
bonus, so a strong cue helps without deciding alone, and one weak word
("dose" in a question about MRI schedules) cannot override what the rest of
the question matches.

Indexes are built on first use and kept for the process (``rxguard ask
--file`` answers many questions for the cost of one build).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rxguard.druginfo.bm25 import BM25
from rxguard.druginfo.labels import Language
from rxguard.druginfo.monograph import CONFLICTS_SECTION, CitationView, MonographDoc, StatementView, build_monograph
from rxguard.druginfo.tokens import ChineseSegmenter, Vocabulary, cached_terms, terms

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack
    from rxguard.knowledge.schema import Citation, Rule

#: The monograph section a rule's category belongs to.
RULE_SECTION: dict[str, str] = {
    "contraindication": "contraindications",
    "interaction": "interactions",
    "warning": "warnings",
    "special-population": "special-populations",
    "administration": "administration",
    "preparation": "administration",
    "schedule": "administration",
    "monitoring": "monitoring",
    "lab": "monitoring",
    "risk": "risk",
    "program": "access",
}
#: Weight of the intent prior against the best BM25 score (1.0).
PRIOR_WEIGHT = 0.45
#: Weight of the prior when the question's wording points at one section unmistakably: a strong
#: score (:data:`CLEAR_SCORE`) at least :data:`CLEAR_MARGIN` times the next one ("HIV感染者能不能用"
#: is about contraindications even though the warnings on infections share more words with it).
CLEAR_PRIOR_WEIGHT = 0.75
CLEAR_SCORE = 5.0
CLEAR_MARGIN = 3.0
#: A passage scoring below this share of the best one is not shown as support.
SUPPORT_SHARE = 0.55
#: Most supporting statements shown.
MAX_SUPPORT = 4
#: Sections that answer only a question whose wording points at them (names are for the resolver,
#: unless the question asks about names: "what was it called before?").
_QUIET_SECTIONS = frozenset({"names"})
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


@dataclass(frozen=True)
class Passage:
    """One indexed statement and the section it belongs to."""

    statement: StatementView
    section: str
    section_title: str
    kind: str  # "statement", "calendar", "stratum", "conflict", "rule"


@dataclass(frozen=True)
class Ranked:
    passage: Passage
    score: float  # 0..1+prior, relative to the best match of this question
    lexical: float  # raw BM25


class PackIndex:
    """The BM25 index of one pack in one language."""

    def __init__(self, pack: Pack, lang: Language, segmenter: ChineseSegmenter | None) -> None:
        self.pack, self.lang, self.segmenter = pack, lang, segmenter
        self.doc: MonographDoc = build_monograph(pack, lang)
        self.passages: list[Passage] = _passages(self.doc, pack, lang)
        self.by_id: dict[str, Passage] = {p.statement.id: p for p in self.passages}
        self._bm25: BM25 | None = None
        self._expansions: list[tuple[re.Pattern[str], list[str]]] | None = None
        self._vocabulary: Vocabulary | None = None
        self._bigrams: frozenset[str] | None = None
        self._han: str | None = None

    def expansion(self, text: str) -> list[str]:
        """Terms of the value sets whose names the question uses: "tacrolimus" adds the words of
        "Ciclosporin and other calcineurin inhibitors", so a medicine or condition the pack's rules
        know by name finds the statements that speak of its class."""
        if self._expansions is None:
            self._expansions = _value_set_expansions(self.pack)
        return [t for pattern, words in self._expansions if pattern.search(text) for t in words]

    def query_terms(self, text: str) -> list[str]:
        """The search terms of a question for this pack: its terms, each English word the pack's
        statements do not use read as the pack's word it begins ("chemo" -> chemotherapy,
        "tired" -> tiredness) or is a misspelling of, and the value sets' words for a medicine
        or condition the question names (:meth:`expansion`)."""
        return terms(text, self.segmenter) + self.vocabulary().repairs(text) + self.expansion(text)

    def han_text(self) -> str:
        """The Chinese of the pack's statements in this language, runs joined by a space."""
        if self._han is None:
            self._han = " ".join(r for p in self.passages for r in _HAN_RUN.findall(_document_text(p)))
        return self._han

    def bigrams(self) -> frozenset[str]:
        """Every pair of adjacent Chinese characters of the pack's statements in this language."""
        if self._bigrams is None:
            runs = [r for p in self.passages for r in _HAN_RUN.findall(_document_text(p))]
            self._bigrams = frozenset(r[i : i + 2] for r in runs for i in range(len(r) - 1))
        return self._bigrams

    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = Vocabulary(_document_text(p) for p in self.passages)
        return self._vocabulary

    def _retriever(self) -> BM25:
        if self._bm25 is None:
            texts = [_document_text(p) for p in self.passages]
            key = f"{self.lang}\0{self.segmenter is not None}\0" + "\0".join(texts)
            corpus = cached_terms(key, lambda: [terms(t, self.segmenter, expand=False) or ["∅"] for t in texts])
            self._bm25 = BM25(corpus)
        return self._bm25

    def rank(self, query: Sequence[str], prior: Mapping[str, float]) -> list[Ranked]:
        """Passages best first: BM25 scaled to the best match, plus the section prior."""
        if not query:
            return []
        scores = self._retriever().get_scores(list(query))
        best = float(max(scores)) if len(scores) else 0.0
        top_prior = max(prior.values(), default=0.0)
        others = sorted(prior.values(), reverse=True)[1:2]
        clear = top_prior >= CLEAR_SCORE and top_prior >= CLEAR_MARGIN * (others[0] if others else 0.0)
        weight = CLEAR_PRIOR_WEIGHT if clear else PRIOR_WEIGHT
        ranked: list[Ranked] = []
        for passage, raw in zip(self.passages, scores, strict=True):
            lexical = float(raw)
            if lexical <= 0.0 or (passage.section in _QUIET_SECTIONS and not prior.get(passage.section)):
                continue
            bonus = weight * prior.get(passage.section, 0.0) / top_prior if top_prior else 0.0
            ranked.append(Ranked(passage, lexical / best + bonus, lexical))
        return sorted(ranked, key=lambda r: -r.score)


def _value_set_expansions(pack: Pack) -> list[tuple[re.Pattern[str], list[str]]]:
    """Per medication or condition value set of the pack (not the drug's own): a pattern of its
    names (whole words, ``*`` a stem) and the terms of its title."""
    own = {pack.identity.inn.casefold()}
    out = []
    for vs in pack.valuesets.values():
        if vs.kind not in ("medication", "condition") or not vs.names:
            continue
        names = [n.strip() for n in vs.names if n.strip()]
        if own & {n.casefold() for n in names}:
            continue
        alternatives = sorted(
            (re.escape(n.strip("*")) + (r"\w*" if n.endswith("*") else "") for n in names if len(n.strip("*")) >= 3),
            key=len,
            reverse=True,
        )
        if not alternatives:
            continue
        pattern = re.compile(rf"(?<![\w-])(?:{'|'.join(alternatives)})(?![\w-])", re.IGNORECASE)
        out.append((pattern, terms(vs.title, None, expand=False)))
    return out


def _passages(doc: MonographDoc, pack: Pack, lang: Language) -> list[Passage]:
    out: list[Passage] = []
    explained: set[str] = set()
    for section in doc.sections:
        for st in section.statements:
            kind = {"schedule.yaml": "calendar", "risk.yaml": "stratum", "conflicts.yaml": "conflict"}.get(
                st.generated_from, "statement"
            )
            out.append(Passage(st, section.id, section.title, kind))
            if section.id != CONFLICTS_SECTION:
                explained.update(st.rules)
    if lang == "en":
        titles = {s.id: s.title for s in doc.sections}
        for rule in pack.rules:
            if rule.id in explained:
                continue
            rule_section = RULE_SECTION.get(rule.category, "warnings")
            out.append(
                Passage(_rule_statement(rule, pack), rule_section, titles.get(rule_section, rule_section), "rule")
            )
    return out


def cite(pack: Pack, citations: Iterable[Citation]) -> tuple[CitationView, ...]:
    """Citation views of pack citations (title, tier and verification from sources.yaml)."""
    out = []
    for c in citations:
        s = pack.sources.get(c.source)
        out.append(
            CitationView(c.source, c.section, s.title if s else c.source, s.jurisdiction if s else "",
                         s.tier if s else "", s.verified if s else False, s.url if s else "")
        )  # fmt: skip
    return tuple(out)


def _rule_statement(rule: Rule, pack: Pack) -> StatementView:
    """A rule as a statement: its title, message and action, with its citations."""
    return StatementView(
        id=f"rule-{rule.id}",
        heading=rule.title,
        text=f"{rule.message.strip()} {rule.action.strip()}",
        citations=cite(pack, rule.sources),
        jurisdictions=tuple(rule.jurisdictions),
        rules=(rule.id,),
        unverified=rule.needs_review,
        generated_from="rules.yaml",
    )


def _document_text(passage: Passage) -> str:
    """What a passage is indexed by: heading (twice: it names the topic), text, points, table, section."""
    st = passage.statement
    table = " ".join(" ".join(row) for row in st.table.rows) + " " + " ".join(st.table.columns) if st.table else ""
    return " ".join([st.heading or "", st.heading or "", st.text, " ".join(st.points), table, passage.section_title])


def sentences(text: str) -> list[str]:
    """The sentences of a statement (English or Chinese punctuation)."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def with_text(st: StatementView, text: str) -> StatementView:
    return replace(st, text=text)
