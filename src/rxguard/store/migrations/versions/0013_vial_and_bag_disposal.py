"""The vial on the infusion record (carton code, expiry) and the log of refused or wasted bags.

Upgrade adds ``infusion.product_code`` and ``infusion.vial_expires_at`` (both empty on
the records made before they were asked) and creates ``bag_disposal``: one row per
prepared bag or vial that was not infused, refused at the bedside or wasted, under the
authorization of its visit. Downgrade drops both.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxguard.store.types import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite's batch mode would copy the table.
    op.add_column("infusion", sa.Column("product_code", sa.String(length=32), nullable=True))
    op.add_column("infusion", sa.Column("vial_expires_at", UtcDateTime(timezone=True), nullable=True))
    op.create_table(
        "bag_disposal",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("disposal", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint("disposal IN ('refused', 'wasted')", name=op.f("ck_bag_disposal_disposal")),
        sa.ForeignKeyConstraint(
            ["authorization_id"], ["authorization.id"], name=op.f("fk_bag_disposal_authorization_id_authorization")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_bag_disposal_patient_id_patient")),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_bag_disposal_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bag_disposal")),
    )
    op.create_index(op.f("ix_bag_disposal_authorization_id"), "bag_disposal", ["authorization_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bag_disposal_authorization_id"), table_name="bag_disposal")
    op.drop_table("bag_disposal")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE infusion DROP COLUMN vial_expires_at")
        op.execute("ALTER TABLE infusion DROP COLUMN product_code")
    else:
        op.drop_column("infusion", "vial_expires_at")
        op.drop_column("infusion", "product_code")
