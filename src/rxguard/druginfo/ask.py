"""``rxguard ask``: answer a drug question from the packs, deterministically, with sources.

The question is read for the drug (any name the resolver knows, English or
Chinese, Traditional characters, truncated and misspelt names included), for
red flags (symptoms that always get the pack's urgent action), for the
numbers a rule computes with (age, infusion number, body surface area) and
for what it asks: every cited statement of the pack is ranked against it
(:mod:`rxguard.druginfo.retrieval`, BM25 with the question's intent as a
prior). The answer is a direct sentence or two drawn from the best
statements, then the supporting statements with their sources, then where
sources disagree about them.

There is no network and no language model. When rxguard has no pack for the
drug, or the question is about something the monographs do not cover (price,
mechanism, efficacy), the answer says so and lists what rxguard covers.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from rxguard.druginfo.intents import (
    INTENTS,
    SECTION_OF,
    Concept,
    Intent,
    asks_whether_allowed,
    intent_vocabulary,
    out_of_scope_score,
    question_concepts,
    question_facets,
    score_intents,
    states_concept,
    states_facet,
    topic_words,
)
from rxguard.druginfo.labels import Language
from rxguard.druginfo.monograph import (
    CONFLICTS_SECTION,
    CONTRACT_VERSION,
    CitationView,
    MonographDoc,
    SectionView,
    SourceView,
    StatementView,
)
from rxguard.druginfo.redflags import RaisedFlag, raised_flags
from rxguard.druginfo.retrieval import MAX_SUPPORT, SUPPORT_SHARE, PackIndex, Passage, Ranked, cite, sentences
from rxguard.druginfo.specifics import Finding, compute_findings, read_specifics
from rxguard.druginfo.tokens import (
    ChineseSegmenter,
    Vocabulary,
    english_terms,
    has_han,
    lexicon,
    synonym_stems,
    terms,
    to_simplified,
)
from rxguard.errors import InputError
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.names import Resolution, find_drugs_in_text, is_cjk, suggest

Status = Literal["answered", "no-drug", "no-intent", "no-section", "not-covered"]

_INTENT_NAMES: dict[str, tuple[str, str]] = {
    "access": ("how to obtain it (programs, certification, enrolment)", "如何获得（项目、认证、登记）"),
    "indications": ("indications", "适应症"),
    "contraindications": ("contraindications (who must not use it)", "禁忌症（哪些人不能使用）"),
    "warnings": ("warnings and precautions", "警告和注意事项"),
    "adverse-reactions": ("adverse reactions", "不良反应"),
    "monitoring": ("monitoring", "监测"),
    "administration": ("dosing, preparation, storage and administration", "用法用量、配制、储存与给药"),
    "special-populations": ("pregnancy, breast-feeding, children and older adults", "妊娠、哺乳、儿童和老年人"),
    "interactions": ("interactions", "相互作用"),
    "risk": ("risk factors and risk strata", "风险因素与风险分层"),
    "names": (
        "names and identifiers (brand, biosimilar, former and Chinese names, codes)",
        "名称与标识（商品名、生物类似药、曾用名、中文名、编码）",
    ),
}


@dataclass(frozen=True)
class UrgentView:
    """A red flag raised by the question, and the pack's urgent action for it."""

    id: str
    title: str
    text: str
    citations: tuple[CitationView, ...]
    matched: tuple[str, ...]
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrugAnswer:
    """The part of an answer about one drug named in the question.

    ``direct`` answers the question in one or two sentences (computed findings first, then
    the best sentences of the best statements); ``sections`` hold the supporting statements,
    best first, grouped by monograph section; ``urgent`` the red flags the question raised.
    """

    drug: str
    display: str
    matched: str
    via: str
    verified: bool
    note: str
    sections: tuple[SectionView, ...]
    related_conflicts: tuple[StatementView, ...]
    sources: tuple[SourceView, ...]
    disclaimer: str
    direct: str = ""
    direct_from: tuple[str, ...] = ()
    topic: str | None = None
    urgent: tuple[UrgentView, ...] = ()
    findings: tuple[StatementView, ...] = ()
    scores: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Answer:
    question: str
    lang: Language
    status: Status
    intent: Intent | None
    message: str
    drugs: tuple[DrugAnswer, ...] = ()
    covers: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = field(default=())
    topic: str | None = None
    see: tuple[SourceView, ...] = ()
    contract_version: int = CONTRACT_VERSION


def question_language(question: str) -> Language:
    """Chinese if the question contains Chinese characters, else English."""
    return "zh" if is_cjk(question) else "en"


def _covers(lang: Language) -> tuple[str, ...]:
    return tuple(_INTENT_NAMES[i][0 if lang == "en" else 1] for i in INTENTS)


def _pack_list(packs: Mapping[str, Pack], lang: Language) -> str:
    parts = []
    for pack in packs.values():
        products = ", ".join(p.name for p in pack.identity.products)
        name = pack.identity.display.get(lang) or pack.identity.inn
        parts.append(f"{name} ({products})" if lang == "en" else f"{name}（{products}）")
    return ", ".join(parts) if lang == "en" else "、".join(parts)


def _chinese_name_note(pack: Pack, lang: Language) -> str:
    """In Chinese answers, say when the Chinese drug name used is not verified."""
    shown = pack.identity.display.get("zh", "")
    entry = next((c for c in pack.identity.chinese_names if c.name == shown), None)
    if lang != "zh" or not shown or (entry is not None and entry.verified):
        return ""
    return f"“{shown}”是通用的中文名，尚未与官方药品名称目录核对（未经核实）。"


def _note(res: Resolution, pack: Pack, lang: Language) -> str:
    """Say how the drug name in the question was read, without showing an alias as a drug name."""
    return " ".join(part for part in (_name_note(res, pack, lang), _chinese_name_note(pack, lang)) if part)


def _name_note(res: Resolution, pack: Pack, lang: Language) -> str:
    inn = pack.identity.inn
    if res.via in ("alias", "fuzzy") and not res.verified:
        if lang == "en":
            return f"“{res.matched}” is not a recognised name of any medicine; rxguard reads it as {inn}."
        return f"“{res.matched}”并不是任何药品的规范名称；rxguard 将其识别为 {inn}。"
    if res.via == "fuzzy":
        if lang == "en":
            return f"“{res.matched}” was read as {res.display} (spelling match, {res.confidence:.0%})."
        return f"“{res.matched}”按拼写近似识别为 {res.display}（相似度 {res.confidence:.0%}）。"
    if res.via == "chinese" and not res.verified and lang == "en":
        return f"{res.matched} is the Chinese name in use for {inn}; it is not verified against an official list."
    if res.via == "program" and res.program:
        if res.matched == res.program:
            return ""
        if lang == "en":
            return f"“{res.matched}” is read as the {res.program} program for {res.display} ({inn})."
        return f"“{res.matched}”识别为 {res.display}（{inn}）的 {res.program} 项目。"
    return ""


# --------------------------------------------------------------------------- plain language

#: Wording that belongs to the engine, not to a reader: rule ids, pack file names, value sets.
_INTERNAL = re.compile(
    r"\b[a-z]+\.[a-z0-9]+(?:-[a-z0-9]+)+\b|\b[\w-]+\.(?:yaml|py|json)\b|\bvalue[- ]sets?\b|\bvalueset\b|"
    r"\bvignette|\bschema gap\b|\bclinical[- ]facts\b|\bfact base\b|规则 ID|值集|"
    r"\brules? [a-z0-9]+(?:-[a-z0-9]+)+|规则 [a-z0-9]+(?:-[a-z0-9]+)+",
    re.IGNORECASE,
)


def plain(text: str) -> str:
    """Text without the sentences that speak of engine internals (kept in the JSON fields)."""
    if not _INTERNAL.search(text):
        return text
    kept = [s for s in sentences(text) if not _INTERNAL.search(s)]
    joiner = "" if has_han(text) else " "
    return joiner.join(kept)


_RECORDED_IN = re.compile(r"\s*\b(?:as )?recorded in clinical[- ]facts\s*§?\s*[\d.]*", re.IGNORECASE)


def plain_section(section: str) -> str:
    """A citation's section without references to the project's own working files."""
    cleaned = _RECORDED_IN.sub("", section).strip(" ;,")
    if _INTERNAL.search(cleaned):
        cleaned = "; ".join(part for part in cleaned.split(";") if not _INTERNAL.search(part)).strip()
    return cleaned or "—"


def plain_citations(citations: tuple[CitationView, ...]) -> tuple[CitationView, ...]:
    return tuple(
        c if not _INTERNAL.search(c.section) else dataclasses.replace(c, section=plain_section(c.section))
        for c in citations
    )


def _plain_statement(st: StatementView) -> StatementView:
    points = tuple(p for p in (plain(p) for p in st.points) if p)
    text = plain(st.text)
    citations = plain_citations(st.citations)
    if text == st.text and points == st.points and citations == st.citations:
        return st
    return dataclasses.replace(st, text=text, points=points, citations=citations)


# --------------------------------------------------------------------------- the index of every pack


class Library:
    """The packs with their statement indexes, built on first use and kept (one per packs mapping)."""

    def __init__(self, packs: Mapping[str, Pack]) -> None:
        self.packs = packs
        self._indexes: dict[tuple[str, Language], PackIndex] = {}
        self._segmenter: ChineseSegmenter | None = None
        self._spelling: Vocabulary | None = None

    def segmenter(self) -> ChineseSegmenter:
        if self._segmenter is None:
            corpus = "\n".join(
                "\n".join([st.heading or "", st.text, *st.points])
                for drug in self.packs
                for st in self.index(drug, "zh", segmenter=False).doc.statements()
            )
            names = [c.name for p in self.packs.values() for c in p.identity.chinese_names]
            extra = [
                *names,
                *lexicon()["zh"]["synonyms"],
                *(w for ws in lexicon()["zh"]["synonyms"].values() for w in ws),
            ]
            self._segmenter = ChineseSegmenter(corpus, extra)
        return self._segmenter

    def spelling(self) -> Vocabulary:
        """Every English word of the packs' statements and of the lexicon, for reading misspelt words."""
        if self._spelling is None:
            words = lexicon()["en"]
            texts = [_passage_text(p) for drug in self.packs for p in self.index(drug, "en").passages]
            texts += [*words["synonyms"], *(v for vs in words["synonyms"].values() for v in vs), *words["asking"]]
            self._spelling = Vocabulary(texts)
        return self._spelling

    def index(self, drug: str, lang: Language, *, segmenter: bool = True) -> PackIndex:
        key = (drug, lang)
        found = self._indexes.get(key)
        if found is None:
            found = PackIndex(self.packs[drug], lang, None)
            self._indexes[key] = found
        if segmenter and lang == "zh" and found.segmenter is None:
            found.segmenter = self.segmenter()
        return found


_LIBRARIES: dict[int, tuple[Mapping[str, Pack], Library]] = {}


def library(packs: Mapping[str, Pack]) -> Library:
    cached = _LIBRARIES.get(id(packs))
    if cached is not None and cached[0] is packs:
        return cached[1]
    lib = Library(packs)
    if len(_LIBRARIES) > 8:
        _LIBRARIES.clear()
    _LIBRARIES[id(packs)] = (packs, lib)
    return lib


# --------------------------------------------------------------------------- reading the question


def _surfaces(drugs: list[Resolution]) -> tuple[str, ...]:
    """How the drugs were written in the question (Simplified too)."""
    return tuple(dict.fromkeys(s for r in drugs for s in (r.matched, to_simplified(r.matched)) if s))


def _without_names(question: str, drugs: list[Resolution]) -> str:
    """The question with the drug names taken out, so they do not match every statement."""
    text = to_simplified(question) if has_han(question) else question
    for res in drugs:
        for surface in {res.matched, to_simplified(res.matched)}:
            if surface:
                text = re.sub(re.escape(surface), " ", text, flags=re.IGNORECASE)
    return text


def _content_terms(text: str, matched_cues: tuple[str, ...]) -> list[str]:
    """Terms of the question beyond its topic cue words: few means a broad question ("side effects of X?")."""
    rest = text
    for cue in sorted(matched_cues, key=len, reverse=True):
        rest = re.sub(re.escape(cue) + r"[a-z]*", " ", rest, flags=re.IGNORECASE)
    asking = set(english_terms(" ".join(lexicon()["en"].get("asking", ())), expand=False))
    out = [t for t in english_terms(rest, expand=False) if t not in asking]
    if has_han(rest):
        stop = sorted(lexicon()["zh"]["stop"], key=len, reverse=True)
        for word in stop:
            rest = rest.replace(word, " ")
        out += [run for run in re.findall(r"[\u3400-\u9fff]{2,}", rest)]
    return out


# --------------------------------------------------------------------------- building the answer


def _urgent(flag: RaisedFlag, pack: Pack, doc: MonographDoc, lang: Language) -> UrgentView:
    return UrgentView(
        id=flag.flag.id,
        title=flag.flag.title.in_(lang),
        text=flag.flag.urgent.in_(lang),
        citations=plain_citations(cite(pack, flag.flag.cite)),
        matched=flag.matched,
        rules=tuple(flag.flag.rules),
    )


def _finding_view(finding: Finding, number: int, pack: Pack, doc: MonographDoc) -> StatementView:
    return StatementView(
        id=f"computed-{number}",
        text=finding.text,
        citations=plain_citations(cite(pack, finding.citations)),
        rules=finding.rules,
        generated_from="computed",
    )


def _jurisdiction_ok(st: StatementView, jurisdiction: str | None) -> bool:
    return jurisdiction is None or not st.jurisdictions or jurisdiction in st.jurisdictions


#: Share of the best score an item of the same section needs to be listed in the direct answer.
ITEM_SHARE = 0.6
#: Most items listed in a direct answer.
MAX_ITEMS = 6


def _best_sentences(
    ranked: list[Ranked],
    query: set[str],
    index: PackIndex,
    lang: Language,
    limit: int = 2,
    facets: tuple[str, ...] = (),
    own: frozenset[str] = frozenset(),
) -> tuple[str, tuple[str, ...]]:
    """The best sentences of the best statements: those sharing most terms with the question
    (and stating what it asks for: a duration, a frequency). Every other statement of the best
    one's section that matches nearly as well, in one of the question's own words (``own``,
    not a synonym added to them), is an item of the same answer ("which tests": each of them)
    and is listed too, up to :data:`MAX_ITEMS`; statements whose rules an item already listed
    covers are not repeated."""
    picked: list[tuple[str, str]] = []
    covered: set[str] = set()
    rules_said: set[str] = set()
    if not ranked:
        return "", ()
    top = ranked[0]
    for position, item in enumerate(ranked[:12]):
        st = _plain_statement(index.by_id.get(item.passage.statement.id, item.passage).statement)
        same_section = item.passage.section == top.passage.section
        if position > 0 and st.rules and set(st.rules) <= rules_said:
            continue
        candidates = sentences(st.text) or [st.text]
        scored = []
        for sentence in candidates:
            found = set(terms(sentence, index.segmenter, expand=False)) & query
            facet = sum(states_facet(sentence, f) for f in facets)
            scored.append((facet, len(found - covered), len(found), -len(sentence), sentence, found))
        facet, gain, total, _, sentence, found = max(scored)
        if position > 0:
            item_of_section = same_section and item.score >= ITEM_SHARE * top.score and bool(found & own)
            if not item_of_section and (position >= 3 or gain == 0 or item.score < 0.8 * top.score):
                continue
            if not item_of_section and len(picked) >= limit:
                continue
        if position == 0 and total == 0 and not facet:
            sentence = candidates[0]
        head = st.heading
        text = f"{head}: {sentence}" if head and lang == "en" else (f"{head}：{sentence}" if head else sentence)
        picked.append((text, st.id))
        covered |= found
        rules_said |= set(st.rules)
        if len(picked) >= MAX_ITEMS:
            break
    return (" " if lang == "en" else "").join(t for t, _ in picked), tuple(i for _, i in picked)


#: Rows of a statement's table named in a direct answer.
MAX_TABLE_ROWS_SAID = 6


def _opening(st: StatementView, lang: Language, count: int = 2) -> str:
    """The first sentences of a statement, after its heading."""
    text = (" " if lang == "en" else "").join(sentences(st.text)[:count]) or st.text
    if st.table is not None and st.table.rows:
        first = [row[0] for row in st.table.rows[:MAX_TABLE_ROWS_SAID]]
        more = len(st.table.rows) > MAX_TABLE_ROWS_SAID
        if lang == "en":
            text += f" {st.table.columns[0]}: {', '.join(first)}{', …' if more else ''}."
        else:
            text += f"{st.table.columns[0]}：{'、'.join(first)}{'等' if more else ''}。"
    if not st.heading:
        return text
    return f"{st.heading}: {text}" if lang == "en" else f"{st.heading}：{text}"


#: Longest overview drawn from the first statements of a section, for a broad question.
MAX_OVERVIEW = 360


def _overview(statements: list[StatementView], lang: Language) -> tuple[str, tuple[str, ...]]:
    """A broad question ("contraindications of X?"): the first sentence of the section's first
    statements, as many as fit in :data:`MAX_OVERVIEW` characters (at least one)."""
    parts: list[str] = []
    ids: list[str] = []
    for st in statements[:4]:
        piece = _opening(st, lang, count=1)
        limit = MAX_OVERVIEW if lang == "en" else MAX_OVERVIEW // 2
        if parts and sum(len(p) for p in parts) + len(piece) > limit:
            break
        parts.append(piece)
        ids.append(st.id)
    return (" " if lang == "en" else "").join(parts), tuple(ids)


def _group(statements: list[tuple[str, str, StatementView]]) -> tuple[SectionView, ...]:
    """Statements (section id, title, statement) grouped by section, in order of first appearance."""
    order: list[str] = []
    titles: dict[str, str] = {}
    grouped: dict[str, list[StatementView]] = {}
    for section, title, st in statements:
        if section not in grouped:
            order.append(section)
            titles[section] = title
            grouped[section] = []
        if all(s.id != st.id for s in grouped[section]):
            grouped[section].append(st)
    return tuple(SectionView(s, titles[s], tuple(grouped[s])) for s in order)


def _related_conflicts(doc: MonographDoc, shown: list[StatementView]) -> tuple[StatementView, ...]:
    """Conflicts that concern the rules of the statements being answered."""
    rules = {rule for st in shown for rule in st.rules}
    conflicts = doc.section(CONFLICTS_SECTION)
    if conflicts is None or not rules:
        return ()
    return tuple(st for st in conflicts.statements if rules & set(st.rules))


def _sources_of(pack: Pack, statements: list[StatementView], urgent: tuple[UrgentView, ...]) -> tuple[SourceView, ...]:
    ids = {c.source for st in statements for c in st.citations} | {c.source for u in urgent for c in u.citations}
    return tuple(
        SourceView(s.id, s.title, s.jurisdiction, s.version, s.tier, s.verified, s.url)
        for s in pack.sources.values()
        if s.id in ids
    )


@dataclass(frozen=True)
class _Reading:
    """What was read from the question, shared by every drug named in it."""

    question: str
    lang: Language
    ask_lang: Language
    prior: dict[str, float]
    intent: Intent | None
    cues: tuple[str, ...]
    jurisdiction: str | None
    concepts: tuple[Concept, ...] = ()
    specific: bool = False


def _drug_answer(lib: Library, res: Resolution, reading: _Reading, drugs: list[Resolution]) -> DrugAnswer | None:
    pack = lib.packs[res.drug]
    lang = reading.lang
    shown_index = lib.index(res.drug, lang)
    ask_index = lib.index(res.drug, reading.ask_lang)
    doc = shown_index.doc
    flags = raised_flags(reading.question, pack)
    urgent = tuple(_urgent(f, pack, doc, lang) for f in flags)
    text = _without_names(reading.question, drugs)
    query = ask_index.query_terms(text)
    ranked = ask_index.rank(query, reading.prior)
    findings = compute_findings(pack, doc, read_specifics(reading.question), lang)

    def view(item: Ranked) -> tuple[str, str, StatementView]:
        found = shown_index.by_id.get(item.passage.statement.id, item.passage)
        return found.section, found.section_title, _plain_statement(found.statement)

    ranked = [r for r in ranked if _jurisdiction_ok(r.passage.statement, reading.jurisdiction)]
    disagreements = [r for r in ranked if r.passage.kind == "conflict"]
    ranked = [r for r in ranked if r.passage.kind != "conflict"]
    stated = [c for c in reading.concepts if c not in _unstated(lib, res.drug, reading.ask_lang, (c,))]
    if stated:
        # "can I drive after it": the statements that speak of what the question names lead
        ranked = sorted(
            (
                dataclasses.replace(r, score=r.score + CONCEPT_BONUS)
                if any(states_concept(_passage_text(r.passage), c) for c in stated)
                else r
                for r in ranked
            ),
            key=lambda r: -r.score,
        )
    facets = question_facets(reading.question)
    if facets:
        # "how long", "how often": a statement stating a duration or a frequency answers it
        ranked = sorted(
            (
                dataclasses.replace(r, score=r.score + FACET_BONUS)
                if any(
                    states_facet(" ".join([r.passage.statement.text, *r.passage.statement.points]), f) for f in facets
                )
                else r
                for r in ranked
            ),
            key=lambda r: -r.score,
        )
    support: list[tuple[str, str, StatementView]] = []
    topic = ranked[0].passage.section if ranked else None
    content = len(_content_terms(text, reading.cues))
    # a topic asked about in words no statement uses ("safe with <a drug the pack does not name>"):
    # the section itself answers, rather than nothing
    # one word beyond the topic cue is a broad question unless the cues point at two sections
    # equally ("my kid has asthma, is it safe?": children or warnings) and the statements decide
    priors = sorted(reading.prior.values(), reverse=True)
    tied = len(priors) > 1 and priors[0] == priors[1]
    broad = reading.intent is not None and (
        content == 0 or not ranked or (content == 1 and not tied and not reading.specific)
    )
    if broad and reading.intent is not None:
        topic = SECTION_OF[reading.intent]
        section = doc.section(topic)
        if section is not None:
            # the whole section, the statements the question matches first
            order = {r.passage.statement.id: n for n, r in enumerate(ranked) if r.passage.section == topic}
            statements = sorted(section.statements, key=lambda st: order.get(st.id, len(order)))
            support += [(topic, section.title, _plain_statement(st)) for st in statements
                        if _jurisdiction_ok(st, reading.jurisdiction)]  # fmt: skip
        first = [
            r for r in ranked if r.passage.section == topic and support and r.passage.statement.id == support[0][2].id
        ]
        ranked = (
            first
            + [r for r in ranked if r.passage.section == topic and r not in first]
            + [r for r in ranked if r.passage.section != topic]
        )
    elif ranked:
        best = ranked[0].score
        support += [view(r) for r in ranked[:MAX_SUPPORT] if r.score >= SUPPORT_SHARE * best]
    # red-flag and computed statements come first among the supporting ones
    by_id = {st.id: (sec.id, sec.title, st) for sec in doc.sections for st in sec.statements}
    lead: list[tuple[str, str, StatementView]] = []
    if flags:
        first_flag = next((by_id[i][0] for f in flags for i in f.flag.statements if i in by_id), None)
        topic = first_flag or topic
    for flag in flags:
        lead += [(by_id[i][0], by_id[i][1], _plain_statement(by_id[i][2])) for i in flag.flag.statements if i in by_id]
    top_rules = {rule for _, _, st in support[:MAX_SUPPORT] for rule in st.rules}
    relevant = [f for f in findings if f.fires or set(f.rules) & top_rules or not f.rules]
    fired_sections = [by_id[i][0] for f in relevant if f.fires for i in f.statements if i in by_id]
    if fired_sections and not flags:
        topic = fired_sections[0]
    for finding in relevant:
        lead += [(by_id[i][0], by_id[i][1], _plain_statement(by_id[i][2])) for i in finding.statements if i in by_id]
    support = lead + support
    if not support and not urgent and not relevant:
        return None
    query_set = set(terms(text, ask_index.segmenter, expand=False)) | set(query)
    if flags:
        # a raised red flag decides the direct answer: its urgent action, not the best lexical match
        urgent_sentences = sentences(urgent[0].text)
        direct = urgent_sentences[0] if urgent_sentences else urgent[0].text
        direct_from = tuple(flags[0].flag.statements)
    elif broad and support:
        section_order = {st.id: n for n, st in enumerate(section.statements)} if section is not None else {}
        # a word beyond the topic ("contraindications ... HIV"): the statements it matches lead
        matched = [r.passage.statement.id for r in ranked if r.passage.section == topic]
        rank_of = {sid: n for n, sid in enumerate(matched)} if content else {}
        canonical = sorted(
            (st for _, _, st in support[len(lead) :]),
            key=lambda st: (st.id not in matched, rank_of.get(st.id, 0), section_order.get(st.id, 0)),
        )
        direct, direct_from = _overview(canonical or [support[0][2]], lang)
    elif ranked:
        own = frozenset(terms(text, ask_index.segmenter, expand=False))
        direct, direct_from = _best_sentences(ranked, query_set, shown_index, lang, facets=facets, own=own)
    else:
        direct, direct_from = "", ()
    if not direct and lead:
        direct, direct_from = _opening(lead[0][2], lang), (lead[0][2].id,)
    computed = " ".join(f.text for f in relevant) if lang == "en" else "".join(f.text for f in relevant)
    if computed:
        direct = f"{computed} {direct}".strip() if lang == "en" else computed + direct
        # the statements a fired finding rests on are part of the direct answer, and come first
        said = tuple(i for f in relevant if f.fires for i in f.statements if i in by_id)
        direct_from = tuple(dict.fromkeys([*said, *direct_from]))
    finding_views = tuple(_finding_view(f, n, pack, doc) for n, f in enumerate(relevant, start=1))
    sections = _group(support)
    shown = [st for sec in sections for st in sec.statements]
    related_ids = {c.id for c in _related_conflicts(doc, shown)}
    if disagreements and disagreements[0].score >= SUPPORT_SHARE * (ranked[0].score if ranked else 0.0):
        related_ids.add(disagreements[0].passage.statement.id)
    conflicts = doc.section(CONFLICTS_SECTION)
    related = tuple(_plain_statement(c) for c in (conflicts.statements if conflicts else ()) if c.id in related_ids)
    return DrugAnswer(
        drug=res.drug,
        display=pack.identity.display.get(lang) or pack.identity.inn,
        matched=res.matched,
        via=res.via,
        verified=res.verified,
        note=_note(res, pack, lang),
        sections=sections,
        related_conflicts=related,
        sources=_sources_of(pack, [*shown, *related, *finding_views], urgent),
        disclaimer=doc.disclaimer,
        direct=direct,
        direct_from=direct_from,
        topic=topic,
        urgent=urgent,
        findings=finding_views,
        scores=tuple((r.passage.statement.id, round(r.score, 3)) for r in ranked[:8]),
    )


def _no_drug(question: str, lang: Language, packs: Mapping[str, Pack], intent: Intent | None) -> Answer:
    """No pack for the drug asked about. Similar spellings are named as different medicines, never
    as if they were the drug asked about."""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]{4,}", question)]
    hints = sorted({s.display for w in words for s in suggest(w, packs, 2) if s.score >= 0.7})
    listed = _pack_list(packs, lang)
    if lang == "en":
        message = f"rxguard has no pack for the drug in this question. It has packs for {listed}."
        if hints:
            message += (
                f" {', '.join(hints)} is spelt similarly but is a different medicine; ask about it by name"
                " only if that is the drug you mean."
            )
    else:
        message = f"rxguard 没有这个问题中所涉药品的知识包。现有知识包：{listed}。"
        if hints:
            message += f"{'、'.join(hints)}的拼写与之相近，但属于不同的药品；只有当您指的就是该药时，才请用其名称提问。"
    return Answer(question, lang, "no-drug", intent, message, covers=_covers(lang), suggestions=tuple(hints))


def label_sources(pack: Pack) -> tuple[SourceView, ...]:
    """Where to read what a monograph does not say: per jurisdiction where a product is marketed,
    the first verified source of the best evidence tier the pack registers (the regulator's label
    where it has one)."""
    best: dict[str, SourceView] = {}
    marketed = {j for product in pack.identity.products for j in product.jurisdictions}
    for s in pack.sources.values():
        if not s.verified or s.tier not in ("A", "B") or s.jurisdiction not in marketed:
            continue
        shown = SourceView(s.id, s.title, s.jurisdiction, s.version, s.tier, s.verified, s.url)
        held = best.get(s.jurisdiction)
        if held is None or s.tier < held.tier:
            best[s.jurisdiction] = shown
    return tuple(best.values())


def _see_line(sources: tuple[SourceView, ...], lang: Language) -> str:
    if not sources:
        return ""
    listed = [f"{s.title}{f' ({s.url})' if s.url else ''}" for s in sources]
    if lang == "en":
        return " Check the product information: " + "; ".join(listed) + "."
    return "请查阅药品说明书：" + "；".join(listed) + "。"


def _no_intent(question: str, lang: Language, drugs: list[Resolution], packs: Mapping[str, Pack]) -> Answer:
    covers = _covers(lang)
    names = ", ".join(packs[r.drug].identity.display.get(lang) or r.drug for r in drugs)
    see = tuple(s for r in drugs for s in label_sources(packs[r.drug]))
    if lang == "en":
        message = (
            f"rxguard cannot answer that about {names}. It answers questions on: {'; '.join(covers)}. "
            f"`rxguard monograph {drugs[0].drug}` shows everything it knows."
        )
    else:
        message = (
            f"rxguard 无法回答关于{names}的这个问题。它可以回答以下方面的问题：{'；'.join(covers)}。"
            f"运行 `rxguard monograph {drugs[0].drug} --lang zh` 可查看全部内容。"
        )
    return Answer(question, lang, "no-intent", None, message + _see_line(see, lang), covers=covers, see=see)


def _not_covered(
    question: str, lang: Language, drugs: list[Resolution], packs: Mapping[str, Pack], missing: list[Concept]
) -> Answer:
    """The question names something (a missed dose, vaccines) that no statement of the packs states:
    say so and where to read it, rather than answer a nearby question."""
    names = ", ".join(packs[r.drug].identity.display.get(lang) or r.drug for r in drugs)
    what = (
        ", ".join(c.title.get(lang) or c.id for c in missing)
        if lang == "en"
        else "、".join(c.title.get(lang) or c.id for c in missing)
    )
    see = tuple(s for r in drugs for s in label_sources(packs[r.drug]))
    if lang == "en":
        message = (
            f"The {names} monograph does not cover {what}: rxguard has no cited statement on it and does not guess."
            " Ask the prescriber or pharmacist."
        )
    else:
        message = f"{names}的药品信息未涉及{what}：rxguard 没有这方面有出处的内容，不作猜测。请咨询处方医生或药师。"
    return Answer(question, lang, "not-covered", None, message + _see_line(see, lang), covers=_covers(lang), see=see)


@functools.cache
def _question_words() -> tuple[frozenset[str], tuple[str, ...]]:
    """Words of asking, not things asked about: in English the lexicon's stop and asking words and
    the words of the ``combining``, ``eligibility`` and ``who`` patterns of intents.yaml; in Chinese
    the lexicon's stop words of two characters or more, longest first."""
    words = lexicon()["en"]
    table = intent_vocabulary()
    patterns = " ".join([*table["combining"]["en"], *table["eligibility"]["en"], table["who"]])
    english = {w for w in re.findall(r"[a-z]{3,}", patterns)}
    english |= {w for w in (*words["stop"], *words["asking"]) if isinstance(w, str)}
    chinese = sorted((w for w in lexicon()["zh"]["stop"] if isinstance(w, str) and len(w) >= 2), key=len, reverse=True)
    return frozenset(english), tuple(chinese)


def _asked_things(lib: Library, drug: str, lang: Language, text: str) -> tuple[list[str], list[str]]:
    """The things a question (its drug names taken out) asks to take the drug with, or the
    condition it asks about, split into those the drug's pack speaks of and those it never does
    (no statement uses them, no value set names them: "ibuprofen" for a pack that does not name
    it). Only the words just after ``asked_after`` words ("with X", "take X", "has Y") and, in
    Chinese, the gap of a ``combining`` or ``eligibility`` phrase ("和…一起") are read. An everyday
    word of the lexicon counts as spoken of when the words it stands for are ("kidney" only where
    a statement speaks of renal function)."""
    index = lib.index(drug, lang)
    if index.expansion(text):
        return ["(value set)"], []
    asking, stop_zh = _question_words()
    table = intent_vocabulary()
    after = set(table["asked_after"]["en"])
    vocabulary = lib.index(drug, "en").vocabulary()
    tokens = re.findall(r"[a-z][a-z'-]*|\d+(?:\.\d+)?", text.casefold())
    slots = sorted({j for i, t in enumerate(tokens) if t in after for j in range(i + 1, min(i + 4, len(tokens)))})
    known: list[str] = []
    unknown: list[str] = []
    for word in dict.fromkeys(tokens[j] for j in slots if tokens[j] not in after):
        if (
            len(word) < 4
            or not word.isalpha()
            or word in asking
            or any(word.startswith(w) for w in asking if len(w) >= 4)
        ):
            continue
        if vocabulary.uses(word):
            known.append(word)
        elif synonym_stems(word):
            (known if set(synonym_stems(word)) & vocabulary.stems else unknown).append(word)
        elif vocabulary.completions(word) or vocabulary.correction(word):
            known.append(word)
        else:
            unknown.append(word)
    if has_han(text):
        simplified = to_simplified(text).upper()
        bigrams, written = index.bigrams(), index.han_text()

        def spoken_of(run: str) -> bool:
            # a short word must occur as written; a longer one may be written apart or hold a
            # modifier (免疫功能不好): half of its pairs of characters occur
            if run in written or len(run) < 4:
                return run in written
            pairs = [run[i : i + 2] for i in range(len(run) - 1)]
            return sum(p in bigrams for p in pairs) * 2 >= len(pairs)

        zh_synonyms = sorted(lexicon()["zh"]["synonyms"].items(), key=lambda kv: -len(kv[0]))

        def everyday_word_spoken_of(run: str) -> bool:
            # an everyday word in it stands for words the pack uses (肾不好 -> 肾功能); a one-character
            # word only where the run starts with it (肾不好, not 乙肝)
            for key, values in zh_synonyms:
                if key in run and (len(key) >= 2 or run.startswith(key)):
                    mapped = [str(v) for v in values or ()]
                    if any(spoken_of(v) if has_han(v) else vocabulary.uses(v.casefold()) for v in mapped):
                        return True
            return False

        for phrase in (p for kind in ("combining", "eligibility") for p in table[kind]["zh"] if "…" in p):
            head, tail = phrase.upper().split("…")[0], phrase.upper().split("…")[-1]
            # the longest gap from the leftmost start when the phrase opens with it (…的人能)
            between = "(.{0,12}?)" if head else "(.{1,12})"
            for hit in re.finditer(re.escape(head) + between + re.escape(tail), simplified):
                gap = hit.group(1)
                for word in stop_zh:
                    gap = gap.replace(word, " ")
                for run in re.findall(r"[\u3400-\u9fff]{2,}", gap):
                    (known if spoken_of(run) or everyday_word_spoken_of(run) else unknown).append(run)
    return known, unknown


def _combination(things: list[str], lang: Language) -> Concept:
    """What a question about taking the drug with something, or with a condition, names that the
    pack never speaks of, as a concept not covered."""
    latin = [t for t in things if not has_han(t)]
    return Concept(
        id="combination",
        # Chinese words are not segmented reliably enough to be quoted back
        title={
            "en": ", ".join(f"“{t}”" for t in latin) if latin else "what the question names",
            "zh": "问题中提到的" + ("、".join(f"“{t}”" for t in latin) if latin else "其他药物或情况"),
        },
        question=((), ()),
        statement=((), ()),
    )


def _unstated(lib: Library, drug: str, lang: Language, asked: tuple[Concept, ...]) -> list[Concept]:
    """The concepts of the question that no statement of the drug's monograph states (in English,
    the language every statement is written in, and in the language asked)."""
    indexes = [lib.index(drug, "en", segmenter=False)]
    if lang != "en":
        indexes.append(lib.index(drug, lang, segmenter=False))
    texts = [_passage_text(p) for index in indexes for p in index.passages]
    return [c for c in asked if not any(states_concept(t, c) for t in texts)]


def _passage_text(passage: Passage) -> str:
    return " ".join([passage.statement.heading or "", passage.statement.text, *passage.statement.points])


#: The sections a question asking whether someone with a condition may have the drug points at,
#: when nothing else in it does.
ELIGIBILITY_PRIOR: dict[str, float] = {"contraindications": 2.0, "warnings": 1.0, "special-populations": 1.0}
#: Intent weight a question asking to take the drug with something adds to the interactions.
COMBINING_PRIOR = {"interactions": 3.0}
#: Bonus, on the 0..1 scale of the ranking, for a statement stating the fact a question's facet asks for.
FACET_BONUS = 0.3
#: Bonus for a statement that speaks of a concept the question names (driving, vaccines).
CONCEPT_BONUS = 0.5

#: A topic a pack may have no section on, and the sections that say the most about it instead.
FALLBACK_SECTIONS: dict[str, tuple[str, ...]] = {
    "adverse-reactions": ("warnings",),
    "risk": ("warnings",),
}

#: Least BM25 score of the best statement for a question with no topic cue to be answered.
MIN_UNCUED_SCORE = 2.0


def answer_question(
    question: str,
    *,
    lang: Language | None = None,
    jurisdiction: str | None = None,
    packs: Mapping[str, Pack] | None = None,
) -> Answer:
    """Answer one question from the packs; never guesses a drug, never answers outside the packs."""
    if not question.strip():
        raise InputError(
            'the question is empty; ask e.g. rxguard ask "What are the contraindications of <drug>?" with a drug rxguard packs list shows'
        )
    if lang is not None and lang not in ("en", "zh"):
        raise InputError(f"--lang {lang!r} is not available; use en or zh")
    packs = load_all() if packs is None else packs
    lib = library(packs)
    ask_lang: Language = question_language(question)
    language: Language = lang or ask_lang
    drugs = [r for r in find_drugs_in_text(question, packs) if r.drug in packs]
    asked_text = question
    question = lib.spelling().corrected(question, keep=[r.matched for r in drugs])
    simplified = to_simplified(question)
    scored = score_intents(simplified, names=_surfaces(drugs))
    intent: Intent | None = scored[0].intent if scored else None
    out_of_scope = out_of_scope_score(simplified)
    if scored and out_of_scope >= scored[0].score:
        intent = None
    if not drugs:
        return _no_drug(asked_text, language, packs, intent)
    reading = _Reading(
        question=question,
        lang=language,
        ask_lang=ask_lang,
        prior={SECTION_OF[s.intent]: s.score for s in scored} if intent is not None else {},
        intent=intent,
        cues=topic_words(simplified),
        jurisdiction=jurisdiction,
        concepts=question_concepts(simplified),
    )
    flagged = any(raised_flags(question, packs[r.drug]) for r in drugs)
    fallback_note = ""
    asked = reading.concepts
    if asked and not flagged:
        missing = [_unstated(lib, r.drug, ask_lang, asked) for r in drugs]
        if all(missing):
            return _not_covered(asked_text, language, drugs, packs, missing[0])
    allowed = asks_whether_allowed(simplified) if not flagged else ()
    if allowed:
        things = [_asked_things(lib, r.drug, ask_lang, _without_names(question, drugs)) for r in drugs]
        if all(unknown for _, unknown in things):
            return _not_covered(asked_text, language, drugs, packs, [_combination(things[0][1], language)])
        # what it asks about is spoken of: the statements on it answer, not the section's opening;
        # taking it with something is a question for the interactions and contraindications
        prior = dict(reading.prior)
        if "combining" in allowed and reading.intent is not None:
            for section, weight in COMBINING_PRIOR.items():
                prior[section] = prior.get(section, 0.0) + weight
        reading = dataclasses.replace(reading, specific=any(known for known, _ in things), prior=prior)
        if reading.intent is None and out_of_scope == 0:
            # "can a patient with Y start X?" with no other cue: who may have it
            reading = dataclasses.replace(reading, intent="contraindications", prior=dict(ELIGIBILITY_PRIOR))
        elif "eligibility" in allowed and reading.intent is not None:
            # "in a patient with previous Y?": who may have it weighs in beside the topic's words
            prior = {s: reading.prior.get(s, 0.0) + w for s, w in ELIGIBILITY_PRIOR.items()} | {
                s: w for s, w in reading.prior.items() if s not in ELIGIBILITY_PRIOR
            }
            reading = dataclasses.replace(reading, prior=prior)
    if not flagged and (out_of_scope > 0 and intent is None):
        return _no_intent(asked_text, language, drugs, packs)
    if (
        not flagged
        and intent is not None
        and all(lib.index(r.drug, language).doc.section(SECTION_OF[intent]) is None for r in drugs)
    ):
        names = ", ".join(packs[r.drug].identity.display.get(language) or r.drug for r in drugs)
        topic_name = _INTENT_NAMES[intent][0 if language == "en" else 1]
        message = (
            f"The {names} monograph has no section on {topic_name}."
            if language == "en"
            else f"{names}的药品信息中没有关于{topic_name}的部分。"
        )
        fallback = next(
            (
                f
                for f in FALLBACK_SECTIONS.get(intent, ())
                if all(lib.index(r.drug, language).doc.section(f) is not None for r in drugs)
            ),
            None,
        )
        if fallback is None:
            return Answer(asked_text, language, "no-section", intent, message, (), _covers(language))
        # say so, then answer from the section that covers the topic in part (the boxed warning)
        title = lib.index(drugs[0].drug, language).doc.section(fallback)
        shown_title = title.title if title is not None else fallback
        fallback_note = (
            f"{message} What it states under “{shown_title}” follows; it is not a list of adverse reactions."
            if language == "en"
            else f"{message}以下是其“{shown_title}”部分的内容，并非不良反应列表。"
        )
        fallback_intent: Intent = fallback  # type: ignore[assignment]
        reading = dataclasses.replace(
            reading, intent=fallback_intent, prior={fallback: reading.prior.get(intent, 1.0)}, cues=()
        )
    answers = tuple(a for a in (_drug_answer(lib, r, reading, drugs) for r in drugs) if a is not None)
    if fallback_note:
        answers = tuple(
            dataclasses.replace(
                a, note=f"{fallback_note} {a.note}".strip() if language == "en" else fallback_note + a.note
            )
            for a in answers
        )
    if not flagged and reading.intent is None:
        # no topic cue: answer only when the statements match the question well
        answers = tuple(a for a in answers if a.scores and _lexical_best(lib, a, reading) >= MIN_UNCUED_SCORE)
    if not answers:
        return _no_intent(asked_text, language, drugs, packs)
    topic = next((a.topic for a in answers if a.topic), None)
    name = _INTENT_NAMES.get(topic or "", ("", ""))[0 if language == "en" else 1] if topic else ""
    return Answer(asked_text, language, "answered", intent, name, answers, _covers(language), topic=topic)


def _lexical_best(lib: Library, answer: DrugAnswer, reading: _Reading) -> float:
    index = lib.index(answer.drug, reading.ask_lang)
    text = _without_names(reading.question, [])
    ranked = index.rank(index.query_terms(text), {})
    return ranked[0].lexical if ranked else 0.0


def explain_intent(question: str) -> list[tuple[str, float, tuple[str, ...]]]:
    """The intent scores and matched phrases, for debugging a classification."""
    return [(s.intent, s.score, s.matched) for s in score_intents(question)]


__all__ = ["INTENTS", "Answer", "DrugAnswer", "UrgentView", "answer_question", "plain"]
