"""Access control: users with one role, hashed API tokens, seen CDS Hooks JWT ids.

See ``rxguard.store.auth_models`` for why each table looks the way it does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:12:57.824702
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rxguard.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_jti",
        sa.Column("iss", sa.String(length=255), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name=op.f("pk_cds_jti")),
    )
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_jti_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "app_user",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prescriber_id", sa.String(length=36), nullable=True),
        sa.Column("site_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role <> 'prescriber' OR prescriber_id IS NOT NULL", name=op.f("ck_app_user_prescriber_linked")
        ),
        sa.CheckConstraint(
            "role IN ('prescriber', 'nurse', 'pharmacist', 'admin', 'auditor')", name=op.f("ck_app_user_role")
        ),
        sa.CheckConstraint(
            "role NOT IN ('nurse', 'pharmacist') OR site_id IS NOT NULL", name=op.f("ck_app_user_site_staff_linked")
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["prescriber.id"], name=op.f("fk_app_user_prescriber_id_prescriber")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_app_user_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("name", name=op.f("uq_app_user_name")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))
    op.drop_table("api_token")
    op.drop_table("app_user")
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_jti_expires_at"))
    op.drop_table("cds_jti")
