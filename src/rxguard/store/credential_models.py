"""Tables for signing in to the web application: password hashes and browser sessions.

Kept apart from the API's tables (``auth_models.py``) because API clients
never use them; they share ``Base`` so one Alembic history creates both.

* ``user_password`` — one scrypt hash per user (never the password), with the
  count of recent failed sign-ins and the moment sign-in opens again, so a
  password-guessing run is slowed across every rxguard process sharing the
  database, not only in one process's memory.
* ``sign_in_throttle`` — failed sign-ins per account name, per client
  address and in total (one row each, keyed ``account:NAME``, ``address:IP``,
  ``global``). Every attempt takes the row lock and counts itself *before*
  the password is checked, so parallel guesses against any number of rxguard
  processes sharing the database cannot slip past the brake (a counter read
  and written back by each process loses updates).
* ``web_session`` — a signed-in browser. The cookie carries 256 random bits;
  only their SHA-256 is stored (like API tokens), so a copy of the database
  cannot be replayed as a cookie. Signing out sets ``revoked_at``: unlike a
  self-contained signed cookie, a session ends on the server when it ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rxguard.store.models import Base, Id, new_id


class UserPassword(Base):
    __tablename__ = "user_password"

    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime]
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    #: Base32 TOTP secret (RFC 6238) of the second factor; None: not enrolled.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last 30-second step a code was accepted for: a code is used once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)


class SignInThrottle(Base):
    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class WebSession(Base):
    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
