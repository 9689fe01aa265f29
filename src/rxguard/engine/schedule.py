"""What is due when: the monitoring calendar of a pack applied to one patient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from rxguard.engine.model import DueItem
from rxguard.engine.predicates import Ctx, Pred, shift
from rxguard.knowledge.schema import MonitoringItem


@dataclass(frozen=True, slots=True)
class CompiledItem:
    item: MonitoringItem
    applies: Pred | None


def _evidence_dates(ctx: Ctx, item: MonitoringItem) -> list[date]:
    days: list[date] = []
    for key in item.evidence:
        days.extend(r.effective for r in ctx.facts.labs.get(key, ()) if r.effective <= ctx.at)
        days.extend(d for d in ctx.events.get(key, ()) if d <= ctx.at)
    return sorted(days)


def _status(due_on: date, ctx: Ctx, item: MonitoringItem) -> Literal["overdue", "due", "upcoming"]:
    if due_on < ctx.at:
        return "overdue"
    if due_on <= shift(ctx.at, item.due_soon):
        return "due"
    return "upcoming"


def _schedule_points(anchor: date, item: MonitoringItem, until: date) -> list[date]:
    points = [shift(anchor, offset) for offset in item.at_offsets]
    if item.every:
        current = points[-1] if points else anchor
        if not points:
            points.append(current)
        while current <= until:
            current = shift(current, item.every)
            points.append(current)
    return points


def _next_due(ctx: Ctx, item: MonitoringItem, done: list[date]) -> date | None:
    """First schedule point not yet satisfied by evidence (due_soon early counts)."""
    if ctx.infusions:
        anchor = ctx.infusions[0]
    elif item.anchor == "start":
        anchor = ctx.at
    else:
        return None
    if not item.at_offsets and item.every:
        last = done[-1] if done else None
        return shift(last, item.every) if last else anchor
    until = shift(ctx.at, item.every or "P1Y")
    for point in _schedule_points(anchor, item, until):
        window_start = shift(point, item.due_soon, -1)
        if not any(day >= window_start for day in done):
            return point
    return None


def _before_start(ctx: Ctx, item: MonitoringItem, done: list[date]) -> DueItem | None:
    if ctx.infusions or item.before_start_within is None:
        return None
    window = shift(ctx.at, item.before_start_within, -1)
    recent = [d for d in done if d >= window]
    if recent:
        return None
    return DueItem(item.id, item.title, ctx.at, "due", done[-1] if done else None, item.basis, item.needs_review)


def compute_due(items: tuple[CompiledItem, ...], ctx: Ctx) -> tuple[DueItem, ...]:
    due: list[DueItem] = []
    for compiled in items:
        item = compiled.item
        if ctx.jurisdiction is not None and ctx.jurisdiction not in item.jurisdictions:
            continue
        if compiled.applies is not None and compiled.applies(ctx) is None:
            continue
        done = _evidence_dates(ctx, item)
        if item.before_start_within is not None:
            found = _before_start(ctx, item, done)
            if found:
                due.append(found)
            if not item.every and not item.at_offsets:
                continue
        if not item.every and not item.at_offsets:
            continue
        due_on = _next_due(ctx, item, done)
        if due_on is None:
            continue
        status = _status(due_on, ctx, item)
        due.append(
            DueItem(item.id, item.title, due_on, status, done[-1] if done else None, item.basis, item.needs_review)
        )
    due.sort(key=lambda d: (d.due_on, d.item))
    return tuple(due)
