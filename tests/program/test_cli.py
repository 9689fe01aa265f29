"""The program's command line on both engines: a whole visit, exit codes, nothing half-written."""

from __future__ import annotations

import orjson
import pytest

from rxguard.cli import run
from rxguard.store.testing import TestDatabase

AT = "2026-01-05T09:00+00:00"
NO = [
    "--answer",
    "new-or-worsening-symptoms=no",
    "--answer",
    "immunocompromising-condition=no",
    "--answer",
    "immunosuppressant-or-antineoplastic-use=no",
    "--answer",
    "active-infection=no",
    "--answer",
    "steroid-use=no",
]


@pytest.fixture
def cli(db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RXGUARD_DATABASE_URL", db.url)

    def call(*args: str) -> tuple[int, str, str]:
        code = run(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def setup_touch(cli) -> None:  # type: ignore[no-untyped-def]
    steps = [
        ("register", "prescriber", "dr_ada", "--name", "Dr Ada", "--at", AT),
        ("register", "prescriber", "dr_ben", "--name", "Dr Ben", "--at", AT),
        ("register", "site", "site_north", "--name", "North", "--at", AT),
        ("register", "pharmacy", "pharm_north", "--site", "site_north", "--name", "North Pharmacy", "--at", AT),
        ("register", "patient", "pat_amy", "--name", "Amy", "--birth-on", "1990-03-02", "--sex", "female", "--at", AT),
        ("certify", "--program", "touch", "--prescriber", "dr_ada", "--at", AT),
        ("certify", "--program", "touch", "--site", "site_north", "--site-authorization-number", "SAN-1", "--at", AT),
        (
            "enroll",
            "--program",
            "touch",
            "--patient",
            "pat_amy",
            "--prescriber",
            "dr_ada",
            "--indication",
            "multiple-sclerosis",
            "--at",
            AT,
        ),
        (
            "consent",
            "--program",
            "touch",
            "--patient",
            "pat_amy",
            "--prescriber",
            "dr_ada",
            "--version",
            "1.0",
            "--language",
            "zh",
            "--at",
            AT,
        ),
        ("authorize-treatment", "--program", "touch", "--patient", "pat_amy", "--prescriber", "dr_ada", "--at", AT),
    ]
    for step in steps:
        code, _out, err = cli(*step)
        assert code == 0, (step, err)


def test_a_whole_visit_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    setup_touch(cli)
    code, out, _ = cli("authorize", "--site", "site_north", "--patient", "pat_amy", *NO, "--at", AT)
    assert code == 0
    result = orjson.loads(out)
    assert result["decision"] == "AUTHORIZED"
    code, out, err = cli(
        "infuse",
        result["authorization"],
        "--idempotency-key",
        "v1",
        "--product",
        "tysabri",
        "--lot",
        "L1",
        "--dose",
        "300",
        "--volume-ml",
        "100",
        "--prepared-at",
        "2026-01-05T08:00+00:00",
        "--started-at",
        "2026-01-05T09:30+00:00",
        "--stopped-at",
        "2026-01-05T10:30+00:00",
        "--observation-end-at",
        "2026-01-05T11:30+00:00",
        "--at",
        "2026-01-05T11:40+00:00",
    )
    assert code == 0, err
    assert orjson.loads(out)["dose_number"] == 1
    code, out, _ = cli("audit", "verify")
    assert code == 0 and "intact" in out
    code, out, _ = cli("due", "--at", "2026-05-01")
    due = {row["item"]: row["status"] for row in orjson.loads(out)}
    assert "prescriber-assessment" in due and due["anti-drug-antibodies"] == "overdue"
    code, out, err = cli(
        "monitor", "--patient", "pat_amy", "--kind", "anti-natalizumab-antibody", "--result", "negative",
        "--on", "2026-04-30", "--at", "2026-05-01T10:00+00:00",
    )  # fmt: skip
    assert code == 0, err
    assert "anti-natalizumab-antibody recorded for pat_amy on 2026-04-30" in out
    code, out, _ = cli("due", "--patient", "pat_amy", "--at", "2026-05-01T12:00+00:00")
    (antibodies,) = [row for row in orjson.loads(out)["calendar"] if row["item"] == "anti-drug-antibodies"]
    assert antibodies["due_on"] == "2026-07-23" and antibodies["status"] == "upcoming"
    code, out, _ = cli("due", "--at", "2026-05-01")
    assert not any(row["item"] == "anti-drug-antibodies" for row in orjson.loads(out))


def test_a_held_visit_is_cleared_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    setup_touch(cli)
    answers = [a if a != "steroid-use=no" else "steroid-use=yes" for a in NO]
    code, out, _ = cli("authorize", "--site", "site_north", "--patient", "pat_amy", *answers, "--at", AT)
    held = orjson.loads(out)
    assert code == 0 and held["decision"] == "HOLD"
    code, out, err = cli(
        "clear",
        held["authorization"],
        "--prescriber",
        "dr_ada",
        "--outcome",
        "proceed",
        "--reason",
        "course finished",
        "--at",
        AT,
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "enroll",
                "--program",
                "touch",
                "--patient",
                "pat_amy",
                "--prescriber",
                "dr_ben",
                "--indication",
                "multiple-sclerosis",
                "--at",
                AT,
            ),
            "dr_ben is not enrolled",
        ),
        (
            ("authorize", "--site", "site_north", "--patient", "pat_amy", "--answer", "steroid-use=perhaps"),
            "must be yes, no or a number",
        ),
        (("authorize", "--site", "site_north", "--patient", "pat_nobody"), "no patient with key 'pat_nobody'"),
        (("certify", "--program", "touch", "--site", "site_north", "--prescriber", "dr_ada"), "exactly one"),
        (("register", "patient", "pat_x", "--name", "X", "--at", "yesterday"), "is not a date-time"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(cli, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    setup_touch(cli)
    code, _, err = cli(*args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_failed_command_leaves_nothing_half_written(cli, db: TestDatabase) -> None:  # type: ignore[no-untyped-def]
    from rxguard.program.transfer import snapshot
    from rxguard.store import transaction

    setup_touch(cli)
    with transaction(db.factory) as s:
        before = snapshot(s)
    # The consent step fails after the enrollment row was locked: nothing may remain of it.
    code, _, err = cli(
        "consent",
        "--program",
        "touch",
        "--patient",
        "pat_amy",
        "--prescriber",
        "dr_ada",
        "--version",
        "9.9",
        "--at",
        AT,
    )
    assert code == 2 and "9.9" in err
    with transaction(db.factory) as s:
        assert snapshot(s) == before


def test_demo_load_then_export_and_audit_verify(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("demo", "load", "--at", AT)
    assert code == 0, err
    assert "pat_eli" in out and "suspended" in out
    code, out, _ = cli("overrides")
    assert len(orjson.loads(out)) == 1
    code, out, _ = cli("ae", "export", "--format", "medwatch-csv")
    assert code == 0 and out.startswith("A1_patient_identifier")
    code, out, _ = cli("export", str(tmp_path / "program.ndjson"))
    assert code == 0 and (tmp_path / "program.ndjson").stat().st_size > 0
    code, out, _ = cli("demo", "load", "--at", AT)
    assert code == 2


def test_audit_verify_names_the_tampered_entry_and_exits_2(cli, db: TestDatabase) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    setup_touch(cli)
    with db.engine.begin() as connection:
        if db.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
            connection.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 4"))
            connection.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
            connection.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 4"))
    code, _, err = cli("audit", "verify")
    assert code == 2 and "seq 4" in err
