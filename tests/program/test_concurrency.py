"""Real parallel connections on PostgreSQL: two sites, one patient, one dose window."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from personas import NO, World
from sqlalchemy import func, select
from test_infusion import request_for

from rxguard.errors import ConflictError
from rxguard.program import authorization
from rxguard.program.infusion import record_infusion
from rxguard.store import transaction
from rxguard.store.models import OPEN_AUTHORIZATION_STATES, Authorization, Infusion


def _race(world: World, site: str, barrier: threading.Barrier, results: dict[str, object]) -> None:
    try:
        barrier.wait(timeout=10)
        with transaction(world.db.factory) as s:
            row = authorization.authorize_dose(
                s, site_key=site, patient_key="pat_amy", at=world.at, answers=NO, actor=f"nurse_{site}"
            )
        request = request_for(row, key=f"{site}-visit-{row.id}")
        with transaction(world.db.factory) as s:
            results[site] = record_infusion(
                s, request, at=request.stopped_at + timedelta(hours=2), actor=f"nurse_{site}"
            ).id
    except Exception as exc:  # collected and asserted on below
        results[site] = exc


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_two_sites_infusing_the_same_patient_in_the_same_window_store_exactly_one(world: World) -> None:
    """Both sites run the checklist at once: one authorization of the dose opens and is infused; the other
    site is refused at its checklist (one authorization per dose and visit), and nothing of it is written."""
    for _ in range(3):  # repeat to give the race several chances
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}
        threads = [
            threading.Thread(target=_race, args=(world, site, barrier, results))
            for site in ("site_north", "site_south")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        errors = [r for r in results.values() if isinstance(r, Exception)]
        stored = [r for r in results.values() if isinstance(r, str)]
        assert len(stored) == 1, results
        assert len(errors) == 1 and isinstance(errors[0], ConflictError), errors
        with transaction(world.db.factory) as s:
            infusions = s.execute(select(func.count(Infusion.id))).scalar_one()
            open_now = s.execute(
                select(func.count(Authorization.id)).where(Authorization.status.in_(OPEN_AUTHORIZATION_STATES))
            ).scalar_one()
        assert infusions == 1 and open_now == 0
        with transaction(world.db.factory) as s:
            s.execute(Infusion.__table__.delete())  # type: ignore[attr-defined]
