"""API tokens: shown once, stored as a SHA-256 digest, looked up by that digest.

A token is ``rxg_`` followed by 43 URL-safe characters (256 random bits).
With that much entropy a plain SHA-256 cannot be reversed or guessed, so
there is no need for a slow password hash, and authenticating a request is
one indexed look-up. The ``rxg_`` prefix lets secret scanners and the log
redactor recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from rxguard.access.policy import Principal
from rxguard.access.users import get_user
from rxguard.errors import InputError, NotFoundError
from rxguard.store import audit
from rxguard.store.auth_models import ApiToken, AppUser

PREFIX = "rxg_"
#: A token without an explicit lifetime expires after this many days (never: not offered).
DEFAULT_DAYS = 90
MAX_DAYS = 366


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, *, user_name: str, at: datetime, actor: str,
    label: str = "", valid_days: int = DEFAULT_DAYS,
) -> tuple[str, ApiToken]:  # fmt: skip
    """Make a token for a user, valid ``valid_days`` (90 by default); returns the token (show it
    once) and its stored row."""
    user = get_user(session, user_name)
    if user.disabled_at is not None:
        raise InputError(f"user {user_name!r} is disabled; enable it before creating a token")
    if not 1 <= valid_days <= MAX_DAYS:
        raise InputError(f"--days must be 1 to {MAX_DAYS}; make a new token when it runs out")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=token_digest(token),
        label=label or f"token for {user_name}",
        created_at=at,
        expires_at=at + timedelta(days=valid_days),
    )
    session.add(row)
    session.flush()
    audit.record(
        session, at=at, actor=actor, action="token.created", entity="api_token", entity_id=row.id,
        payload={"user": user_name, "expires_at": row.expires_at},
    )  # fmt: skip
    return token, row


def authenticate(connection: Connection, token: str, *, at: datetime) -> Principal | None:
    """The principal a token belongs to, or None when it is unknown, revoked, expired or disabled.

    One indexed read of plain columns on a connection (no ORM session): it runs
    on every API request.
    """
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    found = connection.execute(
        select(
            ApiToken.revoked_at, ApiToken.expires_at, AppUser.disabled_at,
            AppUser.id, AppUser.name, AppUser.role, AppUser.prescriber_id, AppUser.site_id,
        )
        .join(AppUser, AppUser.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(token))
    ).first()  # fmt: skip
    if found is None:
        return None
    revoked_at, expires_at, disabled_at, user_id, name, role, prescriber_id, site_id = found
    if revoked_at is not None or disabled_at is not None:
        return None
    if expires_at is not None and expires_at <= at:
        return None
    return Principal(user_id=user_id, name=name, role=role, prescriber_id=prescriber_id, site_id=site_id)  # type: ignore[arg-type]


def list_tokens(session: Session, *, user_name: str | None = None) -> list[tuple[ApiToken, str]]:
    """Every token (or one user's) with its user's name, newest first; never the token itself."""
    query = select(ApiToken, AppUser.name).join(AppUser, AppUser.id == ApiToken.user_id)
    if user_name is not None:
        query = query.where(AppUser.id == get_user(session, user_name).id)
    rows = session.execute(query.order_by(ApiToken.created_at.desc(), ApiToken.id)).all()
    return [(row, name) for row, name in rows]


def token_state(row: ApiToken, at: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= at:
        return "expired"
    return "active"


def revoke_token(session: Session, *, token_id: str, at: datetime, actor: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token with id {token_id!r}; 'rxguard token list' shows them")
    if row.revoked_at is None:
        row.revoked_at = at
        audit.record(session, at=at, actor=actor, action="token.revoked", entity="api_token",
                     entity_id=row.id, payload={})  # fmt: skip
    return row
