"""Refused and wasted bags: a prepared dose or a vial that was not infused, logged with why.

A bag refused at the bedside (expired, the wrong product, held at room
temperature) or wasted (dropped, leaking, prepared for a dose that was then
held) is recorded under the authorization of the visit it was prepared for,
by the site of that visit, with the product, lot and carton code and a reason.
The record is appended and never changed; the audit log carries it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from rxguard.errors import AccessDeniedError, InputError
from rxguard.program import validation
from rxguard.program.common import by_id, require_aware
from rxguard.program.registry import get_program
from rxguard.store import audit, infusions
from rxguard.store.models import BAG_DISPOSALS, Authorization, BagDisposal, new_id


@dataclass(frozen=True, kw_only=True)
class DisposalRequest:
    authorization_id: str
    disposal: str
    product: str
    lot: str
    reason: str
    product_code: str = ""


def record_disposal(
    session: Session, request: DisposalRequest, *, at: datetime, actor: str, site_id: str | None
) -> BagDisposal:
    """Log one refused or wasted bag under its visit's authorization (the visit's site only)."""
    require_aware(at)
    if request.disposal not in BAG_DISPOSALS:
        raise InputError(f"disposal {request.disposal!r} must be one of {', '.join(BAG_DISPOSALS)}")
    authorization = by_id(session, Authorization, request.authorization_id)
    if site_id is not None and authorization.site_id != site_id:
        raise AccessDeniedError("a bag is logged by the site of the visit it was prepared for")
    program = get_program(authorization.program_id)
    if request.product not in program.definition.products:
        raise InputError(
            f"product {request.product!r} is not dispensed under {program.id}; "
            f"expected {', '.join(program.definition.products)}"
        )
    row = BagDisposal(
        id=new_id(),
        authorization_id=authorization.id,
        patient_id=authorization.patient_id,
        site_id=authorization.site_id,
        disposal=request.disposal,
        product=request.product,
        lot=validation.clean_text(request.lot, "lot", max_length=64, required=True),
        product_code=validation.clean_text(request.product_code, "product_code", max_length=32).strip(),
        reason=validation.clean_text(request.reason, "reason", max_length=2000, multiline=True, required=True),
        recorded_at=at,
        actor=actor,
    )
    infusions.add_disposal(session, row)
    audit.record(
        session, at=at, actor=actor, action=f"bag.{request.disposal}", entity="bag_disposal", entity_id=row.id,
        payload={"authorization": authorization.id, "product": row.product, "lot": row.lot,
                 "product_code": row.product_code, "reason": row.reason},
    )  # fmt: skip
    return row
