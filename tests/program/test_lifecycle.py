"""Lifecycle transitions: certification, enrollment, consent, clearance, override, adverse events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from personas import NO, World
from sqlalchemy import select
from test_infusion import infuse

from rxguard.errors import AccessDeniedError, HardStopError, InputError, NotFoundError, TransitionError
from rxguard.program import adverse_events, authorization, certification, clearance, enrollment, participants
from rxguard.store.models import Authorization, CertificationEvent, Enrollment, EnrollmentEvent, Override


def held(world: World, **answers: bool) -> Authorization:
    with world.tx() as s:
        return authorization.authorize_dose(
            s, site_key="site_north", patient_key="pat_amy", at=world.at, answers={**NO, **answers}, actor="nurse_kim"
        )


# --------------------------------------------------------------------------- certification


def test_certification_goes_enrolled_certified_suspended_certified_revoked(world: World) -> None:
    args = {"program_id": "touch", "kind": "site", "key": "site_south", "actor": "admin"}
    with world.tx() as s:
        certification.suspend(s, at=world.at, reason="inspection", **args)
        certification.reinstate(s, at=world.at + timedelta(hours=1), reason="inspection passed", **args)
        cert = certification.revoke(s, at=world.at + timedelta(hours=2), reason="closed", **args)
        events = (
            s.execute(
                select(CertificationEvent)
                .where(CertificationEvent.certification_id == cert.id)
                .order_by(CertificationEvent.at)
            )
            .scalars()
            .all()
        )
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "enrolled"),
        ("enrolled", "certified"),
        ("certified", "suspended"),
        ("suspended", "certified"),
        ("certified", "revoked"),
    ]
    assert all(e.actor and e.reason for e in events)


def test_a_revoked_certification_is_final(world: World) -> None:
    with world.tx() as s:
        certification.revoke(
            s, program_id="touch", kind="site", key="site_south", at=world.at, actor="admin", reason="closed"
        )
    with pytest.raises(TransitionError, match="final"), world.tx() as s:
        certification.certify(
            s,
            program_id="touch",
            kind="site",
            key="site_south",
            at=world.at,
            actor="admin",
            training_attested_at=world.at,
            site_authorization_number="SAN-9",
        )


def test_a_site_needs_its_authorization_number_to_be_certified(world: World) -> None:
    with pytest.raises(InputError, match="site authorization number"), world.tx() as s:
        certification.certify(
            s,
            program_id="touch",
            kind="site",
            key="site_west",
            at=world.at,
            actor="admin",
            training_attested_at=world.at,
        )


def test_certification_in_touch_does_not_carry_to_tyruko_rems(world: World) -> None:
    with pytest.raises(NotFoundError, match="tyruko-rems"), world.tx() as s:
        certification.certify(
            s,
            program_id="tyruko-rems",
            kind="prescriber",
            key="dr_ada",
            at=world.at,
            actor="admin",
            training_attested_at=world.at,
        )


def test_an_unknown_program_is_refused(world: World) -> None:
    with pytest.raises(NotFoundError, match="known programs"), world.tx() as s:
        certification.enroll_participant(
            s, program_id="ipledge", kind="site", key="site_north", at=world.at, actor="admin"
        )


# --------------------------------------------------------------------------- consent


def test_consent_needs_the_prescriber_to_countersign_after_the_patient(world: World) -> None:
    with pytest.raises(InputError, match="countersigns"), world.tx() as s:
        enrollment.record_consent(
            s,
            program_id="touch",
            patient_key="pat_amy",
            version="1.0",
            language="en",
            patient_signed_at=world.at,
            prescriber_key="dr_ada",
            prescriber_signed_at=world.at - timedelta(minutes=1),
            at=world.at,
            actor="dr_ada",
        )


def test_consent_to_an_unknown_version_is_refused(world: World) -> None:
    with pytest.raises(NotFoundError, match=r"known versions: 1\.0"), world.tx() as s:
        enrollment.record_consent(
            s,
            program_id="touch",
            patient_key="pat_amy",
            version="9.9",
            language="en",
            patient_signed_at=world.at,
            prescriber_key="dr_ada",
            prescriber_signed_at=world.at,
            at=world.at,
            actor="dr_ada",
        )


# --------------------------------------------------------------------------- enrollment


def test_the_enrollment_history_is_appended_never_overwritten(world: World) -> None:
    later = world.at + timedelta(days=190)
    with world.tx() as s:
        enrollment.reauthorize(
            s, program_id="touch", patient_key="pat_amy", prescriber_key="dr_ada", at=later, actor="dr_ada"
        )
        enrollment.discontinue(
            s,
            program_id="touch",
            patient_key="pat_amy",
            at=later + timedelta(days=1),
            actor="dr_ada",
            reason="patient choice",
        )
        amy = enrollment.enrollment_of(s, "pat_amy", "touch")
        events = (
            s.execute(
                select(EnrollmentEvent).where(EnrollmentEvent.enrollment_id == amy.id).order_by(EnrollmentEvent.at)
            )
            .scalars()
            .all()
        )
    assert [e.to_status for e in events] == ["enrolled", "authorized", "lapsed", "authorized", "discontinued"]
    assert amy.follow_up_due_on is not None


def test_discontinuation_schedules_the_six_month_follow_up(world: World) -> None:
    with world.tx() as s:
        amy = enrollment.discontinue(
            s,
            program_id="touch",
            patient_key="pat_amy",
            at=world.at,
            actor="dr_ada",
            reason="stable on another therapy",
        )
    assert amy.status == "discontinued" and amy.follow_up_due_on.isoformat() == "2026-07-05"
    with pytest.raises(TransitionError, match="already discontinued"), world.tx() as s:
        enrollment.discontinue(
            s, program_id="touch", patient_key="pat_amy", at=world.at, actor="dr_ada", reason="again"
        )


def test_only_the_enrolling_prescriber_reauthorizes(world: World) -> None:
    with world.tx() as s:
        certification.certify(
            s,
            program_id="touch",
            kind="prescriber",
            key="dr_ben",
            at=world.at,
            actor="admin",
            training_attested_at=world.at,
        )
    with pytest.raises(InputError, match="not the enrolling prescriber"), world.tx() as s:
        enrollment.reauthorize(
            s, program_id="touch", patient_key="pat_amy", prescriber_key="dr_ben", at=world.at, actor="dr_ben"
        )


def test_a_suspension_is_lifted_only_by_the_prescriber_with_a_reason(world: World) -> None:
    with world.tx() as s:
        adverse_events.report_adverse_event(
            s,
            program_id="touch",
            patient_key="pat_amy",
            kind="pml-suspected",
            serious=True,
            seriousness=["hospitalisation"],
            onset_on=world.at.date(),
            outcome="unknown",
            description="new hemiparesis",
            at=world.at,
            actor="dr_ada",
        )
    with world.tx() as s:
        amy = enrollment.resume(
            s,
            program_id="touch",
            patient_key="pat_amy",
            prescriber_key="dr_ada",
            at=world.at + timedelta(days=14),
            actor="dr_ada",
            reason="PML excluded: CSF JCV DNA negative",
        )
    assert amy.status == "authorized"


# --------------------------------------------------------------------------- holds and clearances


def test_proceed_clears_the_hold_for_that_visit(world: World) -> None:
    row = held(world, **{"steroid-use": True})
    with world.tx() as s:
        clearance.clear_hold(
            s,
            authorization_id=row.id,
            prescriber_key="dr_ada",
            outcome="proceed",
            reason="short prednisone course ended last week",
            at=world.at + timedelta(minutes=20),
        )
    infusion = infuse(world, row)
    assert infusion.authorization_id == row.id


def test_defer_closes_the_visit_without_an_infusion(world: World) -> None:
    row = held(world, **{"active-infection": True})
    with world.tx() as s:
        clearance.clear_hold(
            s,
            authorization_id=row.id,
            prescriber_key="dr_ada",
            outcome="defer",
            reason="treat the infection first",
            at=world.at + timedelta(minutes=20),
        )
        assert s.get(Authorization, row.id).status == "deferred"
    with pytest.raises(Exception, match="deferred"):
        infuse(world, row)


def test_discontinue_ends_treatment(world: World) -> None:
    row = held(world, **{"new-or-worsening-symptoms": True})
    with world.tx() as s:
        clearance.clear_hold(
            s,
            authorization_id=row.id,
            prescriber_key="dr_ada",
            outcome="discontinue",
            reason="suspected PML work-up",
            at=world.at + timedelta(minutes=20),
        )
        assert enrollment.enrollment_of(s, "pat_amy", "touch").status == "discontinued"


def test_only_the_patients_prescriber_clears_a_hold(world: World) -> None:
    row = held(world, **{"steroid-use": True})
    with pytest.raises(InputError, match="only the patient's prescriber"), world.tx() as s:
        clearance.clear_hold(
            s, authorization_id=row.id, prescriber_key="dr_ben", outcome="proceed", reason="ok", at=world.at
        )


def test_an_authorized_visit_has_no_hold_to_clear(world: World) -> None:
    row = held(world)
    with pytest.raises(TransitionError, match="only a HOLD"), world.tx() as s:
        clearance.clear_hold(
            s, authorization_id=row.id, prescriber_key="dr_ada", outcome="proceed", reason="x", at=world.at
        )


# --------------------------------------------------------------------------- overrides


def _ids(s, site: str | None = None, prescriber: str | None = None) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    from rxguard.program.common import prescriber as by_prescriber
    from rxguard.program.common import site as by_site

    return {
        "site_id": by_site(s, site).id if site else None,
        "prescriber_id": by_prescriber(s, prescriber).id if prescriber else None,
    }


def test_an_emergency_override_takes_two_people_and_is_listed_until_reconciled(world: World) -> None:
    with world.tx() as s:
        row = authorization.authorize_dose(
            s, site_key="site_north", patient_key="pat_amy", at=world.at, answers={**NO, "steroid-use": True},
            actor="nurse_kim",
        )  # fmt: skip
        bypass = sorted(c["id"] for c in authorization.failed_checks(row))
    with world.tx() as s:
        record = clearance.request_override(
            s, authorization_id=row.id, requester=clearance.Signer("dr_mo", "medical-director"),
            reason="prescriber unreachable; steroid course ended", bypassed=bypass, at=world.at + timedelta(minutes=5),
        )  # fmt: skip
    with world.tx() as s:  # asked, not confirmed: nothing is bypassed yet
        assert s.get(Authorization, row.id).status == "hold" and not s.get(Authorization, row.id).is_infusable
    with pytest.raises(AccessDeniedError, match="second, other person"), world.tx() as s:
        clearance.confirm_override(
            s, override_id=record.id, confirmer=clearance.Signer("dr_mo", "prescriber", **_ids(s, "site_north")),
            reason="me again", at=world.at + timedelta(minutes=6),
        )  # fmt: skip
    with world.tx() as s:
        clearance.confirm_override(
            s, override_id=record.id, confirmer=clearance.Signer("dr_ada", "prescriber", **_ids(s, None, "dr_ada")),
            reason="reached by phone", at=world.at + timedelta(minutes=7),
        )  # fmt: skip
    with world.tx() as s:
        stored = s.get(Override, record.id)
        assert (stored.actor, stored.confirmed_by, stored.confirmed_role) == ("dr_mo", "dr_ada", "prescriber")
        assert stored.reason and stored.confirmation_reason == "reached by phone"
        assert stored.expires_at == datetime(2026, 1, 6, tzinfo=UTC)  # the end of the visit's day
        assert [o.id for o in clearance.unreconciled_overrides(s)] == [record.id]
        assert s.get(Authorization, row.id).decision == "hold"  # what the checks said stays
        assert s.get(Authorization, row.id).status == "overridden"
    infuse(world, row)
    with world.tx() as s:
        clearance.reconcile_override(
            s, override_id=record.id, actor="admin", note="reviewed", at=world.at + timedelta(days=1)
        )
        assert clearance.unreconciled_overrides(s) == []


def test_a_hard_stop_is_refused_at_the_override_with_what_would_lift_it(world: World) -> None:
    with world.tx() as s:
        row = authorization.authorize_dose(
            s, site_key="site_west", patient_key="pat_amy", at=world.at, answers=NO, actor="nurse_kim"
        )
    with pytest.raises(HardStopError, match="site-certified is a hard stop") as refused, world.tx() as s:
        clearance.request_override(
            s, authorization_id=row.id, requester=clearance.Signer("dr_mo", "medical-director"),
            reason="program portal down", bypassed=["site-certified"], at=world.at,
        )  # fmt: skip
    assert refused.value.stops[0]["check"] == "site-certified"
    assert "certify the infusion site" in refused.value.stops[0]["lift"]
    with world.tx() as s:
        assert s.execute(select(Override)).first() is None


def test_an_override_must_name_every_bypassed_requirement_and_a_known_role(world: World) -> None:
    with world.tx() as s:
        row = authorization.authorize_dose(
            s,
            site_key="site_north",
            patient_key="pat_amy",
            at=world.at,
            answers={**NO, "steroid-use": True},
            actor="nurse_kim",
        )
    with pytest.raises(AccessDeniedError, match="cannot override"), world.tx() as s:
        clearance.request_override(
            s, authorization_id=row.id, requester=clearance.Signer("x", "janitor", **_ids(s, "site_north")),
            reason="r", bypassed=["checklist"], at=world.at,
        )  # fmt: skip
    with pytest.raises(InputError, match="also failed"), world.tx() as s:
        clearance.request_override(
            s, authorization_id=row.id, requester=clearance.Signer("x", "prescriber", **_ids(s, None, "dr_ada")),
            reason="r", bypassed=["checklist"], at=world.at,
        )  # fmt: skip


# --------------------------------------------------------------------------- adverse events


def test_suspected_pml_suspends_the_patient_and_pending_authorizations_at_once(world: World) -> None:
    row = held(world)
    assert row.is_infusable
    with world.tx() as s:
        adverse_events.report_adverse_event(
            s,
            program_id="touch",
            patient_key="pat_amy",
            kind="pml-suspected",
            serious=True,
            seriousness=["hospitalisation"],
            onset_on=world.at.date(),
            outcome="not-recovered",
            description="aphasia over 5 days",
            at=world.at + timedelta(minutes=10),
            actor="dr_ada",
        )
    with world.tx() as s:
        assert s.get(Authorization, row.id).status == "suspended"
        assert s.execute(select(Enrollment.status)).scalar_one() == "suspended"
    with pytest.raises(Exception, match="suspended"):
        infuse(world, row)


def test_adverse_events_export_as_fhir_and_medwatch(world: World) -> None:
    infuse(world, held(world))
    with world.tx() as s:
        event = adverse_events.report_adverse_event(
            s,
            program_id="touch",
            patient_key="pat_amy",
            kind="hypersensitivity",
            serious=True,
            seriousness=["required-intervention"],
            onset_on=world.at.date(),
            outcome="recovered",
            description="urticaria 30 min into infusion",
            at=world.at + timedelta(hours=3),
            actor="dr_ada",
        )
        fhir = adverse_events.to_fhir(s, event)
        medwatch = adverse_events.to_medwatch(s, event)
    assert fhir["resourceType"] == "AdverseEvent" and fhir["seriousness"]["coding"][0]["code"] == "serious"
    assert fhir["outcome"]["coding"][0]["code"] == "resolved"
    assert medwatch["B2_outcome_required_intervention"] and medwatch["C6_lot"] == "LOT-42"
    csv_text = adverse_events.medwatch_csv([medwatch])
    assert csv_text.splitlines()[0].startswith("A1_patient_identifier,")


def test_an_adverse_event_with_an_unknown_kind_is_refused(world: World) -> None:
    with pytest.raises(InputError, match=r"is not one program touch records; use one of .*other"), world.tx() as s:
        adverse_events.report_adverse_event(
            s,
            program_id="touch",
            patient_key="pat_amy",
            kind="headache",
            serious=False,
            seriousness=[],
            onset_on=world.at.date(),
            outcome="recovered",
            description="x",
            at=world.at,
            actor="dr_ada",
        )


def test_participants_need_well_formed_unique_keys(world: World) -> None:
    with pytest.raises(InputError, match="already exists"), world.tx() as s:
        participants.register_prescriber(s, key="dr_ada", name="Ada again", at=world.at, actor="admin")
    with pytest.raises(InputError, match="letters, digits"), world.tx() as s:
        participants.register_site(s, key="site north!", name="x", at=world.at, actor="admin")
