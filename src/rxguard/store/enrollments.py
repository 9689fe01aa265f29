"""The enrollment's own look-ups: an existing enrollment, a signed consent, the doses still infusable."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from rxguard.store.models import Authorization, Consent, Enrollment, Infusion


def existing(session: Session, program_id: str, patient_id: str) -> Enrollment | None:
    stmt = select(Enrollment).where(Enrollment.program_id == program_id, Enrollment.patient_id == patient_id)
    return session.execute(stmt).scalar_one_or_none()


def consent_signed(reader: Session | Connection, enrollment_id: str, document_id: str, version: str) -> bool:
    """Whether this version of this consent document is signed for the enrollment (a session or a connection)."""
    stmt = select(Consent.id).where(
        Consent.enrollment_id == enrollment_id,
        Consent.document_id == document_id,
        Consent.document_version == version,
    )
    return reader.execute(stmt).first() is not None


def infusable_not_infused(session: Session, enrollment_id: str) -> list[Authorization]:
    """The enrollment's authorizations that could still be infused (none recorded under them)."""
    infused = select(Infusion.authorization_id)
    stmt = select(Authorization).where(
        Authorization.enrollment_id == enrollment_id,
        Authorization.is_infusable.is_(True),
        Authorization.id.not_in(infused),
    )
    return list(session.execute(stmt).scalars())
