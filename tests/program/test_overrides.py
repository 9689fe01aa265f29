"""Separation of duties for overrides, as a matrix over the program layer.

Every program role (and one that is none) × where the person belongs (the visit's
site, another site, the patient's prescriber, another prescriber, nowhere) × the
kind of failed check (a hard stop, an overridable hold) × the step (asking,
confirming). What is expected comes from the program's own ``checks`` in
program.yaml and the two-person rule, never from the code under test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pytest
from personas import NO, World, enroll_and_authorize
from sqlalchemy import select, update
from test_infusion import request_for

from rxguard.errors import AccessDeniedError, ConflictError, HardStopError, RxguardError
from rxguard.program import adverse_events, authorization, clearance, participants
from rxguard.program.common import prescriber as prescriber_by_key
from rxguard.program.common import site as site_by_key
from rxguard.program.infusion import record_infusion
from rxguard.program.registry import get_program
from rxguard.store.models import Authorization, Override

ROLES = ("prescriber", "pharmacist-in-charge", "medical-director", "nurse")
PLACES = ("own-site", "foreign-site", "patients-prescriber", "other-prescriber", "nowhere")
KINDS = ("hard", "overridable")
ASKER = "dr_mo"
PROGRAM = get_program("touch")


@dataclass(frozen=True)
class Case:
    role: str
    place: str
    kind: str

    @property
    def name(self) -> str:
        return f"{self.role}@{self.place}"


CASES = [Case(r, p, k) for r, p, k in itertools.product(ROLES, PLACES, KINDS)]


def signer(s, case: Case) -> clearance.Signer:  # type: ignore[no-untyped-def]
    site = {"own-site": "site_north", "foreign-site": "site_south"}.get(case.place)
    doc = {"patients-prescriber": "dr_ada", "other-prescriber": "dr_ben"}.get(case.place)
    return clearance.Signer(
        case.name,
        case.role,
        site_id=site_by_key(s, site).id if site else None,
        prescriber_id=prescriber_by_key(s, doc).id if doc else None,
    )


def visit(world: World, key: str, kind: str, at):  # type: ignore[no-untyped-def]
    """A new patient's visit at site_north: suspended (a hard stop) or with a checklist 'yes' (overridable)."""
    with world.tx() as s:
        participants.register_patient(s, key=key, name=key, at=at - timedelta(days=1), actor="admin",
                                      birth_on=(at - timedelta(days=40 * 365)).date(), sex="female")  # fmt: skip
        enroll_and_authorize(s, key, "touch", at - timedelta(days=1))
        if kind == "hard":
            adverse_events.report_adverse_event(
                s, program_id="touch", patient_key=key, kind="pml-suspected", serious=True,
                seriousness=["hospitalisation"], onset_on=(at - timedelta(days=1)).date(), outcome="not-recovered",
                description="new weakness", at=at - timedelta(hours=2), actor="dr_ada",
            )  # fmt: skip
        answers = NO if kind == "hard" else {**NO, "active-infection": True}
        row = authorization.authorize_dose(s, site_key="site_north", patient_key=key, at=at, answers=answers,
                                           actor="nurse_kim")  # fmt: skip
        return row.id, sorted(c["id"] for c in authorization.failed_checks(row))


def may_override(case: Case, failed: list[str], *, asking: bool) -> bool:
    """What program.yaml and the two-person rule say, read straight from the definition."""
    rules = [PROGRAM.check_rule(c) for c in failed]
    if case.kind == "hard" or any(r.kind == "hard-stop" for r in rules):
        return False
    if not all(case.role in r.roles for r in rules):
        return False
    belongs = case.place in ("own-site", "patients-prescriber")
    program_wide = case.role in PROGRAM.definition.overrides.program_wide_roles
    return belongs or (asking and program_wide)


def _state(world: World, row_id: str) -> tuple[str, bool]:
    with world.tx() as s:
        row = s.get(Authorization, row_id)
        return row.status, row.is_infusable


def test_the_matrix_of_who_may_ask_for_an_override(world: World) -> None:
    counts = {"allowed": 0, "refused": 0}
    for i, case in enumerate(CASES):
        row_id, failed = visit(world, f"pat_ask_{i}", case.kind, world.at + timedelta(minutes=i))
        expected = may_override(case, failed, asking=True)
        try:
            with world.tx() as s:
                clearance.request_override(s, authorization_id=row_id, requester=signer(s, case), reason="urgent",
                                           bypassed=failed, at=world.at + timedelta(minutes=i))  # fmt: skip
            outcome = True
        except HardStopError:
            assert case.kind == "hard", case
            outcome = False
        except AccessDeniedError:
            assert case.kind == "overridable", case
            outcome = False
        assert outcome == expected, (case, failed)
        # Asking alone never bypasses anything.
        assert _state(world, row_id)[1] is False
        counts["allowed" if outcome else "refused"] += 1
    assert counts["allowed"] > 0 and counts["refused"] > 0


def test_the_matrix_of_who_may_confirm_an_override(world: World) -> None:
    counts = {"allowed": 0, "refused": 0}
    for i, case in enumerate(CASES):
        at = world.at + timedelta(minutes=i)
        row_id, failed = visit(world, f"pat_confirm_{i}", case.kind, at)
        with world.tx() as s:
            if case.kind == "overridable":
                asked = clearance.request_override(
                    s, authorization_id=row_id, requester=clearance.Signer(ASKER, "medical-director"),
                    reason="urgent", bypassed=failed, at=at,
                ).id  # fmt: skip
            else:  # a one-person request written behind the service's back (an older version, a bad script)
                record = Override(authorization_id=row_id, actor=ASKER, role="medical-director", reason="urgent",
                                  bypassed={"requirements": failed}, at=at)  # fmt: skip
                s.add(record)
                s.flush()
                asked = record.id
        expected = may_override(case, failed, asking=False)
        try:
            with world.tx() as s:
                clearance.confirm_override(s, override_id=asked, confirmer=signer(s, case), reason="agreed", at=at)
            outcome = True
        except (HardStopError, AccessDeniedError):
            outcome = False
        assert outcome == expected, (case, failed)
        assert _state(world, row_id) == (("overridden", True) if outcome else ("do-not-infuse" if case.kind == "hard"
                                                                               else "hold", False))  # fmt: skip
        counts["allowed" if outcome else "refused"] += 1
    assert counts["allowed"] > 0 and counts["refused"] > 0


def test_the_person_who_asked_cannot_confirm_whatever_their_role(world: World) -> None:
    row_id, failed = visit(world, "pat_self", "overridable", world.at)
    with world.tx() as s:
        me = clearance.Signer("dr_ada", "prescriber", prescriber_id=prescriber_by_key(s, "dr_ada").id)
        asked = clearance.request_override(s, authorization_id=row_id, requester=me, reason="r", bypassed=failed,
                                           at=world.at)  # fmt: skip
    for role in ("prescriber", "medical-director", "pharmacist-in-charge"):
        with pytest.raises(AccessDeniedError, match="second, other person"), world.tx() as s:
            same = clearance.Signer("dr_ada", role, site_id=site_by_key(s, "site_north").id)
            clearance.confirm_override(s, override_id=asked.id, confirmer=same, reason="r", at=world.at)
    # The database refuses it too, whatever the service did.
    with pytest.raises(Exception, match="two_people"), world.tx() as s:
        s.execute(update(Override).where(Override.id == asked.id).values(
            confirmed_by="dr_ada", confirmed_role="prescriber", confirmation_reason="r", confirmed_at=world.at))  # fmt: skip
    assert _state(world, row_id) == ("hold", False)


def test_an_override_lasts_for_its_visit_only(world: World) -> None:
    row_id, failed = visit(world, "pat_late", "overridable", world.at)
    with world.tx() as s:
        asked = clearance.request_override(s, authorization_id=row_id, requester=clearance.Signer(ASKER,
                                           "medical-director"), reason="r", bypassed=failed, at=world.at)  # fmt: skip
    with pytest.raises(RxguardError, match="expired with its visit"), world.tx() as s:
        ada = clearance.Signer("dr_ada", "prescriber", prescriber_id=prescriber_by_key(s, "dr_ada").id)
        clearance.confirm_override(s, override_id=asked.id, confirmer=ada, reason="r",
                                   at=world.at + timedelta(days=1))  # fmt: skip
    assert _state(world, row_id) == ("hold", False)


def test_a_suspended_patient_is_refused_at_the_override_and_at_the_infusion(world: World) -> None:
    """The reproduction: suspected PML, DO-NOT-INFUSE, a one-person override, then the infusion."""
    row_id, failed = visit(world, "pat_eli", "hard", world.at)
    assert "not-suspended" in failed
    with pytest.raises(HardStopError, match="resume the patient in the program first"), world.tx() as s:
        clearance.request_override(s, authorization_id=row_id, requester=clearance.Signer("admin", "medical-director"),
                                   reason="r", bypassed=failed, at=world.at)  # fmt: skip
    # Even an authorization made infusable behind the services' back is refused at the infusion.
    with world.tx() as s:
        s.execute(update(Authorization).where(Authorization.id == row_id).values(status="overridden",
                                                                                  is_infusable=True))  # fmt: skip
        row = s.get(Authorization, row_id)
        request = request_for(row)
    with pytest.raises(ConflictError, match="suspended"), world.tx() as s:
        record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor="nurse_kim")
    with world.tx() as s:
        assert s.execute(select(Override)).first() is None
