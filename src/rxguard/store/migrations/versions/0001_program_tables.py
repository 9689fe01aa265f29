"""Program tables: participants, certification, enrollment, consent, authorization,
clearance, override, infusion, monitoring, adverse events and the audit chain.

Also makes ``audit_entry`` append-only with a trigger on each engine (an UPDATE
or DELETE is refused; ``audit verify`` still catches edits made by someone who
can drop the trigger).

The kinds of monitoring record and adverse event this revision allowed, and its
per-value monitoring columns, are read from ``frozen_kinds.json`` beside it (the
revision's effect is unchanged; 0012 replaces both with pack-declared kinds and a
JSON column of measurements).

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:08:27.728939
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import rxguard.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FROZEN = json.loads((Path(__file__).with_name("frozen_kinds.json")).read_text(encoding="utf-8"))["0001"]
_TYPES = {"float": sa.Float, "integer": sa.Integer}


def _kind_check(table: str) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in FROZEN[f"{table}.kind"]) + ")"


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entry_hash")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "patient",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_on", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
        sa.UniqueConstraint("key", name=op.f("uq_patient_key")),
    )
    op.create_table(
        "prescriber",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriber")),
        sa.UniqueConstraint("key", name=op.f("uq_prescriber_key")),
    )
    op.create_table(
        "site",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
        sa.UniqueConstraint("key", name=op.f("uq_site_key")),
    )
    op.create_table(
        "certification",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("party_kind", sa.String(length=16), nullable=False),
        sa.Column("prescriber_id", sa.String(length=36), nullable=True),
        sa.Column("site_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("site_authorization_number", sa.String(length=64), nullable=True),
        sa.Column("training_attested_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(party_kind = 'prescriber' AND prescriber_id IS NOT NULL AND site_id IS NULL) OR (party_kind = 'site' AND site_id IS NOT NULL AND prescriber_id IS NULL)",
            name=op.f("ck_certification_one_party"),
        ),
        sa.CheckConstraint("party_kind IN ('prescriber', 'site')", name=op.f("ck_certification_party_kind")),
        sa.CheckConstraint(
            "status <> 'certified' OR training_attested_at IS NOT NULL",
            name=op.f("ck_certification_certified_needs_training"),
        ),
        sa.CheckConstraint(
            "status IN ('enrolled', 'certified', 'suspended', 'revoked')",
            name=op.f("ck_certification_status"),
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"],
            ["prescriber.id"],
            name=op.f("fk_certification_prescriber_id_prescriber"),
        ),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_certification_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification")),
        sa.UniqueConstraint("id", "program_id", "prescriber_id", name="uq_certification_id_program_prescriber"),
        sa.UniqueConstraint("id", "program_id", "site_id", name="uq_certification_id_program_site"),
        sa.UniqueConstraint("program_id", "prescriber_id", name="uq_certification_program_prescriber"),
        sa.UniqueConstraint("program_id", "site_id", name="uq_certification_program_site"),
    )
    op.create_table(
        "enrollment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("drug", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("prescriber_id", sa.String(length=36), nullable=False),
        sa.Column("indication", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("authorized_until_on", sa.Date(), nullable=True),
        sa.Column("discontinued_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("discontinuation_reason", sa.Text(), nullable=True),
        sa.Column("follow_up_due_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "status IN ('enrolled', 'authorized', 'lapsed', 'suspended', 'discontinued')",
            name=op.f("ck_enrollment_status"),
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_enrollment_patient_id_patient")),
        sa.ForeignKeyConstraint(
            ["prescriber_id"],
            ["prescriber.id"],
            name=op.f("fk_enrollment_prescriber_id_prescriber"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment")),
        sa.UniqueConstraint("id", "patient_id", name="uq_enrollment_id_patient"),
        sa.UniqueConstraint("program_id", "patient_id", name="uq_enrollment_program_patient"),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollment_program_id"), ["program_id"], unique=False)

    op.create_table(
        "pharmacy",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_pharmacy_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pharmacy")),
        sa.UniqueConstraint("key", name=op.f("uq_pharmacy_key")),
    )
    op.create_table(
        "adverse_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("seriousness", sa.JSON(), nullable=False),
        sa.Column("onset_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            _kind_check("adverse_event"),
            name=op.f("ck_adverse_event_kind"),
        ),
        sa.CheckConstraint(
            "outcome IN ('recovered', 'recovering', 'not-recovered', 'recovered-with-sequelae', 'fatal', 'unknown')",
            name=op.f("ck_adverse_event_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_adverse_event_enrollment_id_enrollment"),
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_adverse_event_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adverse_event")),
    )
    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adverse_event_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "certification_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("certification_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "to_status IN ('enrolled', 'certified', 'suspended', 'revoked')",
            name=op.f("ck_certification_event_to_status"),
        ),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["certification.id"],
            name=op.f("fk_certification_event_certification_id_certification"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_event")),
        sa.UniqueConstraint("certification_id", "id", "to_status", name="uq_certification_event_cited"),
    )
    with op.batch_alter_table("certification_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certification_event_certification_id"),
            ["certification_id"],
            unique=False,
        )

    op.create_table(
        "consent",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=False),
        sa.Column("document_version", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("patient_signed_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("prescriber_id", sa.String(length=36), nullable=False),
        sa.Column("prescriber_signed_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint("language IN ('en', 'zh')", name=op.f("ck_consent_language")),
        sa.CheckConstraint(
            "prescriber_signed_at >= patient_signed_at",
            name=op.f("ck_consent_prescriber_signs_after"),
        ),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollment.id"], name=op.f("fk_consent_enrollment_id_enrollment")),
        sa.ForeignKeyConstraint(["prescriber_id"], ["prescriber.id"], name=op.f("fk_consent_prescriber_id_prescriber")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.UniqueConstraint("enrollment_id", "document_id", "document_version", name="uq_consent_enrollment_version"),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "enrollment_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "to_status IN ('enrolled', 'authorized', 'lapsed', 'suspended', 'discontinued')",
            name=op.f("ck_enrollment_event_to_status"),
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_enrollment_event_enrollment_id_enrollment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_event")),
    )
    with op.batch_alter_table("enrollment_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollment_event_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "form_record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("completed_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_form_record_enrollment_id_enrollment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_record")),
    )
    with op.batch_alter_table("form_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_record_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "monitoring_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        *(sa.Column(c["name"], _TYPES[c["type"]](), nullable=True) for c in FROZEN["monitoring_event.columns"]),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint(_kind_check("monitoring_event"), name=op.f("ck_monitoring_event_kind")),
        *(
            sa.CheckConstraint(c["sql"], name=op.f(f"ck_monitoring_event_{c['name']}"))
            for c in FROZEN["monitoring_event.checks"]
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_monitoring_event_enrollment_id_enrollment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_event")),
    )
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitoring_event_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "schedule_item",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_schedule_item_enrollment_id_enrollment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_item")),
        sa.UniqueConstraint("enrollment_id", "item", name="uq_schedule_item_enrollment_item"),
    )
    with op.batch_alter_table("schedule_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_item_due_on"), ["due_on"], unique=False)

    op.create_table(
        "authorization",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("drug", sa.String(length=64), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("prescriber_id", sa.String(length=36), nullable=False),
        sa.Column("site_certification_id", sa.String(length=36), nullable=True),
        sa.Column("site_certification_event_id", sa.String(length=36), nullable=True),
        sa.Column("site_certification_status", sa.String(length=16), nullable=True),
        sa.Column("prescriber_certification_id", sa.String(length=36), nullable=True),
        sa.Column("prescriber_certification_event_id", sa.String(length=36), nullable=True),
        sa.Column("prescriber_certification_status", sa.String(length=16), nullable=True),
        sa.Column("visit_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dose_number", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_infusable", sa.Boolean(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("assessment", sa.JSON(), nullable=False),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "decision <> 'authorized' OR (site_certification_status = 'certified' AND prescriber_certification_status = 'certified')",
            name=op.f("ck_authorization_authorized_needs_certified"),
        ),
        sa.CheckConstraint(
            "decision IN ('authorized', 'hold', 'do-not-infuse')",
            name=op.f("ck_authorization_decision"),
        ),
        sa.CheckConstraint(
            "status IN ('authorized', 'hold', 'do-not-infuse', 'cleared', 'deferred', 'discontinued', 'overridden', 'infused', 'suspended')",
            name=op.f("ck_authorization_status"),
        ),
        sa.CheckConstraint("dose_number > 0", name=op.f("ck_authorization_dose_number_positive")),
        sa.ForeignKeyConstraint(
            ["enrollment_id", "patient_id"],
            ["enrollment.id", "enrollment.patient_id"],
            name="fk_authorization_enrollment",
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_authorization_patient_id_patient")),
        sa.ForeignKeyConstraint(
            [
                "prescriber_certification_id",
                "prescriber_certification_event_id",
                "prescriber_certification_status",
            ],
            [
                "certification_event.certification_id",
                "certification_event.id",
                "certification_event.to_status",
            ],
            name="fk_authorization_prescriber_certification_event",
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_certification_id", "program_id", "prescriber_id"],
            ["certification.id", "certification.program_id", "certification.prescriber_id"],
            name="fk_authorization_prescriber_certification",
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"],
            ["prescriber.id"],
            name=op.f("fk_authorization_prescriber_id_prescriber"),
        ),
        sa.ForeignKeyConstraint(
            ["site_certification_id", "program_id", "site_id"],
            ["certification.id", "certification.program_id", "certification.site_id"],
            name="fk_authorization_site_certification",
        ),
        sa.ForeignKeyConstraint(
            ["site_certification_id", "site_certification_event_id", "site_certification_status"],
            [
                "certification_event.certification_id",
                "certification_event.id",
                "certification_event.to_status",
            ],
            name="fk_authorization_site_certification_event",
        ),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_authorization_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization")),
        sa.UniqueConstraint("id", "patient_id", "drug", "dose_number", "is_infusable", name="uq_authorization_dose"),
    )
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authorization_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "authorization_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "to_status IN ('authorized', 'hold', 'do-not-infuse', 'cleared', 'deferred', 'discontinued', 'overridden', 'infused', 'suspended')",
            name=op.f("ck_authorization_event_to_status"),
        ),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
            name=op.f("fk_authorization_event_authorization_id_authorization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_event")),
    )
    with op.batch_alter_table("authorization_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authorization_event_authorization_id"),
            ["authorization_id"],
            unique=False,
        )

    op.create_table(
        "clearance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("prescriber_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('proceed', 'defer', 'discontinue')", name=op.f("ck_clearance_outcome")),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
            name=op.f("fk_clearance_authorization_id_authorization"),
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["prescriber.id"], name=op.f("fk_clearance_prescriber_id_prescriber")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearance")),
        sa.UniqueConstraint("authorization_id", name=op.f("uq_clearance_authorization_id")),
    )
    op.create_table(
        "infusion",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("drug", sa.String(length=64), nullable=False),
        sa.Column("dose_number", sa.Integer(), nullable=False),
        sa.Column("authorization_infusable", sa.Boolean(), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("dose", sa.Float(), nullable=False),
        sa.Column("dose_unit", sa.String(length=16), nullable=False),
        sa.Column("diluent", sa.String(length=128), nullable=False),
        sa.Column("volume_ml", sa.Float(), nullable=False),
        sa.Column("prepared_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("storage", sa.String(length=24), nullable=False),
        sa.Column("started_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("observation_end_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reactions", sa.Text(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("recorded_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint("storage IN ('refrigerated', 'room_temperature')", name=op.f("ck_infusion_storage")),
        sa.CheckConstraint("authorization_infusable", name=op.f("ck_infusion_authorization_infusable")),
        sa.CheckConstraint("dose > 0", name=op.f("ck_infusion_dose_positive")),
        sa.CheckConstraint(
            "observation_end_at IS NULL OR observation_end_at >= stopped_at",
            name=op.f("ck_infusion_observation_after_stop"),
        ),
        sa.CheckConstraint("started_at >= prepared_at", name=op.f("ck_infusion_starts_after_preparation")),
        sa.CheckConstraint("stopped_at > started_at", name=op.f("ck_infusion_stops_after_start")),
        sa.ForeignKeyConstraint(
            ["authorization_id", "patient_id", "drug", "dose_number", "authorization_infusable"],
            [
                "authorization.id",
                "authorization.patient_id",
                "authorization.drug",
                "authorization.dose_number",
                "authorization.is_infusable",
            ],
            name="fk_infusion_authorization",
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_infusion_patient_id_patient")),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_infusion_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_infusion")),
        sa.UniqueConstraint("authorization_id", name=op.f("uq_infusion_authorization_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_infusion_idempotency_key")),
        sa.UniqueConstraint("patient_id", "drug", "dose_number", name="uq_infusion_patient_id"),
    )
    op.create_table(
        "override",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("bypassed", sa.JSON(), nullable=False),
        sa.Column("at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reconciled_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reconciled_by", sa.String(length=64), nullable=True),
        sa.Column("reconciliation_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(reconciled_at IS NULL AND reconciled_by IS NULL) OR (reconciled_at IS NOT NULL AND reconciled_by IS NOT NULL)",
            name=op.f("ck_override_reconciled_together"),
        ),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorization.id"],
            name=op.f("fk_override_authorization_id_authorization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_override")),
        sa.UniqueConstraint("authorization_id", name=op.f("uq_override_authorization_id")),
    )
    _create_append_only_trigger()


def downgrade() -> None:
    _drop_append_only_trigger()
    op.drop_table("override")
    op.drop_table("infusion")
    op.drop_table("clearance")
    with op.batch_alter_table("authorization_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_event_authorization_id"))

    op.drop_table("authorization_event")
    with op.batch_alter_table("authorization", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_enrollment_id"))

    op.drop_table("authorization")
    with op.batch_alter_table("schedule_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_item_due_on"))

    op.drop_table("schedule_item")
    with op.batch_alter_table("monitoring_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_event_enrollment_id"))

    op.drop_table("monitoring_event")
    with op.batch_alter_table("form_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_form_record_enrollment_id"))

    op.drop_table("form_record")
    with op.batch_alter_table("enrollment_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_event_enrollment_id"))

    op.drop_table("enrollment_event")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_enrollment_id"))

    op.drop_table("consent")
    with op.batch_alter_table("certification_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certification_event_certification_id"))

    op.drop_table("certification_event")
    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adverse_event_enrollment_id"))

    op.drop_table("adverse_event")
    op.drop_table("pharmacy")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_program_id"))

    op.drop_table("enrollment")
    op.drop_table("certification")
    op.drop_table("site")
    op.drop_table("prescriber")
    op.drop_table("patient")
    op.drop_table("audit_head")
    op.drop_table("audit_entry")


_PG_FUNCTION = """
CREATE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_entry is append-only; % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _create_append_only_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
            "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_entry_no_{verb.lower()} BEFORE {verb} ON audit_entry "
                f"BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only; {verb} refused'); END"
            )


def _drop_append_only_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
