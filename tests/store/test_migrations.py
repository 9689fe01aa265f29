"""Migrations: an empty database reaches head on both engines, with no drift from the models."""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

import rxguard.store
from rxguard.program.demo import load_demo
from rxguard.store import transaction
from rxguard.store.migrate import MIGRATIONS, alembic_config, current_revision, upgrade
from rxguard.store.models import Base, Enrollment, MonitoringEvent, Patient, new_id
from rxguard.store.testing import TestDatabase

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# Every module of the store that declares tables shares Base; load them all so the
# comparison sees every table the migrations create.
for _module in pkgutil.iter_modules(rxguard.store.__path__):
    if _module.name.endswith("models"):
        importlib.import_module(f"rxguard.store.{_module.name}")


def test_it_upgrades_an_empty_database_to_head(db: TestDatabase) -> None:
    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    assert current_revision(db.engine) == head
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_the_models_and_the_migrations_do_not_drift(db: TestDatabase) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))


def test_constraints_follow_the_naming_convention(db: TestDatabase) -> None:
    inspector = inspect(db.engine)
    names = [fk["name"] for fk in inspector.get_foreign_keys("infusion")]
    assert "fk_infusion_authorization" in names
    uniques = {u["name"] for u in inspector.get_unique_constraints("infusion")}
    assert {"uq_infusion_authorization_id", "uq_infusion_patient_id", "uq_infusion_idempotency_key"} <= uniques


def _kinds(db: TestDatabase) -> dict[str, int]:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, count(*) FROM monitoring_event GROUP BY kind"))
        return {kind: count for kind, count in rows}


def _insert_antibody_record(db: TestDatabase, enrollment_id: str) -> None:
    """With the columns every revision has (the measurements column came with 0012)."""
    with db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO monitoring_event (id, enrollment_id, kind, occurred_on, result, note, recorded_at, actor)"
                 " VALUES (:id, :enrollment, :kind, :on, 'negative', '', :at, 'test')"),
            {"id": new_id(), "enrollment": enrollment_id, "kind": "anti-natalizumab-antibody", "on": AT.date(),
             "at": AT.isoformat() if db.engine.dialect.name == "sqlite" else AT},
        )  # fmt: skip


def test_0005_antibody_kind_downgrades_and_upgrades_with_the_records_kept(db: TestDatabase) -> None:
    with transaction(db.factory) as s:
        load_demo(s, at=AT)  # records every kind of monitoring, anti-natalizumab antibody tests included
        amy = s.execute(select(Enrollment.id).join(Patient).where(Patient.key == "pat_amy")).scalar_one()
    _only_kinds_of_the_old_schema(db)
    before = _kinds(db)
    assert before["anti-natalizumab-antibody"] >= 1
    config = alembic_config(db.engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        command.downgrade(config, "0005")  # later revisions step down cleanly first
        with pytest.raises(RuntimeError, match="cannot downgrade below 0005"):
            command.downgrade(config, "0004")
        assert current_revision(db.engine) in ("0005", head) and _kinds(db) == before
        with db.engine.begin() as connection:  # removed deliberately, as the refusal asks
            connection.execute(delete(MonitoringEvent).where(MonitoringEvent.kind == "anti-natalizumab-antibody"))
        command.downgrade(config, "0004")
        assert current_revision(db.engine) == "0004"
        assert _kinds(db) == {k: n for k, n in before.items() if k != "anti-natalizumab-antibody"}
        with pytest.raises(IntegrityError):  # the 0004 CHECK constraint refuses the kind again
            _insert_antibody_record(db, amy)
    finally:
        upgrade(db.engine)
    assert current_revision(db.engine) == head
    _insert_antibody_record(db, amy)
    assert _kinds(db)["anti-natalizumab-antibody"] == 1
    inspector = inspect(db.engine)
    checks = {c["name"] for c in inspector.get_check_constraints("monitoring_event")}
    assert not {c for c in checks if c.startswith("ck_monitoring_event_")}, checks  # kinds are the packs' since 0012
    assert "ix_monitoring_event_enrollment_id" in {i["name"] for i in inspector.get_indexes("monitoring_event")}


FROZEN = json.loads((MIGRATIONS / "versions" / "frozen_kinds.json").read_text(encoding="utf-8"))
OLD_COLUMNS = [c["name"] for c in FROZEN["0001"]["monitoring_event.columns"]]


def _old_style_rows(db: TestDatabase, enrollment_id: str) -> dict[str, dict[str, float | int]]:
    """Rows as revision 0011 stored them (one value per column), written with plain SQL; id -> values."""
    first, second, *rest = OLD_COLUMNS
    rows: dict[str, dict[str, float | int]] = {
        new_id(): {first: 3.5, second: 2, **{c: 0 for c in rest}},
        new_id(): {first: 0.0},  # a zero is a value, not an absence
        new_id(): {second: 1},
        new_id(): {},
    }
    kind = FROZEN["0001"]["monitoring_event.kind"][2]
    with db.engine.begin() as connection:
        for row_id, values in rows.items():
            names = ", ".join(["id", "enrollment_id", "kind", "occurred_on", "result", "note", "recorded_at",
                               "actor", *values])  # fmt: skip
            marks = ", ".join(f":{n}" for n in ["id", "enrollment_id", "kind", "occurred_on", "result", "note",
                                                "recorded_at", "actor", *values])  # fmt: skip
            connection.execute(
                text(f"INSERT INTO monitoring_event ({names}) VALUES ({marks})"),
                {"id": row_id, "enrollment_id": enrollment_id, "kind": kind, "occurred_on": AT.date(), "result": "",
                 "note": "", "recorded_at": AT.isoformat() if db.engine.dialect.name == "sqlite" else AT,
                 "actor": "test", **values},
            )  # fmt: skip
    return rows


def _measurements(db: TestDatabase, ids: list[str]) -> dict[str, dict[str, float | int]]:
    with db.engine.connect() as connection:
        rows = connection.execute(select(MonitoringEvent.id, MonitoringEvent.measurements)
                                  .where(MonitoringEvent.id.in_(ids)))  # fmt: skip
        return {row_id: values for row_id, values in rows}


def _old_values(db: TestDatabase, ids: list[str]) -> dict[str, dict[str, float | int]]:
    columns = ", ".join(OLD_COLUMNS)
    with db.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, {columns} FROM monitoring_event"))
        found = {row[0]: {c: v for c, v in zip(OLD_COLUMNS, row[1:], strict=True) if v is not None} for row in rows}
    return {row_id: found[row_id] for row_id in ids}


def _only_kinds_of_the_old_schema(db: TestDatabase) -> None:
    """Remove, deliberately (as the downgrade's refusal asks), records of kinds declared only by packs added
    after 0012: the old schema's CHECK constraints cannot hold them."""
    old = {*FROZEN["0001"]["monitoring_event.kind"], FROZEN["0005"]["monitoring_event.kind.added"]}
    with db.engine.begin() as connection:
        connection.execute(delete(MonitoringEvent).where(MonitoringEvent.kind.not_in(sorted(old))))


def test_0012_moves_old_per_value_columns_into_measurements_and_back_without_loss(db: TestDatabase) -> None:
    with transaction(db.factory) as s:
        load_demo(s, at=AT)
        amy = s.execute(select(Enrollment.id).join(Patient).where(Patient.key == "pat_amy")).scalar_one()
    _only_kinds_of_the_old_schema(db)
    with db.engine.connect() as connection:
        demo_values = dict(connection.execute(select(MonitoringEvent.id, MonitoringEvent.measurements)).all())
    assert any(demo_values.values())
    config = alembic_config(db.engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        command.downgrade(config, "0011")
        assert {c["name"] for c in inspect(db.engine).get_columns("monitoring_event")} >= set(OLD_COLUMNS)
        # the demo's values went back into their columns, integers as integers
        assert _old_values(db, list(demo_values)) == demo_values
        written = _old_style_rows(db, amy)
        with pytest.raises(IntegrityError), db.engine.begin() as connection:  # 0011 still checks the range
            connection.execute(text(f"UPDATE monitoring_event SET {OLD_COLUMNS[0]} = 11"))
        command.upgrade(config, "0012")
    finally:
        upgrade(db.engine)
    assert current_revision(db.engine) == head
    assert "measurements" in {c["name"] for c in inspect(db.engine).get_columns("monitoring_event")}
    assert not set(OLD_COLUMNS) & {c["name"] for c in inspect(db.engine).get_columns("monitoring_event")}
    found = _measurements(db, list(written))
    assert found == written
    assert all(type(found[i][k]) is type(v) for i, values in written.items() for k, v in values.items())
    assert _measurements(db, list(demo_values)) == demo_values


def test_0012_downgrade_refuses_what_the_older_schema_cannot_hold_and_changes_nothing(db: TestDatabase) -> None:
    with transaction(db.factory) as s:
        load_demo(s, at=AT)
        amy = s.execute(select(Enrollment.id).join(Patient).where(Patient.key == "pat_amy")).scalar_one()
    config = alembic_config(db.engine)
    cases = [{"kind": "a-kind-declared-later", "measurements": {}}, {"kind": "labs", "measurements": {"ck": 1}}]
    for case in cases:
        row_id = new_id()
        with db.engine.begin() as connection:
            connection.execute(insert(MonitoringEvent).values(
                id=row_id, enrollment_id=amy, occurred_on=AT.date(), result="", note="", recorded_at=AT,
                actor="test", **case))  # fmt: skip
        try:
            with pytest.raises(RuntimeError, match="cannot downgrade below 0012"):
                command.downgrade(config, "0011")
            # 0012 itself refused and changed nothing (a later revision may or may not have gone down first,
            # depending on whether the dialect runs the whole downgrade in one transaction)
            assert current_revision(db.engine) in ("0012", ScriptDirectory.from_config(config).get_current_head())
            upgrade(db.engine)
            assert _measurements(db, [row_id]) == {row_id: case["measurements"]}
        finally:
            with db.engine.begin() as connection:
                connection.execute(delete(MonitoringEvent).where(MonitoringEvent.id == row_id))


def test_0006_sign_in_throttle_downgrades_and_upgrades(db: TestDatabase) -> None:
    config = alembic_config(db.engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        command.downgrade(config, "0005")
        inspector = inspect(db.engine)
        assert "sign_in_throttle" not in inspector.get_table_names()
        assert "totp_secret" not in {c["name"] for c in inspector.get_columns("user_password")}
    finally:
        upgrade(db.engine)
    assert current_revision(db.engine) == head
    inspector = inspect(db.engine)
    assert "sign_in_throttle" in inspector.get_table_names()
    assert {"totp_secret", "totp_last_step"} <= {c["name"] for c in inspector.get_columns("user_password")}


def test_0014_reason_codes_downgrade_and_upgrade_with_the_english_reasons_kept(db: TestDatabase) -> None:
    with transaction(db.factory) as s:
        load_demo(s, at=AT)
    tables = ("certification_event", "enrollment_event", "authorization_event")
    with db.engine.connect() as connection:
        before = {t: sorted(connection.execute(text(f"SELECT id, reason FROM {t}")).all()) for t in tables}
        coded = connection.execute(text("SELECT count(*) FROM enrollment_event WHERE reason_code IS NOT NULL"))
        assert coded.scalar_one() > 0
    config = alembic_config(db.engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        command.downgrade(config, "0013")
        for table in tables:
            assert not {"reason_code", "reason_values"} & {c["name"] for c in inspect(db.engine).get_columns(table)}
    finally:
        upgrade(db.engine)
    assert current_revision(db.engine) == head
    for table in tables:
        assert {"reason_code", "reason_values"} <= {c["name"] for c in inspect(db.engine).get_columns(table)}
    with db.engine.connect() as connection:
        after = {t: sorted(connection.execute(text(f"SELECT id, reason FROM {t}")).all()) for t in tables}
    assert after == before
