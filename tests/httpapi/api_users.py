"""A user with an API token, for tests that sign in as a given role."""

from __future__ import annotations

from cds_scenarios import NOW

from rxguard.access import create_token, create_user
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase


def user_token(database: TestDatabase, name: str, role: str, **links: str) -> str:
    with transaction(database.factory) as session:
        create_user(session, name=name, role=role, at=NOW, actor="test", **links)
        token, _ = create_token(session, user_name=name, at=NOW, actor="test")
    return token
