"""Passwords for signing in to the web application: scrypt hashes and a brake on guessing.

Why scrypt from the standard library: it is a memory-hard password hash
(RFC 7914) that needs no compiled dependency, and the parameters travel in
the stored string, so they can be raised later without breaking old hashes.
A wrong password costs the same time whether or not the user exists, so the
sign-in form does not tell a stranger which user names are real.

The brake: after ``FREE_FAILURES`` wrong passwords in a row, sign-in for that
user opens again only after a wait that doubles with each further failure,
capped at ``MAX_WAIT`` — long enough to make guessing useless, short enough
that a nurse who mistypes is never locked out of a shift (the iPLEDGE
lockouts are a warning). The counter lives in the database, so every
rxguard process sees it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.access.policy import Principal
from rxguard.access.users import get_user, principal_of
from rxguard.errors import InputError
from rxguard.store import audit
from rxguard.store.auth_models import AppUser
from rxguard.store.credential_models import UserPassword

MIN_LENGTH = 12
MAX_LENGTH = 256
FREE_FAILURES = 5
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)
_N, _R, _P = 2**14, 8, 1
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), the form :func:`is_password` reads."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def is_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=128 * 1024 * 1024,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def set_password(session: Session, *, user_name: str, password: str, at: datetime, actor: str) -> None:
    """Give a user a password (or a new one); clears any sign-in brake."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InputError(f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters; a short phrase works well")
    user = get_user(session, user_name)
    row = session.get(UserPassword, user.id)
    if row is None:
        row = UserPassword(user_id=user.id, password_hash="", set_at=at, failed_count=0)
        session.add(row)
    row.password_hash = hash_password(password)
    row.set_at, row.failed_count, row.last_failed_at, row.locked_until = at, 0, None, None
    session.flush()
    audit.record(
        session,
        at=at,
        actor=actor,
        action="user.password-set",
        entity="app_user",
        entity_id=user.id,
        payload={"name": user_name},
    )


@dataclass(frozen=True)
class SignInResult:
    """Who signed in, or why not (``wait_seconds`` > 0 when the brake is on)."""

    principal: Principal | None
    wait_seconds: int = 0


def _wait_after(failures: int) -> timedelta:
    extra = failures - FREE_FAILURES
    if extra < 0:
        return timedelta(0)
    wait: timedelta = min(FIRST_WAIT * (2**extra), MAX_WAIT)
    return wait


def check_sign_in(session: Session, *, user_name: str, password: str, at: datetime) -> SignInResult:
    """The principal when name and password match an active user; records failures."""
    found = session.execute(
        select(AppUser, UserPassword)
        .join(UserPassword, UserPassword.user_id == AppUser.id)
        .where(AppUser.name == user_name.strip().lower())
    ).first()
    if found is None:
        is_password(password, _DUMMY)  # same cost as a real check
        return SignInResult(None)
    user, row = found
    if row.locked_until is not None and row.locked_until > at:
        return SignInResult(None, wait_seconds=max(1, int((row.locked_until - at).total_seconds())))
    if not is_password(password[:MAX_LENGTH], row.password_hash) or user.disabled_at is not None:
        row.failed_count += 1
        row.last_failed_at = at
        wait = _wait_after(row.failed_count)
        row.locked_until = at + wait if wait else None
        if row.failed_count == FREE_FAILURES:
            audit.record(
                session,
                at=at,
                actor="web",
                action="user.sign-in-braked",
                entity="app_user",
                entity_id=user.id,
                payload={"name": user.name, "failures": row.failed_count},
            )
        return SignInResult(None)
    row.failed_count, row.last_failed_at, row.locked_until = 0, None, None
    return SignInResult(principal_of(user))
