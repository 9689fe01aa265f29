"""Kinds declared by the packs; measurements as typed values in one JSON column.

Monitoring and adverse-event kinds were CHECK constraints listing every kind, and
each measured value had its own column with its own range CHECK, so a new kind or
value needed a migration. The packs now declare them (``record_kinds`` in
``program.yaml``) and the program checks every record against the loaded packs.

Upgrade: adds ``monitoring_event.measurements`` (JSON, measurement id -> value),
copies every non-empty value of the old per-value columns into it under the
column's name (which is the measurement id the pack declares), then drops those
columns, their CHECKs and the kind CHECKs. Nothing is lost: integers stay
integers, and a record with no value gets ``{}``.

Downgrade restores the columns, their values and the CHECKs, and refuses (before
changing anything) while a record holds what the older schema cannot: a kind
outside its lists, a measurement it has no column for, or a value its CHECKs
refuse. The old column names and kind lists are in ``frozen_kinds.json``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:30:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_FROZEN = json.loads((Path(__file__).with_name("frozen_kinds.json")).read_text(encoding="utf-8"))
COLUMNS: list[dict[str, str]] = _FROZEN["0001"]["monitoring_event.columns"]
CHECKS: list[dict[str, str]] = _FROZEN["0001"]["monitoring_event.checks"]
MONITORING_KINDS: tuple[str, ...] = (
    *_FROZEN["0001"]["monitoring_event.kind"],
    _FROZEN["0005"]["monitoring_event.kind.added"],
)
ADVERSE_EVENT_KINDS: tuple[str, ...] = tuple(_FROZEN["0001"]["adverse_event.kind"])
_TYPES = {"float": sa.Float, "integer": sa.Integer}


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _monitoring(*columns: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table("monitoring_event", sa.column("id", sa.String()), *columns)


def upgrade() -> None:
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("measurements", sa.JSON(), nullable=True))
    old = [sa.column(c["name"], _TYPES[c["type"]]()) for c in COLUMNS]
    measurements = sa.column("measurements", sa.JSON())
    table = _monitoring(*old, measurements)
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.id, *(table.c[c["name"]] for c in COLUMNS))).all()
    for row in rows:
        values = {c["name"]: row[i + 1] for i, c in enumerate(COLUMNS) if row[i + 1] is not None}
        bind.execute(sa.update(table).where(table.c.id == row[0]).values(measurements=values))
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_monitoring_event_kind"), type_="check")
        for check in CHECKS:
            batch_op.drop_constraint(op.f(f"ck_monitoring_event_{check['name']}"), type_="check")
        for c in COLUMNS:
            batch_op.drop_column(c["name"])
        batch_op.alter_column("measurements", existing_type=sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_adverse_event_kind"), type_="check")


def _refusal(bind: sa.Connection, rows: Sequence[Any]) -> str | None:
    kinds = sa.table("adverse_event", sa.column("kind", sa.String()))
    other = sorted({k for (k,) in bind.execute(sa.select(kinds.c.kind).distinct())} - set(ADVERSE_EVENT_KINDS))
    if other:
        return f"adverse event kind(s) {', '.join(other)}"
    other = sorted({row[1] for row in rows} - set(MONITORING_KINDS))
    if other:
        return f"monitoring kind(s) {', '.join(other)}"
    types = {c["name"]: c["type"] for c in COLUMNS}
    for row in rows:
        for name, value in (row[2] or {}).items():
            if name not in types:
                return f"measurement {name!r} (record {row[0]})"
            if not isinstance(value, int | float) or (types[name] == "integer" and not isinstance(value, int)):
                return f"measurement {name} = {value!r} (record {row[0]})"
    return None


def downgrade() -> None:
    bind = op.get_bind()
    measurements = sa.column("measurements", sa.JSON())
    table = _monitoring(sa.column("kind", sa.String()), measurements)
    rows = bind.execute(sa.select(table.c.id, table.c.kind, table.c.measurements)).all()
    refused = _refusal(bind, rows)
    if refused:
        raise RuntimeError(
            f"cannot downgrade below 0012: records hold {refused}, which the older schema cannot hold; "
            "export the program and remove or change them deliberately first"
        )
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        for c in COLUMNS:
            batch_op.add_column(sa.Column(c["name"], _TYPES[c["type"]](), nullable=True))
    old = _monitoring(*(sa.column(c["name"], _TYPES[c["type"]]()) for c in COLUMNS))
    for row in rows:
        values = {c["name"]: (row[2] or {}).get(c["name"]) for c in COLUMNS}
        if any(v is not None for v in values.values()):
            bind.execute(sa.update(old).where(old.c.id == row[0]).values(**values))
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        batch_op.drop_column("measurements")
        batch_op.create_check_constraint(op.f("ck_monitoring_event_kind"), _kind_check(MONITORING_KINDS))
        for check in CHECKS:
            batch_op.create_check_constraint(op.f(f"ck_monitoring_event_{check['name']}"), check["sql"])
    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_adverse_event_kind"), _kind_check(ADVERSE_EVENT_KINDS))
