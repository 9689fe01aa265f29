"""Interoperability: other systems' identifiers for program patients and prescribers, answered
FHIR questionnaires, and the reporter's MedDRA coding of an adverse event.

* ``external_identity`` maps ``(issuer, tenant, system, value)`` to one patient
  or prescriber (CDS Hooks, SMART and FHIR callers are resolved through it);
* ``questionnaire_answer`` keeps each accepted QuestionnaireResponse with the
  program record it produced;
* ``adverse_event`` gains three nullable columns for MedDRA version, LLT and PT.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rxguard.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_identity",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_kind", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=True),
        sa.Column("prescriber_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.CheckConstraint("party_kind IN ('patient', 'prescriber')", name=op.f("ck_external_identity_party_kind")),
        sa.CheckConstraint(
            "(party_kind = 'patient' AND patient_id IS NOT NULL AND prescriber_id IS NULL) OR "
            "(party_kind = 'prescriber' AND prescriber_id IS NOT NULL AND patient_id IS NULL)",
            name=op.f("ck_external_identity_one_party"),
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_external_identity_patient_id_patient")),
        sa.ForeignKeyConstraint(
            ["prescriber_id"], ["prescriber.id"], name=op.f("fk_external_identity_prescriber_id_prescriber")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_identity")),
        sa.UniqueConstraint(
            "party_kind", "issuer", "tenant", "system", "value", name="uq_external_identity_identifier"
        ),
    )
    with op.batch_alter_table("external_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_external_identity_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_external_identity_prescriber_id"), ["prescriber_id"], unique=False)

    op.create_table(
        "questionnaire_answer",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("questionnaire", sa.String(length=255), nullable=False),
        sa.Column("effect", sa.String(length=64), nullable=False),
        sa.Column("effect_id", sa.String(length=64), nullable=True),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("recorded_at", rxguard.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"], ["enrollment.id"], name=op.f("fk_questionnaire_answer_enrollment_id_enrollment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_answer")),
    )
    with op.batch_alter_table("questionnaire_answer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_questionnaire_answer_enrollment_id"), ["enrollment_id"], unique=False)

    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meddra_version", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("meddra_llt", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("meddra_pt", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.drop_column("meddra_pt")
        batch_op.drop_column("meddra_llt")
        batch_op.drop_column("meddra_version")
    with op.batch_alter_table("questionnaire_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questionnaire_answer_enrollment_id"))
    op.drop_table("questionnaire_answer")
    with op.batch_alter_table("external_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_identity_prescriber_id"))
        batch_op.drop_index(batch_op.f("ix_external_identity_patient_id"))
    op.drop_table("external_identity")
