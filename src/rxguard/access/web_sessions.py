"""Browser sessions of the web application: start, look up, end.

The cookie value is 256 random bits; the database keeps only its SHA-256
(the same reasoning as API tokens: enough entropy that a fast hash is safe,
and a look-up is one index probe). A session ends after ``IDLE`` without a
request or ``LIFETIME`` after sign-in, whichever comes first, and at once on
sign-out or when the user is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.access.policy import Principal
from rxguard.access.users import principal_of
from rxguard.store import audit
from rxguard.store.auth_models import AppUser
from rxguard.store.credential_models import WebSession

LIFETIME = timedelta(hours=12)  # one clinical shift
IDLE = timedelta(hours=2)
_TOUCH_EVERY = timedelta(minutes=5)  # write last_seen_at at most this often


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, principal: Principal, *, at: datetime) -> str:
    """A new session for a signed-in user; returns the cookie value (shown once)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=principal.user_id,
            created_at=at,
            last_seen_at=at,
            expires_at=at + LIFETIME,
        )
    )
    session.flush()
    audit.record(session, at=at, actor=principal.name, action="user.signed-in", entity="app_user",
                 entity_id=principal.user_id, payload={"role": principal.role, "via": "web"})  # fmt: skip
    return token


def session_user(session: Session, token: str, *, at: datetime) -> tuple[Principal, str] | None:
    """The user behind a session cookie and their display name, or None when it is unknown,
    ended or idle too long."""
    if not token or len(token) > 100:
        return None
    found = session.execute(
        select(WebSession, AppUser)
        .join(AppUser, AppUser.id == WebSession.user_id)
        .where(WebSession.token_hash == _digest(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or user.disabled_at is not None:
        return None
    if row.expires_at <= at or row.last_seen_at + IDLE <= at:
        return None
    if at - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = at
    return principal_of(user), user.display_name


def end_session(session: Session, token: str, *, at: datetime) -> None:
    """Sign out: the cookie stops working on every rxguard process at once."""
    row = session.execute(select(WebSession).where(WebSession.token_hash == _digest(token))).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = at
