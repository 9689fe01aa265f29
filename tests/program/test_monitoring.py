"""Monitoring: calendar from the pack schedule, disease-activity trend, the population screen in SQL."""

from __future__ import annotations

from datetime import timedelta

from personas import NO, World
from test_infusion import infuse

from rxguard.program import authorization, enrollment, monitoring


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
        monitoring.record_assessment(
            s, amy, on=on.date(), at=on, actor="dr_ada", edss=3.0, relapses=0, t1_gd_lesions=0, new_t2_lesions=1
        )
        rows = {r.item: r for r in monitoring.calendar(s, amy, on=on.date())}
    assert rows["prescriber-assessment"].due_on.isoformat() == "2026-07-05"


def test_disease_activity_is_shown_as_a_trend(world: World) -> None:
    _start_treatment(world)
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        for days, edss, relapses, t1, t2 in ((90, 3.5, 1, 2, 3), (180, 3.0, 0, 0, 1), (360, 2.5, 0, 0, 0)):
            when = world.at + timedelta(days=days)
            monitoring.record_assessment(
                s,
                amy,
                on=when.date(),
                at=when,
                actor="dr_ada",
                edss=edss,
                relapses=relapses,
                t1_gd_lesions=t1,
                new_t2_lesions=t2,
            )
        trend = monitoring.disease_activity_trend(s, amy)
    assert [p["edss"] for p in trend["points"]] == [3.5, 3.0, 2.5]
    assert trend["edss_direction"] == "better" and trend["edss_change"] == -1.0
    assert trend["relapses_total"] == 1 and trend["active_mri_assessments"] == 2


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
