"""Tables for who may use rxguard over HTTP: users, API tokens, and seen CDS Hooks JWT ids.

Kept apart from the program's tables (``models.py``) because access control
is not part of the restricted-distribution program; they share its
``Base`` so one Alembic history creates both.

* ``app_user`` — a person with one role. A prescriber user is linked to the
  program's prescriber row, a nurse or pharmacist to the site they work at;
  the database refuses a prescriber without a prescriber or site staff
  without a site, so a user can never fall outside every scope by accident.
* ``api_token`` — only the SHA-256 of the token is stored. Tokens are 256
  random bits, so a fast hash is enough (no password stretching needed) and
  a look-up by hash is one index probe.
* ``patient_site`` — which infusion sites care for a patient (site staff scope).
* ``cds_jti`` — the ``(iss, jti)`` of every accepted CDS Hooks JWT until it
  expires. The primary key makes a replay fail on insert, across every
  rxguard process sharing the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rxguard.store.models import Base, Id, _in, new_id

ROLES = ("prescriber", "nurse", "pharmacist", "admin", "auditor")
SITE_ROLES = ("nurse", "pharmacist")


class AppUser(Base):
    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("role <> 'prescriber' OR prescriber_id IS NOT NULL", name="prescriber_linked"),
        CheckConstraint("role NOT IN ('nurse', 'pharmacist') OR site_id IS NOT NULL", name="site_staff_linked"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    prescriber_id: Mapped[str | None] = mapped_column(ForeignKey("prescriber.id"))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("site.id"))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CdsJti(Base):
    __tablename__ = "cds_jti"

    iss: Mapped[str] = mapped_column(String(255), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PatientSite(Base):
    """An infusion site that cares for a patient: its nurses and pharmacists may see and act on them.

    A site also sees the patients it has already requested a dose authorization
    for; this row is how a new patient is handed to a site before the first dose.
    """

    __tablename__ = "patient_site"
    __table_args__ = (UniqueConstraint("patient_id", "site_id", name="uq_patient_site_patient_site"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"), index=True)
    assigned_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
