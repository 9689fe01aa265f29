"""The CLI imports only the command module a command needs."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from rxguard.cli import COMMANDS, MODULES, modules_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "natalizumab-ms-patient.json"


def _registered(module: str) -> set[str]:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Group."""

    importlib.import_module(f"rxguard.cli.{module}").register(app)
    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", MODULES)
def test_command_table_names_every_command_of_each_module(module: str) -> None:
    assert _registered(module) == {name for name, owner in COMMANDS.items() if owner == module}


def test_known_command_loads_one_module_and_help_loads_all() -> None:
    assert modules_for(["check", "--drug", "x"]) == ("check",)
    assert modules_for(["--help"]) == MODULES
    assert modules_for([]) == MODULES
    assert modules_for(["no-such-command"]) == MODULES


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--drug", "Tysabri", "--bundle", str(EXAMPLE), "--at", "2026-01-05", "--format", "json"],
        ["ask", "What is natalizumab used for?"],
    ],
    ids=["check", "ask"],
)
def test_check_and_ask_import_no_database_stack(argv: list[str]) -> None:
    code = (
        "import sys; from rxguard.cli import run; code = run(sys.argv[1:]); "
        "heavy = sorted(m for m in ('sqlalchemy', 'alembic', 'fastapi', 'uvicorn') if m in sys.modules); "
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr
