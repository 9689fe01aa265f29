"""Migrations: an empty database reaches head on both engines, with no drift from the models."""

from __future__ import annotations

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import rxguard.store
from rxguard.store.migrate import MIGRATIONS, alembic_config, current_revision
from rxguard.store.models import Base
from rxguard.store.testing import TestDatabase

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
