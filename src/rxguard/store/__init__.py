"""Persistence: SQLAlchemy tables, the session factory, migrations and the audit chain.

SQLite file by default, PostgreSQL by ``RXGUARD_DATABASE_URL``; one set of
Alembic migrations serves both (batch mode on SQLite).
"""

from rxguard.store.db import make_engine, session_factory, transaction
from rxguard.store.migrate import upgrade
from rxguard.store.settings import Settings, get_settings

__all__ = ["Settings", "get_settings", "make_engine", "session_factory", "transaction", "upgrade"]
