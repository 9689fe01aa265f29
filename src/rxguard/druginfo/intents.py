"""Intent of a drug question, from keyword and phrase lists in English and Chinese.

Deterministic on purpose: no network and no language model, so the same
question always gets the same answer and every classification can be
explained by the phrases that matched. Each intent maps to one monograph
section. English patterns are regular expressions matched at a word start
(``contraindicat`` matches "contraindications"; "indication" does not match
inside "contraindication"); Chinese phrases are matched as substrings.

The words here are generic. A drug's own vocabulary (its disease, its lab, its
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
from typing import TYPE_CHECKING, Literal

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
    "warnings",
)
#: The monograph section that answers each intent.
SECTION_OF: dict[Intent, str] = {intent: intent for intent in INTENTS}

#: weight -> phrases. Weights: 4 names the topic outright ("side effects"; "contraindication"
#: gets 5 because it also wins over the topic it is asked about), 3 is a strong cue, 2 a
#: typical cue, 1 a weak hint that only tips a balance.
_Weighted = dict[int, tuple[str, ...]]

#: Who a question is asked for: "can I / my son / the patient take it if ...".
_WHO = r"(?:i|we|you|he|she|they|someone|people|my \w+|the patient|a patient|patients|the child|a child)"

# fmt: off
_EN: dict[str, _Weighted] = {
    "access": {
        3: (r"buy", r"purchas", r"obtain", r"how (?:do|can|would) (?:i|we|you|patients?) get",
            r"where (?:can|do|to) .{0,20}get", r"how to get", r"get access", r"who can prescribe", r"acquire"),
        2: (r"access to", r"availab", r"restricted", r"distribution", r"rems\b", r"program",
            r"enrol", r"certif", r"infusion (?:cent|site)", r"reauthori", r"alert card", r"consent form",
            r"approved in", r"approval", r"order it", r"source it"),
        1: (r"registered", r"prescriber", r"supplied", r"pharmac", r"prescrib(?:e|ed|ing)\b"),
    },
    "indications": {
        3: (r"indicat", r"used for", r"used to treat", r"approved for", r"licen[cs]ed for"),
        2: (r"what (?:is|does) .{0,30}(?:for|treat)\b", r"what conditions?", r"what diseases?",
            r"who is it for", r"purpose"),
        1: (r"treat(?:s|ment of)?\b",),
    },
    "contraindications": {
        5: (r"contra-?indicat",),
        3: (r"who (?:should|must|can)(?:n[o']t| not) ",
            # "can I take/get/use X if I have/am Y": a condition of the patient asked about
            rf"(?:can|could|may|should|would|will) {_WHO} (?:still )?(?:take|get|use|have|receive|be given|be treated with|start|be started on|go on|be allowed|be able to \w+)\b.{{0,40}}\b(?:if|when|while|though|even though) {_WHO}(?:'m|'re|'s|'ve| am| is| are| have| has| had| was| were| got)\b",
            rf"is it (?:safe|ok|okay|possible) (?:for {_WHO} )?to (?:take|get|use|have|receive|give|start)\b.{{0,40}}\b(?:if|when|while) {_WHO}(?:'m|'re|'s|'ve| am| is| are| have| has| had)\b",
            r"(?:safe|ok|okay|suitable) for (?:someone|people|patients?|a patient|me|him|her) with\b", r"not suitable", r"unsuitable",
            r"should(?:n't| not) (?:be )?(?:use|take|give|receiv)",
            r"must(?:n't| not) (?:be )?(?:use|take|give|receiv)",
            r"(?:can't|cannot|can not) (?:use|take|receiv)", r"not be given"),
        1: (r"absolute", r"which patients", r"exclud"),
        2: (rf"(?:can|could|may|should) {_WHO} still (?:take|get|use|have|receive|start|be given)\b",
            r"who (?:is|are) not (?:allowed|permitted|able)\b",
            r"not (?:be )?allowed", r"forbidden", r"prohibit", r"who (?:is|are) (?:not )?eligible"),
    },
    "warnings": {
        3: (r"precaution", r"warning", r"caution", r"black box"),
        2: (r"careful", r"safety", r"safe\b", r"boxed",
            r"what should (?:i|we|clinicians|doctors|nurses) (?:know|watch)", r"watch (?:out )?for", r"danger",
            r"be aware", r"things to note", r"avoid"),
        1: (r"risks?\b", r"infection", r"liver", r"hypersensitiv", r"allerg", r"anaphyla", r"asthma",
            r"sepsis", r"herpes", r"retinal", r"antibod", r"thyroid", r"fever", r"chills", r"steroid",
            r"corticosteroid", r"what (?:to|should (?:i|we)) do"),
    },
    "adverse-reactions": {
        4: (r"side[- ]?effects?", r"adverse"),
        3: (r"undesirable", r"common effects", r"unwanted effects"),
        2: (r"toxicit", r"tolerab", r"very common"),
        1: (r"reactions?\b", r"what happens after", r"how often do patients (?:get|have)", r"frequen", r"normal\b"),
    },
    "monitoring": {
        3: (r"monitor", r"follow[- ]?up", r"surveillance", r"mri\b",
            r"how long .{0,60}\b(?:tests?|checks?|monitoring|blood counts?)\b (?:continue|go on|last|needed)"),
        2: (r"check(?:s|ed|ing)?\b", r"tests?\b", r"testing", r"labs?\b", r"laborator", r"scan",
            r"blood counts?", r"cbc\b", r"how often .{0,30}(?:check|test|scan|mri|see)", r"screen", r"calendar"),
        1: (r"assess", r"visit"),
    },
    "administration": {
        3: (r"doses?\b", r"dosing", r"dosage", r"how (?:is|should) it (?:be )?given", r"how to give",
            r"how (?:do|should) (?:i|we|you) give", r"prepar", r"dilut", r"reconstitut", r"storage",
            r"stor(?:e|ed|ing)\b", r"refrigerat", r"fridge", r"room temperature", r"posology",
            r"how (?:often|frequently) (?:is|are|do|does|should|will|must) .{0,30}\b(?:given|infused|administered|dosed|taken|injected|get|have|receive)\b",
            r"how long (?:is|are|does|do|will) .{0,30}\b(?:infusions?|courses?|treatment|take|last|run)\b",
            r"how (?:many|much) (?:minutes|hours|days|weeks)",
            r"how (?:is|are|should|will) .{0,30}\b(?:given|administered|infused|injected)\b",
            rf"how long (?:will|do|does|should|must|can) {_WHO} (?:be on|take|stay on|need|continue|keep)\b"),
        2: (r"administ", r"freez", r"stabilit", r"shelf", r"how long (?:can|is|does)", r"push\b", r"bolus",
            r"saline", r"sodium chloride", r"regimen", r"how many infusions", r"premedicat"),
        1: (r"how much", r"infus(?:e|ion rate)", r"shak", r"mg\b", r"schedule", r"observ(?:e|ation)"),
    },
    "special-populations": {
        4: (r"pregnan", r"breast[- ]?fe", r"breastfe", r"lactat", r"nursing mother",
            r"special (?:populations?|groups?)", r"breast milk"),
        3: (r"(?:during|in) nursing", r"children", r"child\b", r"kids?\b", r"pa?ediatric", r"adolescent",
            r"elderly", r"older (?:adult|patient|people)", r"geriatric", r"over 65", r"contracepti",
            r"newborn", r"baby", r"infant"),
        2: (r"teen", r"renal", r"kidney", r"hepatic impairment", r"liver impairment", r"fertil", r"years? old"),
        1: (r"age(?:d)?\b", r"women"),
    },
    "interactions": {
        4: (r"interact",),
        3: (r"together with", r"combin", r"(?:safe|ok|okay|fine) (?:to (?:take|use|give|combine) )?(?:it )?with\b(?! (?:hiv|an? (?:infection|history|condition)))", r"concomitant", r"co-?administ",
            r"other (?:drugs|medicines|medications)",
            r"\bwith (?:ibuprofen|aspirin|ciclosporin|cyclosporin|azathioprine|doxorubicin|interferon|steroids?|nsaids?)"),
        2: (r"at the same time", r"along with", r"(?:taken|given|used) with", r"ibuprofen", r"nsaids?",
            r"aspirin", r"ciclosporin", r"cyclosporin", r"azathioprine", r"doxorubicin", r"interferon",
            r"glatiramer", r"methotrexate", r"tnf", r"mix(?:ed)? with"),
        1: (r"add(?:ing)? .{0,25}to",),
    },
    "risk": {
        4: (r"risk strat",),
        3: (r"stratif",),
    },
}

_ZH: dict[str, _Weighted] = {
    "access": {
        3: ("购买", "怎么买", "哪里买", "在哪买", "哪里可以买", "如何获得", "怎么获得", "购药", "怎么才能用", "如何使用到", "能买到"),
        2: ("获取", "获得", "途径", "渠道", "处方资格", "认证", "登记", "上市", "获批", "供应", "输注中心", "重新授权", "警示卡", "知情同意", "哪里有"),
        1: ("注册", "项目", "批准"),
    },
    "indications": {
        3: ("适应症", "适应证", "用于治疗", "治疗什么", "用途", "主治", "什么病", "治什么"),
        1: ("用于",),
    },
    "contraindications": {
        5: ("禁忌", "禁用"),
        3: ("不适合", "不能使用", "不能用", "不宜", "哪些人不能", "不可使用", "不得使用", "不应使用", "哪些患者不"),
        # "能用吗" alone is a weak cue: a child's age or a pregnancy outweighs it
        # ("…" stands for a few characters, a drug's name: "能用阿仑单抗吗")
        2: ("能用…吗", "可以用…吗", "能不能用", "能打…吗", "能不能打", "可以打…吗", "能使用…吗", "可以使用…吗", "的人能",
            "的人可以"),
    },
    "warnings": {
        3: ("注意事项", "注意什么", "警告", "慎用", "黑框", "需要注意", "用药须知"),
        2: ("谨慎", "安全性", "安全吗"),
        1: ("风险", "过敏", "感染", "肝损伤", "伤肝", "哮喘", "抗体", "疱疹", "甲状腺"),
    },
    "adverse-reactions": {
        4: ("不良反应", "副作用", "副反应"),
        1: ("正常吗", "正不正常"),
        3: ("毒副", "不良事件", "常见反应"),
        2: ("耐受",),
    },
    "monitoring": {
        3: ("监测", "随访", "复查", "多久查", "查血", "验血", "抽血", "哪些检查", "什么检查"),
        2: ("检查", "检测", "化验", "核磁", "磁共振", "血常规"),
        1: ("定期", "评估"),
    },
    "administration": {
        3: ("剂量", "用法", "用量", "配制", "稀释", "复溶", "储存", "贮存", "保存", "冷藏", "室温", "输注速度", "怎么用", "如何使用", "多少毫克",
            "输注多久", "用多少", "打多少", "给多少", "每天用", "一天用", "多久打一次", "多久输一次", "多久用一次", "几周一次", "打几天", "输几天", "输一次要多久"),
        2: ("给药", "配置", "冷冻", "稳定性", "推注", "疗程", "多少次", "打几次", "几次", "多长时间", "输多久", "打多久"),
        1: ("多久", "一共"),
    },
    "special-populations": {
        4: ("孕", "妊娠", "哺乳", "母乳", "乳汁", "特殊人群", "喂奶"),
        3: ("儿童", "小孩", "青少年", "老年", "老人", "避孕", "新生儿", "婴儿"),
        2: ("肾功能", "肝功能不全", "生育"),
        1: ("岁",),
    },
    "interactions": {
        4: ("相互作用",),
        3: ("合用", "联用", "同时使用", "一起用", "一起使用", "配伍", "合并用药"),
        2: ("布洛芬", "环孢素", "阿司匹林", "硫唑嘌呤", "多柔比星", "干扰素", "其他药"),
        1: ("激素",),
    },
    "risk": {
        4: ("风险分层",),
        2: ("分层",),
    },
}

_OUT_OF_SCOPE_EN: _Weighted = {
    5: (r"how much does (?:it|.{0,20}) cost", r"share price", r"weather", r"recipe"),
    4: (r"price", r"cost", r"insuranc", r"reimburs", r"mechanism", r"how does .{0,30}work", r"mode of action",
        r"efficacy", r"how effective", r"better than", r"compare", r"stock", r"patent", r"how .{0,40}\bworks?\b",
        r"who (?:makes|manufactures)"),
    3: (r"coverage", r"effectiveness", r"versus\b", r"vs\.?\b", r"discovered", r"history of (?:the )?drug",
        r"generic version"),
}
_OUT_OF_SCOPE_ZH: _Weighted = {
    5: ("多少钱", "股票", "股价", "天气"),
    4: ("价格", "费用", "医保", "报销", "作用机制", "疗效", "效果怎么样", "效果如何", "哪个好", "专利", "哪家公司"),
    3: ("机制", "原理", "比较"),
}
# fmt: on


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
    return (
        {intent: _patterns(_merged(_EN, en, intent)) for intent in INTENTS},
        {intent: _phrases(_merged(_ZH, zh, intent)) for intent in INTENTS},
    )


_OOS_EN_RE = _patterns(_OUT_OF_SCOPE_EN)
_OOS_ZH = _phrases(_OUT_OF_SCOPE_ZH)


@dataclass(frozen=True)
class IntentScore:
    intent: Intent
    score: float
    matched: tuple[str, ...]


def _score(
    text: str, patterns: tuple[tuple[re.Pattern[str], float], ...], phrases: _Phrases
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
        if (chinese or _HAN.search(phrase)) and _zh_in(phrase, upper):
            score += weight
            matched.append(phrase)
    return score, matched


#: In a Chinese phrase, "…" stands for up to this many characters (a drug's name between two words).
_GAP = 12


@functools.lru_cache(maxsize=512)
def _gap_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(f".{{0,{_GAP}}}".join(re.escape(part) for part in phrase.upper().split("…")))


def _zh_in(phrase: str, upper_text: str) -> bool:
    """Whether a Chinese phrase occurs in the (upper-cased) text; "…" in it matches a short gap."""
    if "…" not in phrase:
        return phrase.upper() in upper_text
    return bool(_gap_pattern(phrase).search(upper_text))


def score_intents(question: str) -> list[IntentScore]:
    """Every intent with a positive score, best first (ties by :data:`INTENTS` order)."""
    scores = []
    en_re, zh_phrases = _tables()
    for intent in INTENTS:
        score, matched = _score(question, en_re[intent], zh_phrases[intent])
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
    score, _ = _score(question, _OOS_EN_RE, _OOS_ZH)
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

#: What kind of fact a question wants, beyond its topic: a duration ("how long does the infusion
#: take") or a frequency ("how often"). A statement that states that kind of fact is preferred
#: among those of the question's topic. Question patterns, then statement patterns (en, zh).
_FACETS: dict[str, tuple[str, str, str, str]] = {
    "frequency": (
        r"\bhow (?:often|frequently)\b|\bhow many times (?:a|per)\b|\binterval",
        r"多久.{0,3}一次|每隔多久|频率|几周一次|多长时间.{0,3}一次|多久查",
        r"\bevery (?:\d+|one|two|three|four|six|other)?\s*(?:days?|weeks?|months?|years?)\b|\bmonthly\b|\bweekly\b"
        r"|\btwice\b|\bonce (?:a|per|every)\b",
        r"每\s*\d*\s*(?:个)?(?:周|月|天|日|年)|每月|每周|每日|一次",
    ),
    "duration": (
        r"\bhow long\b|\bduration\b|\bhow many (?:minutes|hours|days)\b",
        r"多长时间|多久|几个?小时|几天|几分钟",
        r"\bover (?:about |approximately |around |at least )?(?:\d+|one|two|three|an?|half an?)\s*(?:hours?|minutes?|h|min)\b"
        r"|\b\d+ consecutive days\b|\bfor (?:\d+|a further \d+) (?:weeks|months|days)\b|\b(?:one|two|\d+)[- ]hours? infusion",
        r"输注(?:时间)?\s*(?:约|至少|不少于)?\s*\d+\s*(?:小时|分钟)|输注约|连续\s*\d+\s*天|\d+\s*周",
    ),
}
_FACET_RES = {name: tuple(re.compile(p, re.IGNORECASE) for p in pats) for name, pats in _FACETS.items()}


def question_facets(question: str) -> tuple[str, ...]:
    """The facets a question asks for ("frequency" wins over "duration" for "多久一次")."""
    chinese = bool(_HAN.search(question))
    found = [n for n, (en, zh, _, _) in _FACET_RES.items() if (zh if chinese else en).search(question)]
    return ("frequency",) if "frequency" in found else tuple(found)


def states_facet(text: str, facet: str) -> bool:
    """Whether a statement's text states a fact of the facet (a duration, a frequency)."""
    _, _, en, zh = _FACET_RES[facet]
    return bool((zh if _HAN.search(text) else en).search(text))
