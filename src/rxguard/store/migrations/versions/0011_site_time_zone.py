"""Each infusion site keeps its own time zone (an IANA name) for its pages and its "today".

Empty means the installation's zone (``RXGUARD_WEB_TIMEZONE``). Stored times
stay UTC; the zone only says how a site's people see and type them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would copy the table that other tables' keys point to.
    op.add_column("site", sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE site DROP COLUMN timezone")  # SQLite 3.35+, without copying the table
    else:
        op.drop_column("site", "timezone")
