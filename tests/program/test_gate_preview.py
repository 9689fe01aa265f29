"""The dose gate's state before the checklist is sent: what will block, read like the decision, stored nowhere."""

from __future__ import annotations

from datetime import timedelta

from personas import NO, World
from sqlalchemy import func, select
from test_infusion import authorize, infuse

from rxguard.program import authorization
from rxguard.program.authorization import preview_gate
from rxguard.store.models import Authorization


def preview(world: World, at=None, site: str = "site_north"):  # type: ignore[no-untyped-def]
    with world.tx() as s:
        return preview_gate(s, site_key=site, patient_key="pat_amy", at=at or world.at)


def stored(world: World) -> int:
    with world.tx() as s:
        return s.execute(select(func.count(Authorization.id))).scalar_one()


def test_a_clear_visit_previews_authorized_and_stores_nothing(world: World) -> None:
    gate = preview(world)
    assert gate.state == "authorized" and gate.blocking == [] and gate.dose_number == 1
    assert stored(world) == 0


def test_a_dose_too_early_is_previewed_as_the_hold_the_decision_then_makes(world: World) -> None:
    infuse(world, authorize(world))
    early = world.at + timedelta(days=20)
    gate = preview(world, at=early)
    assert gate.state == "hold"
    assert [c["id"] for c in gate.blocking] == ["dose-interval"]
    assert "2026-02-02" in gate.blocking[0]["reason"]  # the earliest date the nurse can plan for
    with world.tx() as s:
        row = authorization.authorize_dose(
            s, site_key="site_north", patient_key="pat_amy", at=early, answers=NO, actor="nurse_kim"
        )
        assert row.decision == gate.state
        assert [c["id"] for c in row.checks["checks"] if c["outcome"] in ("hold", "do-not-infuse")] == ["dose-interval"]


def test_a_pending_hold_and_an_open_authorization_are_what_the_preview_says(world: World) -> None:
    with world.tx() as s:
        held = authorization.authorize_dose(
            s, site_key="site_north", patient_key="pat_amy", at=world.at,
            answers={**NO, "steroid-use": True}, actor="nurse_kim",
        )  # fmt: skip
        held_id = held.id
    gate = preview(world, at=world.at + timedelta(minutes=5))
    assert gate.state == "hold-pending" and gate.authorization_id == held_id
    elsewhere = preview(world, at=world.at + timedelta(minutes=5), site="site_south")
    assert elsewhere.state == "open-elsewhere" and "another site" in elsewhere.message
    assert stored(world) == 1


def test_an_authorized_visit_previews_already_authorized(world: World) -> None:
    row = authorize(world)
    gate = preview(world, at=world.at + timedelta(minutes=5))
    assert gate.state == "already-authorized" and gate.authorization_id == row.id
