"""Look-ups of emergency overrides: the one asked for an authorization, the pending, the unreconciled."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.store.models import Override


def of_authorization(session: Session, authorization_id: str, *, pending_only: bool = False) -> Override | None:
    """The override asked for this authorization (``pending_only``: if not yet confirmed)."""
    stmt = select(Override).where(Override.authorization_id == authorization_id)
    if pending_only:
        stmt = stmt.where(Override.confirmed_at.is_(None))
    return session.execute(stmt).scalar_one_or_none()


def unreconciled(session: Session) -> list[Override]:
    stmt = select(Override).where(Override.reconciled_at.is_(None)).order_by(Override.at)
    return list(session.execute(stmt).scalars())
