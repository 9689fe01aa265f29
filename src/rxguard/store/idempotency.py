"""Idempotent creates: the first answer under a key, found again by every later request with that key.

:func:`claim` runs first in the request's transaction. It inserts the key's
row inside a savepoint; the unique constraint decides who is first:

* no row yet: the insert succeeds and this request does the work;
  :func:`remember` then stores its answer in the same row before the
  transaction commits, so the row and the create it describes commit or
  roll back together (an error leaves no key behind: a retry runs again);
* a row committed by an earlier request: the insert fails; the stored
  answer is returned when the request is the same (method, path and body),
  and :class:`IdempotencyConflictError` is raised when it is not;
* a row another transaction has inserted but not yet committed: PostgreSQL
  makes the insert wait on the unique index until that transaction ends
  (then one of the two cases above); SQLite serialises writers, so the
  second request starts only after the first has committed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rxguard.errors import ConflictError
from rxguard.store.models import new_id
from rxguard.store.request_models import IdempotentRequest

PENDING = 0


class IdempotencyConflictError(ConflictError):
    """The key was already used by this user for a different request; nothing was done."""


@dataclass(frozen=True)
class Replay:
    """The answer the first request under the key got."""

    status_code: int
    body: Any


@dataclass(frozen=True)
class Claim:
    """This request holds the key: its answer is stored with :func:`remember`."""

    row_id: str


def request_digest(method: str, path: str, body: bytes) -> str:
    """The same request, however its JSON is spaced or its keys ordered, has the same digest."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body.strip() else b""
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def claim(session: Session, *, principal: str, key: str, digest: str, at: datetime) -> Claim | Replay:
    """Take the key for this request, or return the first request's answer (see the module docstring)."""
    row_id = new_id()
    try:
        with session.begin_nested():
            session.execute(
                insert(IdempotentRequest).values(
                    id=row_id, principal=principal, idempotency_key=key, request_sha256=digest,
                    status_code=PENDING, response="", created_at=at,
                )
            )  # fmt: skip
    except IntegrityError:
        found = session.execute(
            select(IdempotentRequest.request_sha256, IdempotentRequest.status_code, IdempotentRequest.response).where(
                IdempotentRequest.principal == principal, IdempotentRequest.idempotency_key == key
            )
        ).one()
        if found.request_sha256 != digest:
            raise IdempotencyConflictError(
                f"Idempotency-Key {key!r} was already used for a different request; "
                "send a new key for a new request, or the same request to get its answer again"
            ) from None
        return Replay(found.status_code, orjson.loads(found.response))
    return Claim(row_id)


def remember(session: Session, claimed: Claim, *, status_code: int, body: Any) -> None:
    """Store the answer with the claim, in the transaction that made it."""
    session.execute(
        update(IdempotentRequest)
        .where(IdempotentRequest.id == claimed.row_id)
        .values(status_code=status_code, response=orjson.dumps(body).decode())
    )
