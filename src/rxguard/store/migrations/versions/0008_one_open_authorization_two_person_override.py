"""One open authorization per dose and visit day; overrides asked by one person and confirmed by a second.

* ``authorization.visit_on`` (the visit's day) and ``authorization.valid_until``
  (the end of the window the program gives an authorization); existing rows get
  the UTC day of their visit and the end of that day.
* ``uq_authorization_open_dose``: a partial unique index, one authorization in an
  open state (authorized, hold, cleared, overridden) per enrollment, dose number
  and visit day. The upgrade refuses, naming them, while two open authorizations
  of one dose and day exist: the prescriber defers the stale one first.
* ``override``: who confirmed it, in which role, why and when, and when it
  expires; ``ck_override_two_people`` (the confirming person is not the one who
  asked) and ``ck_override_confirmed_together``. Overrides recorded before this
  revision keep no confirmation (they were one-person overrides).

Only columns and an index are added to ``authorization`` (SQLite adds them in
place); the ``override`` table is rebuilt on SQLite for its CHECK constraints.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

from rxguard.store.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = ("authorized", "hold", "cleared", "overridden")
OPEN_SQL = "status IN (" + ", ".join(f"'{s}'" for s in OPEN) + ")"


def _backfill_visit_days() -> None:
    bind = op.get_bind()
    table = sa.table(
        "authorization",
        sa.column("id", sa.String),
        sa.column("visit_at", UtcDateTime()),
        sa.column("visit_on", sa.Date),
        sa.column("valid_until", UtcDateTime()),
    )
    rows = bind.execute(sa.select(table.c.id, table.c.visit_at)).all()
    for row_id, visit_at in rows:
        day = visit_at.astimezone(UTC).date()
        until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
        bind.execute(table.update().where(table.c.id == row_id).values(visit_on=day, valid_until=until))


def _refuse_duplicates() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                'SELECT enrollment_id, dose_number, visit_on, count(*) FROM "authorization" '
                f"WHERE {OPEN_SQL} GROUP BY enrollment_id, dose_number, visit_on HAVING count(*) > 1"
            )
        )
        .all()
    )
    if duplicates:
        listed = "; ".join(f"enrollment {e} dose {d} on {v}: {n} open" for e, d, v, n in duplicates)
        raise RuntimeError(
            "cannot upgrade to 0008: a dose has more than one open authorization on one visit day "
            f"({listed}); have the prescriber defer the extra ones (rxguard clear ... --outcome defer), then upgrade"
        )


def upgrade() -> None:
    op.add_column("authorization", sa.Column("visit_on", sa.Date(), nullable=True))
    op.add_column("authorization", sa.Column("valid_until", UtcDateTime(), nullable=True))
    _backfill_visit_days()
    _refuse_duplicates()
    op.create_index(
        "uq_authorization_open_dose",
        "authorization",
        ["enrollment_id", "dose_number", "visit_on"],
        unique=True,
        sqlite_where=sa.text(OPEN_SQL),
        postgresql_where=sa.text(OPEN_SQL),
    )
    with op.batch_alter_table("override", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("confirmed_role", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("confirmation_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", UtcDateTime(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_override_confirmed_together"),
            "(confirmed_by IS NULL AND confirmed_role IS NULL AND confirmation_reason IS NULL "
            "AND confirmed_at IS NULL) OR (confirmed_by IS NOT NULL AND confirmed_role IS NOT NULL "
            "AND confirmation_reason IS NOT NULL AND confirmed_at IS NOT NULL)",
        )
        batch_op.create_check_constraint(
            op.f("ck_override_two_people"), "confirmed_by IS NULL OR confirmed_by <> actor"
        )


def downgrade() -> None:
    with op.batch_alter_table("override", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_override_two_people"), type_="check")
        batch_op.drop_constraint(op.f("ck_override_confirmed_together"), type_="check")
        for column in ("confirmed_at", "confirmation_reason", "confirmed_role", "confirmed_by", "expires_at"):
            batch_op.drop_column(column)
    op.drop_index("uq_authorization_open_dose", table_name="authorization")
    op.drop_column("authorization", "valid_until")  # in place on SQLite too (no rebuild of a referenced table)
    op.drop_column("authorization", "visit_on")
