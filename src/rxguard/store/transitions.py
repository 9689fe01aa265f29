"""Writing one state change: the appended ``*_event`` row and the owning row's new status, together.

Which changes are allowed is the program's table (:mod:`rxguard.program.transitions`);
this module only knows where each entity's events live and writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rxguard.store.models import (
    Authorization,
    AuthorizationEvent,
    Base,
    Certification,
    CertificationEvent,
    Enrollment,
    EnrollmentEvent,
    new_id,
)
from rxguard.store.writes import Write, write_together

#: entity name -> (its table, its events' table, the events' column naming it)
_EVENTS: dict[type[Base], tuple[str, Table, Table, str]] = {
    Certification: ("certification", Certification.__table__, CertificationEvent.__table__, "certification_id"),  # type: ignore[dict-item]
    Enrollment: ("enrollment", Enrollment.__table__, EnrollmentEvent.__table__, "enrollment_id"),  # type: ignore[dict-item]
    Authorization: ("authorization", Authorization.__table__, AuthorizationEvent.__table__, "authorization_id"),  # type: ignore[dict-item]
}


@dataclass(frozen=True)
class Reason:
    """Why a state changed: the English sentence the API and the audit trail read and, when the program
    wrote it itself, its message code and values (ids, ISO dates) for an interface to word in the reader's
    language. A reason a person typed has no code: it is shown as typed."""

    text: str
    code: str | None = None
    values: dict[str, Any] | None = None

    @classmethod
    def of(cls, reason: str | Reason) -> Reason:
        """A typed reason (a string) or one the program wrote."""
        return reason if isinstance(reason, Reason) else cls(reason)

    def columns(self) -> dict[str, Any]:
        """The event row's columns that keep it."""
        return {"reason": self.text, "reason_code": self.code, "reason_values": self.values}


def entity_of(row: Base) -> str:
    """The entity a row is (``certification``, ``enrollment``, ``authorization``)."""
    try:
        return _EVENTS[type(row)][0]
    except KeyError:
        raise TypeError(f"{type(row).__name__} has no state transitions") from None


def write_transition(
    session: Session,
    row: Base,
    to: str,
    *,
    at: datetime,
    actor: str,
    reason: Reason,
    values: dict[str, Any] | None = None,
    along_with: Sequence[Write] = (),
    what: str,
) -> None:
    """Append the event (from the row's status to ``to``) and update the row, in one statement where possible.

    ``values``: other columns of the row that change with its status. ``along_with``: rows written
    before the event, in the same statement. The ORM object is kept in step without being marked dirty.
    """
    _, table, events, column = _EVENTS[type(row)]
    state = inspect(row)
    if state.pending or state.modified:  # the row's own pending changes first (e.g. a training attestation)
        session.flush()
    event = {
        "id": new_id(),
        column: row.id,  # type: ignore[attr-defined]
        "from_status": row.status,  # type: ignore[attr-defined]
        "to_status": to,
        "actor": actor,
        "at": at,
        **reason.columns(),
    }
    changed = {"status": to, **(values or {})}
    writes = [*along_with, Write(events, event), Write(table, changed, row_id=row.id)]  # type: ignore[attr-defined]
    write_together(session, writes, what=what)
    for name, value in changed.items():
        set_committed_value(row, name, value)
