"""The ``jti`` replay cache: a JWT id is accepted once per issuer until the JWT expires.

Two implementations of one method, ``remember(iss, jti, expires_at, now)``:

* :class:`ReplayCache` keeps ids in the database (table ``cds_jti``): its
  primary key refuses a second insert of the same ``(iss, jti)``, so a replay
  is caught whichever rxguard process receives it — the scale path runs
  several processes on one database. Expired ids are purged in the same
  transaction now and then, so the table holds at most the last hour of
  calls. It costs one committed write per CDS Hooks call.
* :class:`MemoryReplayCache` keeps them in this process: exact for a single
  process (``rxguard serve`` with one worker), wrong for several, which is
  why ``RXGUARD_CDS_REPLAY_CACHE=memory`` is refused with more workers.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, insert
from sqlalchemy.exc import IntegrityError

from rxguard.store.auth_models import CdsJti

PURGE_EVERY = 500
_TABLE = cast(Table, CdsJti.__table__)


class ReplayCache:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._calls = itertools.count(1)
        # SQLite: one writer at a time in this process, so concurrent calls queue on a lock that
        # hands over at once instead of on SQLite's busy handler, which sleeps in 1-25 ms steps.
        # PostgreSQL takes concurrent inserts as they come.
        self._lock: AbstractContextManager[Any] = (
            threading.Lock() if self._engine.dialect.name == "sqlite" else nullcontext()
        )

    def remember(self, iss: str, jti: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record a JWT id; False when it was already seen (a replay). One insert, no ORM."""
        try:
            with self._lock, self._engine.begin() as connection:
                if next(self._calls) % PURGE_EVERY == 0:
                    connection.execute(delete(_TABLE).where(_TABLE.c.expires_at < now))
                connection.execute(insert(_TABLE), {"iss": iss, "jti": jti, "expires_at": expires_at})
        except IntegrityError:
            return False
        return True


class MemoryReplayCache:
    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def remember(self, iss: str, jti: str, *, expires_at: datetime, now: datetime) -> bool:
        key = (iss, jti)
        with self._lock:
            if key in self._seen:
                return False
            if len(self._seen) >= self._max or len(self._seen) % PURGE_EVERY == 0:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
                if len(self._seen) >= self._max:
                    return False  # refuse rather than forget ids that could be replayed
            self._seen[key] = expires_at
            return True
