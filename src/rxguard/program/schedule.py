"""What is due when for one enrollment: the pack's schedule over its records, plus the program's own dates.

A pure function of what was read (the infusion days, the monitoring records keyed
as the pack's schedules read them, the enrollment's dates); the kept rows are
written by :func:`rxguard.store.schedule.save`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from rxguard.engine import assess
from rxguard.facts.model import PatientFacts
from rxguard.knowledge.schema import MonitoringItem
from rxguard.program.registry import Program


def demographics(patient_id: str, birth_on: date | None, sex: str | None) -> PatientFacts:
    """The facts rxguard holds about a patient itself: birth date and sex, nothing else."""
    known = sex if sex in ("female", "male", "other") else "unknown"
    return PatientFacts(patient_id=patient_id, birth_date=birth_on, sex=known)  # type: ignore[arg-type]


def outlives_treatment(item: MonitoringItem) -> bool:
    """An item that ends a period after the last infusion keeps running after treatment is discontinued."""
    return item.until is not None and item.until.after == "last_infusion"


def due_items(
    program: Program,
    *,
    status: str,
    authorized_until_on: date | None,
    follow_up_due_on: date | None,
    followed_up: bool,
    facts: PatientFacts,
    infusions: Iterable[date],
    events: Mapping[str, list[date]],
    at: datetime,
) -> dict[str, tuple[str, date]]:
    """item -> (title, due day) for one enrollment, as of ``at`` (an infusion given that day counts).

    A discontinued enrollment keeps its follow-up, and the items that run until a period after the
    last infusion (monitoring that outlives the treatment); nothing else.
    """
    items: dict[str, tuple[str, date]] = {}
    lasting: set[str] = set()
    if status == "discontinued":
        if follow_up_due_on and not followed_up:
            items["discontinuation-follow-up"] = ("Follow-up after discontinuation", follow_up_due_on)
        lasting = {item.id for item in program.pack.monitoring if outlives_treatment(item)}
        if not lasting:
            return items
    context = {"infusions": sorted(infusions), "events": {k: list(v) for k, v in events.items()}}
    day = at.date() + timedelta(days=1)
    assessment = assess(program.pack, facts, at=day, jurisdiction=program.definition.jurisdiction, context=context)
    for due in assessment.due:
        if status != "discontinued" or due.item in lasting:
            items[due.item] = (due.title, due.due_on)
    if authorized_until_on and status in ("authorized", "lapsed"):
        items["reauthorization"] = ("Reauthorization of treatment", authorized_until_on)
    return items
