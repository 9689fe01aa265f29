"""The program layer reads like the checklist: SQL lives in the store.

A program module may name a database session (or connection) as a type and call the
store's named reads and writes; it may not build a statement, name a table or column,
or run SQL itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROGRAM = Path(__file__).resolve().parents[2] / "src" / "rxguard" / "program"

#: What a program module may import from SQLAlchemy: types to pass a session along, nothing that builds SQL.
ALLOWED = {
    "sqlalchemy": {"Connection"},
    "sqlalchemy.orm": {"Session", "object_session"},
}
#: Calls that run SQL or reach under the mapped classes to their tables.
SQL_CALLS = {"execute", "scalars", "scalar", "connection"}


def sql_in(source: str) -> list[str]:
    """What in ``source`` is SQL the store should hold, one line each (empty when the module is clean)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            allowed = ALLOWED.get(node.module or "", set())
            found += [
                f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names if a.name not in allowed
            ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
        elif isinstance(node, ast.Attribute) and node.attr == "__table__":
            found.append(f"line {node.lineno}: .__table__")
    return found


MODULES = sorted(PROGRAM.glob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_a_program_module_holds_no_sql(module: Path) -> None:
    found = sql_in(module.read_text(encoding="utf-8"))
    assert not found, f"{module.name} holds SQL; move it to a named read or write in rxguard.store: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import select",
        "from sqlalchemy import func, and_",
        "from sqlalchemy import Table, Column",
        "from sqlalchemy import text, literal, or_",
        "from sqlalchemy import insert, update, delete",
        "from sqlalchemy.sql import expression",
        "from sqlalchemy.orm import aliased",
        "import sqlalchemy",
        "import sqlalchemy as sa",
        "def f(session):\n    return session.execute(q).scalars()",
        "def f(session):\n    return session.connection()",
        "def f(model):\n    return model.__table__.c",
    ],
)
def test_the_check_finds_sql(source: str) -> None:
    assert sql_in(source)


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy.orm import Session",
        "from sqlalchemy import Connection",
        "from sqlalchemy.orm import object_session",
        "from rxguard.store import overview as reads\ndef f(s):\n    return reads.held_authorizations(s, within=None)",
        "def f(session, row):\n    session.add(row)\n    return session.get(type(row), row.id)",
    ],
)
def test_the_check_allows_a_session_passed_along(source: str) -> None:
    assert sql_in(source) == []


def test_every_program_module_is_checked() -> None:
    assert len(MODULES) > 20
