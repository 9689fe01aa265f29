"""The read models behind the pages, on SQLite and PostgreSQL: one query per list, scoped by patient."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from web_demo import NOW

from rxguard.access.policy import Principal
from rxguard.access.scope import visible_patient_ids
from rxguard.access.users import create_user, principal_of
from rxguard.access.web_sessions import IDLE, end_session, session_user, start_session
from rxguard.program.common import patient
from rxguard.program.demo import load_demo
from rxguard.program.overview import dashboard, patient_file, patient_list
from rxguard.store import transaction
from rxguard.store.auth_models import AppUser
from rxguard.store.testing import TestDatabase, db, postgres_schema, sqlite_template_path  # noqa: F401


def _principal(database: TestDatabase, name: str, role: str, **links: str) -> Principal:
    with transaction(database.factory) as session:
        return principal_of(create_user(session, name=name, role=role, at=NOW, actor="test", **links))


def test_the_dashboard_lists_and_counts_what_needs_doing(db: TestDatabase) -> None:  # noqa: F811
    with transaction(db.factory) as session:
        load_demo(session, at=NOW)
    everyone = _principal(db, "admin", "admin")
    with transaction(db.factory) as session:
        board = dashboard(session, on=NOW.date(), within=visible_patient_ids(everyone))
    # pat_nia (LEMTRADA REMS): the clinic's record sent no baseline labs before her first infusion.
    assert [h.patient for h in board.holds] == ["pat_gus", "pat_nia"]
    assert ("checklist", "answered yes: active-infection; contact the prescriber") in board.holds[0].reasons
    assert any(
        check == "clinical-assessment" and "alemtuzumab.baseline-labs-before-first-infusion" in why
        for check, why in board.holds[1].reasons
    ), board.holds[1].reasons
    assert [r.patient for r in board.reauthorizations] == ["pat_bob"]
    assert [a.kind for a in board.adverse_events] == ["pml-suspected"]
    assert [o.patient_name for o in board.overrides] == ["Amy Chen"]
    assert len(board.infusions_per_week) == 12 and sum(n for _, n in board.infusions_per_week) > 0
    assert board.decisions["authorized"] > 0 and board.decisions["hold"] >= 1
    assert board.strata == {"unknown-jcv-status": 5}  # every natalizumab patient still treated; no anti-JCV result
    assert sum(board.overdue_by_item.values()) == len(board.overdue) > 0


def test_a_foreign_site_sees_only_its_own_patients(db: TestDatabase) -> None:  # noqa: F811
    with transaction(db.factory) as session:
        load_demo(session, at=NOW)
    south = _principal(db, "paul", "pharmacist", site_key="site_south")
    with transaction(db.factory) as session:
        within = visible_patient_ids(south)
        board = dashboard(session, on=NOW.date(), within=within)
        listed = [p.key for p in patient_list(session, on=NOW.date(), within=within)]
    assert listed == ["pat_amy"]
    assert board.holds == [] and {r.patient for r in board.overdue} <= {"pat_amy"}


def test_the_patient_file_has_history_stratum_calendar_and_consent(db: TestDatabase) -> None:  # noqa: F811
    with transaction(db.factory) as session:
        load_demo(session, at=NOW)
        file = patient_file(session, patient(session, "pat_amy"), on=NOW.date())
    assert file.enrollments[0].status == "authorized"
    kinds = {e.kind for e in file.timeline}
    assert {"enrollment", "authorization", "infusion", "monitoring", "consent", "override"} <= kinds
    assert file.stratum is not None and file.stratum["id"] == "unknown-jcv-status" and file.stratum["sources"]
    assert file.calendar and file.consents and file.infusable


def test_a_web_session_ends_when_idle_and_on_sign_out(db: TestDatabase) -> None:  # noqa: F811
    with transaction(db.factory) as session:
        load_demo(session, at=NOW)
    ada = _principal(db, "ada", "prescriber", prescriber_key="dr_ada")
    with transaction(db.factory) as session:
        token = start_session(session, ada, at=NOW)
    with transaction(db.factory) as session:
        assert session_user(session, token, at=NOW + timedelta(minutes=30)) is not None
        assert session_user(session, token, at=NOW + timedelta(minutes=30) + IDLE) is None
        assert session_user(session, "forged", at=NOW) is None
        end_session(session, token, at=NOW + timedelta(minutes=31))
    with transaction(db.factory) as session:
        assert session_user(session, token, at=NOW + timedelta(minutes=32)) is None
        user = session.execute(select(AppUser).where(AppUser.name == "ada")).scalar_one()
        user.disabled_at = NOW
        fresh = start_session(session, ada, at=NOW)
        assert session_user(session, fresh, at=NOW) is None
