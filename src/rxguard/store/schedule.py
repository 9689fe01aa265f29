"""Writing one enrollment's kept schedule (``schedule_item``): one upsert of what changed."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rxguard.store.models import ScheduleItem, new_id

_SCHEDULE: Table = ScheduleItem.__table__  # type: ignore[assignment]

Items = dict[str, tuple[str, date]]


def save(session: Session, enrollment_id: str, items: Items, *, current: Items | None = None) -> None:
    """Make the enrollment's schedule exactly ``items`` (item -> (title, due day)).

    ``current``: the schedule as read earlier under the patient's lock; when given, an unchanged
    schedule is not written at all, only the items that changed are, and the stale ones are
    deleted only when there are any. The changed items go in one upsert statement (executed for
    all of them at once); both statements are built once and cached.
    """
    items = {item: (title[:200], due_on) for item, (title, due_on) in items.items()}
    changed = items if current is None else {k: v for k, v in items.items() if current.get(k) != v}
    stale = None if current is None else sorted(set(current) - set(items))
    connection = session.connection()
    if stale is None or stale:
        connection.execute(_delete(bool(items)), {"schedule_enrollment": enrollment_id, "schedule_keep": sorted(items)})
    if changed:
        rows = [
            {"id": new_id(), "enrollment_id": enrollment_id, "item": item, "title": title, "due_on": due_on}
            for item, (title, due_on) in sorted(changed.items())
        ]
        connection.execute(_upsert(connection.dialect.name), rows)


@lru_cache(maxsize=4)
def _delete(keep_some: bool) -> Any:
    """The enrollment's items not in ``schedule_keep`` (every item when none is kept)."""
    stmt = delete(_SCHEDULE).where(_SCHEDULE.c.enrollment_id == bindparam("schedule_enrollment"))
    if keep_some:
        stmt = stmt.where(_SCHEDULE.c.item.not_in(bindparam("schedule_keep", expanding=True)))
    return stmt


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> Any:
    """One item inserted, or its title and due day updated when the enrollment has it already."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_SCHEDULE)
    return stmt.on_conflict_do_update(
        index_elements=[_SCHEDULE.c.enrollment_id, _SCHEDULE.c.item],
        set_={"title": stmt.excluded.title, "due_on": stmt.excluded.due_on},
    )
