"""Backup and move: a loaded program leaves one engine and arrives on the other, entry by entry.

The Clozapine REMS lost its patients' history when it changed vendor. Here a
program with years of history (the demo: every participant state, holds,
overrides, adverse events, monitoring, hundreds of audit entries) plus the
patient-to-site assignments that decide what each site's staff may see is
exported with ``rxguard export`` and imported with ``rxguard import`` into an
empty database on the *other* engine (SQLite → PostgreSQL and back). Every
table is then compared row by row and column by column, the audit chain must
verify, and the moved program must keep working (a new dose is authorized and
the chain grows from the imported head).

Tables that hold credentials or short-lived security state (users, API
tokens, password hashes, web sessions, seen JWT ids) are deliberately not part
of the program export: an export is readable by auditors, and users re-create
their sign-in on the new instance. Every other table must arrive.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rel_db import ScratchDatabases
from sqlalchemy import Table, select

import rxguard.store
from rxguard.access import create_token, create_user
from rxguard.access.scope import assign_site
from rxguard.cli import run
from rxguard.program import authorization
from rxguard.program.demo import load_demo, ordinary_answers
from rxguard.store import audit, transaction
from rxguard.store.models import Base
from rxguard.store.testing import TestDatabase

pytestmark = pytest.mark.reliability
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOT_MOVED = frozenset({"app_user", "api_token", "user_password", "web_session", "cds_jti", "alembic_version"})

for _module in pkgutil.iter_modules(rxguard.store.__path__):
    if _module.name.endswith("models"):
        importlib.import_module(f"rxguard.store.{_module.name}")


def _load(database: TestDatabase) -> None:
    """The demo program, the sites that care for its patients, and a user with a token."""
    with transaction(database.factory) as s:
        load_demo(s, at=AT)
    with transaction(database.factory) as s:
        for patient, site in (("pat_amy", "site_north"), ("pat_bob", "site_south"), ("pat_gus", "site_north")):
            assign_site(s, patient_key=patient, site_key=site, at=AT, actor="demo-admin")
        create_user(s, name="nina", role="nurse", site_key="site_north", at=AT, actor="demo-admin")
        create_token(s, user_name="nina", at=AT, actor="demo-admin")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else value


def _table_rows(database: TestDatabase, table: Table) -> list[dict[str, Any]]:
    """Every row of a table, values read through the models' types, in primary-key order."""
    with database.engine.connect() as connection:
        result = connection.execute(select(table).order_by(*table.primary_key.columns))
        return [{k: _plain(v) for k, v in row._mapping.items()} for row in result]


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str) -> str:
    monkeypatch.setenv("RXGUARD_DATABASE_URL", url)
    code = run(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize(("source", "target"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_a_program_moves_to_the_other_engine_and_matches_entry_by_entry(
    source: str, target: str, scratch: ScratchDatabases, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], figures: Any,
) -> None:  # fmt: skip
    before_db, after_db = scratch.create(source), scratch.create(target)
    _load(before_db)
    # The source as it is exported: the export then audits itself ("program.exported"), an entry
    # that by nature cannot be inside the file it describes.
    moved = [table for table in Base.metadata.sorted_tables if table.name not in NOT_MOVED]
    snapshot = {table.name: _table_rows(before_db, table) for table in moved}
    export = tmp_path / "program.ndjson"
    _cli(monkeypatch, capsys, before_db.url, "export", str(export))
    _cli(monkeypatch, capsys, after_db.url, "import", str(export))

    compared, differences = 0, []
    for table in moved:
        before, after = snapshot[table.name], _table_rows(after_db, table)
        compared += len(before)
        if len(before) != len(after):
            differences.append(f"{table.name}: {len(before)} rows before, {len(after)} after the move")
            continue
        differences += [
            f"{table.name}: {old} became {new}" for old, new in zip(before, after, strict=True) if old != new
        ]
    assert not differences, "\n".join(differences[:20])
    assert "audit chain intact" in _cli(monkeypatch, capsys, after_db.url, "audit", "verify")

    with transaction(after_db.factory) as s:
        authorization.authorize_dose(s, site_key="site_north", patient_key="pat_amy", at=AT + timedelta(days=1),
                                     answers=ordinary_answers("touch"), actor="nurse_after_move")  # fmt: skip
    with transaction(after_db.factory) as s:
        report = audit.verify(s)
    assert report.ok and report.entries == len(snapshot["audit_entry"]) + 1
    figures.record(f"backup_move.{source}_to_{target}", rows_compared=compared, differences=len(differences),
                   lines_exported=len(export.read_text().splitlines()))  # fmt: skip
