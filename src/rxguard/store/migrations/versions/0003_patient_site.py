"""Access control: which infusion sites care for a patient (the scope of their staff).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rxguard.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_site",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("assigned_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_patient_site_patient_id_patient")),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_patient_site_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_site")),
        sa.UniqueConstraint("patient_id", "site_id", name="uq_patient_site_patient_site"),
    )
    with op.batch_alter_table("patient_site", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_site_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_site_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patient_site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_site_site_id"))
        batch_op.drop_index(batch_op.f("ix_patient_site_patient_id"))
    op.drop_table("patient_site")
