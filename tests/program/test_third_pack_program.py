"""The third pack's program end to end, through the same services as the first two and no code of its own.

The LEMTRADA REMS (alemtuzumab pack, program.yaml): certify the prescriber and the healthcare
facility, enroll, consent and authorize the patient, run the per-dose gate with the labs a clinic's
record sends, record infusions (observed for two hours after every one, not only the first few),
give the second course 12 months later, and keep the calendar, whose monthly and quarterly tests
end 48 months after the last infusion.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rxguard.engine.predicates import shift
from rxguard.errors import InfusionRejectedError
from rxguard.facts.builder import build_bundle
from rxguard.program import authorization, certification, clearance, enrollment, monitoring, participants
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.program.registry import get_program
from rxguard.program.schedule import demographics, due_items
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

PROGRAM = "lemtrada-rems"
T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
BORN = date(1989, 10, 12)
NO = {"active-infection": False, "hiv-infection": False}
ENDING = {"blood-count-monthly", "serum-creatinine-monthly", "urinalysis-monthly", "thyroid-function-every-3-months"}


def _labs(drawn: date, *, urinalysis: bool = True) -> dict[str, Any]:
    labs = [
        {"test": "cbc", "value": 1, "unit": "1", "on": drawn},
        {"test": "creatinine", "value": 0.8, "unit": "mg/dL", "high": 1.1, "on": drawn},
        {"test": "tsh", "value": 1.5, "unit": "m[IU]/L", "on": drawn},
    ]
    if urinalysis:
        labs.append({"test": "urinalysis", "value": 1, "unit": "1", "on": drawn})
    return build_bundle({"birth_date": BORN, "sex": "female", "labs": labs}, at=drawn, drug=get_program(PROGRAM).drug)


def _setup(db: TestDatabase) -> None:
    earlier = T0 - timedelta(days=30)
    with transaction(db.factory) as s:
        participants.register_prescriber(s, key="dr_ada", name="Dr Ada Lovelace", at=earlier, actor="admin")
        participants.register_site(s, key="site_north", name="North Infusion Centre", at=earlier, actor="admin")
        participants.add_pharmacy(s, site_key="site_north", key="pharm_north", name="North Pharmacy", at=earlier,
                                  actor="admin")  # fmt: skip
        participants.register_site(s, key="site_west", name="West Hospital", at=earlier, actor="admin")
        for kind, key in (("prescriber", "dr_ada"), ("site", "site_north"), ("site", "site_west")):
            certification.enroll_participant(s, program_id=PROGRAM, kind=kind, key=key, at=earlier, actor="admin")
        for kind, key in (("prescriber", "dr_ada"), ("site", "site_north")):  # site_west: enrolled, not certified
            certification.certify(s, program_id=PROGRAM, kind=kind, key=key, at=earlier, actor="admin",
                                  training_attested_at=earlier)  # fmt: skip
        participants.register_patient(s, key="pat_lou", name="Lou Martin", at=earlier, actor="admin", birth_on=BORN,
                                      sex="female")  # fmt: skip
        enrollment.enroll_patient(s, program_id=PROGRAM, patient_key="pat_lou", prescriber_key="dr_ada",
                                  indication="relapsing-ms", at=earlier, actor="dr_ada")  # fmt: skip
        version = get_program(PROGRAM).consent_document(earlier.date()).version
        enrollment.record_consent(s, program_id=PROGRAM, patient_key="pat_lou", version=version, language="en",
                                  patient_signed_at=earlier, prescriber_key="dr_ada", prescriber_signed_at=earlier,
                                  at=earlier, actor="dr_ada")  # fmt: skip
        enrollment.authorize_treatment(s, program_id=PROGRAM, patient_key="pat_lou", prescriber_key="dr_ada",
                                       at=earlier, actor="dr_ada")  # fmt: skip


def _authorize(db: TestDatabase, at: datetime, bundle: dict[str, Any] | None, site: str = "site_north",
               answers: dict[str, bool] | None = None) -> Any:  # fmt: skip
    with transaction(db.factory) as s:
        return authorization.authorize_dose(s, site_key=site, patient_key="pat_lou", at=at, actor="nurse_kim",
                                            answers=answers or NO, bundle=bundle)  # fmt: skip


def _infuse(db: TestDatabase, row: Any, at: datetime, observed: timedelta = timedelta(hours=2)) -> None:
    start = at + timedelta(minutes=30)
    stop = start + timedelta(hours=4)
    request = InfusionRequest(
        authorization_id=row.id, idempotency_key=f"lou-{row.dose_number}", product="lemtrada", lot="LOT1",
        dose=12, dose_unit="mg", diluent="0.9% sodium chloride", volume_ml=100, prepared_at=start - timedelta(hours=1),
        storage="refrigerated", started_at=start, stopped_at=stop, observation_end_at=stop + observed,
    )  # fmt: skip
    with transaction(db.factory) as s:
        record_infusion(s, request, at=stop + observed, actor="nurse_kim")


def _defer(db: TestDatabase, row: Any, at: datetime, reason: str) -> None:
    with transaction(db.factory) as s:
        clearance.clear_hold(s, authorization_id=row.id, prescriber_key="dr_ada", outcome="defer", reason=reason, at=at)


def _clear(db: TestDatabase, row: Any, at: datetime, reason: str) -> None:
    with transaction(db.factory) as s:
        clearance.clear_hold(s, authorization_id=row.id, prescriber_key="dr_ada", outcome="proceed", reason=reason,
                             at=at)  # fmt: skip


def _failed(row: Any) -> set[str]:
    return {c["id"] for c in authorization.failed_checks(row)}


def _give(db: TestDatabase, day: datetime, drawn: date) -> None:
    row = _authorize(db, day, _labs(drawn))
    assert row.decision == "authorized", authorization.failed_checks(row)
    _infuse(db, row, day)


def test_the_program_runs_through_the_gate_and_the_calendar_ends_48_months_after_the_last_infusion(
    db: TestDatabase,
) -> None:
    _setup(db)
    program = get_program(PROGRAM)
    assert program.drug == "alemtuzumab" and program.definition.observation is not None
    baseline = (T0 - timedelta(days=7)).date()

    # The gate holds the first dose when the clinic's record has no baseline urinalysis (REMS, 30 days).
    held = _authorize(db, T0, _labs(baseline, urinalysis=False))
    assert held.decision == "hold" and "clinical-assessment" in _failed(held)
    assert "alemtuzumab.baseline-labs-before-first-infusion" in str(authorization.failed_checks(held))
    _defer(db, held, T0 + timedelta(minutes=5), "baseline urinalysis missing; drawn today")

    # An uncertified facility is stopped; at the certified one a "yes" on the checklist holds the dose.
    day1 = T0 + timedelta(days=1)
    west = _authorize(db, day1, _labs(baseline), site="site_west")
    assert west.decision != "authorized" and "site-certified" in _failed(west)
    hiv = _authorize(db, day1 + timedelta(hours=1), _labs(baseline), answers={**NO, "hiv-infection": True})
    assert hiv.decision == "hold" and {"checklist", "clinical-assessment", "previous-visit-clearance"} <= _failed(hiv)
    # The prescriber answers the hold (no HIV infection: answered in error), and the first dose is given.
    _clear(db, hiv, day1 + timedelta(hours=2), "no HIV infection (negative test on file); the answer was in error")
    _infuse(db, hiv, day1 + timedelta(hours=2))

    # The rest of the first course: four more consecutive days.
    first = [day1 + timedelta(days=1 + i) for i in range(4)]
    for day in first:
        _give(db, day, baseline)

    # Second course 12 months after the first: a day too early is held for the dose interval.
    course2 = shift(first[-1].date(), "P12M")
    early = datetime.combine(course2 - timedelta(days=1), T0.timetz())
    too_early = _authorize(db, early, _labs(early.date() - timedelta(days=3)))
    assert too_early.decision == "hold" and "dose-interval" in _failed(too_early)
    _defer(db, too_early, early + timedelta(minutes=5), "one day before the 12 months; tomorrow")
    second = [datetime.combine(course2 + timedelta(days=i), T0.timetz()) for i in range(3)]
    _give(db, second[0], second[0].date() - timedelta(days=3))  # a hold only for timing does not carry
    # Every infusion is observed for two hours (not only the first ones): 90 minutes after the 7th is refused.
    row = _authorize(db, second[1], _labs(second[1].date() - timedelta(days=3)))
    assert row.decision == "authorized", authorization.failed_checks(row)
    with pytest.raises(InfusionRejectedError, match="post-infusion-observation"):
        _infuse(db, row, second[1], observed=timedelta(minutes=90))
    _infuse(db, row, second[1])
    _give(db, second[2], second[2].date() - timedelta(days=4))

    last = second[-1].date()
    end = shift(last, "P48M")
    with transaction(db.factory) as s:
        enrolled = enrollment.enrollment_of(s, "pat_lou", PROGRAM)
        infusions = monitoring.infusion_dates(s, enrolled)
        assert len(infusions) == 8 and max(infusions) == last

        # A monthly record near the end: the next test would fall after the end, so the kept calendar drops it.
        near_end = end - timedelta(days=10)
        for kind in ("blood-count", "serum-creatinine", "urinalysis", "thyroid-function"):
            monitoring.record(s, enrolled, kind=kind, on=near_end, at=datetime.combine(near_end, T0.timetz()),
                              actor="dr_ada")  # fmt: skip
        kept = {row.item for row in monitoring.calendar(s, enrolled, on=near_end)}
        assert not kept & ENDING, kept

        # The calendar as a function of the day: the items are listed up to the end, and not after it.
        def listed(on: date) -> set[str]:
            items = due_items(
                program, status=enrolled.status, authorized_until_on=enrolled.authorized_until_on,
                follow_up_due_on=None, followed_up=False, facts=demographics(enrolled.patient_id, BORN, "female"),
                infusions=infusions, events={}, at=datetime.combine(on, T0.timetz()),
            )  # fmt: skip
            return set(items)

        assert listed(shift(last, "P24M")) >= ENDING  # no record given: every item is listed (overdue)
        assert listed(end - timedelta(days=1)) >= ENDING
        assert not listed(end + timedelta(days=1)) & ENDING
        assert not listed(shift(last, "P60M")) & ENDING


def test_after_discontinuation_the_monitoring_runs_on_until_48_months_after_the_last_infusion(
    db: TestDatabase,
) -> None:
    _setup(db)
    baseline = (T0 - timedelta(days=7)).date()
    days = [T0 + timedelta(days=i) for i in range(5)]
    for day in days:
        _give(db, day, baseline)
    stopped = days[-1] + timedelta(days=60)
    with transaction(db.factory) as s:
        enrollment.discontinue(s, program_id=PROGRAM, patient_key="pat_lou", at=stopped, actor="dr_ada",
                               reason="pregnancy planned; no second course")  # fmt: skip
    end = shift(days[-1].date(), "P48M")
    with transaction(db.factory) as s:
        enrolled = enrollment.enrollment_of(s, "pat_lou", PROGRAM)
        assert enrolled.status == "discontinued"
        kept = {row.item: row.due_on for row in monitoring.calendar(s, enrolled, on=stopped.date())}
        assert set(kept) >= ENDING, kept  # the tests go on after the last dose, as the label asks
        assert "baseline-labs" not in kept and all(due <= end for due in kept.values())
        # Recorded near the end, the next test would fall after it: nothing more is kept.
        near_end = end - timedelta(days=5)
        for kind in ("blood-count", "serum-creatinine", "urinalysis", "thyroid-function"):
            monitoring.record(s, enrolled, kind=kind, on=near_end, at=datetime.combine(near_end, T0.timetz()),
                              actor="dr_ada")  # fmt: skip
        assert not {row.item for row in monitoring.calendar(s, enrolled, on=near_end)} & ENDING
