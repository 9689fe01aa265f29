"""Audit log guards: no TRUNCATE, no deleting the chain head; the application role's grants.

Row triggers do not fire on TRUNCATE, so on PostgreSQL ``TRUNCATE audit_entry`` emptied the log
without a word. This adds statement-level ``BEFORE TRUNCATE`` triggers on both audit tables and
row triggers that refuse to delete the chain head (on SQLite too). When ``RXGUARD_DB_APP_ROLE``
names the role the application connects as, that role gets SELECT/INSERT on ``audit_entry``,
SELECT/INSERT/UPDATE on ``audit_head`` and plain DML on the business tables, and nothing else:
being no owner, it can neither ALTER, DROP nor TRUNCATE the audit tables
(``rxguard.store.roles``, ``docs/audit.md``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

import os

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only; % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in ("audit_entry", "audit_head"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        role = os.environ.get("RXGUARD_DB_APP_ROLE", "").strip()
        if role:
            from rxguard.store.roles import grant_app_role

            grant_app_role(op.get_bind(), role)
    else:
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
            "BEGIN SELECT RAISE(ABORT, 'audit_head is append-only; DELETE refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head")
        for table in ("audit_entry", "audit_head"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete")
