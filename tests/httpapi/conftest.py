"""Fixtures for the HTTP interfaces: a migrated SQLite database, the app, signed EHR tokens.

The app is the real one (``create_app``) over a real database copied from a
migrated template; the clock is fixed so assessments are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cds_scenarios import BASE, NOW
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rxguard.access import create_token, create_user
from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.testing import SigningEhr
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase, sqlite_database, sqlite_template_path  # noqa: F401


@pytest.fixture
def database(sqlite_template_path: Path, tmp_path: Path) -> Iterator[TestDatabase]:  # noqa: F811
    db = sqlite_database(sqlite_template_path, tmp_path)
    yield db
    db.engine.dispose()


@pytest.fixture(scope="session")
def ehr() -> SigningEhr:
    return SigningEhr(iss="https://ehr.test", algorithm="ES384")


@pytest.fixture
def issuers_file(tmp_path: Path, ehr: SigningEhr) -> Path:
    path = tmp_path / "issuers.json"
    path.write_bytes(orjson.dumps([ehr.issuer_entry(jurisdiction="EU")]))
    return path


@pytest.fixture
def settings(database: TestDatabase, issuers_file: Path) -> ServerSettings:
    return ServerSettings(
        database_url=database.url, cds_issuers_file=issuers_file, public_url=BASE,
        smart_launch_url="https://rxguard.test/smart/launch",
    )  # fmt: skip


@pytest.fixture
def app(settings: ServerSettings) -> FastAPI:
    return create_app(settings, clock=lambda: NOW)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def make_token(database: TestDatabase, name: str, role: str, **links: str) -> str:
    with transaction(database.factory) as session:
        create_user(session, name=name, role=role, at=NOW, actor="test", **links)
        token, _ = create_token(session, user_name=name, at=NOW, actor="test")
    return token


@pytest.fixture
def auditor_token(database: TestDatabase) -> str:
    return make_token(database, "audrey", "auditor")


@pytest.fixture
def auth(auditor_token: str) -> dict[str, str]:
    """Headers of a signed-in user who may read and assess (the auditor)."""
    return {"Authorization": f"Bearer {auditor_token}"}


@pytest.fixture(scope="session")
def demo_template_path(sqlite_template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A migrated SQLite file with the demo program loaded at NOW (loaded once per session)."""
    from rxguard.program.demo import load_demo

    db = sqlite_database(sqlite_template_path, tmp_path_factory.mktemp("rxguard-demo"))
    with transaction(db.factory) as session:
        load_demo(session, at=NOW)
    db.engine.dispose()
    return Path(db.url.removeprefix("sqlite:///"))


@pytest.fixture
def demo_database(demo_template_path: Path, tmp_path: Path) -> Iterator[TestDatabase]:
    """A fresh copy of the demo database for one test."""
    db = sqlite_database(demo_template_path, tmp_path)
    yield db
    db.engine.dispose()
