"""What is due when: the monitoring calendar of a pack applied to one patient.

Only the latest piece of evidence matters for each item (the last liver
panel, the last prescriber assessment), so that is all this module looks up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from rxguard.engine.model import DueItem
from rxguard.engine.predicates import Ctx, Pred, shift
from rxguard.knowledge.schema import MonitoringItem
from rxguard.messages import said


@dataclass(frozen=True, slots=True)
class CompiledItem:
    item: MonitoringItem
    applies: Pred | None
    # Every piece of evidence is a program event (schedule.yaml ``events``), none a lab result.
    program_only: bool = False


def _last_done(ctx: Ctx, item: MonitoringItem) -> date | None:
    """Latest lab result or program event, on or before ``at``, that satisfies the item."""
    last: date | None = None
    for key in item.evidence:
        for result in ctx.facts.labs.get(key, ()):  # newest first
            if result.effective <= ctx.at:
                if last is None or result.effective > last:
                    last = result.effective
                break
        for day in ctx.events.get(key, ()):
            if day <= ctx.at and (last is None or day > last):
                last = day
    return last


def _status(due_on: date, ctx: Ctx, item: MonitoringItem) -> Literal["overdue", "due", "upcoming"]:
    if due_on < ctx.at:
        return "overdue"
    if due_on <= shift(ctx.at, item.due_soon):
        return "due"
    return "upcoming"


def _anchor(ctx: Ctx, item: MonitoringItem) -> date | None:
    """The day the item's schedule counts from: the first or the last infusion (or ``at``, before any)."""
    if ctx.infusions:
        return ctx.infusions[-1] if item.anchor == "last_infusion" else ctx.infusions[0]
    return ctx.at if item.anchor == "start" else None


def ends_on(ctx: Ctx, item: MonitoringItem) -> date | None:
    """The last day the item is due (``until`` after the first or last infusion); None: no end (yet)."""
    if item.until is None or not ctx.infusions:
        return None
    base = ctx.infusions[-1] if item.until.after == "last_infusion" else ctx.infusions[0]
    return shift(base, item.until.period)


def _next_due(ctx: Ctx, item: MonitoringItem, last: date | None) -> date | None:
    """First schedule point not yet met by evidence (evidence up to ``due_soon`` early counts)."""
    anchor = _anchor(ctx, item)
    if anchor is None:
        return None
    if not item.at_offsets and item.every:
        return shift(last, item.every) if last else anchor
    points = [shift(anchor, offset) for offset in item.at_offsets]
    for point in points:
        if last is None or last < shift(point, item.due_soon, -1):
            return point
    if not item.every:
        return None
    point = points[-1] if points else anchor
    horizon = shift(ctx.at, item.every)
    while point <= horizon:
        point = shift(point, item.every)
        if last is None or last < shift(point, item.due_soon, -1):
            return point
    return point


def _before_start(ctx: Ctx, item: MonitoringItem, last: date | None) -> DueItem | None:
    if ctx.infusions or item.before_start_within is None:
        return None
    if last is not None and last >= shift(ctx.at, item.before_start_within, -1):
        return None
    return DueItem(item.id, item.title, ctx.at, "due", last, item.basis, item.needs_review)


def compute_due(items: tuple[CompiledItem, ...], ctx: Ctx) -> tuple[DueItem, ...]:
    due: list[DueItem] = []
    for compiled in items:
        item = compiled.item
        if ctx.jurisdiction is not None and ctx.jurisdiction not in item.jurisdictions:
            continue
        if compiled.applies is not None and compiled.applies(ctx) is None:
            continue
        last = _last_done(ctx, item)
        if last is None and compiled.program_only and not ctx.events:
            text = (
                f"“{item.title}” is satisfied by program records ({', '.join(item.evidence)}); none were supplied "
                "with this request, so its due date is counted from the first infusion."
            )
            ctx.notes.append(said("due-from-first-infusion", text, record=item.title, records=list(item.evidence)))
        if item.before_start_within is not None:
            found = _before_start(ctx, item, last)
            if found:
                due.append(found)
        if not item.every and not item.at_offsets:
            continue
        due_on = _next_due(ctx, item, last)
        if due_on is None:
            continue
        end = ends_on(ctx, item)
        if end is not None and (due_on > end or ctx.at > end):  # the item has ended
            continue
        status = _status(due_on, ctx, item)
        due.append(DueItem(item.id, item.title, due_on, status, last, item.basis, item.needs_review))
    due.sort(key=lambda d: (d.due_on, d.item))
    return tuple(due)
