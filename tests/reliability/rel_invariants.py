"""The program's invariants, checked over a whole database after a race or a crash.

Two kinds of check:

* **rows** — every authorization and infusion has exactly the audit entry and
  state events its service writes, and no audit entry names a row that is not
  there (so nothing was half-written); one infusion per authorization and per
  patient dose, under an authorization that was infusable, with dose numbers
  1..n per patient; the audit chain verifies.
* **commit order** — the audit log's ``seq`` is the order transactions
  committed in (the chain head is locked last in every writing transaction).
  Replaying each enrollment's entries in that order, a dose may only have been
  AUTHORIZED while the patient was authorized, and an infusion recorded only
  while the patient was neither discontinued nor suspended and its
  authorization had not been withdrawn; a discontinued patient is never
  reauthorized.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.store import audit
from rxguard.store.models import (
    AuditEntry,
    Authorization,
    AuthorizationEvent,
    Enrollment,
    EnrollmentEvent,
    Infusion,
)

WITHDRAWN = ("discontinued", "suspended", "deferred")


@dataclass
class Rows:
    """The rows the checks need, read once."""

    authorizations: dict[str, Authorization]
    infusions: list[Infusion]
    enrollments: dict[str, Enrollment]
    entries: list[AuditEntry]
    authorization_events: Counter[str] = field(default_factory=Counter)
    enrollment_events: Counter[str] = field(default_factory=Counter)


def read_rows(session: Session) -> Rows:
    rows = Rows(
        authorizations={a.id: a for a in session.execute(select(Authorization)).scalars()},
        infusions=list(session.execute(select(Infusion)).scalars()),
        enrollments={e.id: e for e in session.execute(select(Enrollment)).scalars()},
        entries=list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()),
    )
    rows.authorization_events.update(session.execute(select(AuthorizationEvent.authorization_id)).scalars())
    rows.enrollment_events.update(session.execute(select(EnrollmentEvent.enrollment_id)).scalars())
    return rows


def check_program(session: Session) -> list[str]:
    """Every invariant problem in the database (an empty list when all hold)."""
    rows = read_rows(session)
    problems = _row_problems(rows) + _commit_order_problems(rows)
    report = audit.verify(session)
    if not report.ok:
        problems.append(report.message())
    return problems


def _payload(entry: AuditEntry) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(entry.payload)
    return data


def _is_creation(entry: AuditEntry) -> bool:
    return entry.entity == "authorization" and "from" not in _payload(entry)


def _row_problems(rows: Rows) -> list[str]:
    problems: list[str] = []
    by_entity: dict[tuple[str, str], list[AuditEntry]] = defaultdict(list)
    for entry in rows.entries:
        by_entity[(entry.entity, entry.entity_id)].append(entry)
    for auth in rows.authorizations.values():
        entries = by_entity[("authorization", auth.id)]
        created = [e for e in entries if _is_creation(e)]
        if len(created) != 1:
            problems.append(f"authorization {auth.id} has {len(created)} creation audit entries")
        if rows.authorization_events[auth.id] != len(entries):
            problems.append(f"authorization {auth.id}: {rows.authorization_events[auth.id]} events, "
                            f"{len(entries)} audit entries")  # fmt: skip
    for (entity, entity_id), entries in by_entity.items():
        if entity == "authorization" and entity_id not in rows.authorizations:
            problems.append(f"audit names authorization {entity_id}, which is not stored")
        if entity == "enrollment" and rows.enrollment_events[entity_id] != len(entries):
            problems.append(f"enrollment {entity_id}: {rows.enrollment_events[entity_id]} events, "
                            f"{len(entries)} audit entries")  # fmt: skip
    stored = {i.id for i in rows.infusions}
    recorded = Counter(e.entity_id for e in rows.entries if e.action == "infusion.recorded")
    problems += [f"infusion {i} has {n} audit entries" for i, n in recorded.items() if n != 1]
    problems += [f"audit records infusion {i}, which is not stored" for i in recorded if i not in stored]
    problems += [f"infusion {i} is stored without its audit entry" for i in stored if i not in recorded]
    return problems + _infusion_problems(rows)


def _infusion_problems(rows: Rows) -> list[str]:
    problems: list[str] = []
    per_authorization = Counter(i.authorization_id for i in rows.infusions)
    per_dose = Counter((i.patient_id, i.drug, i.dose_number) for i in rows.infusions)
    problems += [f"authorization {a} has {n} infusions" for a, n in per_authorization.items() if n > 1]
    problems += [f"patient dose {d} was infused {n} times" for d, n in per_dose.items() if n > 1]
    doses: dict[tuple[str, str], list[int]] = defaultdict(list)
    for infusion in rows.infusions:
        auth = rows.authorizations.get(infusion.authorization_id)
        if auth is None:
            problems.append(f"infusion {infusion.id} has no authorization")
            continue
        same = (auth.patient_id, auth.drug, auth.dose_number) == (infusion.patient_id, infusion.drug,
                                                                   infusion.dose_number)  # fmt: skip
        if not same or auth.status != "infused" or not auth.is_infusable:
            problems.append(f"infusion {infusion.id} under authorization {auth.id} ({auth.status}, "
                            f"dose {auth.dose_number}, infusable {auth.is_infusable})")  # fmt: skip
        doses[(infusion.patient_id, infusion.drug)].append(infusion.dose_number)
    for patient, numbers in doses.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            problems.append(f"patient {patient[0]} dose numbers {sorted(numbers)} are not 1..{len(numbers)}")
    return problems


def _enrollment_of(rows: Rows, entry: AuditEntry, by_patient: dict[tuple[str, str], str]) -> str | None:
    if entry.entity == "enrollment":
        return entry.entity_id
    if entry.entity == "authorization":
        auth = rows.authorizations.get(entry.entity_id)
        return auth.enrollment_id if auth else None
    if entry.action == "infusion.recorded":
        auth = rows.authorizations.get(_payload(entry)["authorization"])
        return auth.enrollment_id if auth else None
    return None


def _commit_order_problems(rows: Rows) -> list[str]:
    by_patient = {(e.program_id, e.patient_id): e.id for e in rows.enrollments.values()}
    status: dict[str, str] = {}
    withdrawn: set[str] = set()
    problems: list[str] = []
    for entry in rows.entries:
        enrollment = _enrollment_of(rows, entry, by_patient)
        if enrollment is None:
            continue
        now = status.get(enrollment, "enrolled")
        if entry.entity == "enrollment":
            to = entry.action.removeprefix("enrollment.")
            if now == "discontinued" and to != "discontinued":
                problems.append(f"seq {entry.seq}: enrollment {enrollment} left 'discontinued' for {to!r}")
            status[enrollment] = to
        elif _is_creation(entry) and entry.action == "authorization.authorized" and now != "authorized":
            problems.append(f"seq {entry.seq}: dose AUTHORIZED while the patient was {now}")
        elif entry.entity == "authorization" and entry.action.removeprefix("authorization.") in WITHDRAWN:
            withdrawn.add(entry.entity_id)
        elif entry.action == "infusion.recorded":
            auth_id = _payload(entry)["authorization"]
            if now in ("discontinued", "suspended") or auth_id in withdrawn:
                problems.append(f"seq {entry.seq}: infusion recorded while the patient was {now} "
                                f"(authorization withdrawn: {auth_id in withdrawn})")  # fmt: skip
    return problems


def commit_order_signature(session: Session, after_seq: int) -> tuple[tuple[str, str], ...]:
    """(actor, action) of every entry after ``after_seq``: which writer committed what, in which order."""
    entries = session.execute(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.seq > after_seq)
                              .order_by(AuditEntry.seq)).all()  # fmt: skip
    return tuple((actor, action) for actor, action in entries)


def last_seq(session: Session) -> int:
    value = session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar()
    return int(value or 0)
