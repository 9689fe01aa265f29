"""The numbers in a question that a pack's rules compute with: age, infusion number, body surface.

"Does she still stay for an hour after her 20th infusion?", "a 72-year-old",
"a body surface of 1.2 m²": the question's own numbers are checked against
the pack, never against numbers in Python:

- an age against every rule whose condition is an age limit (``age: {lt: 2}``);
- an infusion number against every rule whose condition counts infusions
  (``infusions: {count_lt: 12}``: the first 12 infusions);
- a body surface area against a dose the schedule states per m².

Each finding names the rule's own wording (its title, or in Chinese the
heading of the monograph statement that explains it) and carries the rule's
citations; rule ids stay in the JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rxguard.druginfo.labels import Language
from rxguard.druginfo.tokens import to_simplified
from rxguard.knowledge.schema import AgeCheck, InfusionCheck

if TYPE_CHECKING:
    from rxguard.druginfo.monograph import MonographDoc, StatementView
    from rxguard.knowledge.loader import Pack
    from rxguard.knowledge.schema import Citation, Rule

_NUMBER = r"(\d{1,3}(?:\.\d+)?)"
_BSA = re.compile(
    rf"(?:bsa|body[- ]surface(?: area)?|体表面积)\D{{0,12}}{_NUMBER}|{_NUMBER}\s*(?:m2|m²|m\^2|sq\.? ?m|square met(?:er|re)s?|平方米|平米)",
    re.IGNORECASE,
)
_AGE = re.compile(
    rf"{_NUMBER}[- ]?(?:years?|yrs?)[- ]old|{_NUMBER}[- ]?(?:y/o|yo)\b|\baged? (?:of )?{_NUMBER}\b|{_NUMBER}\s*(?:周岁|岁)",
    re.IGNORECASE,
)
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50,
}  # fmt: skip
_INFUSION_EN = re.compile(
    r"\b(?:(\d{1,3})(?:st|nd|rd|th)|("
    + "|".join(_ORDINAL_WORDS)
    + r"))\s+(?:\w+\s+){0,2}?(?:infusion|dose|treatment)s?\b"
    r"|\b(?:infusion|dose)\s+(?:number\s+|no\.?\s*|#\s*)(\d{1,3})\b",
    re.IGNORECASE,
)
_INFUSION_ZH = re.compile(r"第\s*(\d{1,3}|[一二三四五六七八九十两]{1,3})\s*(?:次|针|剂)")
_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_PER_M2 = re.compile(r"(\d+(?:\.\d+)?)\s*mg/m(?:²|2)\b")


@dataclass(frozen=True)
class Specifics:
    age: float | None = None
    infusion: int | None = None
    bsa: float | None = None


@dataclass(frozen=True)
class Finding:
    """One computed sentence, the rules and statements behind it, and their citations."""

    text: str
    rules: tuple[str, ...]
    statements: tuple[str, ...]
    citations: tuple[Citation, ...]
    fires: bool = True


def _chinese_number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "十" in text:
        tens, _, units = text.partition("十")
        value = (_ZH_DIGITS.get(tens, 0) if tens else 1) * 10 + (_ZH_DIGITS.get(units, 0) if units else 0)
        return value or None
    return _ZH_DIGITS.get(text)


def read_specifics(question: str) -> Specifics:
    """Age, infusion number and body surface area stated in the question, if any."""
    text = to_simplified(question)
    age = bsa = None
    infusion: int | None = None
    hit = _BSA.search(text)
    if hit:
        value = float(next(g for g in hit.groups() if g))
        bsa = value if 0.1 <= value <= 3.5 else None
    hit = _AGE.search(text)
    if hit:
        value = float(next(g for g in hit.groups() if g))
        age = value if 0 <= value <= 120 else None
    hit = _INFUSION_EN.search(text)
    if hit:
        digits, word, number = hit.groups()
        infusion = int(digits or number) if (digits or number) else _ORDINAL_WORDS[word.lower()]
    else:
        zh = _INFUSION_ZH.search(text)
        if zh:
            infusion = _chinese_number(zh.group(1))
    if infusion is not None and not 1 <= infusion <= 500:
        infusion = None
    return Specifics(age, infusion, bsa)


# --------------------------------------------------------------------------- evaluation


def _explaining(doc: MonographDoc, rule_id: str, category: str = "") -> StatementView | None:
    """The monograph statement that explains a rule, preferring the section of the rule's category."""
    from rxguard.druginfo.retrieval import RULE_SECTION

    home = RULE_SECTION.get(category)
    found = [(section.id, st) for section in doc.sections for st in section.statements
             if rule_id in st.rules and not st.id.startswith("conflict-")]  # fmt: skip
    preferred = [st for section_id, st in found if section_id == home]
    candidates = preferred or [st for _, st in found]
    return candidates[0] if candidates else None


def _rule_name(rule: Rule, doc: MonographDoc, lang: Language) -> str:
    if lang == "en":
        return rule.title
    st = _explaining(doc, rule.id, rule.category)
    return (st.heading or "") if st is not None and st.heading else rule.title


def _statement_ids(doc: MonographDoc, rules: list[Rule]) -> tuple[str, ...]:
    ids: list[str] = []
    for rule in rules:
        st = _explaining(doc, rule.id, rule.category)
        if st is not None and st.id not in ids:
            ids.append(st.id)
    return tuple(ids)


def _infusion_range(check: object, lang: Language) -> str | None:
    """Infusion numbers (1-based) a count check covers, in words; None if it tests more than counts."""
    lt, gte, lte = (getattr(check, name) for name in ("count_lt", "count_gte", "count_lte"))
    others = [n for n in ("since_first_gte", "since_first_gt", "since_last_lt", "gap_gte", "since_last_lt_param")
              if getattr(check, n) is not None]  # fmt: skip
    if others:
        return None
    low = (gte + 1) if gte is not None else 1
    high = min(v for v in ((lt if lt is not None else None), (lte + 1 if lte is not None else None)) if v is not None) \
        if (lt is not None or lte is not None) else None  # fmt: skip
    if lang == "en":
        return f"infusions {low} to {high}" if high is not None else f"infusion {low} onwards"
    return f"第 {low}–{high} 次输注" if high is not None else f"第 {low} 次及以后的输注"


def _infusion_fires(check: object, previous: int) -> bool:
    lt, gte, lte = (getattr(check, name) for name in ("count_lt", "count_gte", "count_lte"))
    return (lt is None or previous < lt) and (gte is None or previous >= gte) and (lte is None or previous <= lte)


def _infusion_findings(pack: Pack, doc: MonographDoc, n: int, lang: Language) -> list[Finding]:
    out: list[Finding] = []
    for rule in pack.rules:
        check = rule.when
        if not isinstance(check, InfusionCheck):
            continue
        covered = _infusion_range(check, lang)
        if covered is None:
            continue
        fires = _infusion_fires(check, n - 1)  # the n-th infusion has n - 1 before it
        name = _rule_name(rule, doc, lang)
        if lang == "en":
            verdict = "applies" if fires else "does not apply"
            text = f"Infusion {n}: “{name}” {verdict} (it covers {covered})."
        else:
            verdict = "适用" if fires else "不适用"
            text = f"第 {n} 次输注：“{name}”{verdict}（其范围为{covered}）。"
        out.append(Finding(text, (rule.id,), _statement_ids(doc, [rule]), tuple(rule.sources), fires))
    return out


def _age_fires(check: object, age: float) -> bool:
    lt, gte, gt = (getattr(check, name) for name in ("lt", "gte", "gt"))
    return (lt is None or age < lt) and (gte is None or age >= gte) and (gt is None or age > gt)


def _age_findings(pack: Pack, doc: MonographDoc, age: float, lang: Language) -> list[Finding]:
    rules = [r for r in pack.rules if isinstance(r.when, AgeCheck)]
    if not rules:
        return []
    shown = f"{age:g}"
    fired = [r for r in rules if _age_fires(r.when, age)]
    cites = tuple(c for r in (fired or rules) for c in r.sources)
    if fired:
        names = "; ".join(_rule_name(r, doc, lang) for r in fired)
        text = f"At {shown} years: {names}." if lang == "en" else f"{shown} 岁：{names}。"
        return [Finding(text, tuple(r.id for r in fired), _statement_ids(doc, fired), cites)]
    names = "; ".join(_rule_name(r, doc, lang) for r in rules)
    text = (
        f"At {shown} years, none of the label's age limits applies (they concern: {names})."
        if lang == "en"
        else f"{shown} 岁不在说明书的年龄限制之内（年龄限制涉及：{names}）。"
    )
    return [Finding(text, tuple(r.id for r in rules), _statement_ids(doc, rules), cites, False)]


def _bsa_findings(pack: Pack, bsa: float, lang: Language) -> list[Finding]:
    hit = _PER_M2.search(pack.dosing.dose)
    if not hit:
        return []
    per_m2 = float(hit.group(1))
    dose = round(per_m2 * bsa, 2)
    if lang == "en":
        text = f"At a body surface area of {bsa:g} m², the labelled {per_m2:g} mg/m² is {dose:g} mg per infusion."
    else:
        text = f"体表面积 {bsa:g} m² 时，按说明书 {per_m2:g} mg/m² 计算，每次输注剂量为 {dose:g} mg。"
    return [Finding(text, (), (), tuple(pack.dosing.sources))]


def compute_findings(pack: Pack, doc: MonographDoc, specifics: Specifics, lang: Language) -> list[Finding]:
    """What the pack says for the numbers in the question (nothing when it states none)."""
    out: list[Finding] = []
    if specifics.bsa is not None:
        out += _bsa_findings(pack, specifics.bsa, lang)
    if specifics.infusion is not None:
        out += _infusion_findings(pack, doc, specifics.infusion, lang)
    if specifics.age is not None:
        out += _age_findings(pack, doc, specifics.age, lang)
    return out
