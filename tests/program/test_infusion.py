"""Infusion records: pack checks, observation, one per authorization, idempotent retries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from personas import NO, World
from sqlalchemy import func, select

from rxguard.errors import ConflictError, InfusionRejectedError, InputError
from rxguard.program import authorization
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.store.models import Authorization, Infusion


def request_for(
    row: Authorization,
    *,
    key: str | None = None,
    prepared: timedelta = timedelta(hours=1),
    storage: str = "refrigerated",
    minutes: int = 60,
    observe: int | None = 60,
    product: str = "tysabri",
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


def test_a_short_infusion_is_stored_with_a_warning(world: World) -> None:
    row = authorize(world)
    infusion = infuse(world, row, minutes=40)
    assert any("shorter" in w or "60 minutes" in w for w in infusion.warnings["warnings"])


def test_the_first_twelve_us_infusions_need_the_observation(world: World) -> None:
    row = authorize(world)
    with pytest.raises(InfusionRejectedError, match="observe for 60 minutes"):
        infuse(world, row, observe=None)
    with pytest.raises(InfusionRejectedError, match="observe"):
        infuse(world, row, observe=30)
    infuse(world, row, observe=60)


def test_a_product_of_another_program_is_refused(world: World) -> None:
    row = authorize(world)
    with pytest.raises(InputError, match="tyruko"):
        infuse(world, row, product="tyruko")
