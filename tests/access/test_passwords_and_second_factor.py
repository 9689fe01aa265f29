"""Weak passwords are refused, administrators and pharmacists need a TOTP code, demo commands stay in development."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxguard.access import create_user
from rxguard.access.passwords import check_sign_in, enroll_totp, refuse_weak_password, set_password, weakness
from rxguard.cli import run
from rxguard.errors import InputError
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
GOOD = "violet tractor sings at noon"


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "abababababab", "121212121212", "123456789012", "password1234", "Password1234!",
     "qwertyuiopas", "abcdefghijklm", "zyxwvutsrqpo", "rxguard-demo-2026", "my name is nina ok"],
)  # fmt: skip
def test_trivial_and_breached_passwords_are_refused(password: str) -> None:
    with pytest.raises(InputError, match="too easy to guess"):
        refuse_weak_password(password, "nina")


@given(st.text(alphabet="abcdefghij", min_size=12, max_size=40).filter(lambda p: len(set(p)) < 5))
def test_any_password_of_few_distinct_characters_is_refused(password: str) -> None:
    assert weakness(password) is not None


def test_a_passphrase_is_accepted() -> None:
    refuse_weak_password(GOOD, "nina")
    assert weakness("correct horse battery") is None


def _pharmacist(db: TestDatabase) -> None:
    from rxguard.program.participants import register_site

    with transaction(db.factory) as session:
        register_site(session, key="site_a", name="Site A", at=NOW, actor="test")
        create_user(session, name="phil", role="pharmacist", site_key="site_a", at=NOW, actor="test")
        set_password(session, user_name="phil", password=GOOD, at=NOW, actor="test")


def test_a_pharmacist_needs_a_fresh_totp_code(db: TestDatabase) -> None:
    _pharmacist(db)
    production = {"environment": "production"}
    refused = check_sign_in(db.factory, user_name="phil", password=GOOD, at=NOW, **production)
    assert refused.principal is None and refused.refusal == "no-second-factor"
    with transaction(db.factory) as session:
        secret, uri = enroll_totp(session, user_name="phil", at=NOW, actor="test")
    assert uri.startswith("otpauth://totp/") and "rxguard" in uri
    totp = pyotp.TOTP(secret)
    for code in ("", "000000" if totp.at(NOW) != "000000" else "111111", "12345"):
        result = check_sign_in(db.factory, user_name="phil", password=GOOD, code=code, at=NOW, **production)
        assert result.principal is None and result.refusal == "code"
    at = NOW + timedelta(minutes=20)  # the wrong codes counted against the brake; wait it out
    code = totp.at(at)
    assert check_sign_in(db.factory, user_name="phil", password=GOOD, code=code, at=at, **production).principal
    again = check_sign_in(db.factory, user_name="phil", password=GOOD, code=code, at=at, **production)
    assert again.principal is None and again.refusal == "code"  # a code works once
    # enrolled, the second factor is needed in development too
    dev = check_sign_in(db.factory, user_name="phil", password=GOOD, at=at + timedelta(seconds=60))
    assert dev.principal is None and dev.refusal == "code"


def test_outside_development_a_weak_stored_password_cannot_sign_in(db: TestDatabase) -> None:
    with transaction(db.factory) as session:
        create_user(session, name="audrey", role="auditor", at=NOW, actor="test")
        set_password(session, user_name="audrey", password="rxguard-demo-2026", at=NOW, actor="test",
                     published_demo=True)  # fmt: skip
    assert check_sign_in(db.factory, user_name="audrey", password="rxguard-demo-2026", at=NOW).principal
    refused = check_sign_in(db.factory, user_name="audrey", password="rxguard-demo-2026", at=NOW,
                            environment="production")  # fmt: skip
    assert refused.principal is None and refused.refusal == "weak-password"


@pytest.mark.parametrize("command", [["web", "demo-users"], ["user", "demo"], ["demo", "load"]])
def test_demo_commands_refuse_to_run_outside_development(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RXGUARD_ENVIRONMENT", "production")
    monkeypatch.setenv("RXGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/never.db")
    assert run(command) == 2
    output = capsys.readouterr()
    assert "development only" in output.err and "Traceback" not in output.err + output.out
    assert not (tmp_path / "never.db").exists()
