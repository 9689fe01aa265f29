"""Fresh, migrated scratch databases on either engine, dropped when the test ends.

A PostgreSQL scratch database is a private schema on the shared server (never
the server itself: other suites use it at the same time); a SQLite one is a
file in the test's temporary folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from rxguard.store.db import make_engine, session_factory
from rxguard.store.migrate import upgrade
from rxguard.store.testing import TestDatabase, create_postgres_schema, drop_postgres_schema

ENGINES = ("sqlite", "postgresql")


def full_run() -> bool:
    """``make reliability`` sets ``RXGUARD_RELIABILITY_FULL=1``: more cases, longer runs than CI affords."""
    return os.environ.get("RXGUARD_RELIABILITY_FULL", "") == "1"


class ScratchDatabases:
    """Creates databases on demand and removes every one of them in :meth:`close`."""

    def __init__(self, folder: Path, postgres_base: Callable[[], str]) -> None:
        self.folder = folder
        self._postgres_base = postgres_base
        self._made: list[TestDatabase] = []

    def create(self, engine: str) -> TestDatabase:
        database = self._sqlite() if engine == "sqlite" else self._postgres()
        self._made.append(database)
        return database

    def _sqlite(self) -> TestDatabase:
        path = self.folder / f"scratch-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url=url)
        upgrade(engine)
        return TestDatabase("sqlite", url, engine, session_factory(engine))

    def _postgres(self) -> TestDatabase:
        base = self._postgres_base()
        schema, url = create_postgres_schema(base)
        engine = make_engine(url=url)
        return TestDatabase("postgresql", url, engine, session_factory(engine), schema=schema)

    def close(self) -> None:
        for database in self._made:
            database.engine.dispose()
            if database.schema:
                drop_postgres_schema(database.schema, self._postgres_base())
        self._made.clear()


def disable_audit_guards(connection: object, engine_name: str) -> None:
    """Let a test change ``audit_entry`` as a database owner could (the append-only triggers off)."""
    execute = connection.execute  # type: ignore[attr-defined]
    if engine_name == "postgresql":
        execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
    else:
        execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
        execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))


#: Tables a rejected request may legitimately write: seen CDS Hooks JWT ids (replay protection
#: records a verified token before the body is read), and sign-in bookkeeping.
VOLATILE = frozenset({"cds_jti", "web_session", "user_password", "sign_in_throttle"})
_REFLECTED: dict[str, Any] = {}


def fingerprint(database: TestDatabase) -> str:
    """A digest of every row of every table but :data:`VOLATILE`: equal means nothing changed."""
    import hashlib

    from sqlalchemy import MetaData, select

    metadata = _REFLECTED.get(database.url)
    if metadata is None:
        metadata = _REFLECTED[database.url] = MetaData()
        metadata.reflect(database.engine)
    digest = hashlib.sha256()
    with database.engine.connect() as connection:
        for table in sorted(metadata.tables.values(), key=lambda t: t.name):
            if table.name in VOLATILE:
                continue
            columns = list(table.primary_key.columns) or list(table.columns)
            for row in connection.execute(select(table).order_by(*columns)):
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()
