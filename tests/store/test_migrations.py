"""Migrations: an empty database reaches head on both engines, with no drift from the models."""

from __future__ import annotations

import importlib
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
    with db.engine.begin() as connection:
        connection.execute(
            insert(MonitoringEvent).values(
                id=new_id(), enrollment_id=enrollment_id, kind="anti-natalizumab-antibody", occurred_on=AT.date(),
                result="negative", note="", recorded_at=AT, actor="test",
            )
        )  # fmt: skip


def test_0005_antibody_kind_downgrades_and_upgrades_with_the_records_kept(db: TestDatabase) -> None:
    with transaction(db.factory) as s:
        load_demo(s, at=AT)  # records every kind of monitoring, anti-natalizumab antibody tests included
        amy = s.execute(select(Enrollment.id).join(Patient).where(Patient.key == "pat_amy")).scalar_one()
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
    assert {
        "ck_monitoring_event_kind",
        "ck_monitoring_event_edss_range",
        "ck_monitoring_event_t2_non_negative",
    } <= checks
    assert "ix_monitoring_event_enrollment_id" in {i["name"] for i in inspector.get_indexes("monitoring_event")}


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
