"""Writing one enrollment's kept schedule (``schedule_item``) in one statement."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rxguard.store.models import ScheduleItem, new_id

_SCHEDULE: Table = ScheduleItem.__table__  # type: ignore[assignment]

Items = dict[str, tuple[str, date]]


def save(session: Session, enrollment_id: str, items: Items, *, current: Items | None = None) -> None:
    """Make the enrollment's schedule exactly ``items`` (item -> (title, due day)).

    ``current``: the schedule as read earlier under the patient's lock; when given, an unchanged
    schedule is not written at all and only the items that changed are. One statement on
    PostgreSQL (the stale items deleted in a WITH, the rest upserted); on SQLite a second one
    only when an item is no longer due.
    """
    items = {item: (title[:200], due_on) for item, (title, due_on) in items.items()}
    changed = items if current is None else {k: v for k, v in items.items() if current.get(k) != v}
    stale = None if current is None else sorted(set(current) - set(items))
    if not changed and stale == []:
        return
    connection = session.connection()
    keep = sorted(items)
    remove = delete(_SCHEDULE).where(_SCHEDULE.c.enrollment_id == enrollment_id)
    if keep:
        remove = remove.where(_SCHEDULE.c.item.not_in(keep))
    if not changed:
        connection.execute(remove)
        return
    rows = [
        {"id": new_id(), "enrollment_id": enrollment_id, "item": item, "title": title, "due_on": due_on}
        for item, (title, due_on) in sorted(changed.items())
    ]
    dialect = connection.dialect.name
    upsert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = upsert_of(_SCHEDULE).values(rows)
    upsert = upsert.on_conflict_do_update(
        index_elements=[_SCHEDULE.c.enrollment_id, _SCHEDULE.c.item],
        set_={"title": upsert.excluded.title, "due_on": upsert.excluded.due_on},
    )
    if stale == []:
        connection.execute(upsert)
    elif dialect == "postgresql":
        connection.execute(upsert.add_cte(remove.cte("stale")))
    else:
        connection.execute(remove)
        connection.execute(upsert)
