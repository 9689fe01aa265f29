"""Sign-in brake shared by every process (``sign_in_throttle``) and a TOTP second factor.

``sign_in_throttle`` holds the failed sign-ins per account, per client address
and in total; each attempt locks its rows and counts itself before the
password is checked. ``user_password`` gains the second factor's secret and
the last time step a code was accepted for (a code works once).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rxguard.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )
    with op.batch_alter_table("user_password", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_password", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
    op.drop_table("sign_in_throttle")
