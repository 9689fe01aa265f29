"""Access-control tests run on SQLite and PostgreSQL (the ``db`` fixture's two parameters)."""

from rxguard.store.testing import db, postgres_schema, sqlite_template_path  # noqa: F401
