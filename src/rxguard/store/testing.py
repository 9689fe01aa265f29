"""Real test databases for the suite: a SQLite file and a private PostgreSQL schema.

One suite runs on both engines by switching one variable (the ``db``
fixture's parameter). PostgreSQL comes from ``RXGUARD_TEST_POSTGRES_URL``;
each test session gets its own schema (so concurrent runs never collide) and
drops it afterwards. When the server is unreachable the PostgreSQL half is
skipped on a developer machine and fails loudly under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from rxguard.store.db import make_engine, session_factory
from rxguard.store.migrate import upgrade
from rxguard.store.models import Base

DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("RXGUARD_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_problem(url: str | None = None) -> str | None:
    """None when the server answers; otherwise why not."""
    try:
        engine = create_engine(url or postgres_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect is reported, not raised
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@dataclass
class TestDatabase:
    """A migrated database and a way to reset it between tests."""

    name: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    template: Path | None = None  # SQLite: the migrated file each test starts from
    schema: str | None = None  # PostgreSQL: the session's private schema

    __test__ = False  # not a pytest test class


def sqlite_template(folder: Path) -> Path:
    """Migrate once; every test copies the file (much faster than migrating again)."""
    path = folder / "template.db"
    engine = make_engine(url=f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def sqlite_database(template: Path, folder: Path) -> TestDatabase:
    path = folder / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url=url)
    return TestDatabase("sqlite", url, engine, session_factory(engine), template=template)


def schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"


def create_postgres_schema(base: str | None = None) -> tuple[str, str]:
    """A fresh schema, migrated to head; returns (schema, url)."""
    base = base or postgres_url()
    schema = f"rxg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = schema_url(base, schema)
    engine = make_engine(url=url)
    upgrade(engine)
    engine.dispose()
    return schema, url


def drop_postgres_schema(schema: str, base: str | None = None) -> None:
    admin = create_engine(base or postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def postgres_database(schema: str, url: str, engine: Engine) -> TestDatabase:
    """Empty every table: TRUNCATE, with the audit tables' TRUNCATE guards off for this transaction."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    guards = ("audit_entry_no_truncate", "audit_head_no_truncate")
    with engine.begin() as connection:
        for guard in guards:
            connection.execute(text(f"ALTER TABLE {guard.rsplit('_no_', 1)[0]} DISABLE TRIGGER {guard}"))
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        for guard in guards:
            connection.execute(text(f"ALTER TABLE {guard.rsplit('_no_', 1)[0]} ENABLE TRIGGER {guard}"))
    return TestDatabase("postgresql", url, engine, session_factory(engine), schema=schema)


def audit_signing(folder: Path) -> dict[str, Path]:
    """Settings a production server needs for its audit log: a fresh signing key and a checkpoint directory."""
    from rxguard.tlog.note import Signer

    key = folder / "audit.key"
    if not key.exists():
        key.write_text(Signer.generate("rxguard.test/audit").text() + "\n", encoding="utf-8")
    return {"audit_key_file": key, "audit_checkpoint_dir": folder / "audit-checkpoints"}


# --------------------------------------------------------------------------- pytest fixtures
# Imported by the test packages' conftest files (``from rxguard.store.testing import db, ...``);
# pytest is a development dependency, so it is imported only here.

import pytest  # noqa: E402

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def sqlite_template_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("rxguard-sqlite"))


@pytest.fixture(scope="session")
def postgres_schema() -> object:
    """(schema, url, engine) for this test session, or a skip/fail when the server is down."""
    problem = postgres_problem()
    if problem:
        message = f"PostgreSQL at {postgres_url()} is unreachable ({problem})"
        if in_ci():
            pytest.fail(f"{message}; under CI=true the PostgreSQL run is mandatory", pytrace=False)
        pytest.skip(f"{message}; set RXGUARD_TEST_POSTGRES_URL or start the server")
    schema, url = create_postgres_schema()
    engine = make_engine(url=url)
    yield schema, url, engine
    engine.dispose()
    drop_postgres_schema(schema)


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """A clean, migrated database on each engine: the whole suite runs on both."""
    if request.param == "sqlite":
        database = sqlite_database(request.getfixturevalue("sqlite_template_path"), tmp_path)
        yield database
        database.engine.dispose()
        return
    schema, url, engine = request.getfixturevalue("postgres_schema")
    yield postgres_database(schema, url, engine)
