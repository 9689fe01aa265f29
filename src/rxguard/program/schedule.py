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
from rxguard.program.registry import Program


def demographics(patient_id: str, birth_on: date | None, sex: str | None) -> PatientFacts:
    """The facts rxguard holds about a patient itself: birth date and sex, nothing else."""
    known = sex if sex in ("female", "male", "other") else "unknown"
    return PatientFacts(patient_id=patient_id, birth_date=birth_on, sex=known)  # type: ignore[arg-type]


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
    """item -> (title, due day) for one enrollment, as of ``at`` (an infusion given that day counts)."""
    items: dict[str, tuple[str, date]] = {}
    if status == "discontinued":
        if follow_up_due_on and not followed_up:
            items["discontinuation-follow-up"] = ("Follow-up after discontinuation", follow_up_due_on)
        return items
    context = {"infusions": sorted(infusions), "events": {k: list(v) for k, v in events.items()}}
    day = at.date() + timedelta(days=1)
    assessment = assess(program.pack, facts, at=day, jurisdiction=program.definition.jurisdiction, context=context)
    for due in assessment.due:
        items[due.item] = (due.title, due.due_on)
    if authorized_until_on and status in ("authorized", "lapsed"):
        items["reauthorization"] = ("Reauthorization of treatment", authorized_until_on)
    return items
