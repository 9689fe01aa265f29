"""Alembic environment: one set of migrations for SQLite and PostgreSQL.

The engine comes from the caller (``rxguard db upgrade`` or the tests) through
``config.attributes["engine"]``, or else from :class:`Settings`. SQLite runs in
batch mode, because it cannot ALTER most constraints in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from rxguard.store.db import make_engine
from rxguard.store.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine: Engine = context.config.attributes.get("engine") or make_engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
