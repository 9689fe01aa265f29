"""Web sign-in: password hashes and browser sessions.

See ``rxguard.store.credential_models`` for why each table looks the way it does.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rxguard.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_password",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("set_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_user_password_user_id_app_user")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_password")),
    )
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_web_session_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_user_id"))
    op.drop_table("web_session")
    op.drop_table("user_password")
