"""Export → import into an empty database reproduces the same program state, compared."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from personas import World
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from rxguard.errors import InputError
from rxguard.program import transfer
from rxguard.program.demo import load_demo
from rxguard.store import audit, make_engine, session_factory, transaction
from rxguard.store.models import Infusion
from rxguard.store.testing import (
    TestDatabase,
    create_postgres_schema,
    drop_postgres_schema,
    sqlite_database,
)

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@contextmanager
def empty_twin(db: TestDatabase, tmp_path: Path) -> Iterator[TestDatabase]:
    """A second, empty database on the same engine."""
    if db.name == "sqlite":
        assert db.template is not None
        twin = sqlite_database(db.template, tmp_path)
        yield twin
        twin.engine.dispose()
        return
    schema, url = create_postgres_schema()
    engine = make_engine(url=url)
    try:
        yield TestDatabase("postgresql", url, engine, session_factory(engine), schema=schema)
    finally:
        engine.dispose()
        drop_postgres_schema(schema)


def test_export_then_import_reproduces_the_whole_program(db: TestDatabase, tmp_path: Path) -> None:
    with transaction(db.factory) as s:
        load_demo(s, at=AT)
    with transaction(db.factory) as s:
        lines = list(transfer.export_ndjson(s))
        before = transfer.snapshot(s)
    kinds = {orjson.loads(line)["resourceType"] for line in lines}
    assert {
        "Practitioner",
        "Organization",
        "Patient",
        "Consent",
        "MedicationAdministration",
        "AdverseEvent",
        "AuditEvent",
        "Basic",
    } <= kinds
    monitoring_kinds = {
        orjson.loads(ext["valueString"])["kind"]
        for resource in map(orjson.loads, lines)
        if resource.get("code") == {"coding": [{"system": transfer.TABLE_EXTENSION, "code": "monitoring_event"}]}
        for ext in resource["extension"]
        if ext["url"] == transfer.ROW_EXTENSION
    }
    assert "anti-natalizumab-antibody" in monitoring_kinds
    with empty_twin(db, tmp_path) as twin:
        with transaction(twin.factory) as s:
            counts = transfer.import_ndjson(s, lines)
        assert sum(counts.values()) == len(lines)
        with transaction(twin.factory) as s:
            after = transfer.snapshot(s)
            report = audit.verify(s)
    assert after == before
    assert report.ok and report.entries == len(before["audit_entry"])


def test_import_refuses_a_database_that_is_not_empty(world: World) -> None:
    with world.tx() as s:
        lines = list(transfer.export_ndjson(s))
    with pytest.raises(InputError, match="empty database"), world.tx() as s:
        transfer.import_ndjson(s, lines)


def test_a_damaged_export_is_refused_and_nothing_is_written(db: TestDatabase) -> None:
    with pytest.raises(InputError, match="line 2"), transaction(db.factory) as s:
        transfer.import_ndjson(s, ["", "not json"])
    with transaction(db.factory) as s:
        assert transfer.is_empty(s)


# --------------------------------------------------------------------------- a file that cannot be restored


def _edit_row(lines: list[str], table: str, change: dict[str, object]) -> tuple[list[str], int]:
    """The export with the first row of ``table`` changed; returns the lines and that line's number."""
    for index, line in enumerate(lines):
        resource = orjson.loads(line)
        extensions = resource["extension"]
        if any(e["url"] == transfer.TABLE_EXTENSION and e["valueCode"] == table for e in extensions):
            for e in extensions:
                if e["url"] == transfer.ROW_EXTENSION:
                    row = orjson.loads(e["valueString"])
                    row.update(change)
                    e["valueString"] = orjson.dumps(row).decode()
            edited = list(lines)
            edited[index] = orjson.dumps(resource).decode()
            return edited, index + 1
    raise AssertionError(f"no {table} row in the export")


@pytest.fixture(scope="module")
def demo_lines(sqlite_template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The demo program's export, made once (the import tests restore it into each engine)."""
    source = sqlite_database(sqlite_template_path, tmp_path_factory.mktemp("demo-export"))
    try:
        with transaction(source.factory) as s:
            load_demo(s, at=AT)
        with transaction(source.factory) as s:
            return list(transfer.export_ndjson(s))
    finally:
        source.engine.dispose()


@pytest.mark.parametrize(
    ("table", "change", "field"),
    [
        ("infusion", {"dose": None}, "infusion.dose"),  # what a NaN dose became in an export
        ("infusion", {"volume_ml": "100"}, "infusion.volume_ml"),
        ("patient", {"birth_on": "1990-02-30"}, "patient.birth_on"),
        ("patient", {"name": "x" * 201}, "patient.name"),
        ("monitoring_event", {"occurred_on": "2026-02-30"}, "monitoring_event.occurred_on"),
        ("authorization", {"visit_at": "2026-01-05T09:00:00"}, "authorization.visit_at"),
        ("infusion", {"authorization_id": "00000000-0000-0000-0000-000000000000"}, "infusion.authorization_id"),
        ("prescriber", {"colour": "blue"}, "colour"),
    ],
)
def test_a_file_that_cannot_be_restored_is_refused_naming_line_and_field_before_anything_is_written(
    db: TestDatabase, demo_lines: list[str], table: str, change: dict[str, object], field: str
) -> None:
    lines, number = _edit_row(demo_lines, table, change)
    with pytest.raises(InputError, match=f"line {number}: ") as caught, transaction(db.factory) as s:
        transfer.import_ndjson(s, lines)
    assert field in str(caught.value)
    with transaction(db.factory) as s:
        assert transfer.is_empty(s)


def test_a_duplicated_line_is_refused_naming_both_lines(db: TestDatabase, demo_lines: list[str]) -> None:
    lines = [*demo_lines, demo_lines[0]]
    with pytest.raises(InputError, match=f"line {len(lines)}: .* repeats line 1"), transaction(db.factory) as s:
        transfer.import_ndjson(s, lines)


def test_an_edited_audit_entry_in_the_file_is_refused(db: TestDatabase, demo_lines: list[str]) -> None:
    lines, _ = _edit_row(demo_lines, "audit_entry", {"actor": "someone else"})
    with pytest.raises(InputError, match="audit chain"), transaction(db.factory) as s:
        transfer.import_ndjson(s, lines)
    with transaction(db.factory) as s:
        assert transfer.is_empty(s)


def test_the_demo_export_restores_into_each_engine(db: TestDatabase, demo_lines: list[str]) -> None:
    with transaction(db.factory) as s:
        counts = transfer.import_ndjson(s, demo_lines)
    assert sum(counts.values()) == len(demo_lines)
    with transaction(db.factory) as s:
        assert [orjson.loads(line) for line in transfer.export_ndjson(s)] == [orjson.loads(x) for x in demo_lines]


def test_a_stored_nan_is_named_at_export_rather_than_written_as_null(db: TestDatabase, demo_lines: list[str]) -> None:
    """A database from before plausibility checks may hold a NaN dose (PostgreSQL stores it; SQLite makes it NULL,
    which the column refuses): the export names the row instead of writing null that no import can restore."""
    with transaction(db.factory) as s:
        transfer.import_ndjson(s, demo_lines)
    with transaction(db.factory) as s:
        infusion_id = s.execute(select(Infusion.id).limit(1)).scalar_one()
    nan_dose = update(Infusion).where(Infusion.id == infusion_id).values(dose=float("nan"))
    if db.name == "sqlite":
        with pytest.raises(IntegrityError), transaction(db.factory) as s:
            s.execute(nan_dose)
        return
    with transaction(db.factory) as s:
        s.execute(nan_dose)
    with (
        pytest.raises(InputError, match=f"infusion {infusion_id}: column dose holds nan"),
        transaction(db.factory) as s,
    ):
        list(transfer.export_ndjson(s))
