"""The sign-in brake holds under parallel guessing across two server instances sharing one database.

Two "instances" are two engines (each its own connection pool, as two
rxguard processes have) over the same database; forty wrong passwords are
sent at once, half through each. The brake must let at most
``FREE_FAILURES`` of them reach the password check, and the right password
sent afterwards must still be braked. The same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from rxguard.access import create_user, passwords
from rxguard.access.passwords import (
    FREE_FAILURES,
    SignInResult,
    check_sign_in,
    set_password,
)
from rxguard.store import transaction
from rxguard.store.credential_models import SignInThrottle
from rxguard.store.db import make_engine, session_factory
from rxguard.store.testing import TestDatabase

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RIGHT = "a long and unusual phrase"
GUESSES = 40


def _user(db: TestDatabase, name: str = "nina") -> None:
    with transaction(db.factory) as session:
        create_user(session, name=name, role="auditor", at=NOW, actor="test")
        set_password(session, user_name=name, password=RIGHT, at=NOW, actor="test")


def _guess_in_parallel(db: TestDatabase, *, name: str, addresses: list[str]) -> list[SignInResult]:
    """``len(addresses)`` wrong passwords at once, alternating between two instances."""
    engines = [make_engine(url=db.url), make_engine(url=db.url)]
    factories = [session_factory(engine) for engine in engines]
    start = threading.Barrier(len(addresses))

    def guess(index: int) -> SignInResult:
        start.wait()
        return check_sign_in(factories[index % 2], user_name=name, password=f"wrong guess {index:03d}",
                             at=NOW, address=addresses[index])  # fmt: skip

    try:
        with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
            return list(pool.map(guess, range(len(addresses))))
    finally:
        for engine in engines:
            engine.dispose()


def test_forty_parallel_wrong_passwords_across_two_instances_are_braked(db: TestDatabase) -> None:
    _user(db)
    results = _guess_in_parallel(db, name="nina", addresses=[f"198.51.100.{i % 7}" for i in range(GUESSES)])
    checked = [r for r in results if not r.wait_seconds]
    assert all(r.principal is None for r in results)
    assert len(checked) <= FREE_FAILURES, f"{len(checked)} guesses reached the password check"
    assert len(results) - len(checked) >= GUESSES - FREE_FAILURES
    with db.factory() as session:
        row = session.get(SignInThrottle, "account:nina")
        assert row is not None and row.failures == FREE_FAILURES  # no lost update
    # the right password after the guesses is still braked, from either instance and any address
    right = check_sign_in(db.factory, user_name="nina", password=RIGHT, at=NOW + timedelta(seconds=1),
                          address="203.0.113.9")  # fmt: skip
    assert right.principal is None and right.wait_seconds > 0
    # once the wait is over, the right password signs in and lifts the account's brake
    later = NOW + timedelta(minutes=16)
    assert check_sign_in(db.factory, user_name="nina", password=RIGHT, at=later).principal is not None
    assert check_sign_in(db.factory, user_name="nina", password="wrong again 1", at=later).wait_seconds == 0


def test_one_address_guessing_many_accounts_is_braked(db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "ADDRESS_FREE_FAILURES", 4)  # the mechanism, with fewer accounts to create
    names = [f"user{i}" for i in range(6)]
    for name in names:
        _user(db, name)
    checked = 0
    for name in names:  # one wrong password each: no account brake is reached
        result = check_sign_in(db.factory, user_name=name, password="wrong guess", at=NOW, address="192.0.2.1")
        checked += not result.wait_seconds
    assert checked == 4
    other = check_sign_in(db.factory, user_name=names[-1], password=RIGHT, at=NOW, address="192.0.2.99")
    assert other.principal is not None  # another address is not braked by this one


def test_unknown_names_are_braked_like_real_ones(db: TestDatabase) -> None:
    """The brake answers the same whether the account exists, so it does not tell which names are real."""
    _user(db)
    for name in ("nina", "nobody-here"):
        waits = [check_sign_in(db.factory, user_name=name, password="wrong guess", at=NOW).wait_seconds
                 for _ in range(FREE_FAILURES + 2)]  # fmt: skip
        assert waits[:FREE_FAILURES] == [0] * FREE_FAILURES and all(w > 0 for w in waits[FREE_FAILURES:])


@pytest.mark.parametrize("attempts", [1, FREE_FAILURES - 1])
def test_a_correct_password_takes_back_its_count(db: TestDatabase, attempts: int) -> None:
    _user(db)
    for _ in range(attempts):
        check_sign_in(db.factory, user_name="nina", password="wrong guess", at=NOW, address="192.0.2.7")
    assert check_sign_in(db.factory, user_name="nina", password=RIGHT, at=NOW, address="192.0.2.7").principal
    with db.factory() as session:
        assert session.get(SignInThrottle, "account:nina").failures == 0  # type: ignore[union-attr]
        assert session.get(SignInThrottle, "address:192.0.2.7").failures == attempts  # type: ignore[union-attr]
