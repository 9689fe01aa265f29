"""Monitoring: dated records, the per-patient calendar and the population screen.

The calendar comes from the pack's schedule (the engine computes what is due
from the infusion history and the records) plus the program's own dates
(reauthorization, discontinuation follow-up). Which kinds of record a program
keeps, the evidence keys each satisfies and the measurements each may carry are
pack data (``record_kinds`` in ``program.yaml``); this module only checks records
against them. The result is kept in
``schedule_item`` so that "who is overdue, for what" is one indexed SQL query
over the whole population, never a Python loop over patients.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from rxguard.errors import ImplausibleError, InputError
from rxguard.knowledge.program import Measurement, MonitoringKind, RecordKinds
from rxguard.program import schedule, validation
from rxguard.program.common import flush_or_conflict, require_aware
from rxguard.program.registry import get_program
from rxguard.store import audit
from rxguard.store import monitoring as reads
from rxguard.store import schedule as kept_schedule
from rxguard.store.models import Enrollment, MonitoringEvent, Patient

DUE_SOON_DAYS = 14


def kinds_of(enrollment: Enrollment) -> RecordKinds:
    """The record kinds and measurements the enrollment's pack declares."""
    return get_program(enrollment.program_id).kinds


def monitoring_kind(kinds: RecordKinds, kind: str) -> MonitoringKind:
    for declared in kinds.monitoring:
        if declared.id == kind:
            return declared
    known = ", ".join(k.id for k in kinds.monitoring) or "none"
    raise InputError(f"monitoring kind {kind!r} is not one this program keeps; use one of {known}")


def measurement_of(kinds: RecordKinds, measurement_id: str) -> Measurement:
    for declared in kinds.measurements:
        if declared.id == measurement_id:
            return declared
    known = ", ".join(m.id for m in kinds.measurements) or "none"
    raise InputError(f"measurement {measurement_id!r} is not one this program records; use one of {known}")


def check_measurement(definition: Measurement, value: object) -> float | int:
    """``value`` as the pack declares the measurement (type and range), or a one-line error."""
    name = definition.id
    bounds = f" ({_range(definition)})" if definition.min is not None or definition.max is not None else ""
    if definition.type == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        checked: float | int | None = validation.count(value, name)  # type: ignore[arg-type]
        assert checked is not None
    else:
        checked = validation.finite_number(value, name)  # type: ignore[arg-type]
    if (definition.min is not None and checked < definition.min) or (
        definition.max is not None and checked > definition.max
    ):
        raise ImplausibleError(name, f"{checked:g} is outside the range{bounds} in {definition.unit}")
    return checked


def _range(definition: Measurement) -> str:
    low = "" if definition.min is None else f"{definition.min:g}"
    high = "" if definition.max is None else f"{definition.max:g}"
    return f"{low} to {high}" if low and high else (f"at least {low}" if low else f"at most {high}")


def parse_measurement(kinds: RecordKinds, text: str) -> tuple[str, float | int]:
    """``id=value`` or ``id=value unit`` (the unit, when given, must be the declared UCUM unit)."""
    name, sep, given = text.partition("=")
    name = name.strip()
    if not sep or not name or not given.strip():
        raise InputError(f"measurement {text!r} must look like id=value, e.g. {_example(kinds)}")
    definition = measurement_of(kinds, name)
    number, _, unit = given.strip().partition(" ")
    if unit.strip() and unit.strip() != definition.unit:
        raise InputError(f"{name}: the unit is {definition.unit} (UCUM), not {unit.strip()!r}")
    try:
        value: float | int = int(number) if definition.type == "integer" else float(number)
    except ValueError:
        kind = "a whole number" if definition.type == "integer" else "a number"
        raise InputError(f"{name}: {number!r} is not {kind}") from None
    return name, check_measurement(definition, value)


def _example(kinds: RecordKinds) -> str:
    return f"{kinds.measurements[0].id}=1" if kinds.measurements else "id=1"


def check_measurements(
    kinds: RecordKinds, kind: MonitoringKind, measurements: Mapping[str, object] | None
) -> dict[str, float | int]:
    """Every value declared for this kind of record, of its type and within its range."""
    checked: dict[str, float | int] = {}
    for name, value in sorted((measurements or {}).items()):
        definition = measurement_of(kinds, name)
        if name not in kind.measurements:
            allowed = ", ".join(kind.measurements) or "none"
            raise InputError(f"a {kind.id} record does not carry {name}; it carries {allowed}")
        if value is not None:
            checked[name] = check_measurement(definition, value)
    return checked


def add_event(
    session: Session,
    enrollment: Enrollment,
    *,
    kind: str,
    on: date,
    at: datetime,
    actor: str,
    result: str = "",
    note: str = "",
    measurements: Mapping[str, object] | None = None,
) -> MonitoringEvent:
    """One monitoring record of a kind the pack declares, with the measurements it carries."""
    kinds = kinds_of(enrollment)
    declared = monitoring_kind(kinds, kind)
    if on > at.date():
        raise InputError(f"a monitoring record cannot be dated after it is recorded ({on} > {at.date()})")
    patient_row = session.get(Patient, enrollment.patient_id)
    born = patient_row.birth_on if patient_row is not None else None
    validation.clinical_date(on, "on", now=at, born=born)
    values = check_measurements(kinds, declared, measurements)
    result = validation.clean_text(result, "result", max_length=2000, multiline=True)
    note = validation.clean_text(note, "note", max_length=2000, multiline=True)
    row = MonitoringEvent(
        enrollment_id=enrollment.id,
        kind=kind,
        occurred_on=on,
        measurements=values,
        result=result,
        note=note,
        recorded_at=at,
        actor=actor,
    )
    session.add(row)
    flush_or_conflict(session, f"monitoring record {kind}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"monitoring.{kind}",
        entity="monitoring_event",
        entity_id=row.id,
        payload={"enrollment": enrollment.id, "on": on, "measurements": values, "result": result},
    )
    refresh_schedule(session, enrollment, at=at)
    return row


def record(
    session: Session,
    enrollment: Enrollment,
    *,
    kind: str,
    on: date,
    at: datetime,
    actor: str,
    result: str = "",
    note: str = "",
    measurements: Mapping[str, object] | None = None,
) -> MonitoringEvent:
    """A record of ``kind``; a kind with a companion (an assessment) records both, the companion with the values.

    Everything is checked before anything is written, so a bad value leaves no half-recorded pair.
    """
    require_aware(at)
    kinds = kinds_of(enrollment)
    declared = monitoring_kind(kinds, kind)
    if declared.companion is None:
        return add_event(session, enrollment, kind=kind, on=on, at=at, actor=actor, result=result, note=note,
                         measurements=measurements)  # fmt: skip
    companion = monitoring_kind(kinds, declared.companion)
    check_measurements(kinds, companion, measurements)
    add_event(session, enrollment, kind=kind, on=on, at=at, actor=actor, result=result, note=note)
    return add_event(session, enrollment, kind=companion.id, on=on, at=at, actor=actor, note=note,
                     measurements=measurements)  # fmt: skip


def infusion_dates(session: Session, enrollment: Enrollment) -> list[date]:
    return [started.date() for started in reads.infusion_starts(session, enrollment.patient_id, enrollment.drug)]


def evidence_of(kinds: RecordKinds) -> dict[str, tuple[str, ...]]:
    """Monitoring kind -> the schedule evidence keys one record of it satisfies (as the pack declares)."""
    return {k.id: k.evidence_keys() for k in kinds.monitoring}


def event_dates(session: Session, enrollment: Enrollment) -> dict[str, list[date]]:
    """Monitoring records as the engine's ``context["events"]`` (all keys they satisfy)."""
    events: dict[str, list[date]] = {}
    evidence = evidence_of(kinds_of(enrollment))
    for kind, on in reads.record_dates(session, enrollment.id):
        for key in evidence.get(kind, (kind,)):
            events.setdefault(key, []).append(on)
    return events


def refresh_schedule(session: Session, enrollment: Enrollment, *, at: datetime) -> None:
    """Recompute this enrollment's next due dates (one patient, on each change)."""
    program = get_program(enrollment.program_id)
    patient_row = session.get(Patient, enrollment.patient_id)
    assert patient_row is not None
    discontinued = enrollment.status == "discontinued"
    items = schedule.due_items(
        program,
        status=enrollment.status,
        authorized_until_on=enrollment.authorized_until_on,
        follow_up_due_on=enrollment.follow_up_due_on,
        followed_up=discontinued and _followed_up(session, enrollment),
        facts=schedule.demographics(patient_row.id, patient_row.birth_on, patient_row.sex),
        infusions=infusion_dates(session, enrollment),  # items that outlive the treatment read them
        events=event_dates(session, enrollment),
        at=at,
    )
    session.flush()
    kept_schedule.save(session, enrollment.id, items)


def _followed_up(session: Session, enrollment: Enrollment) -> bool:
    return reads.has_record(session, enrollment.id, "discontinuation-follow-up")


class DueRow(NamedTuple):
    """One item of the list: a plain row (a tuple), built straight from the database's row."""

    patient: str
    program: str
    item: str
    title: str
    due_on: date
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "program": self.program,
            "item": self.item,
            "title": self.title,
            "due_on": self.due_on.isoformat(),
            "status": self.status,
        }


def population_due(
    session: Session, *, on: date, include_upcoming: bool = False, enrollment_id: str | None = None
) -> list[DueRow]:
    """Who is overdue or due, for what: one SQL query over every enrollment.

    Ordered by due date, patient key and item. The rows come through SQLAlchemy Core and become
    plain tuples: at a million rows, ORM rows turned into one object each and a fresh copy of
    every repeated value (program, item, title, date) per row were much of the time and memory.
    Repeated values are shared, and the status is worked out here from the date rather than
    sent by the database as one more text per row.
    """
    validation.query_day(on, "on", today=datetime.now(UTC).date())
    soon = on + timedelta(days=DUE_SOON_DAYS)
    result = reads.due(session, through=None if include_upcoming else soon, enrollment_id=enrollment_id)
    shared: dict[object, Any] = {}
    share = shared.setdefault
    make = tuple.__new__
    rows: list[DueRow] = []
    append = rows.append
    for key, program, item, title, due_on in result:
        status = "overdue" if due_on < on else "due" if due_on <= soon else "upcoming"
        append(make(DueRow, (key, share(program, program), share(item, item), share(title, title),
                             share(due_on, due_on), status)))  # fmt: skip
    return rows


def calendar(session: Session, enrollment: Enrollment, *, on: date) -> list[DueRow]:
    """One patient's calendar: every scheduled item with its status on ``on``."""
    return population_due(session, on=on, include_upcoming=True, enrollment_id=enrollment.id)


def describe_measurements(program_id: str, values: Mapping[str, object] | None, language: str = "en") -> str:
    """``Score 2.5; Relapses 0``: the values in the pack's words (an undeclared id is shown as it is stored)."""
    if not values:
        return ""
    titles = {m.id: m.title.get(language) or m.title["en"] for m in get_program(program_id).kinds.measurements}  # type: ignore[call-overload]
    return "; ".join(f"{titles.get(name, name)} {value:g}" if isinstance(value, int | float) else f"{name} {value}"
                     for name, value in values.items())  # fmt: skip


def measurement_trend(session: Session, enrollment: Enrollment) -> dict[str, Any]:
    """Every measured value over time, per measurement the pack declares, with first-to-last change.

    ``points``: one per record that carries a value, oldest first (``on``, ``kind``,
    ``measurements``). ``measurements``: per measurement id, its unit, the number of values, the
    first and the last, their change and direction (``higher``, ``lower``, ``same``), and the total
    (for integer measurements, counts such as relapses).
    """
    return trend_of(session, enrollment_id=enrollment.id, program_id=enrollment.program_id)


def trend_of(session: Session, *, enrollment_id: str, program_id: str) -> dict[str, Any]:
    """:func:`measurement_trend` of the enrollment with this id, in the program with this id."""
    kinds = get_program(program_id).kinds
    points: list[dict[str, Any]] = [
        {"on": on.isoformat(), "kind": kind, "measurements": dict(values)}
        for on, kind, values in reads.measured_records(session, enrollment_id)
        if values
    ]
    summary: dict[str, Any] = {}
    for definition in kinds.measurements:
        series = [p["measurements"][definition.id] for p in points if definition.id in p["measurements"]]
        if not series:
            continue
        change = round(series[-1] - series[0], 6) if len(series) >= 2 else None
        summary[definition.id] = {
            "unit": definition.unit,
            "count": len(series),
            "first": series[0],
            "last": series[-1],
            "change": change,
            "direction": None if change is None else "higher" if change > 0 else "lower" if change < 0 else "same",
            "total": sum(series) if definition.type == "integer" else None,
        }
    return {"points": points, "measurements": summary}
