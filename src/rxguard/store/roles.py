"""PostgreSQL: the two-role deployment that keeps the application from rewriting the audit log.

The *owner* role runs ``rxguard db upgrade`` and owns every table; the *application* role
(``RXGUARD_DB_APP_ROLE``) is what ``rxguard serve`` connects as. The application role may
read and write the business tables, but on the audit tables it may only read, append entries
and move the chain head: no UPDATE or DELETE of an entry, no TRUNCATE of either table, and (not
being the owner) no ALTER or DROP — so it cannot switch the append-only triggers off either.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

from rxguard.errors import InputError

AUDIT_TABLES = ("audit_entry", "audit_head")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_role_name(role: str) -> str:
    if not _ROLE.match(role):
        raise InputError(f"role {role!r} must be a lower-case PostgreSQL name (letters, digits, _)")
    return role


def grant_app_role(connection: Connection, role: str) -> None:
    """Give ``role`` what the application needs and nothing that rewrites the audit log."""
    role = check_role_name(role)
    if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
        raise InputError(f"PostgreSQL role {role} does not exist; CREATE ROLE {role} LOGIN first (docs/audit.md)")
    owner = connection.execute(
        text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_entry' AND schemaname = current_schema()")
    ).scalar_one_or_none()
    if owner == role:
        raise InputError(
            f"role {role} owns the audit tables, and an owner can always alter or drop them; "
            "run the migrations as a separate owner role (docs/audit.md)"
        )
    names = [
        row[0]
        for row in connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
            )
        )
    ]
    connection.execute(text(f'GRANT USAGE ON SCHEMA "{_schema(connection)}" TO {role}'))
    for name in names:
        connection.execute(text(f'REVOKE ALL ON "{name}" FROM {role}'))
        if name == "audit_entry":
            grant = "SELECT, INSERT"
        elif name == "audit_head":
            grant = "SELECT, INSERT, UPDATE"
        else:
            grant = "SELECT, INSERT, UPDATE, DELETE"
        connection.execute(text(f'GRANT {grant} ON "{name}" TO {role}'))
    connection.execute(text('REVOKE ALL ON "alembic_version" FROM ' + role))
    connection.execute(text("GRANT SELECT ON alembic_version TO " + role))


def _schema(connection: Connection) -> str:
    return str(connection.execute(text("SELECT current_schema()")).scalar_one())
