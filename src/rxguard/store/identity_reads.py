"""The queries behind identity links: is an identifier taken, the links, who an identifier names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, or_, select
from sqlalchemy.orm import Session

from rxguard.store.identity_models import ExternalIdentity
from rxguard.store.models import Patient, Prescriber


def taken(session: Session, kind: str, issuer: str, tenant: str, system: str, value: str) -> bool:
    stmt = select(ExternalIdentity.id).where(
        ExternalIdentity.party_kind == kind, ExternalIdentity.issuer == issuer, ExternalIdentity.tenant == tenant,
        ExternalIdentity.system == system, ExternalIdentity.value == value,
    )  # fmt: skip
    return session.execute(stmt).first() is not None


def links(session: Session, *, patient_id: str | None = None, issuer: str | None = None) -> list[ExternalIdentity]:
    query = select(ExternalIdentity).order_by(ExternalIdentity.created_at, ExternalIdentity.id)
    if patient_id is not None:
        query = query.where(ExternalIdentity.patient_id == patient_id)
    if issuer is not None:
        query = query.where(ExternalIdentity.issuer == issuer)
    return list(session.execute(query).scalars())


def patient_ids_for(issuer: str, tenant: str, pairs: Sequence[tuple[str, str]]) -> Select[Any]:
    """The patient ids these (system, value) identifiers are linked to in this namespace (a sub-query)."""
    query = select(ExternalIdentity.patient_id).where(
        ExternalIdentity.party_kind == "patient", ExternalIdentity.issuer == issuer, ExternalIdentity.tenant == tenant
    )
    if not pairs:
        return query.where(ExternalIdentity.id.is_(None))
    return query.where(or_(*((ExternalIdentity.system == s) & (ExternalIdentity.value == v) for s, v in pairs)))


def patient_keys(
    reader: Session | Connection, *, keys: Sequence[str] = (), linked: Select[Any] | None = None
) -> set[str]:
    """The program keys among ``keys`` that exist, or of the patients ``linked`` selects."""
    if linked is not None:
        return set(reader.execute(select(Patient.key).where(Patient.id.in_(linked))).scalars())
    return set(reader.execute(select(Patient.key).where(Patient.key.in_(keys))).scalars()) if keys else set()


def prescriber_key(reader: Session | Connection, issuer: str, tenant: str, system: str, value: str) -> str | None:
    row = reader.execute(
        select(Prescriber.key)
        .join(ExternalIdentity, ExternalIdentity.prescriber_id == Prescriber.id)
        .where(
            ExternalIdentity.party_kind == "prescriber", ExternalIdentity.issuer == issuer,
            ExternalIdentity.tenant == tenant, ExternalIdentity.system == system, ExternalIdentity.value == value,
        )
    ).first()  # fmt: skip
    return None if row is None else str(row[0])
