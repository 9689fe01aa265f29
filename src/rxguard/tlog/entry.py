"""The bytes of one audit entry, the same from a database row and from an export line.

An entry's canonical body is sorted-key JSON (no spaces, UTF-8) of its seq, time (UTC,
microseconds, ``Z``), actor, action, entity, entity id, payload text and the previous
entry's chain hash. The hash chain stores ``SHA-256(prev_hash || body)``; the Merkle tree's
leaf is ``SHA-256(0x00 || body)``. One body serves both.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

GENESIS = "0" * 64
_ZERO = timedelta(0)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} in an audit payload")


def canonical_json(data: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the same bytes for the same content everywhere."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=_default).decode()


def format_at(at: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (``isoformat`` is twice as fast as ``strftime``)."""
    utc = at if at.utcoffset() == _ZERO else at.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad the year; keep its bytes for every stored entry
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:26] + "Z"


class Entry(NamedTuple):
    """One audit entry as stored (``at`` aware)."""

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: str
    prev_hash: str
    hash: str


def entry_body(
    seq: int, at: datetime, actor: str, action: str, entity: str, entity_id: str, payload: str, prev_hash: str
) -> bytes:
    return orjson.dumps(
        {
            "action": action,
            "actor": actor,
            "at": format_at(at),
            "entity": entity,
            "entity_id": entity_id,
            "payload": payload,
            "prev_hash": prev_hash,
            "seq": seq,
        }
    )


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()
