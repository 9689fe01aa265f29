"""Shaping program results for pages: citations with their source's standing, tones, charts.

Nothing here decides anything; it looks up what a source is (title, tier,
verified) so every reason on a page carries its full citation, and turns the
dashboard's numbers into charts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup

from rxguard.errors import RxguardError
from rxguard.program.overview import Dashboard
from rxguard.program.registry import Program, get_program
from rxguard.web.charts import Bar, Point, column_chart, row_chart, trend_chart
from rxguard.web.wording import Wording

TONE = {
    "pass": "ok",
    "warn": "warn",
    "hold": "warn",
    "do-not-infuse": "stop",
    "authorized": "ok",
    "infused": "ok",
    "cleared": "ok",
    "overridden": "warn",
    "deferred": "warn",
    "suspended": "stop",
    "discontinued": "stop",
    "lapsed": "warn",
    "enrolled": "muted",
    "overdue": "stop",
    "due": "warn",
    "upcoming": "muted",
    "certified": "ok",
    "revoked": "stop",
}


@dataclass(frozen=True)
class SourceCitation:
    source: str
    section: str
    title: str
    tier: str
    verified: bool
    jurisdiction: str
    url: str


def cite_program(program_id: str, refs: Iterable[dict[str, Any]]) -> list[SourceCitation]:
    """``[{"source", "section"}]`` of a program check → full citations from its pack's register."""
    try:
        sources = get_program(program_id).pack.sources
    except RxguardError:
        sources = {}
    out: list[SourceCitation] = []
    seen: set[tuple[str, str]] = set()
    for ref in refs:
        key = (str(ref.get("source", "")), str(ref.get("section", "")))
        if key in seen:
            continue
        seen.add(key)
        src = sources.get(key[0])
        if src is None:
            out.append(SourceCitation(key[0], key[1], key[0], "?", False, "", ""))
        else:
            out.append(SourceCitation(src.id, key[1], src.title, src.tier, src.verified, src.jurisdiction, src.url))
    return out


def cite_rule(program_id: str, line: str) -> tuple[str, str, list[SourceCitation]]:
    """A refusal line ``rule-id: message`` → (rule id, message, the rule's citations)."""
    rule_id, _, message = line.partition(": ")
    try:
        pack = get_program(program_id).pack
    except RxguardError:
        return rule_id, message, []
    rule = pack.rules_by_id.get(rule_id)
    if rule is None:
        return rule_id, message, []
    return rule_id, message, cite_program(program_id, [c.model_dump() for c in rule.sources])


def charts(board: Dashboard, t: Callable[..., str], words: Wording | None = None) -> dict[str, Markup]:
    """The four dashboard charts, titled and described in the page's language (``words``: to name the packs'
    calendar items in it)."""
    weeks = [Bar(week.strftime("%m-%d"), count) for week, count in board.infusions_per_week]
    total = sum(b.value for b in weeks)
    tones = {"authorized": "ok", "hold": "warn", "do-not-infuse": "stop"}
    decisions = [Bar(t(f"decision.{k}"), v, tones[k]) for k, v in board.decisions.items()]
    strata = [Bar(t(f"stratum.{k}", default=k), v, "primary") for k, v in sorted(board.strata.items())]
    items = {r.item: words.calendar_item(r.program, r.item, r.title) for r in board.overdue} if words else {}
    overdue = [Bar(items.get(k) or t(f"item.{k}", default=k), v, "stop") for k, v in board.overdue_by_item.items()]
    return {
        "infusions": column_chart(
            weeks, title=t("chart.infusions"), description=t("chart.infusions-desc", total=total)
        ),
        "decisions": row_chart(decisions, title=t("chart.decisions"), description=_describe(decisions)),
        "strata": row_chart(strata, title=t("chart.strata"), description=_describe(strata)),
        "overdue": row_chart(overdue, title=t("chart.overdue"), description=_describe(overdue)),
    }


def _describe(bars: list[Bar]) -> str:
    return "; ".join(f"{b.label}: {b.value}" for b in bars) or "—"


def trend_charts(program: Program, trend: dict[str, Any], *, lang: str, t: Callable[..., str],
                 day: Callable[[Any], str]) -> list[tuple[str, str, Markup]]:  # fmt: skip
    """(measurement id, title, SVG) for each measurement the pack declares that has values, in its order."""
    out = []
    for definition in program.kinds.measurements:
        summary = trend["measurements"].get(definition.id)
        if summary is None:
            continue
        points = [
            Point(date.fromisoformat(p["on"]), float(p["measurements"][definition.id]),
                  f"{p['measurements'][definition.id]:g}")
            for p in trend["points"] if definition.id in p["measurements"]
        ]  # fmt: skip
        title = definition.title.get(lang) or definition.title.get("en") or definition.id  # type: ignore[call-overload]
        change = summary["change"]
        description = t(
            "trend.desc", title=title, n=summary["count"], first=f"{summary['first']:g}", last=f"{summary['last']:g}",
            since=day(points[0].on), until=day(points[-1].on),
            change=t(f"trend.{summary['direction']}", by=f"{abs(change):g}") if change is not None else "",
        )  # fmt: skip
        chart = trend_chart(points, title=title, description=description, low=definition.min, high=definition.max,
                            date_label=day)  # fmt: skip
        out.append((definition.id, title, chart))
    return out
