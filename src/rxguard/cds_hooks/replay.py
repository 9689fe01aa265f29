"""The ``jti`` replay cache: a JWT id is accepted once per issuer until the JWT expires.

Kept in the database (table ``cds_jti``): its primary key refuses a second
insert of the same ``(iss, jti)``, so a replay is caught whichever rxguard
process receives it — the scale path runs several processes on one
database. Expired ids are purged in the same transaction now and then, so
the table holds at most the last hour of calls.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rxguard.store.auth_models import CdsJti
from rxguard.store.db import transaction

PURGE_EVERY = 500


class ReplayCache:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._calls = itertools.count(1)

    def remember(self, iss: str, jti: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record a JWT id; False when it was already seen (a replay)."""
        try:
            with transaction(self._sessions) as session:
                if next(self._calls) % PURGE_EVERY == 0:
                    session.execute(delete(CdsJti).where(CdsJti.expires_at < now))
                session.add(CdsJti(iss=iss, jti=jti, expires_at=expires_at))
        except IntegrityError:
            return False
        return True
