"""The sign-in brake's counters: one row per account, per client address, and one in total.

Why a row lock and counting *before* the password is checked: a brake that
reads the failure count, checks the password and writes the count back
loses updates when guesses arrive in parallel (forty guesses across two
processes ended with a count of two). Here every attempt, in one short
transaction, creates its rows if missing, locks them (``SELECT … FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers),
refuses when any is braked and otherwise counts itself as a failure, and
commits — all before the slow password hash runs. Only then is the
password checked; a correct one takes its count back. Rows are locked in
key order, so two attempts never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rxguard.store.credential_models import SignInThrottle


@dataclass(frozen=True)
class Limit:
    """How many failures ``key`` may have before waits start, and how the wait grows.

    After ``free`` failures each further one doubles the wait from ``first_wait`` up to
    ``max_wait``; failures older than ``window`` (counted from the first one) are forgotten.
    """

    key: str
    free: int
    first_wait: timedelta
    max_wait: timedelta
    window: timedelta

    def wait_after(self, failures: int) -> timedelta:
        extra = failures - self.free
        if extra < 0:
            return timedelta(0)
        wait: timedelta = min(self.first_wait * (2 ** min(extra, 30)), self.max_wait)
        return wait


@dataclass(frozen=True)
class Attempt:
    """The outcome of counting an attempt: ``wait`` > 0 when braked (nothing was counted)."""

    wait: timedelta
    failures: dict[str, int]


def _insert_missing(session: Session, keys: Sequence[str], at: datetime) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [{"key": key, "failures": 0, "window_started_at": at, "locked_until": None} for key in keys]
    session.execute(insert(SignInThrottle).values(rows).on_conflict_do_nothing(index_elements=["key"]))


def count_attempt(session: Session, limits: Sequence[Limit], *, at: datetime) -> Attempt:
    """Lock the limits' rows; refuse when any is braked, else count this attempt as a failure."""
    ordered = sorted(limits, key=lambda limit: limit.key)
    _insert_missing(session, [limit.key for limit in ordered], at)
    rows = {
        row.key: row
        for row in session.execute(
            select(SignInThrottle)
            .where(SignInThrottle.key.in_([limit.key for limit in ordered]))
            .order_by(SignInThrottle.key)
            .with_for_update()
        ).scalars()
    }
    wait = timedelta(0)
    for limit in ordered:
        row = rows[limit.key]
        if row.locked_until is not None and row.locked_until > at:
            wait = max(wait, row.locked_until - at)
        elif row.window_started_at + limit.window <= at:
            row.failures, row.window_started_at, row.locked_until = 0, at, None
    if wait:
        return Attempt(wait, {key: row.failures for key, row in rows.items()})
    for limit in ordered:
        row = rows[limit.key]
        row.failures += 1
        pause = limit.wait_after(row.failures)
        row.locked_until = at + pause if pause else None
    session.flush()
    return Attempt(timedelta(0), {key: row.failures for key, row in rows.items()})


def take_back_attempt(session: Session, limits: Sequence[Limit], *, reset: Sequence[str] = ()) -> None:
    """A correct sign-in: its counted failure is taken back; the ``reset`` keys start from zero.

    The account's own brake is lifted by its correct password; a client address and the total
    only lose this one count, so signing in to one account never clears guesses at others.
    """
    ordered = sorted(limits, key=lambda limit: limit.key)
    rows = session.execute(
        select(SignInThrottle)
        .where(SignInThrottle.key.in_([limit.key for limit in ordered]))
        .order_by(SignInThrottle.key)
        .with_for_update()
    ).scalars()
    for row in rows:
        if row.key in reset:
            row.failures, row.locked_until = 0, None
        else:
            row.failures = max(0, row.failures - 1)
    session.flush()


def clear_key(session: Session, key: str) -> None:
    """Forget a key's failures (a new password was set for the account)."""
    row = session.get(SignInThrottle, key, with_for_update=True)
    if row is not None:
        row.failures, row.locked_until = 0, None
