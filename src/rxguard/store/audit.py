"""The append-only, hash-chained audit log.

Services call :func:`record` for every state change. Entries are queued on
the session and written when it commits, after every other row: the chain's
head row is locked last, so appends are serialised without ever holding the
head while waiting for a patient's row (no lock-order deadlock).

Each entry stores ``hash = sha256(prev_hash + canonical(entry))`` where the
canonical form is sorted-key JSON of (seq, at, actor, action, entity,
entity_id, payload, prev_hash). :func:`verify` recomputes the chain and names
the first entry that was edited, inserted or deleted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Integer, String, Table, TextClause, bindparam, event, insert, select, text, update
from sqlalchemy.orm import Session

from rxguard.store.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_QUEUE = "rxguard_audit_queue"


def canonical_json(data: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the same bytes for the same content everywhere."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=_default).decode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} in an audit payload")


def format_at(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    payload: str,
    prev_hash: str,
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": format_at(at),
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "payload": payload,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class _Pending:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: str


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """Queue one audit entry; it is chained and written when the session commits."""
    queue: list[_Pending] = session.info.setdefault(_QUEUE, [])
    queue.append(_Pending(at, actor, action, entity, entity_id, canonical_json(payload or {})))


_ENTRY: Table = AuditEntry.__table__  # type: ignore[assignment]
_HEAD_TABLE: Table = AuditHead.__table__  # type: ignore[assignment]
_LOCK_HEAD = select(_HEAD_TABLE.c.seq, _HEAD_TABLE.c.hash).where(_HEAD_TABLE.c.id == 1).with_for_update()
_INSERT_ENTRIES = insert(_ENTRY)
_INSERT_HEAD = insert(_HEAD_TABLE)
_UPDATE_HEAD = update(_HEAD_TABLE).where(_HEAD_TABLE.c.id == 1)


@event.listens_for(Session, "before_commit")
def _write_queued(session: Session) -> None:
    queue: list[_Pending] = session.info.pop(_QUEUE, [])
    if not queue:
        return
    session.flush()  # every business row first; the head lock comes last
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD).first()
    seq, prev_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    rows: list[dict[str, Any]] = []
    for item in queue:
        seq += 1
        digest = entry_hash(seq, item.at, item.actor, item.action, item.entity, item.entity_id, item.payload, prev_hash)
        rows.append(
            {
                "seq": seq,
                "at": item.at,
                "actor": item.actor,
                "action": item.action,
                "entity": item.entity,
                "entity_id": item.entity_id,
                "payload": item.payload,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    # Plain SQL: the entries are append-only and nothing in the session refers to them.
    if head is not None and connection.dialect.name == "postgresql":
        # One round trip for the entries and the new head (a data-modifying WITH).
        params = {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}
        connection.execute(_append_statement(len(rows)), {**params, "head_seq": seq, "head_hash": prev_hash})
        return
    connection.execute(_INSERT_ENTRIES, rows)
    if head is None:
        connection.execute(_INSERT_HEAD, {"id": 1, "seq": seq, "hash": prev_hash})
    else:
        connection.execute(_UPDATE_HEAD, {"seq": seq, "hash": prev_hash})


@lru_cache(maxsize=32)
def _append_statement(count: int) -> TextClause:
    """PostgreSQL: ``WITH entries AS (INSERT … VALUES (…) × count) UPDATE audit_head …``.

    Written as text (with typed parameters) because SQLAlchemy does not cache a multi-row
    INSERT inside a WITH: it would compile the statement again on every commit.
    """
    columns = list(_ENTRY.columns)
    names = ", ".join(column.name for column in columns)
    rows = ", ".join("(" + ", ".join(f":{column.name}_{i}" for column in columns) + ")" for i in range(count))
    sql = (
        f"WITH entries AS (INSERT INTO {_ENTRY.name} ({names}) VALUES {rows}) "
        f"UPDATE {_HEAD_TABLE.name} SET seq = :head_seq, hash = :head_hash WHERE id = 1"
    )
    types = [bindparam(f"{column.name}_{i}", type_=column.type) for i in range(count) for column in columns]
    return text(sql).bindparams(*types, bindparam("head_seq", type_=Integer()), bindparam("head_hash", type_=String()))


@event.listens_for(Session, "after_rollback")
def _drop_queued(session: Session) -> None:
    session.info.pop(_QUEUE, None)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""

    def message(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.entries} entries"
        return f"audit chain broken at seq {self.first_bad_seq}: {self.problem}"


def verify(session: Session) -> ChainReport:
    """Walk the chain in seq order; report the first entry that does not fit."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            kind = "missing (deleted)" if row.seq > expected_seq else "out of order"
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is {kind}")
        if row.prev_hash != prev_hash:
            return ChainReport(
                False,
                count,
                row.seq,
                "prev_hash does not match the previous entry (inserted or deleted before it)",
            )
        digest = entry_hash(
            row.seq,
            row.at,
            row.actor,
            row.action,
            row.entity,
            row.entity_id,
            row.payload,
            row.prev_hash,
        )
        if digest != row.hash:
            return ChainReport(False, count, row.seq, "content does not match its hash (edited or inserted)")
        prev_hash, expected_seq = row.hash, expected_seq + 1
    # Read afresh: appends go through plain SQL, so an AuditHead held by the session may be stale.
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        if head.seq >= expected_seq:
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing (deleted)")
        if head.seq < expected_seq - 1:
            return ChainReport(False, count, head.seq + 1, "entry was appended behind the chain's back (inserted)")
        return ChainReport(False, count, head.seq, "the chain head does not match the last entry")
    return ChainReport(True, count)
