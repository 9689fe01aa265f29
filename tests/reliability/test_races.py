"""Races on one patient, on both engines: the database invariants hold in every interleaving tried.

Each round starts its writers together (a barrier), each writer sleeps a
random few milliseconds before and between its steps, and each runs in its own
transaction on its own connection, as concurrent requests would. After every
round :mod:`rel_invariants` checks the whole database, and every error a
writer met must be one of rxguard's own refusals (a conflict, a refused
transition, a rejected infusion) — never a deadlock, a lock timeout or a raw
database error. The order in which the writers committed (read back from the
audit log) is the interleaving; the figures count the distinct ones seen.

Scenarios:

* **two sites** — three nurses at each of two sites authorize and infuse the
  same patient at the same moment, dose window after dose window: one
  infusion per window, whoever wins;
* **discontinue and reauthorize** — two sites authorize and infuse while the
  prescriber reauthorizes and discontinues the patient at the same moment;
* **lapsed** — a patient whose 6-month authorization ran out is reauthorized
  while two sites ask for a dose: AUTHORIZED only after the reauthorization;
* **suspension** — suspected PML is reported while two sites infuse an
  already authorized dose: no infusion after the suspension;
* **same key** — a client's retry races its own first request with the same
  idempotency key: one infusion, and both get that infusion.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rel_db import ENGINES, ScratchDatabases, full_run
from rel_invariants import check_program, commit_order_signature, last_seq
from rel_world import NO, PROGRAM, add_patient, build_program, infusion_request

from rxguard.errors import RxguardError
from rxguard.program import adverse_events, authorization, enrollment
from rxguard.program.infusion import record_infusion
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

pytestmark = pytest.mark.reliability
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Writer = Callable[["Round"], None]


@dataclass
class Round:
    """One round of a race: its database, patient, moment, and what each writer met."""

    database: TestDatabase
    patient: str
    at: datetime
    rng: random.Random
    infused: dict[str, str] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)

    def pause(self) -> None:
        time.sleep(self.rng.uniform(0, 0.004))


def _authorize_and_infuse(site: str, actor: str, key: str | None = None) -> Writer:
    def write(r: Round) -> None:
        with transaction(r.database.factory) as s:
            row = authorization.authorize_dose(s, site_key=site, patient_key=r.patient, at=r.at, answers=NO,
                                               actor=actor)  # fmt: skip
        if row.decision != "authorized":
            return
        r.pause()
        request = infusion_request(row, key or f"{actor}-{row.id}")
        with transaction(r.database.factory) as s:
            r.infused[actor] = record_infusion(s, request, at=request.stopped_at + timedelta(hours=2),
                                               actor=actor).id  # fmt: skip

    return write


def _infuse(authorization_id: str, actor: str, key: str) -> Writer:
    def write(r: Round) -> None:
        with transaction(r.database.factory) as s:
            row = s.get(authorization.Authorization, authorization_id)
            assert row is not None
            request = infusion_request(row, key)
        with transaction(r.database.factory) as s:
            r.infused[actor] = record_infusion(s, request, at=request.stopped_at + timedelta(hours=2),
                                               actor=actor).id  # fmt: skip

    return write


def _reauthorize(r: Round) -> None:
    with transaction(r.database.factory) as s:
        enrollment.reauthorize(s, program_id=PROGRAM, patient_key=r.patient, prescriber_key="dr_ada", at=r.at,
                               actor="dr_reauthorize")  # fmt: skip


def _discontinue(r: Round) -> None:
    with transaction(r.database.factory) as s:
        enrollment.discontinue(s, program_id=PROGRAM, patient_key=r.patient, at=r.at, actor="dr_discontinue",
                               reason="patient decision")  # fmt: skip


def _report_pml(r: Round) -> None:
    with transaction(r.database.factory) as s:
        adverse_events.report_adverse_event(
            s, program_id=PROGRAM, patient_key=r.patient, kind="pml-suspected", serious=True,
            seriousness=["hospitalisation"], onset_on=r.at.date(), outcome="unknown",
            description="new aphasia", at=r.at, actor="dr_report",
        )  # fmt: skip


def _run(r: Round, writers: list[Writer]) -> None:
    barrier = threading.Barrier(len(writers))

    def body(write: Writer) -> None:
        try:
            barrier.wait(timeout=30)
            r.pause()
            write(r)
        except BaseException as exc:  # collected: only rxguard's own refusals are allowed
            r.errors.append(exc)

    threads = [threading.Thread(target=body, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"


def _patient(database: TestDatabase, key: str, at: datetime) -> str:
    with transaction(database.factory) as s:
        add_patient(s, key, at)
    return key


def _two_sites(database: TestDatabase, index: int, rng: random.Random) -> tuple[Round, list[Writer]]:
    # One patient for the whole test: each round is the next 4-week dose window.
    patient = "pat_two_sites"
    if index == 0:
        _patient(database, patient, T0 - timedelta(days=1))
    at = T0 + timedelta(days=28 * index)
    if index and index % 5 == 0:  # keep the 6-month authorization current
        with transaction(database.factory) as s:
            enrollment.reauthorize(s, program_id=PROGRAM, patient_key=patient, prescriber_key="dr_ada", at=at,
                                   actor="dr_ada")  # fmt: skip
    writers = [_authorize_and_infuse(site, f"nurse_{site[5]}{n}") for site in ("site_north", "site_south")
               for n in range(3)]  # fmt: skip
    return Round(database, patient, at, rng), writers


def _discontinue_and_reauthorize(database: TestDatabase, index: int, rng: random.Random) -> tuple[Round, list[Writer]]:
    patient = _patient(database, f"pat_disc_{index}", T0 - timedelta(days=1))
    writers = [_authorize_and_infuse("site_north", "nurse_n"), _authorize_and_infuse("site_south", "nurse_s"),
               _reauthorize, _discontinue]  # fmt: skip
    return Round(database, patient, T0, rng), writers


def _lapsed(database: TestDatabase, index: int, rng: random.Random) -> tuple[Round, list[Writer]]:
    patient = _patient(database, f"pat_lapsed_{index}", T0 - timedelta(days=200))
    writers = [_authorize_and_infuse("site_north", "nurse_n"), _authorize_and_infuse("site_south", "nurse_s"),
               _reauthorize]  # fmt: skip
    return Round(database, patient, T0, rng), writers


def _authorized_dose(database: TestDatabase, patient: str) -> str:
    with transaction(database.factory) as s:
        row = authorization.authorize_dose(s, site_key="site_north", patient_key=patient, at=T0, answers=NO,
                                           actor="nurse_n")  # fmt: skip
    assert row.decision == "authorized"
    return row.id


def _suspension(database: TestDatabase, index: int, rng: random.Random) -> tuple[Round, list[Writer]]:
    patient = _patient(database, f"pat_pml_{index}", T0 - timedelta(days=1))
    dose = _authorized_dose(database, patient)
    writers = [_infuse(dose, "nurse_n", f"pml-{index}-n"), _infuse(dose, "nurse_s", f"pml-{index}-s"), _report_pml]
    return Round(database, patient, T0, rng), writers


def _same_key(database: TestDatabase, index: int, rng: random.Random) -> tuple[Round, list[Writer]]:
    patient = _patient(database, f"pat_retry_{index}", T0 - timedelta(days=1))
    dose = _authorized_dose(database, patient)
    writers = [_infuse(dose, f"nurse_try{n}", f"visit-{index}") for n in range(3)]
    return Round(database, patient, T0, rng), writers


Scenario = Callable[[TestDatabase, int, random.Random], tuple[Round, list[Writer]]]
SCENARIOS: dict[str, Scenario] = {
    "two_sites": _two_sites,
    "discontinue_reauthorize": _discontinue_and_reauthorize,
    "lapsed": _lapsed,
    "suspension": _suspension,
    "same_key": _same_key,
}


def _unexpected(errors: list[BaseException]) -> list[str]:
    return [f"{type(e).__name__}: {e}" for e in errors if not isinstance(e, RxguardError)]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("engine", ENGINES)
def test_invariants_hold_in_every_interleaving_tried(
    engine: str, scenario: str, scratch: ScratchDatabases, figures: Any
) -> None:
    database = scratch.create(engine)
    build_program(database, T0 - timedelta(days=400))
    rounds = 60 if full_run() else 8
    seen: set[tuple[tuple[str, str], ...]] = set()
    rng = random.Random(f"{engine}-{scenario}")
    for index in range(rounds):
        r, writers = SCENARIOS[scenario](database, index, rng)
        with transaction(database.factory) as s:
            start = last_seq(s)
        _run(r, writers)
        with transaction(database.factory) as s:
            seen.add(commit_order_signature(s, start))
            problems = check_program(s)
        assert not _unexpected(r.errors), f"round {index}: {_unexpected(r.errors)}"
        assert not problems, f"round {index}: " + "\n".join(problems)
        if scenario == "same_key":
            assert not r.errors and len(r.infused) == len(writers), f"round {index}: {r.infused} {r.errors}"
            assert len(set(r.infused.values())) == 1, f"round {index}: retries got {r.infused}"
        if scenario == "two_sites":
            assert len(r.infused) == 1, f"round {index}: {len(r.infused)} infusions in one dose window"
    figures.record(f"races.{engine}.{scenario}", rounds=rounds, writers_per_round=len(writers),
                   distinct_interleavings=len(seen))  # fmt: skip
