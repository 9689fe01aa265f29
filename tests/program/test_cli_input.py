"""The command line on bad input: one line on stderr and exit 2, never a traceback, never an empty database."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import setup_touch

from rxguard.cli import run
from rxguard.store.testing import TestDatabase


@pytest.fixture
def cli(db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RXGUARD_DATABASE_URL", db.url)
    monkeypatch.chdir(tmp_path)  # whatever a command writes (an export) stays in the test's folder

    def call(*args: str) -> tuple[int, str, str]:
        code = run(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith("rxguard: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("command", [["due"], ["audit", "verify"], ["overrides"], ["export", "out.ndjson"]])
def test_without_a_database_a_command_says_so_in_one_line_and_creates_none(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RXGUARD_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    code = run(command)
    one_line_error(code, capsys.readouterr().err, "RXGUARD_DATABASE_URL", "rxguard db upgrade")
    assert list(tmp_path.iterdir()) == []


def test_a_database_url_naming_a_missing_file_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nowhere" / "program.db"
    monkeypatch.setenv("RXGUARD_DATABASE_URL", f"sqlite:///{target}")
    one_line_error(run(["due"]), capsys.readouterr().err, str(target), "does not exist")
    assert not target.parent.exists()


def test_an_empty_database_file_is_named_as_not_set_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "empty.db"
    target.touch()
    monkeypatch.setenv("RXGUARD_DATABASE_URL", f"sqlite:///{target}")
    one_line_error(run(["audit", "verify"]), capsys.readouterr().err, "rxguard db upgrade")


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["due", "--at", "9999-12-31"], "9999-12-31"),
        (["due", "--at", "0001-01-01"], "0001-01-01"),
        (["monitor", "--patient", "pat_amy", "--kind", "prescriber-assessment", "--measure", "edss=2",
          "--measure", f"relapses={2**70}", "--at", "2026-01-05T09:00+00:00"], "relapses"),
        (["monitor", "--patient", "pat_amy", "--kind", "prescriber-assessment", "--measure", "edss=nan",
          "--at", "2026-01-05T09:00+00:00"], "edss"),
        (["monitor", "--patient", "pat_amy", "--kind", "prescriber-assessment", "--measure", "edss=11",
          "--at", "2026-01-05T09:00+00:00"], "outside the range"),
        (["monitor", "--patient", "pat_amy", "--kind", "prescriber-assessment", "--measure", "height=170",
          "--at", "2026-01-05T09:00+00:00"], "height"),
        (["monitor", "--patient", "pat_amy", "--kind", "blood-pressure",
          "--at", "2026-01-05T09:00+00:00"], "blood-pressure"),
        (["register", "patient", "pat_nul", "--name", "Amy\u202eSmith"], "U+202E"),
        (["register", "patient", "pat_old", "--name", "Old", "--birth-on", "0001-01-01"], "birth_on"),
        (["register", "patient", "pat_back", "--name", "Back", "--at", "0001-01-01"], "--at"),
    ],
)  # fmt: skip
def test_out_of_bounds_input_is_one_line_and_exit_2(cli, args: list[str], word: str) -> None:  # type: ignore[no-untyped-def]
    setup_touch(cli)
    code, _, err = cli(*args)
    one_line_error(code, err, word)


def test_actor_and_at_are_refused_for_writes_outside_development_but_a_read_may_ask_about_a_day(
    cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    setup_touch(cli)
    monkeypatch.setenv("RXGUARD_ENVIRONMENT", "production")
    code, _, err = cli("register", "prescriber", "dr_cy", "--name", "Dr Cy", "--actor", "admin")
    one_line_error(code, err, "--actor", "outside development")
    code, _, err = cli("register", "prescriber", "dr_cy", "--name", "Dr Cy", "--at", "2026-01-05T09:00+00:00")
    one_line_error(code, err, "--at", "outside development")
    code, _, err = cli("due", "--at", "2026-01-05")
    assert code == 0, err
    code, _, err = cli("register", "prescriber", "dr_cy", "--name", "Dr Cy")
    assert code == 0, err


def test_an_infusion_with_a_nan_dose_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    setup_touch(cli)
    code, _, err = cli(
        "infuse", "00000000-0000-0000-0000-000000000000", "--idempotency-key", "cli-nan-1", "--product", "tysabri",
        "--lot", "L1", "--dose", "nan", "--volume-ml", "100", "--prepared-at", "2026-01-05T09:00+00:00",
        "--started-at", "2026-01-05T10:00+00:00", "--stopped-at", "2026-01-05T11:00+00:00",
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err


arguments = st.lists(st.text(max_size=12), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from([["register", "patient"], ["due", "--at"], ["monitor", "--patient"],
                                ["export"], ["import"], ["authorize", "--site"], ["ae", "report", "--patient"]]),
       rest=arguments)  # fmt: skip
def test_no_input_makes_the_cli_print_a_traceback(cli, command: list[str], rest: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(*command, *rest)
    assert "Traceback" not in err, err
    assert code in (0, 1, 2), (code, err)
