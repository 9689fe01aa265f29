"""``rxguard ask``: answer a drug question from the packs' monographs, deterministically.

The question is read twice: once for the drug (any name the resolver knows,
English or Chinese, misspellings included) and once for the intent
(:mod:`rxguard.druginfo.intents`). The answer is the monograph section for
that intent, with its citations, plus the recorded disagreements between
sources that concern the same rules — so a reader of "which patients must
not use mifamurtide?" also sees which of a web page's "contraindications"
the label treats as warnings.

There is no network and no language model. When rxguard has no pack for
the drug, or the question is about something no monograph section covers,
the answer says so and lists what rxguard can answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from rxguard.druginfo.intents import INTENTS, SECTION_OF, Intent, classify_intent, score_intents
from rxguard.druginfo.labels import Language
from rxguard.druginfo.monograph import (
    CONFLICTS_SECTION,
    MonographDoc,
    SectionView,
    SourceView,
    StatementView,
    build_monograph,
)
from rxguard.errors import InputError
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.names import Resolution, find_drugs_in_text, is_cjk, suggest

Status = Literal["answered", "no-drug", "no-intent", "no-section"]

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
    "pml-risk": ("PML risk and its stratification", "PML 风险及其分层"),
}


@dataclass(frozen=True)
class DrugAnswer:
    """The part of an answer about one drug named in the question."""

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


def _related_conflicts(doc: MonographDoc, sections: tuple[SectionView, ...]) -> tuple[StatementView, ...]:
    """Conflicts that concern the rules of the statements being answered."""
    rules = {rule for section in sections for st in section.statements for rule in st.rules}
    conflicts = doc.section(CONFLICTS_SECTION)
    if conflicts is None or not rules:
        return ()
    return tuple(st for st in conflicts.statements if rules & set(st.rules))


def _filter(section: SectionView, jurisdiction: str | None) -> SectionView:
    if jurisdiction is None:
        return section
    kept = tuple(st for st in section.statements if not st.jurisdictions or jurisdiction in st.jurisdictions)
    return SectionView(section.id, section.title, kept, section.intro)


def _sources_of(doc: MonographDoc, statements: list[StatementView]) -> tuple[SourceView, ...]:
    ids = {c.source for st in statements for c in st.citations}
    return tuple(s for s in doc.sources if s.id in ids)


def _drug_answer(res: Resolution, pack: Pack, intent: Intent, lang: Language, jurisdiction: str | None) -> DrugAnswer:
    doc = build_monograph(pack, lang)
    section = doc.section(SECTION_OF[intent])
    sections = (_filter(section, jurisdiction),) if section is not None else ()
    related = _related_conflicts(doc, sections)
    statements = [st for s in sections for st in s.statements] + list(related)
    return DrugAnswer(
        drug=res.drug,
        display=pack.identity.display.get(lang) or pack.identity.inn,
        matched=res.matched,
        via=res.via,
        verified=res.verified,
        note=_note(res, pack, lang),
        sections=sections,
        related_conflicts=related,
        sources=_sources_of(doc, statements),
        disclaimer=doc.disclaimer,
    )


def _no_drug(question: str, lang: Language, packs: Mapping[str, Pack], intent: Intent | None) -> Answer:
    words = [w for w in question.replace("?", " ").split() if len(w) >= 5]
    hints = sorted({s.display for w in words for s in suggest(w, packs, 2) if s.score >= 0.7})
    listed = _pack_list(packs, lang)
    if lang == "en":
        message = f"rxguard has no pack for the drug in this question. It has packs for {listed}."
        if hints:
            message += f" Did you mean: {', '.join(hints)}?"
    else:
        message = f"rxguard 没有这个问题中所涉药品的知识包。现有知识包：{listed}。"
        if hints:
            message += f"您是否指：{'、'.join(hints)}？"
    return Answer(question, lang, "no-drug", intent, message, covers=_covers(lang), suggestions=tuple(hints))


def _no_intent(question: str, lang: Language, drugs: list[Resolution], packs: Mapping[str, Pack]) -> Answer:
    covers = _covers(lang)
    names = ", ".join(packs[r.drug].identity.display.get(lang) or r.drug for r in drugs)
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
    return Answer(question, lang, "no-intent", None, message, covers=covers)


def answer_question(
    question: str,
    *,
    lang: Language | None = None,
    jurisdiction: str | None = None,
    packs: Mapping[str, Pack] | None = None,
) -> Answer:
    """Answer one question from the packs; never guesses a drug or an intent."""
    if not question.strip():
        raise InputError('the question is empty; ask e.g. rxguard ask "What are the contraindications of natalizumab?"')
    if lang is not None and lang not in ("en", "zh"):
        raise InputError(f"--lang {lang!r} is not available; use en or zh")
    packs = load_all() if packs is None else packs
    language: Language = lang or question_language(question)
    intent = classify_intent(question)
    drugs = [r for r in find_drugs_in_text(question, packs) if r.drug in packs]
    if not drugs:
        return _no_drug(question, language, packs, intent)
    if intent is None:
        return _no_intent(question, language, drugs, packs)
    answers = tuple(_drug_answer(r, packs[r.drug], intent, language, jurisdiction) for r in drugs)
    topic = _INTENT_NAMES[intent][0 if language == "en" else 1]
    if all(not a.sections for a in answers):
        names = ", ".join(a.display for a in answers)
        message = (
            f"The {names} monograph has no section on {topic}."
            if language == "en"
            else f"{names}的药品信息中没有关于{topic}的部分。"
        )
        return Answer(question, language, "no-section", intent, message, answers, _covers(language))
    return Answer(question, language, "answered", intent, topic, answers, _covers(language))


def explain_intent(question: str) -> list[tuple[str, float, tuple[str, ...]]]:
    """The intent scores and matched phrases, for debugging a classification."""
    return [(s.intent, s.score, s.matched) for s in score_intents(question)]
