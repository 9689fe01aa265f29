"""Program tests run on SQLite and PostgreSQL (the ``db`` fixture), with named personas."""

from __future__ import annotations

import pytest
from personas import World, build_world

from rxguard.store.testing import TestDatabase, db, postgres_schema, sqlite_template_path  # noqa: F401


@pytest.fixture
def world(db: TestDatabase) -> World:  # noqa: F811
    return build_world(db)
