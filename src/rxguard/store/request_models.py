"""The table behind the API's ``Idempotency-Key`` header: one row per (user, key), the first answer kept.

A client that may retry a create (a timeout, a dropped connection, a second
server instance behind a load balancer) sends the same key with the same
request. The row is written in the same transaction as the create, under a
unique constraint on (``principal``, ``idempotency_key``), so across every
process and instance sharing the database one request under a key does the
work and any other gets its answer (see ``store/idempotency.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rxguard.store.models import Base, Id, new_id


class IdempotentRequest(Base):
    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("principal", "idempotency_key", name="uq_idempotent_request_principal_key"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    #: The signed-in user the key belongs to: two users' keys never collide.
    principal: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the method, the path and the canonical JSON body.
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
