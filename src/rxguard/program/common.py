"""Small pieces every program service uses: look-ups, locks, appended state events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, Update, bindparam, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rxguard.errors import ConflictError, InputError, NotFoundError
from rxguard.program import validation
from rxguard.store import audit
from rxguard.store.models import (
    Authorization,
    AuthorizationEvent,
    Base,
    Certification,
    CertificationEvent,
    Enrollment,
    EnrollmentEvent,
    Patient,
    Prescriber,
    Site,
    new_id,
)

Row = TypeVar("Row", bound=Base)

_AUTHORIZATION: Table = Authorization.__table__  # type: ignore[assignment]
_AUTHORIZATION_EVENT: Table = AuthorizationEvent.__table__  # type: ignore[assignment]
_ENROLLMENT_EVENT: Table = EnrollmentEvent.__table__  # type: ignore[assignment]


def require_aware(at: datetime, name: str = "at") -> datetime:
    if at.tzinfo is None:
        raise InputError(f"{name} {at.isoformat()} has no time zone; give one, e.g. 2026-01-05T09:00+00:00")
    return at


def by_key(session: Session, model: type[Row], key: str) -> Row:
    """A participant by its human key (``dr_ada``, ``site_north``, ``pat_amy``)."""
    row = session.execute(select(model).where(model.key == key)).scalar_one_or_none()  # type: ignore[attr-defined]
    if row is None:
        kind = model.__tablename__.replace("_", " ")
        raise NotFoundError(f"no {kind} with key {key!r}; register it first or check the spelling")
    return row


def by_id(session: Session, model: type[Row], row_id: str, *, lock: bool = False) -> Row:
    stmt = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock:
        # populate_existing: a row read earlier in this session must be refreshed from the locked
        # read, or a change another transaction committed while we waited for the lock is lost.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        kind = model.__tablename__.replace("_", " ")
        raise NotFoundError(f"no {kind} with id {row_id!r}")
    return row


def prescriber(session: Session, key: str) -> Prescriber:
    return by_key(session, Prescriber, key)


def site(session: Session, key: str) -> Site:
    return by_key(session, Site, key)


def patient(session: Session, key: str) -> Patient:
    return by_key(session, Patient, key)


def lock_enrollment(session: Session, enrollment_id: str) -> Enrollment:
    """Lock the patient's enrollment row: every per-patient decision runs under it."""
    return by_id(session, Enrollment, enrollment_id, lock=True)


def lock_enrollment_of(session: Session, authorization_id: str) -> Enrollment:
    """Lock the enrollment an authorization belongs to, found in the same statement."""
    of_authorization = select(Authorization.enrollment_id).where(Authorization.id == authorization_id)
    stmt = (
        select(Enrollment)
        .where(Enrollment.id == of_authorization.scalar_subquery())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    enrollment = session.execute(stmt).scalar_one_or_none()
    if enrollment is None:
        by_id(session, Authorization, authorization_id)  # NotFoundError
        raise AssertionError(f"authorization {authorization_id} has no enrollment")  # pragma: no cover (a foreign key)
    return enrollment


def find_enrollment(session: Session, patient_row: Patient, program_id: str | None) -> Enrollment:
    """The patient's enrollment in ``program_id``, or their only one when none is named."""
    stmt = select(Enrollment).where(Enrollment.patient_id == patient_row.id)
    if program_id:
        stmt = stmt.where(Enrollment.program_id == program_id)
    rows = list(session.execute(stmt.order_by(Enrollment.enrolled_at)).scalars())
    if not rows:
        where = f" in program {program_id}" if program_id else ""
        raise NotFoundError(f"patient {patient_row.key} is not enrolled{where}; enroll them first")
    if len(rows) > 1:
        programs = ", ".join(r.program_id for r in rows)
        raise InputError(f"patient {patient_row.key} is enrolled in {programs}; name the program")
    return rows[0]


def certification_for(
    session: Session,
    program_id: str,
    *,
    prescriber_id: str | None = None,
    site_id: str | None = None,
    lock: bool = False,
    share: bool = False,
) -> Certification | None:
    stmt = select(Certification).where(Certification.program_id == program_id)
    if prescriber_id is not None:
        stmt = stmt.where(Certification.prescriber_id == prescriber_id)
    else:
        stmt = stmt.where(Certification.site_id == site_id)
    if lock or share:
        stmt = stmt.with_for_update(read=share and not lock).execution_options(populate_existing=True)
    return session.execute(stmt).scalar_one_or_none()


def certified_event(session: Session, certification_id: str) -> CertificationEvent | None:
    """The latest event that certified this certification (cited by AUTHORIZED decisions)."""
    stmt = (
        select(CertificationEvent)
        .where(
            CertificationEvent.certification_id == certification_id,
            CertificationEvent.to_status == "certified",
        )
        .order_by(CertificationEvent.at.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def move_certification(
    session: Session, cert: Certification, to: str, *, at: datetime, actor: str, reason: str
) -> CertificationEvent:
    reason = validation.clean_text(reason, "reason", max_length=4000, multiline=True)
    event = CertificationEvent(
        certification_id=cert.id, from_status=cert.status, to_status=to, actor=actor, at=at, reason=reason
    )
    session.add(event)
    payload = {"program": cert.program_id, "from": cert.status, "to": to, "reason": reason}
    cert.status = to
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"certification.{to}",
        entity="certification",
        entity_id=cert.id,
        payload=payload,
    )
    return event


def move_enrollment(
    session: Session,
    enrollment: Enrollment,
    to: str,
    *,
    at: datetime,
    actor: str,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> None:
    reason = validation.clean_text(reason, "reason", max_length=4000, multiline=True)
    append_row(
        session,
        _ENROLLMENT_EVENT,
        {
            "id": new_id(),
            "enrollment_id": enrollment.id,
            "from_status": enrollment.status,
            "to_status": to,
            "actor": actor,
            "at": at,
            "reason": reason,
        },
        what="enrollment change",
        after=enrollment,
    )
    payload = {"program": enrollment.program_id, "from": enrollment.status, "to": to, "reason": reason}
    payload.update(extra or {})
    enrollment.status = to
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"enrollment.{to}",
        entity="enrollment",
        entity_id=enrollment.id,
        payload=payload,
    )


def move_authorization(
    session: Session,
    authorization: Authorization,
    to: str,
    *,
    at: datetime,
    actor: str,
    reason: str,
    infusable: bool | None = None,
    along_with: Sequence[Write] = (),
    what: str = "authorization change",
) -> None:
    """Change an authorization's status (and whether it is infusable), with its event and audit entry.

    The owning row is updated with one plain UPDATE and the ORM object is kept in step
    without being marked dirty: the ORM would add nothing but its bookkeeping.
    ``along_with``: rows written before the event, in the same statement where the engine allows.
    """
    reason = validation.clean_text(reason, "reason", max_length=4000, multiline=True)
    if inspect(authorization).pending:
        session.flush()
    event = {
        "id": new_id(),
        "authorization_id": authorization.id,
        "from_status": authorization.status,
        "to_status": to,
        "actor": actor,
        "at": at,
        "reason": reason,
    }
    payload: dict[str, Any] = {"from": authorization.status, "to": to, "reason": reason}
    values: dict[str, Any] = {"status": to}
    if infusable is not None:
        values["is_infusable"] = infusable
        payload["infusable"] = infusable
    writes = [*along_with, Write(_AUTHORIZATION_EVENT, event), Write(_AUTHORIZATION, values, row_id=authorization.id)]
    write_together(session, writes, what=what)
    for name, value in values.items():
        set_committed_value(authorization, name, value)
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"authorization.{to}",
        entity="authorization",
        entity_id=authorization.id,
        payload=payload,
    )


@dataclass(frozen=True)
class Write:
    """One plain write: an INSERT of ``values``, or with ``row_id`` an UPDATE of that row's ``values``."""

    table: Table
    values: dict[str, Any]
    row_id: str | None = None


def write_together(session: Session, writes: Sequence[Write], *, what: str) -> None:
    """Write append-only rows (decisions, infusions, ``*_event`` rows) and status updates without the ORM.

    The ORM adds nothing for rows written once and never changed in the session. On
    PostgreSQL the writes go in one statement (a data-modifying WITH; foreign keys are
    checked at its end), elsewhere one statement each, in order. A refused write fails
    here, with a message, like :func:`flush_or_conflict`.
    """
    connection = session.connection()
    try:
        if len(writes) > 1 and connection.dialect.name == "postgresql":
            shape = tuple((w.table.name, tuple(w.values), w.row_id is not None) for w in writes)
            params = {f"w{i}_{name}": value for i, w in enumerate(writes) for name, value in w.values.items()}
            params.update({f"w{i}__row_id": w.row_id for i, w in enumerate(writes) if w.row_id is not None})
            connection.execute(_together(shape), params)
            return
        for w in writes:
            if w.row_id is None:
                connection.execute(_insert(w.table), w.values)
            else:
                connection.execute(_update(w.table), {**w.values, "_row_id": w.row_id})
    except IntegrityError as exc:
        raise ConflictError(f"{what} refused by the database ({_constraint_name(exc)}); nothing was written") from exc


def append_row(session: Session, table: Table, values: dict[str, Any], *, what: str, after: Base | None = None) -> None:
    """Insert one append-only row with a plain INSERT (see :func:`write_together`).

    ``after``: a row this one refers to, flushed first if it is not in the database yet.
    """
    if after is not None and inspect(after).pending:
        session.flush()
    write_together(session, [Write(table, values)], what=what)


@cache
def _insert(table: Table) -> Insert:
    return insert(table)


@cache
def _update(table: Table) -> Update:
    return update(table).where(table.c.id == bindparam("_row_id"))


@lru_cache(maxsize=64)
def _together(shape: tuple[tuple[str, tuple[str, ...], bool], ...]) -> Any:
    """PostgreSQL: ``WITH w0 AS (…), w1 AS (…) <last write>``, built once per shape of writes."""
    statements: list[Any] = []
    for i, (name, columns, is_update) in enumerate(shape):
        table = Base.metadata.tables[name]
        values = {column: bindparam(f"w{i}_{column}", type_=table.c[column].type) for column in columns}
        if is_update:
            row_id = bindparam(f"w{i}__row_id", type_=table.c.id.type)
            statements.append(update(table).where(table.c.id == row_id).values(values))
        else:
            statements.append(insert(table).values(values))
    *first, last = statements
    return last.add_cte(*(statement.cte(f"w{i}") for i, statement in enumerate(first)))


def flush_or_conflict(session: Session, what: str) -> None:
    """Flush now so a database invariant fails here, with a message, not at commit."""
    try:
        session.flush()
    except IntegrityError as exc:
        constraint = _constraint_name(exc)
        raise ConflictError(f"{what} refused by the database ({constraint}); nothing was written") from exc


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    return str(exc.orig).splitlines()[0]
