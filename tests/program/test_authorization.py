"""Per-dose authorization: every check on its own, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from personas import NO, World, enroll_and_authorize

from rxguard.errors import InputError, TransitionError
from rxguard.program import authorization, certification, enrollment, participants
from rxguard.program.authorization import failed_checks


def authorize(world: World, *, site: str = "site_north", patient: str = "pat_amy", answers=None, at=None, bundle=None):  # type: ignore[no-untyped-def]
    with world.tx() as s:
        row = authorization.authorize_dose(
            s,
            site_key=site,
            patient_key=patient,
            at=at or world.at,
            answers=NO if answers is None else answers,
            actor="nurse_kim",
            bundle=bundle,
        )
        return row


def failed(row) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["id"] for c in failed_checks(row)}


def test_it_authorizes_a_certified_site_for_an_authorized_patient(world: World) -> None:
    row = authorize(world)
    assert row.decision == "authorized" and row.is_infusable
    assert failed(row) == set()
    ids = [c["id"] for c in authorization.checks_of(row)]
    assert ids[:2] == ["site-certified", "prescriber-certified"]
    assert all(c["reason"] for c in authorization.checks_of(row))
    site_check = authorization.checks_of(row)[0]
    assert site_check["sources"] and "SAN-100" in site_check["reason"]


def test_it_stores_the_decision_even_when_it_is_do_not_infuse(world: World) -> None:
    row = authorize(world, site="site_west")
    assert row.decision == "do-not-infuse" and not row.is_infusable
    assert failed(row) == {"site-certified"}


def test_an_unenrolled_site_gets_do_not_infuse(world: World) -> None:
    with world.tx() as s:
        participants.register_site(s, key="site_east", name="East", at=world.at, actor="admin")
    row = authorize(world, site="site_east")
    assert row.decision == "do-not-infuse" and failed(row) == {"site-certified"}


def test_a_suspended_site_gets_do_not_infuse(world: World) -> None:
    with world.tx() as s:
        certification.suspend(
            s, program_id="touch", kind="site", key="site_north", at=world.at, actor="admin", reason="audit finding"
        )
    row = authorize(world)
    assert failed(row) == {"site-certified"}


def test_a_suspended_prescriber_blocks_the_dose(world: World) -> None:
    with world.tx() as s:
        certification.suspend(
            s, program_id="touch", kind="prescriber", key="dr_ada", at=world.at, actor="admin", reason="lapsed training"
        )
    row = authorize(world)
    assert row.decision == "do-not-infuse" and failed(row) == {"prescriber-certified"}


def test_a_patient_without_the_consent_in_force_is_not_infused(world: World) -> None:
    with world.tx() as s:
        participants.register_patient(s, key="pat_bo", name="Bo", at=world.at, actor="admin")
        enrollment.enroll_patient(
            s,
            program_id="touch",
            patient_key="pat_bo",
            prescriber_key="dr_ada",
            indication="crohns-disease",
            at=world.at,
            actor="dr_ada",
        )
    row = authorize(world, patient="pat_bo")
    assert row.decision == "do-not-infuse"
    assert failed(row) == {"consent-signed", "patient-authorized"}


def test_a_consented_but_not_yet_authorized_patient_is_not_infused(world: World) -> None:
    with world.tx() as s:
        participants.register_patient(s, key="pat_cy", name="Cy", at=world.at, actor="admin")
        enrollment.enroll_patient(
            s,
            program_id="touch",
            patient_key="pat_cy",
            prescriber_key="dr_ada",
            indication="multiple-sclerosis",
            at=world.at,
            actor="dr_ada",
        )
        enrollment.record_consent(
            s,
            program_id="touch",
            patient_key="pat_cy",
            version="1.0",
            language="zh",
            patient_signed_at=world.at,
            prescriber_key="dr_ada",
            prescriber_signed_at=world.at,
            at=world.at,
            actor="dr_ada",
        )
    row = authorize(world, patient="pat_cy")
    assert failed(row) == {"patient-authorized"}


def test_a_lapsed_authorization_blocks_and_the_lapse_is_appended(world: World) -> None:
    later = world.at + timedelta(days=200)
    row = authorize(world, at=later)
    assert failed(row) == {"authorization-not-lapsed"}
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch")
        assert amy.status == "lapsed"
        enrollment.reauthorize(
            s, program_id="touch", patient_key="pat_amy", prescriber_key="dr_ada", at=later, actor="dr_ada"
        )
    assert authorize(world, at=later + timedelta(hours=1)).decision == "authorized"


def test_a_discontinued_patient_is_not_infused(world: World) -> None:
    with world.tx() as s:
        enrollment.discontinue(
            s, program_id="touch", patient_key="pat_amy", at=world.at, actor="dr_ada", reason="pregnancy planned"
        )
    row = authorize(world, at=world.at + timedelta(hours=1))
    assert failed(row) == {"not-discontinued"}


def test_a_suspended_patient_is_not_infused(world: World) -> None:
    with world.tx() as s:
        amy = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        enrollment.suspend_patient(s, amy, at=world.at, actor="dr_ada", reason="MRI lesion under review")
    row = authorize(world, at=world.at + timedelta(hours=1))
    assert failed(row) == {"not-suspended"}


@pytest.mark.parametrize("question", sorted(NO))
def test_any_yes_on_the_checklist_holds_the_dose(world: World, question: str) -> None:
    row = authorize(world, answers={**NO, question: True})
    assert row.decision == "hold" and not row.is_infusable
    assert "checklist" in failed(row)


def test_an_unanswered_checklist_question_holds_the_dose(world: World) -> None:
    answers = dict(NO)
    del answers["steroid-use"]
    row = authorize(world, answers=answers)
    assert row.decision == "hold" and failed(row) == {"checklist"}


def test_an_unknown_answer_is_refused_and_nothing_is_stored(world: World) -> None:
    with pytest.raises(InputError, match="unknown answer"):
        authorize(world, answers={**NO, "feels-fine": True})
    with world.tx() as s:
        from sqlalchemy import func, select

        from rxguard.store.models import Authorization

        assert s.execute(select(func.count(Authorization.id))).scalar_one() == 0


def test_the_engine_contraindication_is_do_not_infuse(world: World) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "pml",
                    "clinicalStatus": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                        ]
                    },
                    "code": {
                        "coding": [{"system": "http://snomed.info/sct", "code": "22255007"}],
                        "text": "Progressive multifocal leukoencephalopathy",
                    },
                    "subject": {"reference": "Patient/x"},
                }
            }
        ],
    }
    row = authorize(world, bundle=bundle)
    assert row.decision == "do-not-infuse"
    assert "clinical-assessment" in failed(row)
    assert row.assessment["verdict"] == "contraindicated"


def test_a_dose_before_the_minimum_interval_is_held(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_infusion import infuse

    first = authorize(world)
    infuse(world, first)
    early = authorize(world, at=world.at + timedelta(days=25))
    assert early.decision == "hold" and failed(early) == {"dose-interval"}
    on_time = authorize(world, at=world.at + timedelta(days=28))
    assert on_time.decision == "authorized"
    monkeypatch.setenv("RXGUARD_DOSE_INTERVAL_TOLERANCE_DAYS", "3")
    # Another day: on day 25 itself the pending hold would continue (one authorization per dose and visit).
    assert authorize(world, at=world.at + timedelta(days=26)).decision == "authorized"


def test_a_held_visit_that_was_never_cleared_needs_the_prescriber_next_time(world: World) -> None:
    held = authorize(world, answers={**NO, "active-infection": True})
    assert held.decision == "hold"
    row = authorize(world, at=world.at + timedelta(days=1))
    assert failed(row) == {"previous-visit-clearance"}


def test_tyruko_rems_is_a_separate_program(world: World) -> None:
    with world.tx() as s:
        participants.register_patient(s, key="pat_dan", name="Dan", at=world.at, actor="admin")
        with pytest.raises(TransitionError, match="dr_ada is not enrolled in program tyruko-rems"):
            enrollment.enroll_patient(
                s,
                program_id="tyruko-rems",
                patient_key="pat_dan",
                prescriber_key="dr_ada",
                indication="multiple-sclerosis",
                at=world.at,
                actor="dr_ada",
            )


def test_an_uncertified_prescriber_cannot_enroll_a_patient(world: World) -> None:
    from rxguard.errors import TransitionError

    with world.tx() as s:
        participants.register_patient(s, key="pat_eve", name="Eve", at=world.at, actor="admin")
    with pytest.raises(TransitionError, match="dr_ben is enrolled"), world.tx() as s:
        enrollment.enroll_patient(
            s,
            program_id="touch",
            patient_key="pat_eve",
            prescriber_key="dr_ben",
            indication="multiple-sclerosis",
            at=world.at,
            actor="dr_ben",
        )


def test_an_indication_outside_the_program_is_refused(world: World) -> None:
    with world.tx() as s:
        participants.register_patient(s, key="pat_fay", name="Fay", at=world.at, actor="admin")
    with pytest.raises(InputError, match="osteosarcoma"), world.tx() as s:
        enrollment.enroll_patient(
            s,
            program_id="touch",
            patient_key="pat_fay",
            prescriber_key="dr_ada",
            indication="osteosarcoma",
            at=world.at,
            actor="dr_ada",
        )


def test_the_eu_program_needs_the_alert_card_before_infusing(db) -> None:  # type: ignore[no-untyped-def]
    from personas import build_world

    world = build_world(db, program="natalizumab-eu")
    assert authorize(world).decision == "authorized"
    with world.tx() as s:
        participants.register_patient(s, key="pat_gus", name="Gus", at=world.at, actor="admin")
        enrollment.enroll_patient(
            s,
            program_id="natalizumab-eu",
            patient_key="pat_gus",
            prescriber_key="dr_ada",
            indication="multiple-sclerosis",
            at=world.at,
            actor="dr_ada",
        )
        enrollment.record_consent(
            s,
            program_id="natalizumab-eu",
            patient_key="pat_gus",
            version="1.0",
            language="en",
            patient_signed_at=world.at,
            prescriber_key="dr_ada",
            prescriber_signed_at=world.at,
            at=world.at,
            actor="dr_ada",
        )
        enrollment.authorize_treatment(
            s, program_id="natalizumab-eu", patient_key="pat_gus", prescriber_key="dr_ada", at=world.at, actor="dr_ada"
        )
    row = authorize(world, patient="pat_gus")
    assert failed(row) == {"program-forms"}
    assert "alert card" in authorization.checks_of(row)[-0 - 1]["reason"] or any(
        "alert card" in c["reason"] for c in authorization.checks_of(row)
    )


def test_world_helper_enrolls_in_other_programs(db) -> None:  # type: ignore[no-untyped-def]
    from personas import build_world

    world = build_world(db, program="natalizumab-eu")
    with world.tx() as s:
        participants.register_patient(s, key="pat_hal", name="Hal", at=world.at, actor="admin")
        enroll_and_authorize(s, "pat_hal", "natalizumab-eu", world.at)
    assert authorize(world, patient="pat_hal").decision == "authorized"
