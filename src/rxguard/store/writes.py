"""Plain writes of append-only rows and status changes, one statement where the engine allows.

Rows written once and never changed in the session (decisions, infusions, ``*_event``
rows) and status updates go without the ORM: it would add nothing but its
bookkeeping. On PostgreSQL several writes go in one statement (a data-modifying
WITH; foreign keys are checked at its end), elsewhere one statement each, in order.
A write the database refuses fails here with a message naming the constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Insert, Table, Update, bindparam, insert, inspect, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rxguard.errors import ConflictError
from rxguard.store.models import Base


@dataclass(frozen=True)
class Write:
    """One plain write: an INSERT of ``values``, or with ``row_id`` an UPDATE of that row's ``values``."""

    table: Table
    values: dict[str, Any]
    row_id: str | None = None


def write_together(session: Session, writes: Sequence[Write], *, what: str) -> None:
    """Write these rows in order, in one statement on PostgreSQL; a refused write is a ConflictError."""
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
        raise ConflictError(f"{what} refused by the database ({constraint_name(exc)}); nothing was written") from exc


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
        raise ConflictError(f"{what} refused by the database ({constraint_name(exc)}); nothing was written") from exc


def constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    return str(exc.orig).splitlines()[0]
