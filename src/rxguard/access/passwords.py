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
lockouts are a warning). Failures are also counted per client address
(guessing many accounts from one place) and in total (a ceiling on guessing
from everywhere at once). The counters live in the database and every
attempt counts itself under a row lock before its password is checked
(:mod:`rxguard.store.sign_in_throttle`), so the brake holds across every
rxguard process and instance sharing the database, however many guesses
arrive at once.

Weak passwords are refused when set: fewer than twelve characters, fewer than
five different characters (``aaaaaaaaaaaa``), an alphabet or keyboard run, the
user's own name, or one of a bundled list of breached and published passwords
(``weak_passwords.txt``, the demo password included). Outside development a
sign-in with such a password is refused too, so an account reset to the
published demo password cannot be used.

Administrators and pharmacists need a second factor: a TOTP code (RFC 6238,
``pyotp``; ``rxguard user totp NAME`` enrols it). Outside development these
roles cannot sign in without one; a code is accepted once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from rxguard.access.policy import Principal
from rxguard.access.users import get_user, principal_of
from rxguard.errors import InputError
from rxguard.store import audit
from rxguard.store.auth_models import AppUser
from rxguard.store.credential_models import UserPassword, WebSession
from rxguard.store.db import transaction
from rxguard.store.sign_in_throttle import Limit, clear_key, count_attempt, take_back_attempt

MIN_LENGTH = 12
MAX_LENGTH = 256
FREE_FAILURES = 5
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)
#: One client address may get this many passwords wrong (over any accounts) before it waits. High
#: enough that a ward behind one NAT address (or a proxy that is not trusted for X-Forwarded-For)
#: is not stopped by a few colleagues' typos; low enough to slow spraying guesses over accounts.
ADDRESS_FREE_FAILURES = 100
#: Failed sign-ins from everywhere together within ``GLOBAL_WINDOW`` before everyone waits a little.
GLOBAL_FREE_FAILURES = 500
GLOBAL_WINDOW = timedelta(minutes=5)
SECOND_FACTOR_ROLES = frozenset({"admin", "pharmacist"})
_WEAK_LIST = Path(__file__).with_name("weak_passwords.txt")
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "1234567890", "0123456789", "1qaz2wsx3edc4rfv")
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


@functools.cache
def _weak_list() -> frozenset[str]:
    lines = _WEAK_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def weakness(password: str, user_name: str = "") -> str | None:
    """Why ``password`` is too weak to use, or None (length is checked separately)."""
    lower = password.lower()
    if len(set(lower)) < 5:
        return "it uses fewer than five different characters"
    symbols = "!@#$%^&*?.,-_ "
    if {lower, lower.rstrip(symbols), lower.rstrip(symbols + "0123456789")} & _weak_list():
        return "it is on the list of breached or published passwords"
    for run in _RUNS:
        doubled = run * 3
        if lower in doubled or lower in doubled[::-1]:
            return "it is a run of the alphabet, digits or the keyboard"
    name = user_name.strip().lower()
    if len(name) >= 3 and name in lower:
        return "it contains the user name"
    return None


def refuse_weak_password(password: str, user_name: str = "") -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InputError(f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters; a short phrase works well")
    why = weakness(password, user_name)
    if why:
        raise InputError(f"that password is too easy to guess ({why}); choose a phrase of several unrelated words")


def set_password(
    session: Session, *, user_name: str, password: str, at: datetime, actor: str, published_demo: bool = False
) -> None:
    """Give a user a password (or a new one); clears the account's sign-in brake.

    ``published_demo`` lets the development demo set its published password (length still
    checked); everything else must pass :func:`refuse_weak_password`."""
    if published_demo:
        if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
            raise InputError(f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters")
    else:
        refuse_weak_password(password, user_name)
    user = get_user(session, user_name)
    row = session.get(UserPassword, user.id)
    if row is None:
        row = UserPassword(user_id=user.id, password_hash="", set_at=at, failed_count=0)
        session.add(row)
    row.password_hash = hash_password(password)
    row.set_at, row.failed_count, row.last_failed_at, row.locked_until = at, 0, None, None
    session.flush()
    clear_key(session, _account_key(user.name))
    # A new password ends every browser session that signed in with the old one.
    session.execute(
        update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None)).values(revoked_at=at)
    )
    audit.record(
        session,
        at=at,
        actor=actor,
        action="user.password-set",
        entity="app_user",
        entity_id=user.id,
        payload={"name": user_name},
    )


def enroll_totp(session: Session, *, user_name: str, at: datetime, actor: str) -> tuple[str, str]:
    """Give a user a new TOTP secret (replacing any old one); returns (secret, otpauth URI) to show once."""
    user = get_user(session, user_name)
    row = session.get(UserPassword, user.id)
    if row is None:
        raise InputError(f"user {user_name!r} has no password yet; set one with 'rxguard web password {user_name}'")
    secret = pyotp.random_base32()
    row.totp_secret, row.totp_last_step = secret, None
    audit.record(session, at=at, actor=actor, action="user.second-factor-enrolled", entity="app_user",
                 entity_id=user.id, payload={"name": user.name})  # fmt: skip
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name="rxguard")


def _code_step(secret: str, code: str, at: datetime, after: int | None) -> int | None:
    """The time step ``code`` is valid for (this one or a neighbour, for clock drift), if newer than ``after``."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at)
    for step in (now - 1, now, now + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


@dataclass(frozen=True)
class SignInResult:
    """Who signed in, or why not: ``wait_seconds`` > 0 when braked; ``refusal`` names another reason
    (``code`` a missing or wrong second-factor code, ``no-second-factor`` a role that needs one without
    one, ``weak-password`` a password that must be changed first)."""

    principal: Principal | None
    wait_seconds: int = 0
    refusal: str | None = None


def _account_key(name: str) -> str:
    return "account:" + name[:MAX_NAME]


MAX_NAME = 64


def sign_in_limits(user_name: str, address: str | None) -> list[Limit]:
    """The brakes a sign-in passes: the account, the client address, and everyone together."""
    limits = [
        Limit(_account_key(user_name), FREE_FAILURES, FIRST_WAIT, MAX_WAIT, timedelta(days=1)),
        Limit("global", GLOBAL_FREE_FAILURES, timedelta(seconds=5), timedelta(minutes=1), GLOBAL_WINDOW),
    ]
    if address:
        limits.append(
            Limit("address:" + address[:100], ADDRESS_FREE_FAILURES, FIRST_WAIT, MAX_WAIT, timedelta(hours=1))
        )
    return limits


def check_sign_in(
    sessions: sessionmaker[Session], *, user_name: str, password: str, at: datetime,
    address: str | None = None, code: str = "", environment: str = "development",
) -> SignInResult:  # fmt: skip
    """The principal when name, password (and second factor where the role needs it) match an active user.

    Three short transactions: count the attempt (refused at once when braked), read the user,
    and — after the password hash, which runs outside any transaction — settle the attempt.
    """
    name = user_name.strip().lower()[:MAX_NAME]
    limits = sign_in_limits(name, address)
    with transaction(sessions) as session:
        attempt = count_attempt(session, limits, at=at)
    if attempt.wait:
        return SignInResult(None, wait_seconds=max(1, math.ceil(attempt.wait.total_seconds())))
    with transaction(sessions) as session:
        found = session.execute(
            select(AppUser, UserPassword)
            .join(UserPassword, UserPassword.user_id == AppUser.id)
            .where(AppUser.name == name)
        ).first()
    if found is None:
        is_password(password, _DUMMY)  # same cost as a real check
        return SignInResult(None)
    user, row = found
    if not is_password(password[:MAX_LENGTH], row.password_hash) or user.disabled_at is not None:
        if attempt.failures.get(_account_key(name)) == FREE_FAILURES:
            with transaction(sessions) as session:
                audit.record(session, at=at, actor="web", action="user.sign-in-braked", entity="app_user",
                             entity_id=user.id, payload={"name": user.name, "failures": FREE_FAILURES})  # fmt: skip
        return SignInResult(None)
    development = environment == "development"
    if not development and weakness(password, name) is not None:
        return SignInResult(None, refusal="weak-password")
    step: int | None = None
    if user.role in SECOND_FACTOR_ROLES and (row.totp_secret or not development):
        if not row.totp_secret:
            return SignInResult(None, refusal="no-second-factor")
        step = _code_step(row.totp_secret, code, at, row.totp_last_step)
        if step is None:
            return SignInResult(None, refusal="code")
    with transaction(sessions) as session:
        if step is not None:
            stored = session.get(UserPassword, user.id, with_for_update=True)
            if stored is None or (stored.totp_last_step is not None and stored.totp_last_step >= step):
                return SignInResult(None, refusal="code")  # the same code, used at the same moment elsewhere
            stored.totp_last_step = step
        take_back_attempt(session, limits, reset=[_account_key(name)])
    return SignInResult(principal_of(user))
