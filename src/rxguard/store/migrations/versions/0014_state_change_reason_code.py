"""A state change's reason as a message code and values, beside its English sentence.

Upgrade adds ``reason_code`` and ``reason_values`` to ``certification_event``,
``enrollment_event`` and ``authorization_event``, empty on the rows written before
(an interface shows their English ``reason`` as stored). Downgrade drops them; the
English reasons stay.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("certification_event", "enrollment_event", "authorization_event")


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite's batch mode would copy the tables (and their append-only guards).
    for table in TABLES:
        op.add_column(table, sa.Column("reason_code", sa.String(length=64), nullable=True))
        op.add_column(table, sa.Column("reason_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN reason_values")
            op.execute(f"ALTER TABLE {table} DROP COLUMN reason_code")
        else:
            op.drop_column(table, "reason_values")
            op.drop_column(table, "reason_code")
