"""Monitoring: calendar from the pack schedule, disease-activity trend, the population screen in SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from personas import NO, World, enroll_and_authorize
from sqlalchemy import delete, select
from test_infusion import infuse

from rxguard.errors import InputError
from rxguard.program import authorization, enrollment, monitoring, participants
from rxguard.program.registry import all_programs
from rxguard.store.models import AuditEntry, MonitoringEvent, ScheduleItem


def _start_treatment(world: World) -> None:
    with world.tx() as s:
        row = authorization.authorize_dose(
            s, site_key="site_north", patient_key="pat_amy", at=world.at, answers=NO, actor="nurse_kim"
        )
    infuse(world, row)


def test_the_calendar_shows_the_3_month_prescriber_assessment_and_reauthorization(world: World) -> None:
    _start_treatment(world)
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch")
        rows = {r.item: r for r in monitoring.calendar(s, amy, on=world.at.date())}
    assert rows["prescriber-assessment"].due_on.isoformat() == "2026-04-05"
    assert rows["prescriber-assessment"].status == "upcoming"
    assert rows["reauthorization"].due_on == amy.authorized_until_on


def test_who_is_overdue_for_what_is_one_query_over_the_population(world: World) -> None:
    _start_treatment(world)
    later = (world.at + timedelta(days=120)).date()
    with world.tx() as s:
        overdue = [r for r in monitoring.population_due(s, on=later) if r.status == "overdue"]
    assert ("pat_amy", "prescriber-assessment") in {(r.patient, r.item) for r in overdue}


def test_a_recorded_assessment_moves_the_next_one_on(world: World) -> None:
    _start_treatment(world)
    on = world.at + timedelta(days=90)
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        monitoring.record(
            s, amy, kind="prescriber-assessment", on=on.date(), at=on, actor="dr_ada",
            measurements={"edss": 3.0, "relapses": 0, "t1_gd_lesions": 0, "new_t2_lesions": 1},
        )  # fmt: skip
        rows = {r.item: r for r in monitoring.calendar(s, amy, on=on.date())}
    assert rows["prescriber-assessment"].due_on.isoformat() == "2026-07-05"


def test_measurements_are_shown_as_a_trend_per_measurement(world: World) -> None:
    _start_treatment(world)
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        for days, edss, relapses, t1, t2 in ((90, 3.5, 1, 2, 3), (180, 3.0, 0, 0, 1), (360, 2.5, 0, 0, 0)):
            when = world.at + timedelta(days=days)
            values = {"edss": edss, "relapses": relapses, "t1_gd_lesions": t1, "new_t2_lesions": t2}
            monitoring.record(s, amy, kind="prescriber-assessment", on=when.date(), at=when, actor="dr_ada",
                              measurements=values)  # fmt: skip
        trend = monitoring.measurement_trend(s, amy)
        stored = s.execute(select(MonitoringEvent.measurements).where(MonitoringEvent.kind == "prescriber-assessment"))
        assert all(values == {} for values in stored.scalars())  # the values go with the companion record
    assert [p["measurements"]["edss"] for p in trend["points"]] == [3.5, 3.0, 2.5]
    assert {p["kind"] for p in trend["points"]} == {"disease-activity-assessment"}
    edss = trend["measurements"]["edss"]
    assert edss["direction"] == "lower" and edss["change"] == -1.0 and edss["unit"] == "{score}"
    assert trend["measurements"]["relapses"]["total"] == 1 and edss["total"] is None
    assert isinstance(trend["points"][0]["measurements"]["relapses"], int)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"edss": 10.5}, "edss: 10.5 is outside the range"),
        ({"edss": -0.5}, "edss: -0.5 is outside the range"),
        ({"relapses": 1.5}, "relapses: expected a whole number"),
        ({"relapses": -1}, "relapses: -1 is out of range"),
        ({"height": 170}, "measurement 'height' is not one this program records"),
        ({"anti-jcv-index": 0.4}, "does not carry anti-jcv-index"),
    ],
)
def test_a_measurement_outside_the_packs_declaration_is_refused_and_nothing_is_recorded(
    world: World, values: dict[str, float], message: str
) -> None:
    _start_treatment(world)
    with world.tx() as s:
        before = s.execute(select(MonitoringEvent.id)).all()
    with pytest.raises(InputError, match=message), world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        monitoring.record(s, amy, kind="prescriber-assessment", on=world.at.date(), at=world.at, actor="dr_ada",
                          measurements=values)  # fmt: skip
    with world.tx() as s:
        assert s.execute(select(MonitoringEvent.id)).all() == before


@pytest.mark.parametrize("bound", ["min", "max"])
def test_each_declared_bound_is_inclusive_and_one_step_beyond_is_refused(bound: str) -> None:
    for program in all_programs():
        kinds = program.kinds
        for definition in kinds.measurements:
            limit = getattr(definition, bound)
            if limit is None:
                continue
            assert monitoring.check_measurement(definition, limit) == limit
            beyond = limit - 1 if bound == "min" else limit + 1
            with pytest.raises(InputError, match=definition.id):
                monitoring.check_measurement(definition, beyond)


def test_a_measurement_is_parsed_from_id_value_with_the_declared_unit_only() -> None:
    kinds = next(p.kinds for p in all_programs() if p.kinds.measurements)
    first = kinds.measurements[0]
    low = first.min if first.min is not None else 0
    assert monitoring.parse_measurement(kinds, f"{first.id}={low:g}") == (first.id, low)
    assert monitoring.parse_measurement(kinds, f"{first.id}={low:g} {first.unit}") == (first.id, low)
    with pytest.raises(InputError, match="UCUM"):
        monitoring.parse_measurement(kinds, f"{first.id}={low:g} furlong")
    with pytest.raises(InputError, match="must look like id=value"):
        monitoring.parse_measurement(kinds, first.id)
    with pytest.raises(InputError, match="is not a"):
        monitoring.parse_measurement(kinds, f"{first.id}=high")


def test_every_declared_unit_is_ucum() -> None:
    from rxguard.facts import units

    for program in all_programs():
        for definition in program.kinds.measurements:
            assert units.parse(definition.unit).ucum == definition.unit, (program.id, definition.id)


def test_a_discontinued_patient_keeps_only_the_follow_up(world: World) -> None:
    _start_treatment(world)
    with world.tx() as s:
        amy = enrollment.discontinue(
            s,
            program_id="touch",
            patient_key="pat_amy",
            at=world.at + timedelta(days=30),
            actor="dr_ada",
            reason="patient choice",
        )
        rows = monitoring.calendar(s, amy, on=world.at.date())
    assert [r.item for r in rows] == ["discontinuation-follow-up"]


def _antibody_item(rows: list[monitoring.DueRow]) -> monitoring.DueRow:
    (row,) = [r for r in rows if r.item == "anti-drug-antibodies"]
    return row


def test_the_anti_drug_antibody_item_is_due_from_the_first_infusion_until_a_test_is_recorded(world: World) -> None:
    _start_treatment(world)
    later = (world.at + timedelta(days=120)).date()
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch")
        first = monitoring.infusion_dates(s, amy)[0]
        today = _antibody_item(monitoring.calendar(s, amy, on=first))
        overdue = {(r.patient, r.item) for r in monitoring.population_due(s, on=later) if r.status == "overdue"}
    assert today.due_on == first and today.status == "due"
    assert today.title == "Anti-natalizumab antibodies every 12 weeks"  # the basis is shown beside it, not in it
    assert ("pat_amy", "anti-drug-antibodies") in overdue


def test_a_recorded_anti_natalizumab_antibody_test_satisfies_the_item_for_12_weeks(world: World) -> None:
    _start_treatment(world)
    tested = world.at + timedelta(days=100)
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        assert _antibody_item(monitoring.calendar(s, amy, on=tested.date())).status == "overdue"
        row = monitoring.add_event(
            s, amy, kind="anti-natalizumab-antibody", on=tested.date(), at=tested, actor="dr_ada", result="negative"
        )
        after = _antibody_item(monitoring.calendar(s, amy, on=tested.date()))
        due_then = {(r.patient, r.item) for r in monitoring.population_due(s, on=tested.date())}
    assert row.result == "negative"
    assert after.due_on == tested.date() + timedelta(weeks=12) and after.status == "upcoming"
    assert ("pat_amy", "anti-drug-antibodies") not in due_then
    on_due_date = tested.date() + timedelta(weeks=12)
    with world.tx() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.entity_id == row.id)).scalar_one()
        amy = enrollment.enrollment_of(s, "pat_amy", "touch")
        assert _antibody_item(monitoring.calendar(s, amy, on=on_due_date)).status == "due"
    assert entry.action == "monitoring.anti-natalizumab-antibody"


def test_an_unknown_monitoring_kind_is_refused_with_the_known_ones(world: World) -> None:
    _start_treatment(world)
    with pytest.raises(InputError, match="anti-natalizumab-antibody"), world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        monitoring.add_event(s, amy, kind="anti-drug-antibody", on=world.at.date(), at=world.at, actor="dr_ada")


def test_every_evidence_key_a_schedule_needs_is_reachable_from_a_declared_kind() -> None:
    for program in all_programs():
        reachable = {key for kind in program.kinds.monitoring for key in kind.evidence_keys()}
        for item in program.pack.monitoring:
            wanted = set(getattr(item, "evidence", ()) or ())
            events = wanted & {"prescriber-assessment", "reauthorization", "re-information", "patient-alert-card"}
            assert events <= reachable, (program.id, item.id, sorted(events - reachable))


def test_the_list_is_plain_rows_ordered_by_date_patient_and_item_with_the_status_boundaries(world: World) -> None:
    on = world.at.date()
    with world.tx() as s:
        participants.register_patient(s, key="pat_abe", name="Abe", at=world.at, actor="admin")
        enroll_and_authorize(s, "pat_abe", "touch", world.at)
        ids = {key: enrollment.enrollment_of(s, key, "touch").id for key in ("pat_amy", "pat_abe")}
        s.execute(delete(ScheduleItem))
        for key, item, days in (
            ("pat_amy", "yearly", 15), ("pat_amy", "labs", 14), ("pat_abe", "mri", 0), ("pat_amy", "mri", 0),
            ("pat_amy", "cbc", 0), ("pat_abe", "labs", -1), ("pat_amy", "reauthorization", -30),
        ):  # fmt: skip
            s.add(ScheduleItem(enrollment_id=ids[key], item=item, title=f"{item} title", due_on=on + timedelta(days)))
        s.flush()
        due = monitoring.population_due(s, on=on)
        everything = monitoring.population_due(s, on=on, include_upcoming=True)
        amy = monitoring.calendar(s, enrollment.enrollment_of(s, "pat_amy", "touch"), on=on)

    def row(key: str, item: str, days: int, status: str) -> monitoring.DueRow:
        return monitoring.DueRow(key, "touch", item, f"{item} title", on + timedelta(days), status)

    assert due == [
        row("pat_amy", "reauthorization", -30, "overdue"),
        row("pat_abe", "labs", -1, "overdue"),
        row("pat_abe", "mri", 0, "due"),
        row("pat_amy", "cbc", 0, "due"),
        row("pat_amy", "mri", 0, "due"),
        row("pat_amy", "labs", 14, "due"),
    ]
    assert everything == [*due, row("pat_amy", "yearly", 15, "upcoming")]
    assert [r.item for r in amy] == ["reauthorization", "cbc", "mri", "labs", "yearly"]
    assert due[0].to_dict() == {
        "patient": "pat_amy",
        "program": "touch",
        "item": "reauthorization",
        "title": "reauthorization title",
        "due_on": (on - timedelta(30)).isoformat(),
        "status": "overdue",
    }
    assert isinstance(due[0], tuple)


def test_the_list_sees_schedule_changes_not_yet_flushed(world: World) -> None:
    _start_treatment(world)
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch")
        s.add(ScheduleItem(enrollment_id=amy.id, item="pending", title="Pending", due_on=world.at.date()))
        rows = monitoring.population_due(s, on=world.at.date())
    assert ("pat_amy", "pending", "due") in {(r.patient, r.item, r.status) for r in rows}
