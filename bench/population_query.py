"""One population screen in a fresh process, so its peak resident memory is its own.

``python -m bench.population_query sql URL REPEAT`` times the program's own
query (``rxguard.program.monitoring.population_due``) REPEAT times;
``python -m bench.population_query naive URL LIMIT`` is the baseline without
the kept schedule: load every enrollment, infusion and monitoring record,
then loop in Python computing each patient's calendar with the engine
(gives up after LIMIT seconds). Both print one JSON line: seconds, rows,
a digest of the rows (equal digests = the same overdue list) and peak RSS.
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, select

from bench.population_data import Patient, program, schedule
from bench.scenarios import AT
from rxguard.program.monitoring import DUE_SOON_DAYS, population_due
from rxguard.store.db import make_engine, session_factory
from rxguard.store.models import Enrollment, Infusion, MonitoringEvent
from rxguard.store.models import Patient as PatientRow

Line = tuple[str, str, str, str, date, str]


def digest(rows: list[Line]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update("|".join(str(v) for v in row).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _peak_mb() -> float:
    """VmHWM: this process's own peak (ru_maxrss would carry over the parent's peak across exec on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def sql(url: str, repeat: int) -> dict[str, Any]:
    engine = make_engine(url=url)
    factory = session_factory(engine)
    seconds = []
    rows: list[Line] = []
    captured: list[tuple[str, Any]] = []
    for _ in range(repeat):
        with factory() as session:
            t0 = time.perf_counter()
            found = population_due(session, on=AT)
            seconds.append(time.perf_counter() - t0)
        rows = [(r.patient, r.program, r.item, r.title, r.due_on, r.status) for r in found]
        del found
    peak = _peak_mb()
    overdue = sum(1 for r in rows if r[5] == "overdue")
    result = {"seconds": seconds, "rows": len(rows), "overdue": overdue, "digest": digest(rows), "peak_mb": peak}
    event.listen(engine, "before_cursor_execute", lambda *a: captured.append((a[2], a[3])))
    with factory() as session:
        population_due(session, on=AT)
    return result | breakdown(engine, *captured[-1])


def breakdown(engine: Any, statement: str, params: Any) -> dict[str, Any]:
    """Where the time goes: the database executing the same statement, and the driver fetching its rows."""
    out: dict[str, Any] = {}
    with engine.connect() as connection:
        t0 = time.perf_counter()
        connection.exec_driver_sql(statement, params).fetchall()
        out["driver_fetch_s"] = time.perf_counter() - t0
        if engine.dialect.name == "postgresql":
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params).scalar()
            out["db_execution_s"] = plan[0]["Execution Time"] / 1000
            out["plan_top"] = plan[0]["Plan"]["Node Type"]
    return out


def naive(url: str, limit: float) -> dict[str, Any]:
    """Everything into Python, then one calendar per patient: what the kept schedule avoids."""
    factory = session_factory(make_engine(url=url))
    started = time.perf_counter()
    with factory() as session:
        enrollments = session.execute(
            select(Enrollment.id, Enrollment.program_id, Enrollment.drug, Enrollment.status,
                   Enrollment.authorized_until_on, Enrollment.follow_up_due_on, PatientRow.id, PatientRow.key,
                   PatientRow.birth_on, PatientRow.sex)
            .join(PatientRow, PatientRow.id == Enrollment.patient_id)
        ).all()  # fmt: skip
        infusions: dict[tuple[str, str], list[date]] = defaultdict(list)
        for patient_id, drug, started_at in session.execute(
            select(Infusion.patient_id, Infusion.drug, Infusion.started_at)
        ):
            infusions[(patient_id, drug)].append(started_at.date())
        events: dict[str, list[tuple[str, date]]] = defaultdict(list)
        for enrollment_id, kind, on in session.execute(
            select(MonitoringEvent.enrollment_id, MonitoringEvent.kind, MonitoringEvent.occurred_on)
        ):
            events[enrollment_id].append((kind, on))
    loaded = time.perf_counter() - started
    soon = AT + timedelta(days=DUE_SOON_DAYS)
    rows: list[Line] = []
    for done, (eid, program_id, drug, status, until, follow_up, pid, key, birth, sex) in enumerate(enrollments):
        if done % 10_000 == 0 and time.perf_counter() - started > limit:
            return {"finished": False, "patients_done": done, "seconds": time.perf_counter() - started}
        patient = Patient(program(program_id), birth, sex or "", sorted(infusions[(pid, drug)]),
                          events[eid], status, until, follow_up)  # fmt: skip
        for item, (title, due_on) in schedule(patient, pid).items():
            if due_on <= soon:
                state = "overdue" if due_on < AT else "due"
                rows.append((key, program_id, item, title, due_on, state))
    rows.sort(key=lambda r: (r[4], r[0], r[2]))
    total = time.perf_counter() - started
    return {"finished": True, "seconds": total, "load_seconds": loaded, "rows": len(rows), "digest": digest(rows),
            "peak_mb": _peak_mb()}  # fmt: skip


def main(argv: list[str]) -> int:
    mode, url, arg = argv
    result = sql(url, int(arg)) if mode == "sql" else naive(url, float(arg))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
