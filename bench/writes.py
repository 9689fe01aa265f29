"""Sustained writes: per-dose authorizations plus infusion records on PostgreSQL, concurrency 8.

Eight worker processes (not threads: each has its own interpreter and
connection, as eight application processes would) first enroll, consent and
authorize their own patients through the program services (not timed), then
wait for one start signal and, until the deadline, run for each patient the
two real transactions of a visit: ``authorize_dose`` then ``record_infusion``,
each writing its audit entries to the one hash chain. Afterwards the run
checks that every pair a worker reported is in the database exactly once,
that nothing else is, and that ``audit verify`` passes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.population import postgres_database
from rxguard.program import authorization, certification, enrollment, participants
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.program.registry import get_program
from rxguard.store import audit, transaction
from rxguard.store.db import make_engine, session_factory
from rxguard.store.models import AuditEntry, Authorization, Infusion
from rxguard.store.testing import postgres_problem

PROGRAM = "touch"
WORKERS = 8
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SETUP_AT = T0 - timedelta(days=30)
NO = {
    "new-or-worsening-symptoms": False,
    "immunocompromising-condition": False,
    "immunosuppressant-or-antineoplastic-use": False,
    "active-infection": False,
    "steroid-use": False,
}
TARGET_PAIRS_PER_S = 300


def _participants(url: str) -> None:
    """One certified prescriber and one certified site per worker."""
    factory = session_factory(make_engine(url=url))
    with transaction(factory) as s:
        participants.register_prescriber(s, key="dr_bench", name="Dr Bench", at=SETUP_AT, actor="admin")
        certification.enroll_participant(
            s, program_id=PROGRAM, kind="prescriber", key="dr_bench", at=SETUP_AT, actor="admin"
        )
        certification.certify(s, program_id=PROGRAM, kind="prescriber", key="dr_bench", at=SETUP_AT, actor="admin",
                              training_attested_at=SETUP_AT)  # fmt: skip
        for w in range(WORKERS):
            key = f"site_{w}"
            participants.register_site(s, key=key, name=f"Site {w}", at=SETUP_AT, actor="admin")
            certification.enroll_participant(s, program_id=PROGRAM, kind="site", key=key, at=SETUP_AT, actor="admin")
            certification.certify(s, program_id=PROGRAM, kind="site", key=key, at=SETUP_AT, actor="admin",
                                  training_attested_at=SETUP_AT, site_authorization_number=f"SAN-{w}")  # fmt: skip


def _enroll(factory: Any, key: str) -> None:
    """A patient ready for a first dose: registered, enrolled, consented, forms, treatment authorized."""
    program = get_program(PROGRAM)
    with transaction(factory) as s:
        participants.register_patient(s, key=key, name=key, at=SETUP_AT, actor="admin",
                                      birth_on=datetime(1985, 3, 2).date(), sex="female")  # fmt: skip
        enrollment.enroll_patient(s, program_id=PROGRAM, patient_key=key, prescriber_key="dr_bench",
                                  indication="multiple-sclerosis", at=SETUP_AT, actor="dr_bench")  # fmt: skip
        enrollment.record_consent(
            s, program_id=PROGRAM, patient_key=key, version=program.consent_document(SETUP_AT.date()).version,
            language="en", patient_signed_at=SETUP_AT, prescriber_key="dr_bench", prescriber_signed_at=SETUP_AT,
            at=SETUP_AT, actor="dr_bench",
        )  # fmt: skip
        for form in program.definition.forms:
            if form.moment == "enrollment":
                enrollment.record_form(s, program_id=PROGRAM, patient_key=key, form_id=form.id, at=SETUP_AT,
                                       actor="dr_bench")  # fmt: skip
        enrollment.authorize_treatment(s, program_id=PROGRAM, patient_key=key, prescriber_key="dr_bench",
                                       at=SETUP_AT, actor="dr_bench")  # fmt: skip


def _request(row: Authorization) -> InfusionRequest:
    start = row.visit_at + timedelta(minutes=30)
    stop = start + timedelta(minutes=60)
    return InfusionRequest(
        authorization_id=row.id, idempotency_key=f"visit-{row.id}", product="tysabri", lot="LOT-42", dose=300,
        dose_unit="mg", diluent="0.9% sodium chloride", volume_ml=100, prepared_at=start - timedelta(hours=1),
        storage="refrigerated", started_at=start, stopped_at=stop, observation_end_at=stop + timedelta(minutes=60),
    )  # fmt: skip


def _worker(url: str, w: int, patients: int, ready: Any, start: Any, seconds: float, out: Any) -> None:
    """Set up this worker's patients, then authorize and infuse them one by one until the deadline."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))  # the system's throughput, not one core's
    factory = session_factory(make_engine(url=url))
    keys = [f"w{w}_p{i:05d}" for i in range(patients)]
    for key in keys:
        _enroll(factory, key)
    ready.release()
    start.wait()
    deadline = time.perf_counter() + seconds
    done: list[tuple[str, str, str]] = []
    latencies: list[float] = []
    errors: list[str] = []
    for key in keys:
        if time.perf_counter() >= deadline:
            break
        t0 = time.perf_counter()
        try:
            with transaction(factory) as s:
                row = authorization.authorize_dose(s, site_key=f"site_{w}", patient_key=key, at=T0, answers=NO,
                                                   actor=f"nurse_{w}")  # fmt: skip
            with transaction(factory) as s:
                request = _request(row)
                infusion = record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor=f"nurse_{w}")
            done.append((key, row.id, infusion.id))
        except Exception as exc:  # reported; the run then fails
            errors.append(f"{key}: {type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - t0)
    out.put({"worker": w, "done": done, "latencies": latencies, "errors": errors, "ran_out": len(done) == patients})


def profile_pairs(url: str, pairs: int = 20) -> dict[str, Any]:
    """What one pair costs on its own: wall and client CPU time, SQL statements, and where the CPU goes."""
    import cProfile
    import pstats

    from sqlalchemy import event

    engine = make_engine(url=url)
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *_: statements.__setitem__(0, statements[0] + 1))
    factory = session_factory(engine)
    keys = [f"profile_p{i:03d}" for i in range(pairs * 3)]
    for key in keys:
        _enroll(factory, key)

    def pair(key: str) -> None:
        with transaction(factory) as s:
            row = authorization.authorize_dose(s, site_key="site_0", patient_key=key, at=T0, answers=NO, actor="nurse")
        with transaction(factory) as s:
            request = _request(row)
            record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor="nurse")

    for key in keys[:pairs]:
        pair(key)  # warm-up
    statements[0] = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for key in keys[pairs : 2 * pairs]:
        pair(key)
    wall, cpu = (time.perf_counter() - wall0) / pairs, (time.process_time() - cpu0) / pairs
    per_pair = statements[0] / pairs
    profiler = cProfile.Profile()  # a separate pass: the profiler's overhead stays out of the times above
    profiler.enable()
    for key in keys[2 * pairs :]:
        pair(key)
    profiler.disable()
    shares: dict[str, float] = {}
    for (path, _, _), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        layer = (
            "driver"
            if "psycopg" in path
            else "orm"
            if "sqlalchemy" in path
            else "rxguard"
            if "/rxguard/" in path
            else "other"
        )
        shares[layer] = shares.get(layer, 0.0) + own
    total = sum(shares.values()) or 1.0
    return {
        "sequential_pair_ms": round(wall * 1000, 1),
        "sequential_client_cpu_ms_per_pair": round(cpu * 1000, 1),
        "sql_statements_per_pair": round(per_pair, 1),
        "client_time_share_sqlalchemy": round(shares.get("orm", 0) / total, 2),
        "client_time_share_psycopg_incl_waiting": round(shares.get("driver", 0) / total, 2),
        "client_time_share_rxguard": round(shares.get("rxguard", 0) / total, 2),
    }


def _check(url: str, done: list[tuple[str, str, str]], audit_before: int) -> dict[str, Any]:
    """Nothing lost, nothing duplicated, and the chain verifies."""
    factory = session_factory(make_engine(url=url))
    with factory() as s:
        auth_ids = set(s.execute(select(Authorization.id)).scalars())
        infusion_rows = s.execute(select(Infusion.id, Infusion.authorization_id)).all()
        report = audit.verify(s)
        entries = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    reported_auth = {a for _, a, _ in done}
    reported_inf = {(i, a) for _, a, i in done}
    return {
        "authorizations_in_db": len(auth_ids),
        "infusions_in_db": len(infusion_rows),
        "lost": len(reported_auth - auth_ids) + len(reported_inf - set(infusion_rows)),
        "unreported_extra": len(auth_ids - reported_auth) + len(set(infusion_rows) - reported_inf),
        "duplicated_patients": len(done) - len({k for k, _, _ in done}),
        "audit_entries_written": entries - audit_before,
        "audit_chain_ok": report.ok,
        "audit_report": report.message(),
    }


def run(quick: bool = False) -> dict[str, Any]:
    problem = postgres_problem()
    if problem:
        return {"skipped": f"PostgreSQL unreachable ({problem})"}
    # Patients per worker: more than a worker can use at the target rate in the measured time
    # (300 pairs/s over 8 workers is 37.5 a second each: 750 in 20 s, 300 in 8 s), so the figure
    # is never capped by running out of patients.
    return measure(seconds=8.0 if quick else 20.0, per_worker=350 if quick else 900)


def measure(seconds: float, per_worker: int) -> dict[str, Any]:
    with postgres_database() as url:
        _participants(url)
        ctx = mp.get_context("spawn")
        ready, start, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(url, w, per_worker, ready, start, seconds, out)) for w in range(WORKERS)
        ]
        setup_started = time.perf_counter()
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        setup_s = time.perf_counter() - setup_started
        with session_factory(make_engine(url=url))() as s:
            audit_before = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        started = time.perf_counter()
        start.set()
        results = [out.get(timeout=seconds + 600) for _ in procs]
        elapsed = time.perf_counter() - started
        for p in procs:
            p.join(timeout=60)
        done = [d for r in results for d in r["done"]]
        errors = [e for r in results for e in r["errors"]]
        checks = _check(url, done, audit_before)
        profile = profile_pairs(url)
    latencies = sorted(x for r in results for x in r["latencies"])
    rate = len(done) / elapsed
    figures: dict[str, Any] = {
        "workers": WORKERS,
        "setup_patients": WORKERS * per_worker,
        "setup_s": round(setup_s, 1),
        "measured_s": round(elapsed, 1),
        "pairs": len(done),
        "pairs_per_s": round(rate, 1),
        "pair_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "pair_p95_ms": round(latencies[int(0.95 * len(latencies))] * 1000, 1) if latencies else None,
        "errors": len(errors),
        "worker_ran_out_of_patients": any(r["ran_out"] for r in results),
        **checks,
        "target_pairs_per_s": TARGET_PAIRS_PER_S,
        "met_target": rate >= TARGET_PAIRS_PER_S,
        "missed_by_factor": round(TARGET_PAIRS_PER_S / rate, 1) if rate and rate < TARGET_PAIRS_PER_S else None,
        **profile,
    }
    if errors:
        figures["first_error"] = errors[0][:300]
    if (
        errors
        or checks["lost"]
        or checks["unreported_extra"]
        or checks["duplicated_patients"]
        or not checks["audit_chain_ok"]
    ):
        raise SystemExit(f"writes bench: integrity check failed: {figures}")
    return figures


if __name__ == "__main__":
    for name, value in run(quick=True).items():
        print(f"{name}: {value}")
