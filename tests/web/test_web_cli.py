"""``rxguard web demo-users`` and ``rxguard web password``: sign-ins a person can use at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_demo import NOW

from rxguard.access.passwords import check_sign_in
from rxguard.cli import run
from rxguard.store import make_engine, session_factory


def test_demo_users_get_the_demo_password_and_a_password_can_be_changed(
    demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.db"
    path.write_bytes(demo_template.read_bytes())
    monkeypatch.setenv("RXGUARD_DATABASE_URL", f"sqlite:///{path}")
    assert run(["web", "demo-users", "--password", "demo password 1"]) == 0
    assert "nina" in capsys.readouterr().out
    assert run(["web", "password", "nina", "--password", "short"]) == 2
    assert "12 to 256 characters" in capsys.readouterr().err
    assert run(["web", "password", "nina", "--password", "a much longer phrase"]) == 0
    assert run(["web", "password", "nina", "--password", "aaaaaaaaaaaa"]) == 2
    assert "too easy to guess" in capsys.readouterr().err
    factory = session_factory(make_engine(url=f"sqlite:///{path}"))
    assert check_sign_in(factory, user_name="ada", password="demo password 1", at=NOW).principal is not None
    assert check_sign_in(factory, user_name="nina", password="demo password 1", at=NOW).principal is None
    assert check_sign_in(factory, user_name="nina", password="a much longer phrase", at=NOW).principal is not None
