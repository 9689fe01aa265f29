"""Small pieces every program service uses: look-ups, locks, appended state events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, bindparam, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rxguard.errors import ConflictError, InputError, NotFoundError
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
_UPDATE_AUTHORIZATION = update(_AUTHORIZATION).where(_AUTHORIZATION.c.id == bindparam("authorization_id"))
_INSERTS: dict[str, Insert] = {}


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
) -> None:
    """Change an authorization's status (and whether it is infusable), with its event and audit entry.

    The owning row is updated with one plain UPDATE and the ORM object is kept in step
    without being marked dirty: the ORM would add nothing but its bookkeeping.
    """
    if inspect(authorization).pending:
        session.flush()
    append_row(
        session,
        _AUTHORIZATION_EVENT,
        {
            "id": new_id(),
            "authorization_id": authorization.id,
            "from_status": authorization.status,
            "to_status": to,
            "actor": actor,
            "at": at,
            "reason": reason,
        },
        what="authorization change",
    )
    payload: dict[str, Any] = {"from": authorization.status, "to": to, "reason": reason}
    values: dict[str, Any] = {"status": to}
    if infusable is not None:
        values["is_infusable"] = infusable
        payload["infusable"] = infusable
    try:
        session.connection().execute(_UPDATE_AUTHORIZATION, {"authorization_id": authorization.id, **values})
    except IntegrityError as exc:
        raise ConflictError(
            f"authorization change refused by the database ({_constraint_name(exc)}); nothing was written"
        ) from exc
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


def append_row(session: Session, table: Table, values: dict[str, Any], *, what: str, after: Base | None = None) -> None:
    """Insert one append-only row (an ``*_event``, a decision) with a plain INSERT.

    The ORM adds nothing for rows that are written once and never changed in the
    session; a refused row fails here, with a message, like :func:`flush_or_conflict`.
    ``after``: a row this one refers to, flushed first if it is not in the database yet.
    """
    if after is not None and inspect(after).pending:
        session.flush()
    statement = _INSERTS.get(table.name)
    if statement is None:
        statement = _INSERTS[table.name] = insert(table)
    try:
        session.connection().execute(statement, values)
    except IntegrityError as exc:
        raise ConflictError(f"{what} refused by the database ({_constraint_name(exc)}); nothing was written") from exc


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
