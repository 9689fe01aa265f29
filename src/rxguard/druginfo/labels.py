"""Interface wording in English and Chinese: headings, citation labels, durations.

Only the words around the facts live here; every fact comes from a pack.
"""

from __future__ import annotations

from typing import Literal

from rxguard.knowledge.schema import parse_duration

Language = Literal["en", "zh"]

_LABELS: dict[str, tuple[str, str]] = {
    "conflicts": ("Where sources disagree", "资料分歧"),
    "conflicts-intro": (
        "Every disagreement recorded in the pack, and what rxguard applies.",
        "知识包中记录的每一处资料分歧，以及 rxguard 采用的处理。",
    ),
    "says": ("says", "认为"),
    "applies": ("Resolution", "rxguard 的处理"),
    "rules": ("rules", "规则"),
    "sources": ("Sources", "参考资料"),
    "source": ("Source", "资料"),
    "tier": ("tier", "级"),
    "verified": ("verified", "已核实"),
    "not-verified": ("not verified", "未经核实"),
    "unverified-statement": (
        "not verified: check the label",
        "未经核实，请核对说明书",
    ),
    "applies-in": ("Applies in", "适用地区"),
    "calendar": ("Monitoring calendar (what rxguard schedules)", "监测日程（rxguard 据此排期）"),
    "strata": ("How rxguard stratifies risk", "rxguard 的风险分层"),
    "needs-review": ("needs label check", "需核对说明书"),
    "english-only": ("(English only)", "（仅有英文）"),
    "disclaimer": ("Disclaimer", "免责声明"),
    "generated": ("Generated from the knowledge pack", "由知识包生成"),
    "version": ("version", "版本"),
    "reviewed": ("last reviewed", "最近审核"),
    "kind-seed-vs-label": ("web page vs label", "网页资料与说明书"),
    "kind-us-vs-eu": ("US vs EU", "美国与欧盟"),
    "kind-label-versions": ("label versions", "说明书版本"),
    "kind-unsupported-claim": ("unsupported claim", "缺乏依据的说法"),
    "kind-classification": ("classification", "分类不同"),
    "timing-none": ("no interval stated in the sources", "资料未规定间隔"),
    "due": ("Due", "时间"),
    "names-status": ("Name", "名称"),
}

_JURISDICTIONS: dict[str, tuple[str, str]] = {
    "US": ("US", "美国"),
    "EU": ("EU", "欧盟"),
    "GB": ("GB", "英国"),
    "CH": ("Switzerland", "瑞士"),
    "SG": ("Singapore", "新加坡"),
    "TH": ("Thailand", "泰国"),
    "INT": ("international", "国际"),
    "CN": ("China", "中国"),
    "none": ("no jurisdiction", "无特定地区"),
}


def label(key: str, lang: Language) -> str:
    en, zh = _LABELS[key]
    return en if lang == "en" else zh


def jurisdiction(code: str, lang: Language) -> str:
    en, zh = _JURISDICTIONS.get(code, (code, code))
    return en if lang == "en" else zh


def jurisdictions(codes: tuple[str, ...] | list[str], lang: Language) -> str:
    sep = ", " if lang == "en" else "、"
    return sep.join(jurisdiction(c, lang) for c in codes)


def duration(text: str, lang: Language) -> str:
    """ "P6M" -> "6 months" / "6 个月"; years and weeks when they divide evenly."""
    months, days = parse_duration(text)
    parts: list[tuple[int, str, str]] = []
    if months:
        if months % 12 == 0:
            parts.append((months // 12, "year", "年"))
        else:
            parts.append((months, "month", "个月"))
    if days:
        if days % 7 == 0:
            parts.append((days // 7, "week", "周"))
        else:
            parts.append((days, "day", "天"))
    if lang == "zh":
        return "".join(f"{n} {zh}" for n, _, zh in parts)
    return " ".join(f"{n} {en}{'' if n == 1 else 's'}" for n, en, _ in parts)


_START = {
    "first_infusion": ("the first infusion", "首次输注"),
    "last_infusion": ("the last infusion", "末次输注"),
    "start": ("the start of treatment", "治疗开始"),
}


def timing(
    *,
    anchor: str,
    at_offsets: list[str],
    every: str | None,
    before_start_within: str | None,
    lang: Language,
    until: tuple[str, str] | None = None,
) -> str:
    """When a monitoring item is due, in words."""
    parts: list[str] = []
    if before_start_within:
        span = duration(before_start_within, lang)
        parts.append(
            f"before the first infusion (within {span} before)" if lang == "en" else f"首次输注前（{span}以内）"
        )
    start, start_zh = _START.get(anchor, _START["start"])
    if at_offsets:
        spans = [duration(o, lang) for o in at_offsets]
        if lang == "en":
            parts.append(f"{' and '.join(spans)} after {start}")
        else:
            parts.append(f"{start_zh}后第 {'、'.join(spans)}")
    if every:
        span = duration(every, lang)
        if lang == "en":
            parts.append(f"{'then ' if at_offsets else ''}every {span}")
        else:
            parts.append(f"{'之后' if at_offsets else ''}每 {span}一次")
    if until is not None and parts:
        after, period = until
        span = duration(period, lang)
        base, base_zh = _START[after]
        parts.append(f"until {span} after {base}" if lang == "en" else f"直至{base_zh}后 {span}")
    if not parts:
        return label("timing-none", lang)
    return ", ".join(parts) if lang == "en" else "，".join(parts)
