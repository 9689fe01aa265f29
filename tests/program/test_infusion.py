"""Infusion records: pack checks, observation, one per authorization, idempotent retries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from personas import NO, World
from sqlalchemy import func, select

from rxguard.errors import ConflictError, InfusionRejectedError, InputError
from rxguard.program import authorization
from rxguard.program.disposal import DisposalRequest, record_disposal
from rxguard.program.infusion import InfusionRequest, complete_observation, record_infusion
from rxguard.store import infusions
from rxguard.store.models import AuditEntry, Authorization, Infusion


def request_for(
    row: Authorization,
    *,
    key: str | None = None,
    prepared: timedelta = timedelta(hours=1),
    storage: str = "refrigerated",
    minutes: int = 60,
    observe: int | None = 60,
    product: str = "tysabri",
    product_code: str = "",
    vial_expires_at: datetime | None = None,
) -> InfusionRequest:
    start = row.visit_at + timedelta(minutes=30)
    stop = start + timedelta(minutes=minutes)
    return InfusionRequest(
        authorization_id=row.id,
        idempotency_key=key or f"visit-{row.id}",
        product=product,
        lot="LOT-42",
        dose=300,
        dose_unit="mg",
        diluent="0.9% sodium chloride",
        volume_ml=100,
        prepared_at=start - prepared,
        storage=storage,
        started_at=start,
        stopped_at=stop,
        observation_end_at=stop + timedelta(minutes=observe) if observe is not None else None,
        product_code=product_code,
        vial_expires_at=vial_expires_at,
    )


def infuse(world: World, row: Authorization, **kwargs) -> Infusion:  # type: ignore[no-untyped-def]
    request = request_for(row, **kwargs)
    with world.tx() as s:
        return record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor="nurse_kim")


def authorize(world: World, site: str = "site_north", at: datetime | None = None) -> Authorization:
    with world.tx() as s:
        return authorization.authorize_dose(
            s, site_key=site, patient_key="pat_amy", at=at or world.at, answers=NO, actor="nurse_kim"
        )


def count(world: World) -> int:
    with world.tx() as s:
        return s.execute(select(func.count(Infusion.id))).scalar_one()


def test_it_records_an_infusion_and_marks_the_authorization_infused(world: World) -> None:
    row = authorize(world)
    infusion = infuse(world, row)
    assert infusion.dose_number == 1
    with world.tx() as s:
        assert s.get(Authorization, row.id).status == "infused"


def test_a_retry_with_the_same_key_returns_the_first_record(world: World) -> None:
    row = authorize(world)
    first = infuse(world, row)
    again = infuse(world, row)
    assert again.id == first.id and count(world) == 1


def test_the_same_key_for_a_different_infusion_is_a_conflict(world: World) -> None:
    row = authorize(world)
    infuse(world, row)
    with pytest.raises(ConflictError, match="different infusion"):
        infuse(world, row, minutes=61)


def test_one_infusion_per_authorization(world: World) -> None:
    row = authorize(world)
    infuse(world, row)
    with pytest.raises(ConflictError):
        infuse(world, row, key="another-key")
    assert count(world) == 1


def test_two_sites_cannot_both_infuse_the_same_dose_window(world: World) -> None:
    north = authorize(world, "site_north")
    # The same visit day: the second site cannot even open a second authorization of the dose.
    with pytest.raises(ConflictError, match="already has an open authorization today at another site"):
        authorize(world, "site_south", at=world.at + timedelta(minutes=5))
    # The next day (north's authorization was never used): south may, and only one of them infuses.
    south = authorize(world, "site_south", at=world.at + timedelta(days=1))
    assert north.dose_number == south.dose_number == 1
    infuse(world, south)
    with pytest.raises(ConflictError, match="already infused"):
        infuse(world, north)
    assert count(world) == 1


def test_a_held_authorization_cannot_be_infused(world: World) -> None:
    with world.tx() as s:
        held = authorization.authorize_dose(
            s,
            site_key="site_north",
            patient_key="pat_amy",
            at=world.at,
            answers={**NO, "steroid-use": True},
            actor="nurse_kim",
        )
    with pytest.raises(ConflictError, match="hold"):
        infuse(world, held)


@pytest.mark.parametrize(("hours", "rejected"), [(30, False), (47, False), (49, True)])
def test_the_us_diluted_bag_limit_is_48_hours(world: World, hours: int, rejected: bool) -> None:
    row = authorize(world)
    if rejected:
        with pytest.raises(InfusionRejectedError, match="diluted-solution-too-old"):
            infuse(world, row, prepared=timedelta(hours=hours))
        assert count(world) == 0
    else:
        infuse(world, row, prepared=timedelta(hours=hours))


def test_the_eu_diluted_bag_limit_is_24_hours(db) -> None:  # type: ignore[no-untyped-def]
    from personas import build_world

    world = build_world(db, program="natalizumab-eu")
    row = authorize(world)
    with pytest.raises(InfusionRejectedError, match="diluted-solution-too-old") as caught:
        infuse(world, row, prepared=timedelta(hours=30))
    assert caught.value.reasons
    infuse(world, row, prepared=timedelta(hours=20))


def test_a_bag_held_at_room_temperature_is_rejected(world: World) -> None:
    row = authorize(world)
    with pytest.raises(InfusionRejectedError, match="room-temperature"):
        infuse(world, row, storage="room_temperature")


@pytest.mark.parametrize("minutes", [5, 40, 59])
def test_an_infusion_shorter_than_the_packs_hour_is_held_for_a_clinician_not_stored(world: World, minutes: int) -> None:
    row = authorize(world)
    with pytest.raises(InfusionRejectedError, match="infusion-shorter-than-1-hour") as caught:
        infuse(world, row, minutes=minutes)
    assert any("clinician decides" in r or "less than 60 minutes" in r for r in caught.value.reasons)
    assert count(world) == 0
    infuse(world, row, minutes=60)


def test_the_first_twelve_us_infusions_need_the_observation(world: World) -> None:
    row = authorize(world)
    with pytest.raises(InfusionRejectedError, match="observe for 60 minutes"):
        infuse(world, row, observe=30)
    infuse(world, row, observe=60)


def test_an_infusion_is_recorded_before_its_observation_ends_and_the_end_is_recorded_later(world: World) -> None:
    row = authorize(world)
    request = request_for(row, observe=None)
    with world.tx() as s:
        infusion = record_infusion(s, request, at=request.stopped_at + timedelta(minutes=5), actor="nurse_kim")
        infusion_id = infusion.id
        assert any("observation pending" in w for w in infusion.warnings["warnings"])
    stop = request.stopped_at
    with world.tx() as s, pytest.raises(InfusionRejectedError, match="observe for 60 minutes"):
        complete_observation(s, infusion_id=infusion_id, ended_at=stop + timedelta(minutes=30),
                             at=stop + timedelta(minutes=31), actor="nurse_kim")  # fmt: skip
    with world.tx() as s, pytest.raises(InputError, match="in the future"):
        complete_observation(s, infusion_id=infusion_id, ended_at=stop + timedelta(minutes=70),
                             at=stop + timedelta(minutes=65), actor="nurse_kim")  # fmt: skip
    with world.tx() as s:
        done = complete_observation(s, infusion_id=infusion_id, ended_at=stop + timedelta(minutes=61),
                                    at=stop + timedelta(minutes=62), actor="nurse_kim")  # fmt: skip
        assert done.observation_end_at == stop + timedelta(minutes=61)
    with world.tx() as s, pytest.raises(ConflictError, match="already recorded"):
        complete_observation(s, infusion_id=infusion_id, ended_at=stop + timedelta(minutes=90),
                             at=stop + timedelta(minutes=95), actor="nurse_kim")  # fmt: skip


def test_a_vial_past_its_expiry_is_refused(world: World) -> None:
    row = authorize(world)
    prepared = request_for(row).prepared_at
    with pytest.raises(InfusionRejectedError, match="vial-expiry"):
        infuse(world, row, vial_expires_at=prepared - timedelta(minutes=1))
    assert count(world) == 0
    infusion = infuse(world, row, vial_expires_at=prepared + timedelta(days=30))
    assert infusion.vial_expires_at == prepared + timedelta(days=30)


@pytest.mark.parametrize("code", ["64406-008-01", "6440600801", "64406-0008-01", "64406000801"])
def test_the_products_carton_code_from_the_pack_is_accepted_in_every_spelling(world: World, code: str) -> None:
    row = authorize(world)
    infusion = infuse(world, row, product_code=code)
    assert not any("product-code" in w for w in infusion.warnings["warnings"])


def test_a_carton_code_that_is_not_the_products_is_refused(world: World) -> None:
    row = authorize(world)
    with pytest.raises(InfusionRejectedError, match="product-code: 12345-678-90 is not a code of TYSABRI"):
        infuse(world, row, product_code="12345-678-90")
    assert count(world) == 0


def test_a_former_carton_code_and_a_missing_one_are_warnings_never_a_silent_pass(world: World) -> None:
    row = authorize(world)
    infusion = infuse(world, row, product_code="59075-730-15")
    assert any("former code of TYSABRI" in w for w in infusion.warnings["warnings"])
    other = authorize(world, at=world.at + timedelta(days=29))
    unrecorded = infuse(world, other)
    warned = " ".join(unrecorded.warnings["warnings"])
    assert "could not verify the product code" in warned and "could not verify the vial's expiry" in warned


def test_a_refused_or_wasted_bag_is_logged_under_its_visit_and_audited(world: World) -> None:
    row = authorize(world)
    with world.tx() as s:
        logged = record_disposal(
            s, DisposalRequest(authorization_id=row.id, disposal="wasted", product="tysabri", lot="LOT-7",
                               product_code="64406-008-01", reason="bag leaked at the spike port"),
            at=world.at + timedelta(minutes=10), actor="nurse_kim", site_id=None,
        )  # fmt: skip
        assert logged.site_id == row.site_id and logged.patient_id == row.patient_id
        logged_id = logged.id
    with world.tx() as s:
        assert [d.lot for d in infusions.disposals_of(s, row.id)] == ["LOT-7"]
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.entity_id == logged_id)).scalars().all()
        assert actions == ["bag.wasted"]
    with world.tx() as s, pytest.raises(InputError, match="reason"):
        record_disposal(
            s, DisposalRequest(authorization_id=row.id, disposal="refused", product="tysabri", lot="LOT-8", reason=" "),
            at=world.at, actor="nurse_kim", site_id=None,
        )  # fmt: skip
    # the authorization is untouched: the dose may still be infused with a fresh bag
    infuse(world, row)


def test_a_product_of_another_program_is_refused(world: World) -> None:
    row = authorize(world)
    with pytest.raises(InputError, match="tyruko"):
        infuse(world, row, product="tyruko")
