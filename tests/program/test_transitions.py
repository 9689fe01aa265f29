"""The transitions table, walked: every allowed change works, every other is refused with a clear error.

For each entity (certification, enrollment, authorization) a real row on each engine is put
in every state in turn and asked to move to every state: where the table allows it, the row
has the new status, the event says from → to with who and why, ``is_infusable`` follows an
authorization's status, and the audit log gets the entry; where it does not, the error names
the row's state, where it may go instead, and nothing is written.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest
from personas import NO, World
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.errors import TransitionError
from rxguard.program import authorization
from rxguard.program.common import prescriber
from rxguard.program.transitions import INFUSABLE_STATES, TRANSITIONS, transition
from rxguard.store import audit
from rxguard.store.models import (
    AUTHORIZATION_STATES,
    CERTIFICATION_STATES,
    ENROLLMENT_STATES,
    Authorization,
    AuthorizationEvent,
    Base,
    Certification,
    CertificationEvent,
    Enrollment,
    EnrollmentEvent,
)

EVENTS = {
    "certification": (CertificationEvent, "certification_id"),
    "enrollment": (EnrollmentEvent, "enrollment_id"),
    "authorization": (AuthorizationEvent, "authorization_id"),
}


def test_the_table_knows_every_state_the_database_allows_and_no_other() -> None:
    assert set(TRANSITIONS["certification"]) == set(CERTIFICATION_STATES)
    assert set(TRANSITIONS["enrollment"]) == set(ENROLLMENT_STATES)
    assert set(TRANSITIONS["authorization"]) == set(AUTHORIZATION_STATES)
    for table in TRANSITIONS.values():
        for targets in table.values():
            assert targets <= set(table)


def _rows(world: World, s: Session) -> dict[str, Base]:
    """One row of each entity: dr_ada's certification, pat_amy's enrollment, an authorization of her next dose."""
    row = authorization.authorize_dose(
        s, site_key="site_north", patient_key="pat_amy", at=world.at + timedelta(hours=1), answers=NO, actor="nurse_kim"
    )
    cert = s.execute(
        select(Certification).where(Certification.prescriber_id == prescriber(s, "dr_ada").id)
    ).scalar_one()
    enrollment = s.get(Enrollment, row.enrollment_id)
    auth = s.get(Authorization, row.id)
    assert enrollment is not None and auth is not None
    return {"certification": cert, "enrollment": enrollment, "authorization": auth}


def _put(s: Session, entity: str, row: Base, state: str) -> None:
    """Put the row in ``state`` directly (the test's own set-up, not a transition)."""
    row.status = state  # type: ignore[attr-defined]
    if entity == "authorization":
        row.is_infusable = state in INFUSABLE_STATES  # type: ignore[attr-defined]
    s.flush()


def _events(s: Session, entity: str, row: Base) -> list[tuple[str | None, str, str, str]]:
    model, column = EVENTS[entity]
    stmt = select(model.from_status, model.to_status, model.actor, model.reason).where(
        getattr(model, column) == row.id  # type: ignore[attr-defined]
    )
    return [tuple(r) for r in s.execute(stmt.order_by(model.at, model.id))]  # type: ignore[misc]


@pytest.mark.parametrize("entity", sorted(TRANSITIONS))
def test_every_allowed_transition_works_and_every_other_is_refused(world: World, entity: str) -> None:
    table = TRANSITIONS[entity]
    states = sorted(table)
    start = world.at + timedelta(hours=2)
    allowed = refused = 0
    with world.tx() as s:
        row = _rows(world, s)[entity]
        for step, (frm, to) in enumerate(product(states, [*states, "no-such-state"])):
            at = start + timedelta(seconds=step)  # the events are read back in the order of their times
            _put(s, entity, row, frm)
            before = _events(s, entity, row)
            queued = len(s.info.get(audit._QUEUE, []))
            reason = f"walk {frm} -> {to}"
            if to in table.get(frm, ()):
                transition(row, to, at=at, actor="walker", reason=reason)
                s.flush()
                s.expire(row)
                assert row.status == to  # type: ignore[attr-defined]  # read back from the database
                if entity == "authorization":
                    assert row.is_infusable is (to in INFUSABLE_STATES)  # type: ignore[attr-defined]
                assert _events(s, entity, row)[len(before) :] == [(frm, to, "walker", reason)]
                entries = s.info[audit._QUEUE][queued:]
                assert [e.action for e in entries] == [f"{entity}.{to}"]
                allowed += 1
            else:
                with pytest.raises(TransitionError) as refusal:
                    transition(row, to, at=at, actor="walker", reason=reason)
                message = str(refusal.value)
                assert "\n" not in message and "Traceback" not in message
                assert message.startswith((entity, repr(to)))
                if to not in table:
                    assert f"{to!r} is not a state of a {entity}" in message
                elif to != frm:
                    onward = ", ".join(sorted(table[frm])) if table[frm] else "nothing (final)"
                    assert f"is {frm}; it can go to {onward}, not {to}" in message
                elif to == frm:
                    assert f"already {frm}" in message
                s.expire(row)
                assert row.status == frm  # type: ignore[attr-defined]  # nothing written
                assert _events(s, entity, row) == before
                assert len(s.info.get(audit._QUEUE, [])) == queued
                refused += 1
    n = len(states)
    assert allowed == sum(len(t) for t in table.values())
    assert allowed + refused == n * (n + 1)
    assert allowed > 0 and refused > 0
