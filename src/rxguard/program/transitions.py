"""Every state change of a certification, an enrollment or a dose authorization, from one table.

``transition(row, to, *, at, actor, reason)`` is the only way a status changes: it
refuses a change the table does not allow (a :class:`TransitionError` saying where
the row may go instead), appends the event (who, when, why, from → to) with the
row's new status and queues the audit entry. The table reads like the program's
state diagrams:

* certification: enrolled → certified (training attested) → suspended ⇄ certified; revoked from any
  state, and final.
* enrollment: enrolled → authorized → lapsed (time passed the reauthorization date) → authorized
  again by reauthorization; suspended from any live state, resumed to authorized; discontinued from
  any live state, and final.
* authorization (one dose at one visit): the decision is authorized, hold or do-not-infuse; a hold
  continues (a checklist again), is cleared, deferred or discontinued by the prescriber, or
  overridden by two people; a do-not-infuse may be overridden where its checks allow it; an
  infusable one (authorized, cleared, overridden) is infused, withdrawn (do-not-infuse) when the
  checks run again and fail, or closed when the patient is suspended or discontinued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import object_session

from rxguard.errors import TransitionError
from rxguard.program import validation
from rxguard.store import audit
from rxguard.store.models import Base
from rxguard.store.transitions import Reason, entity_of, write_transition
from rxguard.store.writes import Write

_LIVE_ENROLLMENT = frozenset({"suspended", "discontinued"})
_CLOSE_INFUSABLE = frozenset({"do-not-infuse", "infused", "suspended", "discontinued"})

#: entity -> status -> the statuses it may go to (a status with none is final)
TRANSITIONS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "certification": {
        "enrolled": frozenset({"certified", "revoked"}),
        "certified": frozenset({"suspended", "revoked"}),
        "suspended": frozenset({"certified", "revoked"}),
        "revoked": frozenset(),
    },
    "enrollment": {
        "enrolled": frozenset({"authorized"}) | _LIVE_ENROLLMENT,
        "authorized": frozenset({"authorized", "lapsed"}) | _LIVE_ENROLLMENT,
        "lapsed": frozenset({"authorized"}) | _LIVE_ENROLLMENT,
        "suspended": frozenset({"authorized", "discontinued"}),
        "discontinued": frozenset(),
    },
    "authorization": {
        "authorized": _CLOSE_INFUSABLE,
        "hold": frozenset({"hold", "cleared", "deferred", "discontinued", "overridden"}),
        "do-not-infuse": frozenset({"overridden"}),
        "cleared": _CLOSE_INFUSABLE,
        "overridden": _CLOSE_INFUSABLE,
        "deferred": frozenset(),
        "discontinued": frozenset(),
        "infused": frozenset(),
        "suspended": frozenset(),
    },
}

#: The authorization states under which a dose may be infused (``is_infusable`` follows the status).
INFUSABLE_STATES = frozenset({"authorized", "cleared", "overridden", "infused"})


def refusal(entity: str, name: str, status: str, to: str) -> str | None:
    """Why ``entity`` ``name`` cannot go from ``status`` to ``to``; None when the table allows it."""
    table = TRANSITIONS[entity]
    if status not in table:
        return f"{entity} {name} is in an unknown state {status!r}; nothing can change it"
    if to not in table:
        return f"{to!r} is not a state of a {entity}; its states are {', '.join(table)}"
    allowed = table[status]
    if to in allowed:
        return None
    if to == status:
        return f"{entity} {name} is already {status}"
    onward = ", ".join(sorted(allowed)) if allowed else "nothing (final)"
    sources = sorted(s for s, targets in table.items() if to in targets)
    into = f"only {' or '.join(sources)} can become {to}" if sources else f"nothing becomes {to}"
    return f"{entity} {name} is {status}; it can go to {onward}, not {to} ({into})"


def require(row: Base, to: str, *, name: str | None = None) -> None:
    """Refuse now, before other work, a change the table does not allow (``name``: how to call the row)."""
    why = refusal(entity_of(row), name or row.id, row.status, to)  # type: ignore[attr-defined]
    if why:
        raise TransitionError(why)


def transition(
    row: Base,
    to: str,
    *,
    at: datetime,
    actor: str,
    reason: str | Reason,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
    along_with: Sequence[Write] = (),
    what: str | None = None,
) -> None:
    """Move ``row`` to ``to``: the event and the new status in one write, and the audit entry.

    ``extra``: more of the audit entry's payload; ``along_with``: rows written in the same
    statement before the event (an infusion with its authorization's move to infused).
    ``reason``: as typed, or a :class:`Reason` the program wrote with its message code and values.
    """
    entity = entity_of(row)
    require(row, to, name=name)
    session = object_session(row)
    if session is None:
        raise ValueError(f"{entity} {row.id} is not in a session")  # type: ignore[attr-defined]
    said = Reason.of(reason)
    said = replace(said, text=validation.clean_text(said.text, "reason", max_length=4000, multiline=True))
    before: str = row.status  # type: ignore[attr-defined]
    payload: dict[str, Any] = {"from": before, "to": to, "reason": said.text}
    if entity != "authorization":
        payload = {"program": row.program_id, **payload}  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    if entity == "authorization":
        infusable = to in INFUSABLE_STATES
        if infusable != row.is_infusable:  # type: ignore[attr-defined]
            values["is_infusable"] = payload["infusable"] = infusable
    payload.update(extra or {})
    write_transition(session, row, to, at=at, actor=actor, reason=said, values=values, along_with=along_with,
                     what=what or f"{entity} change")  # fmt: skip
    audit.record(session, at=at, actor=actor, action=f"{entity}.{to}", entity=entity, entity_id=row.id,  # type: ignore[attr-defined]
                 payload=payload)  # fmt: skip
