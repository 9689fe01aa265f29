"""Feedback on cards (accepted suggestions, overrides with reasons) into the audit log.

Each feedback item becomes one audit entry, so override rates and reasons
per rule can be reported from the same tamper-evident log as every program
change. The card's topic (which rule or schedule item it was about) is read
back from the card id (:func:`rxguard.cds_hooks.cards.topic_of`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from rxguard.cds_hooks.cards import topic_of
from rxguard.store import audit


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=4000)


class Coding(_Model):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class OverrideReason(_Model):
    reason: Coding | None = None
    userComment: str | None = None


class AcceptedSuggestion(_Model):
    id: str = Field(max_length=64)


class FeedbackItem(_Model):
    card: str = Field(min_length=1, max_length=64)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, max_length=50)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an 'accepted' outcome must list acceptedSuggestions (cds-fb-1)")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a time zone (UTC, e.g. 2026-01-05T09:00:00Z)")
        return self


class FeedbackRequest(_Model):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


def record_feedback(
    session: Session, request: FeedbackRequest, *, service_id: str, iss: str | None,
    tenant: str | None, at: datetime,
) -> int:  # fmt: skip
    """One audit entry per feedback item; returns how many were recorded."""
    actor = f"cds:{iss}"[:64] if iss else "cds:unauthenticated-dev"
    for item in request.feedback:
        audit.record(
            session, at=at, actor=actor, action=f"cds.card.{item.outcome}", entity="cds_card",
            entity_id=item.card,
            payload={
                "service": service_id,
                "topic": topic_of(item.card),
                "tenant": tenant,
                "outcome_at": item.outcomeTimestamp,
                "accepted_suggestions": [s.id for s in item.acceptedSuggestions or ()],
                "override_reason": item.overrideReason.model_dump(exclude_none=True) if item.overrideReason else None,
            },
        )  # fmt: skip
    return len(request.feedback)
