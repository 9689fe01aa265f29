"""Export → import into an empty database reproduces the same program state, compared."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from personas import World

from rxguard.errors import InputError
from rxguard.program import transfer
from rxguard.program.demo import load_demo
from rxguard.store import audit, make_engine, session_factory, transaction
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
