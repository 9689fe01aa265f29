"""One authorization per dose and visit, on both engines: the database, the services, the infusion's start time.

The workflow bugs this guards against: a second checklist that made a second hold
the prescriber could clear after deferring the first; an authorization from an
earlier day (or made after the infusion started, or for a start in the future)
used to record an infusion; two open authorizations of one dose at two sites.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from personas import NO, World
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from test_infusion import authorize, infuse, request_for

from rxguard.errors import ConflictError, InputError, TransitionError
from rxguard.program import authorization, clearance
from rxguard.program.infusion import record_infusion
from rxguard.store.models import Authorization

YES = {**NO, "active-infection": True}


def _authorize(world: World, answers: dict[str, bool], at=None, site: str = "site_north") -> Authorization:  # type: ignore[no-untyped-def]
    with world.tx() as s:
        return authorization.authorize_dose(s, site_key=site, patient_key="pat_amy", at=at or world.at,
                                            answers=answers, actor="nurse_kim")  # fmt: skip


def _rows(world: World) -> int:
    with world.tx() as s:
        return int(s.execute(select(func.count(Authorization.id))).scalar_one())


def _clear(world: World, row: Authorization, outcome: str, at=None) -> None:  # type: ignore[no-untyped-def]
    with world.tx() as s:
        clearance.clear_hold(s, authorization_id=row.id, prescriber_key="dr_ada", outcome=outcome, reason="r",
                             at=at or world.at + timedelta(minutes=30))  # fmt: skip


def test_the_database_holds_one_open_authorization_per_dose_and_visit_day(world: World) -> None:
    held = _authorize(world, YES)
    with world.tx() as s:
        values = {c.key: getattr(s.get(Authorization, held.id), c.key) for c in Authorization.__table__.columns}
    for status in ("hold", "authorized", "cleared", "overridden"):
        copy = {**values, "id": f"{status}-copy", "status": status, "decision": "hold", "is_infusable": False}
        with (
            pytest.raises(IntegrityError, match=r"uq_authorization_open_dose|UNIQUE constraint failed"),
            world.tx() as s,
        ):
            s.execute(insert(Authorization).values(**copy))
    # A closed one (deferred, do-not-infuse) beside it is fine, and so is an open one on another day.
    with world.tx() as s:
        s.execute(insert(Authorization).values(**{**values, "id": "closed", "status": "do-not-infuse"}))
        later = values["visit_on"] + timedelta(days=1)
        s.execute(insert(Authorization).values(**{**values, "id": "tomorrow", "visit_on": later}))


def test_a_second_checklist_on_a_pending_hold_continues_it_and_a_deferral_ends_the_visit(world: World) -> None:
    first = _authorize(world, YES)
    assert first.decision == "hold"
    again = _authorize(world, NO, at=world.at + timedelta(minutes=10))  # all "no" now: still the same hold
    assert again.id == first.id and again.status == "hold" and _rows(world) == 1
    assert "the hold" in (authorization.notice_of(again) or "") and "continues" in authorization.notice_of(again)
    _clear(world, first, "defer")
    after = _authorize(world, NO, at=world.at + timedelta(minutes=40))
    assert after.decision == "do-not-infuse"
    assert "visit-not-deferred" in {c["id"] for c in authorization.failed_checks(after)}
    with pytest.raises(TransitionError), world.tx() as s:  # nothing left to clear past the deferral
        clearance.clear_hold(s, authorization_id=after.id, prescriber_key="dr_ada", outcome="proceed", reason="r",
                             at=world.at + timedelta(minutes=45))  # fmt: skip
    next_day = _authorize(world, NO, at=world.at + timedelta(days=1))  # the next visit needs the prescriber again
    assert next_day.decision == "hold"
    assert {c["id"] for c in authorization.failed_checks(next_day)} == {"previous-visit-clearance"}


def test_an_authorized_dose_checked_again_is_the_same_authorization_or_is_withdrawn(world: World) -> None:
    first = _authorize(world, NO)
    same = _authorize(world, NO, at=world.at + timedelta(minutes=5))
    assert same.id == first.id and _rows(world) == 1
    worse = _authorize(world, YES, at=world.at + timedelta(minutes=10))  # something new: the patient has a fever
    assert worse.id != first.id and worse.decision == "hold"
    with world.tx() as s:
        old = s.get(Authorization, first.id)
        assert (old.status, old.is_infusable) == ("do-not-infuse", False)
    with pytest.raises(ConflictError):
        infuse(world, first)


def test_a_second_site_cannot_open_an_authorization_of_the_same_dose_at_the_same_visit(world: World) -> None:
    _authorize(world, YES)
    with pytest.raises(ConflictError, match="another site"):
        _authorize(world, NO, at=world.at + timedelta(minutes=5), site="site_south")
    assert _rows(world) == 1


def test_an_authorization_from_an_earlier_day_cannot_record_todays_infusion(world: World) -> None:
    stale = _authorize(world, NO)
    request = request_for(stale)
    two_days = timedelta(days=2)
    later = replace(request, prepared_at=request.prepared_at + two_days, started_at=request.started_at + two_days,
                    stopped_at=request.stopped_at + two_days,
                    observation_end_at=request.observation_end_at + two_days)  # fmt: skip
    with pytest.raises(ConflictError, match="valid until"), world.tx() as s:
        record_infusion(s, later, at=later.stopped_at + timedelta(hours=2), actor="nurse_kim")


def test_an_infusion_cannot_start_before_its_authorization_or_in_the_future(world: World) -> None:
    row = _authorize(world, NO, at=world.at + timedelta(hours=3))
    request = request_for(row)
    hour = timedelta(hours=1)
    early = replace(request, prepared_at=request.prepared_at - 2 * hour, started_at=request.started_at - hour,
                    stopped_at=request.stopped_at - hour, observation_end_at=request.observation_end_at - hour)  # fmt: skip
    with pytest.raises(ConflictError, match="before its authorization"), world.tx() as s:
        record_infusion(s, early, at=request.stopped_at + 2 * hour, actor="nurse_kim")
    with pytest.raises(InputError, match="in the future"), world.tx() as s:
        record_infusion(s, request, at=request.started_at - timedelta(minutes=1), actor="nurse_kim")
    with world.tx() as s:
        record_infusion(s, request, at=request.started_at, actor="nurse_kim")  # it has started: recorded


def test_a_clearance_to_proceed_after_the_visit_is_refused(world: World) -> None:
    held = _authorize(world, YES)
    with pytest.raises(TransitionError, match=r"visit .* ended"):
        _clear(world, held, "proceed", at=world.at + timedelta(days=1))
    _clear(world, held, "defer", at=world.at + timedelta(days=1))  # deferring a past visit is still recorded


def test_the_demo_style_stale_authorization_two_days_old_is_refused(world: World) -> None:
    # The reproduction from the infusion-site day: checklist two days earlier, infusion recorded today.
    row = _authorize(world, NO, at=world.at - timedelta(days=2))
    request = request_for(row)
    moved = replace(request, prepared_at=world.at, started_at=world.at + timedelta(minutes=30),
                    stopped_at=world.at + timedelta(minutes=90), observation_end_at=world.at + timedelta(minutes=150))  # fmt: skip
    with pytest.raises(ConflictError, match="valid until"), world.tx() as s:
        record_infusion(s, moved, at=world.at + timedelta(hours=3), actor="nurse_kim")
    assert authorize(world).decision == "authorized"  # today's visit authorizes afresh
