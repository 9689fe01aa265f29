"""The program's tables (SQLAlchemy 2, one set for SQLite and PostgreSQL).

Conventions: singular snake_case tables; ``_at`` for date-times (aware UTC),
``_on`` for dates; string UUID primary keys (so a whole program can be
exported and imported into another instance without renumbering); states are
short strings guarded by CHECK constraints rather than native enums, because
CHECKs migrate the same way on both engines. Kinds of monitoring record and of
adverse event are not states: the packs declare them, so they are plain strings
here, checked by the program against the loaded packs, and a record's
measurements (scores, counts, indices) are typed values in one JSON column,
described by the pack (``record_kinds`` in ``program.yaml``).

State changes follow the Healthchecks pattern: the owning row keeps its
current ``status`` for fast reads, and every change is appended to a
``*_event`` row (from, to, who, when, why) that is never updated. A reason the
program wrote itself also carries its message code and values (``reason_code``,
``reason_values``), so an interface can word it in the reader's language; a
reason a person typed has no code, and rows written before the code was kept
have none either: they show the English ``reason`` as it was stored.

Invariants the database itself enforces (see ``docs/program.md``):

* one infusion per authorization (``uq_infusion_authorization_id``);
* one infusion per patient, drug and dose number (``uq_infusion_patient_id``):
  the dose number is the patient's dose window, assigned under a row lock;
* an infusion only under an authorization that was infusable, for the same
  patient, drug and dose number (composite ``fk_infusion_authorization``);
* an AUTHORIZED decision cites a ``certified`` event of the site's and of the
  prescriber's certification in that program (composite FKs plus
  ``ck_authorization_authorized_needs_certified``);
* an idempotency key is stored once (``uq_infusion_idempotency_key``);
* one open authorization per dose and visit day (``uq_authorization_open_dose``,
  a partial unique index over the open states);
* an override is confirmed by a second, other person (``ck_override_two_people``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rxguard.store.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CERTIFICATION_STATES = ("enrolled", "certified", "suspended", "revoked")
ENROLLMENT_STATES = ("enrolled", "authorized", "lapsed", "suspended", "discontinued")
DECISIONS = ("authorized", "hold", "do-not-infuse")
AUTHORIZATION_STATES = (
    "authorized", "hold", "do-not-infuse", "cleared", "deferred", "discontinued",
    "overridden", "infused", "suspended",
)  # fmt: skip
CLEARANCE_OUTCOMES = ("proceed", "defer", "discontinue")
#: States in which an authorization still belongs to its visit: at most one per dose and visit day.
OPEN_AUTHORIZATION_STATES = ("authorized", "hold", "cleared", "overridden")
STORAGE = ("refrigerated", "room_temperature")
PRODUCTS_ANY = 64
ADVERSE_EVENT_OUTCOMES = (
    "recovered", "recovering", "not-recovered", "recovered-with-sequelae", "fatal", "unknown",
)  # fmt: skip


def new_id() -> str:
    return str(uuid.uuid4())


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime}  # noqa: RUF012


Id = String(36)


# --------------------------------------------------------------------------- participants


class Prescriber(Base):
    __tablename__ = "prescriber"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Site(Base):
    """An infusion site; its pharmacies belong to it."""

    __tablename__ = "site"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    #: IANA time zone of the site's pages and of its "today"; None: the installation's zone.
    timezone: Mapped[str | None] = mapped_column(String(64))


class Pharmacy(Base):
    __tablename__ = "pharmacy"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    birth_on: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]


# --------------------------------------------------------------------------- certification


class Certification(Base):
    """A prescriber's or a site's standing in one program."""

    __tablename__ = "certification"
    __table_args__ = (
        CheckConstraint(_in("status", CERTIFICATION_STATES), name="status"),
        CheckConstraint(_in("party_kind", ("prescriber", "site")), name="party_kind"),
        CheckConstraint(
            "(party_kind = 'prescriber' AND prescriber_id IS NOT NULL AND site_id IS NULL) OR "
            "(party_kind = 'site' AND site_id IS NOT NULL AND prescriber_id IS NULL)",
            name="one_party",
        ),
        CheckConstraint(
            "status <> 'certified' OR training_attested_at IS NOT NULL",
            name="certified_needs_training",
        ),
        UniqueConstraint("program_id", "prescriber_id", name="uq_certification_program_prescriber"),
        UniqueConstraint("program_id", "site_id", name="uq_certification_program_site"),
        UniqueConstraint("id", "program_id", "site_id", name="uq_certification_id_program_site"),
        UniqueConstraint("id", "program_id", "prescriber_id", name="uq_certification_id_program_prescriber"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(String(64))
    party_kind: Mapped[str] = mapped_column(String(16))
    prescriber_id: Mapped[str | None] = mapped_column(ForeignKey("prescriber.id"))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("site.id"))
    status: Mapped[str] = mapped_column(String(16))
    site_authorization_number: Mapped[str | None] = mapped_column(String(64))
    training_attested_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class CertificationEvent(Base):
    __tablename__ = "certification_event"
    __table_args__ = (
        CheckConstraint(_in("to_status", CERTIFICATION_STATES), name="to_status"),
        UniqueConstraint("certification_id", "id", "to_status", name="uq_certification_event_cited"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    certification_id: Mapped[str] = mapped_column(ForeignKey("certification.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --------------------------------------------------------------------------- patients


class Enrollment(Base):
    """A patient's enrollment in one program (a product switch is a new enrollment)."""

    __tablename__ = "enrollment"
    __table_args__ = (
        CheckConstraint(_in("status", ENROLLMENT_STATES), name="status"),
        UniqueConstraint("program_id", "patient_id", name="uq_enrollment_program_patient"),
        UniqueConstraint("id", "patient_id", name="uq_enrollment_id_patient"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(String(64), index=True)
    drug: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    prescriber_id: Mapped[str] = mapped_column(ForeignKey("prescriber.id"))
    indication: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    enrolled_at: Mapped[datetime]
    authorized_until_on: Mapped[date | None] = mapped_column(Date)
    discontinued_at: Mapped[datetime | None]
    discontinuation_reason: Mapped[str | None] = mapped_column(Text)
    follow_up_due_on: Mapped[date | None] = mapped_column(Date)


class EnrollmentEvent(Base):
    __tablename__ = "enrollment_event"
    __table_args__ = (CheckConstraint(_in("to_status", ENROLLMENT_STATES), name="to_status"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Consent(Base):
    """A signed version of the program's consent document."""

    __tablename__ = "consent"
    __table_args__ = (
        CheckConstraint(_in("language", ("en", "zh")), name="language"),
        CheckConstraint("prescriber_signed_at >= patient_signed_at", name="prescriber_signs_after"),
        UniqueConstraint("enrollment_id", "document_id", "document_version", name="uq_consent_enrollment_version"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"), index=True)
    document_id: Mapped[str] = mapped_column(String(64))
    document_version: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    text_sha256: Mapped[str] = mapped_column(String(64))
    patient_signed_at: Mapped[datetime]
    prescriber_id: Mapped[str] = mapped_column(ForeignKey("prescriber.id"))
    prescriber_signed_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


class FormRecord(Base):
    """A program form completed for a patient (EU forms, patient alert card)."""

    __tablename__ = "form_record"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"), index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    completed_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- authorization


class Authorization(Base):
    """A per-dose decision, stored whether or not the patient is infused."""

    __tablename__ = "authorization"
    __table_args__ = (
        CheckConstraint(_in("decision", DECISIONS), name="decision"),
        CheckConstraint(_in("status", AUTHORIZATION_STATES), name="status"),
        CheckConstraint("dose_number > 0", name="dose_number_positive"),
        CheckConstraint(
            "decision <> 'authorized' OR (site_certification_status = 'certified' "
            "AND prescriber_certification_status = 'certified')",
            name="authorized_needs_certified",
        ),
        ForeignKeyConstraint(
            ["enrollment_id", "patient_id"],
            ["enrollment.id", "enrollment.patient_id"],
            name="fk_authorization_enrollment",
        ),
        ForeignKeyConstraint(
            ["site_certification_id", "program_id", "site_id"],
            ["certification.id", "certification.program_id", "certification.site_id"],
            name="fk_authorization_site_certification",
        ),
        ForeignKeyConstraint(
            ["prescriber_certification_id", "program_id", "prescriber_id"],
            ["certification.id", "certification.program_id", "certification.prescriber_id"],
            name="fk_authorization_prescriber_certification",
        ),
        ForeignKeyConstraint(
            ["site_certification_id", "site_certification_event_id", "site_certification_status"],
            [
                "certification_event.certification_id",
                "certification_event.id",
                "certification_event.to_status",
            ],
            name="fk_authorization_site_certification_event",
        ),
        ForeignKeyConstraint(
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
        UniqueConstraint("id", "patient_id", "drug", "dose_number", "is_infusable", name="uq_authorization_dose"),
        Index(
            "uq_authorization_open_dose",
            "enrollment_id",
            "dose_number",
            "visit_on",
            unique=True,
            sqlite_where=text(_in("status", OPEN_AUTHORIZATION_STATES)),
            postgresql_where=text(_in("status", OPEN_AUTHORIZATION_STATES)),
        ),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(64))
    enrollment_id: Mapped[str] = mapped_column(String(36), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    prescriber_id: Mapped[str] = mapped_column(ForeignKey("prescriber.id"))
    site_certification_id: Mapped[str | None] = mapped_column(String(36))
    site_certification_event_id: Mapped[str | None] = mapped_column(String(36))
    site_certification_status: Mapped[str | None] = mapped_column(String(16))
    prescriber_certification_id: Mapped[str | None] = mapped_column(String(36))
    prescriber_certification_event_id: Mapped[str | None] = mapped_column(String(36))
    prescriber_certification_status: Mapped[str | None] = mapped_column(String(16))
    visit_at: Mapped[datetime]
    #: The visit's day (where the visit took place) and the end of the window the authorization is valid in.
    visit_on: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[datetime | None]
    dose_number: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    is_infusable: Mapped[bool] = mapped_column(Boolean)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    checks: Mapped[dict[str, Any]] = mapped_column(JSON)
    assessment: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


class AuthorizationEvent(Base):
    __tablename__ = "authorization_event"
    __table_args__ = (CheckConstraint(_in("to_status", AUTHORIZATION_STATES), name="to_status"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Clearance(Base):
    """A prescriber's answer to a HOLD: proceed, defer or discontinue, with a reason."""

    __tablename__ = "clearance"
    __table_args__ = (CheckConstraint(_in("outcome", CLEARANCE_OUTCOMES), name="outcome"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), unique=True)
    prescriber_id: Mapped[str] = mapped_column(ForeignKey("prescriber.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class Override(Base):
    """An emergency bypass of overridable checks, asked by one person and confirmed by a second.

    Asked (``actor``, ``role``, ``reason``) it bypasses nothing; confirmed
    (``confirmed_by`` … ``confirmed_at``) by another person it makes the visit's
    authorization infusable until ``expires_at``. Listed until reconciled.
    """

    __tablename__ = "override"
    __table_args__ = (
        CheckConstraint(
            "(reconciled_at IS NULL AND reconciled_by IS NULL) OR "
            "(reconciled_at IS NOT NULL AND reconciled_by IS NOT NULL)",
            name="reconciled_together",
        ),
        CheckConstraint(
            "(confirmed_by IS NULL AND confirmed_role IS NULL AND confirmation_reason IS NULL "
            "AND confirmed_at IS NULL) OR (confirmed_by IS NOT NULL AND confirmed_role IS NOT NULL "
            "AND confirmation_reason IS NOT NULL AND confirmed_at IS NOT NULL)",
            name="confirmed_together",
        ),
        CheckConstraint("confirmed_by IS NULL OR confirmed_by <> actor", name="two_people"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    bypassed: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    confirmed_role: Mapped[str | None] = mapped_column(String(64))
    confirmation_reason: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None]
    reconciled_at: Mapped[datetime | None]
    reconciled_by: Mapped[str | None] = mapped_column(String(64))
    reconciliation_note: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- infusion


class Infusion(Base):
    __tablename__ = "infusion"
    __table_args__ = (
        CheckConstraint(_in("storage", STORAGE), name="storage"),
        CheckConstraint("authorization_infusable", name="authorization_infusable"),
        CheckConstraint("stopped_at > started_at", name="stops_after_start"),
        CheckConstraint("started_at >= prepared_at", name="starts_after_preparation"),
        CheckConstraint(
            "observation_end_at IS NULL OR observation_end_at >= stopped_at",
            name="observation_after_stop",
        ),
        CheckConstraint("dose > 0", name="dose_positive"),
        UniqueConstraint("patient_id", "drug", "dose_number", name="uq_infusion_patient_id"),
        ForeignKeyConstraint(
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
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    authorization_id: Mapped[str] = mapped_column(String(36), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    drug: Mapped[str] = mapped_column(String(64))
    dose_number: Mapped[int] = mapped_column(Integer)
    authorization_infusable: Mapped[bool] = mapped_column(Boolean)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    product: Mapped[str] = mapped_column(String(64))
    lot: Mapped[str] = mapped_column(String(64))
    dose: Mapped[float] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(16))
    diluent: Mapped[str] = mapped_column(String(128))
    volume_ml: Mapped[float] = mapped_column(Float)
    prepared_at: Mapped[datetime]
    storage: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime]
    observation_end_at: Mapped[datetime | None]
    reactions: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    #: The code on the carton as recorded (NDC, EU number); empty on records made before it was asked.
    product_code: Mapped[str | None] = mapped_column(String(32))
    #: When the vial expired (the end of its printed expiry day at the site); empty when not recorded.
    vial_expires_at: Mapped[datetime | None]


BAG_DISPOSALS = ("refused", "wasted")


class BagDisposal(Base):
    """A prepared bag or a vial that was not infused: refused at the bedside or wasted, with why.

    Recorded under the authorization of the visit it was prepared for, whatever that authorization's
    state (a dose held after preparation wastes its bag too); never changed afterwards.
    """

    __tablename__ = "bag_disposal"
    __table_args__ = (CheckConstraint(_in("disposal", BAG_DISPOSALS), name="disposal"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    disposal: Mapped[str] = mapped_column(String(16))
    product: Mapped[str] = mapped_column(String(64))
    lot: Mapped[str] = mapped_column(String(64))
    product_code: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


# --------------------------------------------------------------------------- monitoring


class MonitoringEvent(Base):
    """A dated monitoring record of a kind its pack declares, with the measurements taken.

    ``measurements`` maps a measurement id the pack declares to its value (a number), in
    the unit the pack declares for it; the program checks type and range before storing.
    """

    __tablename__ = "monitoring_event"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_on: Mapped[date] = mapped_column(Date)
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    result: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))


class ScheduleItem(Base):
    """The next due date of one monitoring item for one enrollment.

    Kept current by the program whenever a record changes, so the population
    question "who is overdue, for what" is one indexed SQL query.
    """

    __tablename__ = "schedule_item"
    __table_args__ = (UniqueConstraint("enrollment_id", "item", name="uq_schedule_item_enrollment_item"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"))
    item: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date, index=True)


class AdverseEvent(Base):
    """An adverse event of a kind its pack declares (checked by the program)."""

    __tablename__ = "adverse_event"
    __table_args__ = (CheckConstraint(_in("outcome", ADVERSE_EVENT_OUTCOMES), name="outcome"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollment.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    kind: Mapped[str] = mapped_column(String(48))
    serious: Mapped[bool] = mapped_column(Boolean)
    seriousness: Mapped[dict[str, Any]] = mapped_column(JSON)
    onset_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    #: MedDRA coding as the reporter supplied it (rxguard ships no MedDRA): version, LLT and PT codes.
    meddra_version: Mapped[str | None] = mapped_column(String(8))
    meddra_llt: Mapped[str | None] = mapped_column(String(8))
    meddra_pt: Mapped[str | None] = mapped_column(String(8))


# --------------------------------------------------------------------------- audit


class AuditEntry(Base):
    """One link of the append-only, hash-chained audit log."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last seq and hash; its row lock serialises appends.

    Also how ``audit verify`` notices that the newest entries were deleted.
    """

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
