"""Tables that tie other systems' records to the program's: identities and answered questionnaires.

* ``external_identity`` — an identifier another system uses for a program
  patient or prescriber, within the namespace of the system that sends it:
  ``(issuer, tenant, system, value)``. ``issuer`` is the EHR's JWT ``iss``
  (or ``rxguard`` for identifiers the program records for its own users and
  pharmacy systems); ``tenant`` is the JWT's ``tenant`` claim, ``''`` when the
  issuer has none. The same value from two issuers is two rows, so one EHR's
  ``patientId=123`` can never reach the patient another EHR calls ``123``.
  Each identifier names one party (unique), a party may have many.
* ``questionnaire_answer`` — a FHIR QuestionnaireResponse rxguard accepted,
  with the program record it produced (``effect``, ``effect_id``), so a
  reauthorization or a checklist can be traced back to the answers given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rxguard.store.models import Base, Id, _in, new_id

PARTY_KINDS = ("patient", "prescriber")


class ExternalIdentity(Base):
    __tablename__ = "external_identity"
    __table_args__ = (
        CheckConstraint(_in("party_kind", PARTY_KINDS), name="party_kind"),
        CheckConstraint(
            "(party_kind = 'patient' AND patient_id IS NOT NULL AND prescriber_id IS NULL) OR "
            "(party_kind = 'prescriber' AND prescriber_id IS NOT NULL AND patient_id IS NULL)",
            name="one_party",
        ),
        UniqueConstraint("party_kind", "issuer", "tenant", "system", "value", name="uq_external_identity_identifier"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    party_kind: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(255))
    tenant: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(128))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patient.id"), index=True)
    prescriber_id: Mapped[str | None] = mapped_column(ForeignKey("prescriber.id"), index=True)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


class QuestionnaireAnswer(Base):
    __tablename__ = "questionnaire_answer"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"), index=True)
    questionnaire: Mapped[str] = mapped_column(String(255))
    effect: Mapped[str] = mapped_column(String(64))
    effect_id: Mapped[str | None] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
