"""Monitoring: one more kind of record, an anti-drug antibody test result.

A pack's calendar item for anti-drug antibodies could not be satisfied by any
program record; this widens the CHECK constraint on ``monitoring_event.kind``
by the kind named in ``frozen_kinds.json`` (section ``0005``). SQLite cannot
alter a CHECK constraint in place, so there the table is rebuilt (batch mode).
Revision 0012 drops the constraint: kinds are declared by the packs since.

Downgrading refuses while such records exist: they are clinical records the
older schema cannot hold, and the audit log points at them. Export the
program first and remove them deliberately if the downgrade is really meant.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FROZEN = json.loads((Path(__file__).with_name("frozen_kinds.json")).read_text(encoding="utf-8"))
NEW_KIND: str = _FROZEN["0005"]["monitoring_event.kind.added"]
KINDS_0001: tuple[str, ...] = tuple(_FROZEN["0001"]["monitoring_event.kind"])
KINDS_0005 = (*KINDS_0001, NEW_KIND)


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _replace_kind_check(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_monitoring_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_monitoring_event_kind"), _kind_check(kinds))


def upgrade() -> None:
    _replace_kind_check(KINDS_0005)


def downgrade() -> None:
    count = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM monitoring_event WHERE kind = :kind"), {"kind": NEW_KIND})
        .scalar_one()
    )
    if count:
        raise RuntimeError(
            f"cannot downgrade below 0005: {count} monitoring record(s) of kind {NEW_KIND!r} exist, which the "
            "older schema cannot hold; export the program and remove them deliberately first"
        )
    _replace_kind_check(KINDS_0001)
