"""A seeded synthetic program population, written straight into the program's tables.

Each patient is enrolled in one program (TOUCH, the EU natalizumab program or
the MEPACT course) with an infusion history (one authorization per infusion,
as the schema requires), monitoring records (labs, MRI, anti-JCV and
anti-natalizumab antibodies, prescriber assessments, reauthorizations) and the
``schedule_item`` rows the program keeps current. Those rows are computed the way
``rxguard.program.monitoring.refresh_schedule`` computes them (the engine's
calendar plus reauthorization and follow-up dates);
:func:`check_sample` re-runs the program's own ``refresh_schedule`` on a
random sample after loading and fails the run if any row differs.

Histories are short on purpose: natalizumab started 1 week to about 6.5 months
before the screen (an infusion every 4 weeks), MEPACT courses up to 14 weeks
in. The screen does not read them, and longer ones would spend the time
budget on loading (1,000,000 patients already means about 9 million history
rows per engine).

Rows are generated in chunks from the seed (chunk ``k`` always holds the same
patients), so a database of 1,000,000 is the 100,000 one plus 900,000 more,
and loaded with COPY on PostgreSQL and batched inserts on SQLite.
"""

from __future__ import annotations

import functools
import io
import random
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.scenarios import AT
from rxguard.engine import assess, read_facts
from rxguard.program.monitoring import evidence_of, refresh_schedule
from rxguard.program.registry import Program, get_program
from rxguard.store.models import Enrollment, ScheduleItem

CHUNK = 25_000
POOL = 50_000  # distinct seeded histories; each patient draws one (and has its own enrollment and dates)
# The schedule was last refreshed the evening before the screen, after every record was written.
REFRESHED_AT = datetime.combine(AT - timedelta(days=1), datetime.min.time(), UTC).replace(hour=20)
PROGRAMS = (
    ("touch", 0.6, "multiple-sclerosis"),
    ("natalizumab-eu", 0.3, "multiple-sclerosis"),
    ("mepact-course", 0.1, "osteosarcoma"),
)
PRESCRIBERS = 500
SITES = 200
TABLES = (
    "prescriber", "site", "certification", "certification_event", "patient", "enrollment",
    "authorization", "infusion", "monitoring_event", "schedule_item",
)  # fmt: skip
COLUMNS: dict[str, tuple[str, ...]] = {
    "prescriber": ("id", "key", "name", "created_at"),
    "site": ("id", "key", "name", "created_at"),
    "certification": ("id", "program_id", "party_kind", "prescriber_id", "site_id", "status",
                      "site_authorization_number", "training_attested_at", "created_at"),
    "certification_event": ("id", "certification_id", "from_status", "to_status", "actor", "at", "reason"),
    "patient": ("id", "key", "name", "birth_on", "sex", "created_at"),
    "enrollment": ("id", "program_id", "drug", "patient_id", "prescriber_id", "indication", "status", "enrolled_at",
                   "authorized_until_on", "discontinued_at", "discontinuation_reason", "follow_up_due_on"),
    "authorization": ("id", "program_id", "drug", "enrollment_id", "patient_id", "site_id", "prescriber_id",
                      "site_certification_id", "site_certification_event_id", "site_certification_status",
                      "prescriber_certification_id", "prescriber_certification_event_id",
                      "prescriber_certification_status", "visit_at", "dose_number", "decision", "status",
                      "is_infusable", "answers", "checks", "assessment", "created_at", "actor"),
    "infusion": ("id", "authorization_id", "idempotency_key", "request_sha256", "patient_id", "drug", "dose_number",
                 "authorization_infusable", "site_id", "product", "lot", "dose", "dose_unit", "diluent", "volume_ml",
                 "prepared_at", "storage", "started_at", "stopped_at", "observation_end_at", "reactions", "warnings",
                 "recorded_at", "actor"),
    "monitoring_event": ("id", "enrollment_id", "kind", "occurred_on", "measurements", "result", "note",
                         "recorded_at", "actor"),
    "schedule_item": ("id", "enrollment_id", "item", "title", "due_on"),
    "bench_patient": ("n", "template", "patient_id", "enrollment_id", "program_id", "drug", "prescriber_id",
                      "site_id", "site_cert", "site_event", "pres_cert", "pres_event"),
    "bench_history_infusion": ("template", "k", "day"),
    "bench_history_event": ("template", "k", "kind", "day"),
}  # fmt: skip
Row = tuple[str | None, ...]
_SALT = {name: i + 1 for i, name in enumerate(TABLES)}


def uid(table: str, n: int) -> str:
    """A unique, UUID-shaped id whose leading digits are scattered (as uuid4 keys are in an index).

    The scramble depends on ``n`` only, so patient ``n``'s ids in every table sort alike; the history
    expansion inserts in that order and every index it touches grows at the end, not at random.
    """
    scrambled = (n * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    h = f"{scrambled:016x}{_SALT[table]:04x}{n:012x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"


def _ts(moment: datetime) -> str:
    """UTC timestamp text both loaders accept (PostgreSQL with TIME ZONE UTC; SQLite as SQLAlchemy stores it)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Participants:
    """Prescribers, sites and their certifications: what every authorization points at."""

    rows: dict[str, list[Row]]
    site_certs: dict[tuple[str, int], tuple[str, str]]  # (program, site) -> (certification id, event id)
    prescriber_certs: dict[tuple[str, int], tuple[str, str]]


def participants() -> Participants:
    created = _ts(datetime(2020, 1, 1, tzinfo=UTC))
    rows: dict[str, list[Row]] = {t: [] for t in ("prescriber", "site", "certification", "certification_event")}
    site_certs: dict[tuple[str, int], tuple[str, str]] = {}
    prescriber_certs: dict[tuple[str, int], tuple[str, str]] = {}
    n = 0
    for i in range(PRESCRIBERS):
        rows["prescriber"].append((uid("prescriber", i), f"DR{i:05d}", f"Prescriber {i}", created))
    for i in range(SITES):
        rows["site"].append((uid("site", i), f"SITE{i:04d}", f"Infusion site {i}", created))
    for program, _, _ in PROGRAMS:
        for kind, count, target in (("site", SITES, site_certs), ("prescriber", PRESCRIBERS, prescriber_certs)):
            for i in range(count):
                cert, event = uid("certification", n), uid("certification_event", n)
                n += 1
                rows["certification"].append(
                    (cert, program, kind, uid("prescriber", i) if kind == "prescriber" else None,
                     uid("site", i) if kind == "site" else None, "certified", None, created, created)
                )  # fmt: skip
                rows["certification_event"].append((event, cert, "enrolled", "certified", "bench", created, "bench"))
                target[(program, i)] = (cert, event)
    return Participants(rows, site_certs, prescriber_certs)


@dataclass
class Patient:
    """One patient's history and enrollment: what the schedule is computed from."""

    program: Program
    birth: date
    sex: str
    infusions: list[date]
    events: list[tuple[str, date]]
    status: str
    authorized_until: date | None
    follow_up_due: date | None


def _infusion_days(rng: random.Random, program_id: str) -> list[date]:
    last_day = AT - timedelta(days=1)
    if program_id == "mepact-course":
        start = AT - timedelta(days=rng.randint(3, 100))
        days, day = [], start
        while day <= last_day and len(days) < 48:
            days.append(day)
            day += timedelta(days=rng.choice((3, 4)) if len(days) < 24 else 7)
        return days
    start = AT - timedelta(days=rng.randint(7, 200))
    days, day = [], start
    while day <= last_day:
        days.append(day)
        day += timedelta(days=28 + rng.choice((0, 0, 0, 1, 2, 7)))
    return days


# Monitoring kinds recorded per program and their usual spacing in days. Anti-natalizumab
# antibodies follow the pack's 12-weekly screen (a seed-basis item) like the other tests: about
# on time, one due test in ten missed. They come last so that every other record, drawn from
# the same seeded stream, is the same as before they were added.
_EVENT_PLAN = {
    "touch": (("labs", 91), ("prescriber-assessment", 182), ("reauthorization", 182), ("anti-jcv", 182), ("mri", 365),
              ("anti-natalizumab-antibody", 84)),
    "natalizumab-eu": (("labs", 91), ("anti-jcv", 182), ("mri", 365), ("patient-alert-card", 10_000),
                       ("anti-natalizumab-antibody", 84)),
    "mepact-course": (("labs", 28),),
}  # fmt: skip


def _events(rng: random.Random, program_id: str, start: date) -> list[tuple[str, date]]:
    out = []
    for kind, every in _EVENT_PLAN[program_id]:
        day = start - timedelta(days=rng.randint(0, 30))
        while day < AT:
            if rng.random() < 0.9:
                out.append((kind, day))
            day += timedelta(days=every + rng.randint(-21, 14))
    return out


@functools.cache
def program(program_id: str) -> Program:
    """``get_program`` re-reads the definition on every call; the population needs three, once."""
    return get_program(program_id)


Items = dict[str, tuple[str, date]]


def engine_items(prog: Program, pid: str, birth: date, sex: str, infusions: list[date],
                 events: list[tuple[str, date]]) -> Items:  # fmt: skip
    """The pack's calendar for this history, as ``refresh_schedule`` asks the engine for it."""
    day = REFRESHED_AT.date() + timedelta(days=1)
    resource = {"resourceType": "Patient", "id": pid, "birthDate": birth.isoformat(), "gender": sex}
    facts = read_facts({"resourceType": "Bundle", "entry": [{"resource": resource}]}, {prog.drug: prog.pack})
    evidence: dict[str, list[date]] = {}
    for kind, on in events:
        for key in evidence_of(prog.kinds).get(kind, (kind,)):
            evidence.setdefault(key, []).append(on)
    context = {"infusions": infusions, "events": evidence}
    assessment = assess(prog.pack, facts, at=day, jurisdiction=prog.definition.jurisdiction, context=context)
    return {due.item: (due.title, due.due_on) for due in assessment.due}


def program_items(engine: Items | None, status: str, authorized_until: date | None, follow_up_due: date | None,
                  events: list[tuple[str, date]]) -> Items:  # fmt: skip
    """The program's own dates on top of the engine's calendar (as ``refresh_schedule`` adds them)."""
    if status != "discontinued":
        items = dict(engine or {})
        if authorized_until and status in ("authorized", "lapsed"):
            items["reauthorization"] = ("Reauthorization of treatment", authorized_until)
        return items
    if follow_up_due and not any(kind == "discontinuation-follow-up" for kind, _ in events):
        return {"discontinuation-follow-up": ("Follow-up after discontinuation", follow_up_due)}
    return {}


def schedule(patient: Patient, pid: str) -> Items:
    """Every schedule item ``refresh_schedule`` would keep for this patient (checked by :func:`check_sample`)."""
    engine = None
    if patient.status != "discontinued":
        engine = engine_items(patient.program, pid, patient.birth, patient.sex, patient.infusions, patient.events)
    return program_items(engine, patient.status, patient.authorized_until, patient.follow_up_due, patient.events)


@dataclass(frozen=True)
class History:
    """A seeded infusion and monitoring history; patients draw one from a pool of ``POOL``."""

    program_id: str
    infusions: list[date]
    events: list[tuple[str, date]]
    items: Items  # the engine's calendar for it


@functools.cache
def histories(seed: int) -> tuple[History, ...]:
    """The pool, with the engine's calendar computed once per history (not once per patient)."""
    pool = []
    for t in range(POOL):
        rng = random.Random(f"{seed}:history:{t}")
        pick = rng.random()
        program_id = "touch" if pick < 0.6 else "natalizumab-eu" if pick < 0.9 else "mepact-course"
        infusions = _infusion_days(rng, program_id)
        events = _events(rng, program_id, infusions[0])
        items = engine_items(program(program_id), "pool", date(1980, 1, 1), "female", infusions, events)
        pool.append(History(program_id, infusions, events, items))
    return tuple(pool)


def history_rows(seed: int) -> dict[str, list[Row]]:
    """The pool as scratch tables the loaders expand per patient with INSERT ... SELECT."""
    rows: dict[str, list[Row]] = {"bench_history_infusion": [], "bench_history_event": []}
    for t, h in enumerate(histories(seed)):
        rows["bench_history_infusion"] += [(str(t), str(k), d.isoformat()) for k, d in enumerate(h.infusions, 1)]
        rows["bench_history_event"] += [(str(t), str(k), kind, d.isoformat()) for k, (kind, d) in enumerate(h.events)]
    return rows


class Counters:
    """Running row numbers per table, so ids stay unique across chunks."""

    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def next(self, table: str) -> int:
        value = self.n.get(table, 0)
        self.n[table] = value + 1
        return value


def _patient_rows(i: int, rng: random.Random, pool: tuple[History, ...], parts: Participants,
                  rows: dict[str, list[Row]], count: Counters) -> None:  # fmt: skip
    t = rng.randrange(len(pool))
    h = pool[t]
    prog = program(h.program_id)
    pid, eid = uid("patient", i), uid("enrollment", i)
    status = rng.choices(("authorized", "lapsed", "suspended", "discontinued"), (90, 3, 2, 5))[0]
    until = AT + timedelta(days=rng.randint(-40, 180)) if status in ("authorized", "lapsed") else None
    follow_up = AT + timedelta(days=rng.randint(-60, 120)) if status == "discontinued" else None
    adult = h.program_id != "mepact-course"
    birth = date(rng.randint(1950, 2004) if adult else rng.randint(1998, 2020), rng.randint(1, 12), rng.randint(1, 28))
    sex = rng.choice(("female", "male"))
    prescriber, site = rng.randrange(PRESCRIBERS), rng.randrange(SITES)
    enrolled = f"{(h.infusions[0] - timedelta(days=rng.randint(7, 60))).isoformat()} 10:00:00"
    indication = next(ind for p, _, ind in PROGRAMS if p == h.program_id)
    discontinued = _ts(REFRESHED_AT - timedelta(days=30)) if status == "discontinued" else None
    rows["patient"].append((pid, f"PT{i:08d}", f"Patient {i}", birth.isoformat(), sex, enrolled))
    rows["enrollment"].append(
        (eid, h.program_id, prog.drug, pid, uid("prescriber", prescriber), indication, status, enrolled,
         until.isoformat() if until else None, discontinued, "bench" if discontinued else None,
         follow_up.isoformat() if follow_up else None)
    )  # fmt: skip
    site_cert, site_event = parts.site_certs[(h.program_id, site)]
    pres_cert, pres_event = parts.prescriber_certs[(h.program_id, prescriber)]
    rows["bench_patient"].append(
        (str(i), str(t), pid, eid, h.program_id, prog.drug, uid("prescriber", prescriber), uid("site", site),
         site_cert, site_event, pres_cert, pres_event)
    )  # fmt: skip
    for j, (item, (title, due_on)) in enumerate(
        sorted(program_items(h.items, status, until, follow_up, h.events).items())
    ):
        rows["schedule_item"].append((f"{pid[:24]}{i * 16 + j:012x}", eid, item, title[:200], due_on.isoformat()))


def chunks(start: int, stop: int, seed: int, parts: Participants, count: Counters) -> Iterator[dict[str, list[Row]]]:
    """Patient, enrollment, schedule and link rows for patients ``start`` .. ``stop`` - 1 (same seed, same rows)."""
    pool = histories(seed)
    for first in range(start, stop, CHUNK):
        rng = random.Random(f"{seed}:{first}")
        rows: dict[str, list[Row]] = {t: [] for t in (*TABLES, "bench_patient")}
        for i in range(first, min(first + CHUNK, stop)):
            _patient_rows(i, rng, pool, parts, rows, count)
        for table_rows in rows.values():
            table_rows.sort(key=lambda row: row[0] or "")  # ids in index order: fewer page splits while loading
        yield rows


# ----------------------------------------------------------------------------- loaders

SCRATCH_TABLES = {
    "bench_patient": "n INTEGER PRIMARY KEY, template INTEGER, patient_id VARCHAR(36), enrollment_id VARCHAR(36), "
    "program_id VARCHAR(64), drug VARCHAR(64), prescriber_id VARCHAR(36), site_id VARCHAR(36), site_cert VARCHAR(36), "
    "site_event VARCHAR(36), pres_cert VARCHAR(36), pres_event VARCHAR(36)",
    "bench_history_infusion": "template INTEGER, k INTEGER, day DATE",
    "bench_history_event": "template INTEGER, k INTEGER, kind VARCHAR(32), day DATE",
}


def scratch_ddl() -> list[str]:
    """Scratch tables that hold the history pool and each patient's draw (the database is dropped after the run)."""
    ddl = [f"CREATE TABLE {name} ({columns})" for name, columns in SCRATCH_TABLES.items()]
    ddl += [f"CREATE INDEX ix_{name}_template ON {name} (template)" for name in list(SCRATCH_TABLES)[1:]]
    return ddl


def _sql_id(dialect: str) -> str:
    """Row k of patient n's history: the patient id's scrambled prefix, then n and k (unique per table)."""
    if dialect == "postgresql":
        return "substr(p.patient_id, 1, 24) || lpad(to_hex(p.n * 256 + h.k), 12, '0')"
    return "substr(p.patient_id, 1, 24) || printf('%012x', p.n * 256 + h.k)"


def _sql_ts(dialect: str, hhmm: str) -> str:
    if dialect == "postgresql":
        return f"((h.day + time '{hhmm}') AT TIME ZONE 'UTC')"
    return f"(h.day || ' {hhmm}:00')"


def expansion(dialect: str, lo: int, hi: int) -> list[str]:
    """INSERT ... SELECT statements writing patients ``lo`` .. ``hi`` - 1's authorizations, infusions and records."""
    true = "true" if dialect == "postgresql" else "1"
    aid = iid = mid = _sql_id(dialect)
    ts = functools.partial(_sql_ts, dialect)
    where = (
        f"FROM bench_patient p JOIN {{table}} h ON h.template = p.template WHERE p.n >= {lo} AND p.n < {hi} "
        "ORDER BY p.patient_id, h.k"
    )
    key = f"'bench-' || {aid}"
    return [
        f"""INSERT INTO "authorization" ({", ".join(COLUMNS["authorization"])})
        SELECT {aid}, p.program_id, p.drug, p.enrollment_id, p.patient_id, p.site_id, p.prescriber_id,
               p.site_cert, p.site_event, 'certified', p.pres_cert, p.pres_event, 'certified', {ts("09:00")}, h.k,
               'authorized', 'infused', {true}, '{{}}', '{{}}', '{{}}', {ts("09:00")}, 'bench'
        {where.format(table="bench_history_infusion")}""",
        f"""INSERT INTO infusion ({", ".join(COLUMNS["infusion"])})
        SELECT {iid}, {aid}, {key}, '{"0" * 64}', p.patient_id, p.drug, h.k, {true},
               p.site_id, CASE WHEN p.drug = 'mifamurtide' THEN 'mepact' ELSE 'tysabri' END, 'LOT' || (p.n % 997),
               CASE WHEN p.drug = 'mifamurtide' THEN 4 ELSE 300 END, 'mg', '0.9% sodium chloride', 100,
               {ts("12:00")}, 'refrigerated', {ts("13:00")}, {ts("14:05")}, {ts("15:05")}, '', '{{}}', {ts("15:10")},
               'bench'
        {where.format(table="bench_history_infusion")}""",
        f"""INSERT INTO monitoring_event ({", ".join(COLUMNS["monitoring_event"])})
        SELECT {mid}, p.enrollment_id, h.kind, h.day, '{{}}', '', '', {ts("16:00")}, 'bench'
        {where.format(table="bench_history_event")}""",
    ]


def copy_postgres(connection: Any, rows: Mapping[str, list[Row]]) -> None:
    """COPY every table's rows (psycopg connection; text format, NULL as \\N)."""
    with connection.cursor() as cursor:
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            buffer = io.StringIO()
            for row in table_rows:
                buffer.write("\t".join("\\N" if v is None else v for v in row))
                buffer.write("\n")
            columns = ", ".join(f'"{c}"' for c in COLUMNS[table])
            with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
                copy.write(buffer.getvalue())


def insert_sqlite(connection: sqlite3.Connection, rows: Mapping[str, list[Row]]) -> None:
    for table, table_rows in rows.items():
        if not table_rows:
            continue
        columns = COLUMNS[table]
        marks = ", ".join("?" for _ in columns)
        names = ", ".join(f'"{c}"' for c in columns)
        connection.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', table_rows)


def check_sample(session: Session, size: int, seed: int, sample: int = 200) -> list[str]:
    """Re-run the program's own ``refresh_schedule`` on random enrollments; any difference is a problem.

    Runs inside the caller's transaction, which is rolled back.
    """
    rng = random.Random(f"{seed}:sample:{size}")
    problems = []
    for i in rng.sample(range(size), min(sample, size)):
        enrollment = session.get(Enrollment, uid("enrollment", i))
        assert enrollment is not None
        stmt = select(ScheduleItem.item, ScheduleItem.due_on).where(ScheduleItem.enrollment_id == enrollment.id)
        before = sorted(session.execute(stmt).all())
        refresh_schedule(session, enrollment, at=REFRESHED_AT)
        after = sorted(session.execute(stmt).all())
        if before != after:
            problems.append(f"enrollment {i}: generated {before}, program computes {after}")
    return problems
