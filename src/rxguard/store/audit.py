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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, String, Table, TextClause, bindparam, event, insert, select, text, update
from sqlalchemy.orm import Session

from rxguard.store.models import AuditEntry, AuditHead, Base
from rxguard.tlog.checkpoint import Checkpoint
from rxguard.tlog.entry import GENESIS, Entry, canonical_json, chain_hash, entry_body, format_at
from rxguard.tlog.verification import COVERED_TABLES, ChainReport, LogReport
from rxguard.tlog.verification import verify_log as tlog_verify

__all__ = ["GENESIS", "ChainReport", "canonical_json", "entry_hash", "format_at", "record", "verify", "verify_log"]
_QUEUE = "rxguard_audit_queue"


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
    return chain_hash(prev_hash, entry_body(seq, at, actor, action, entity, entity_id, payload, prev_hash))


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


def read_entries(session: Session) -> Iterator[Entry]:
    """Every entry in seq order, as plain tuples (one pass; rows streamed, not held)."""
    columns = [_ENTRY.c[name] for name in Entry._fields]
    result = session.execute(select(*columns).order_by(_ENTRY.c.seq).execution_options(yield_per=10_000))
    for row in result:
        yield Entry._make(row)


def read_head(session: Session) -> tuple[int, str] | None:
    # Read afresh: appends go through plain SQL, so an AuditHead held by the session may be stale.
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return None if head is None else (head.seq, head.hash)


def business_ids(session: Session) -> dict[str, Iterator[str]]:
    """The ids of every business row the log must cover, table by table."""
    from rxguard.store import auth_models  # noqa: F401  (users, tokens and patient sites are covered too)

    tables = Base.metadata.tables
    return {name: session.execute(select(tables[name].c.id)).scalars() for name in COVERED_TABLES if name in tables}


def verify_log(
    session: Session,
    checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    *,
    coverage: bool = True,
    keep_leaves: bool = False,
) -> LogReport:
    """The chain, the Merkle roots against ``checkpoints`` and (``coverage``) every business row's entry."""
    head = read_head(session)
    return tlog_verify(
        read_entries(session),
        head=head,
        checkpoints=checkpoints,
        business=business_ids(session) if coverage else None,
        keep_leaves=keep_leaves,
    )


def verify(session: Session) -> ChainReport:
    """Walk the chain in seq order; report the first entry that does not fit."""
    return verify_log(session, coverage=False).chain
