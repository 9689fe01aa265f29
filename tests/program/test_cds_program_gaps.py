"""What CDS Hooks cards say the program records lack, on both engines (``ProgramGapLookup``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from personas import World
from sqlalchemy import event

from rxguard.cds_hooks.cards import CardContext, program_cards
from rxguard.cds_hooks.program_gaps import ProgramGapLookup
from rxguard.cds_hooks.services import SERVICES, Call
from rxguard.program import adverse_events, certification, enrollment, participants


def _call(world: World, patient: str, *, user: str | None = "Practitioner/dr_ada", hook: str = "order-sign",
          on: date | None = None) -> Call:  # fmt: skip
    service = next(s for s in SERVICES.values() if s.hook == hook)
    context = {"patientId": patient, **({"userId": user} if user else {})}
    return Call(service, "hook-1", context, {}, on or world.at.date(), "US", "https://rxguard.test/launch")


def _codes(world: World, call: Call) -> list[str]:
    return sorted(gap.code for gap in ProgramGapLookup(world.db.engine)(call, "natalizumab"))


def test_authorized_patient_with_a_certified_prescriber_has_no_gap(world: World) -> None:
    assert _codes(world, _call(world, "pat_amy")) == []
    assert _codes(world, _call(world, "pat_amy", user=None)) == []


@pytest.mark.parametrize("user", ["Practitioner/dr_ben", "Practitioner/dr_nobody"])
def test_ordering_prescriber_not_certified(world: World, user: str) -> None:
    gaps = ProgramGapLookup(world.db.engine)(_call(world, "pat_amy", user=user), "natalizumab")
    assert [(g.code, g.message) for g in gaps] == [
        ("prescriber-not-certified", "the ordering prescriber is not certified in the program")
    ]


def test_unknown_patient_is_not_enrolled_on_orders_only(world: World) -> None:
    assert _codes(world, _call(world, "pat_nobody")) == ["not-enrolled"]
    assert _codes(world, _call(world, "pat_nobody", hook="patient-view")) == []


def test_enrolled_but_not_authorized(world: World) -> None:
    earlier = world.at - timedelta(days=1)
    with world.tx() as s:
        participants.register_patient(s, key="pat_bo", name="Bo Li", at=earlier, actor="admin",
                                      birth_on=date(1985, 1, 1), sex="male")  # fmt: skip
        enrollment.enroll_patient(s, program_id="touch", patient_key="pat_bo", prescriber_key="dr_ada",
                                  indication="multiple-sclerosis", at=earlier, actor="dr_ada")  # fmt: skip
    assert _codes(world, _call(world, "pat_bo")) == ["consent-missing"]


def test_lapsed_reauthorization(world: World) -> None:
    assert _codes(world, _call(world, "pat_amy", on=world.at.date() + timedelta(days=400))) == [
        "reauthorization-lapsed"
    ]


def test_enrolling_prescriber_suspended(world: World) -> None:
    with world.tx() as s:
        certification.suspend(s, program_id="touch", kind="prescriber", key="dr_ada", at=world.at, actor="admin",
                              reason="training expired")  # fmt: skip
    gaps = ProgramGapLookup(world.db.engine)(_call(world, "pat_amy"), "natalizumab")
    assert sorted(g.message for g in gaps) == [
        "the enrolling prescriber is not certified",
        "the ordering prescriber is not certified in the program",
    ]


def test_one_query_per_call(world: World) -> None:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(world.db.engine, "before_cursor_execute", count)
    try:
        assert _codes(world, _call(world, "pat_amy", user="Practitioner/dr_ben")) == ["prescriber-not-certified"]
    finally:
        event.remove(world.db.engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements


def _suspend_amy(world: World) -> None:
    with world.tx() as s:
        adverse_events.report_adverse_event(
            s, program_id="touch", patient_key="pat_amy", kind="pml-suspected", serious=True,
            seriousness=["hospitalisation"], onset_on=world.at.date(), outcome="unknown",
            description="new hemiparesis", at=world.at, actor="dr_ada",
        )  # fmt: skip


@pytest.mark.parametrize(("hook", "indicator"), [("order-sign", "critical"), ("patient-view", "warning")])
def test_a_suspended_patients_card_weighs_as_the_pack_declares_the_suspending_event(
    world: World, hook: str, indicator: str
) -> None:
    """The pack declares a suspected-PML report contraindicated for the next dose: critical when ordering."""
    _suspend_amy(world)
    call = _call(world, "pat_amy", hook=hook)
    gaps = ProgramGapLookup(world.db.engine)(call, "natalizumab")
    assert [(g.code, g.severity) for g in gaps] == [("suspended", "contraindicated")]
    ctx = CardContext(hook, "hook-1", "pat_amy", "https://rxguard.test/patients/pat_amy/dose", False, {})
    assert [card["indicator"] for card in program_cards(gaps, "natalizumab", "Tysabri", ctx)] == [indicator]


def test_a_lapsed_reauthorization_stays_a_warning_when_ordering(world: World) -> None:
    call = _call(world, "pat_amy", on=world.at.date() + timedelta(days=400))
    gaps = ProgramGapLookup(world.db.engine)(call, "natalizumab")
    ctx = CardContext("order-sign", "hook-1", "pat_amy", "https://rxguard.test/patients", False, {})
    assert [card["indicator"] for card in program_cards(gaps, "natalizumab", "Tysabri", ctx)] == ["warning"]


def test_a_card_links_only_to_a_patient_the_program_holds(world: World) -> None:
    lookup = ProgramGapLookup(world.db.engine)
    assert lookup.patient_key(replace(_call(world, "pat_amy"), issuer=None)) == "pat_amy"
    assert lookup.patient_key(replace(_call(world, "patient-0"), issuer=None)) is None
