"""Check an infusion record against the pack before it is submitted, without storing anything.

The infusion form calls this as the nurse types, so an expired or
room-temperature diluted bag is refused on screen — with the rule and its
source — before the record is sent. It runs exactly the checks
:func:`rxguard.program.infusion.record_infusion` runs (the same private
functions), so the preview cannot disagree with the decision; the record
itself is still checked again when it is submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program.common import by_id
from rxguard.program.infusion import InfusionRequest, _validate, infusion_findings
from rxguard.program.registry import get_program
from rxguard.store import infusions
from rxguard.store.models import Authorization


@dataclass(frozen=True)
class InfusionPreview:
    """What the pack says about this record: reasons it would be refused, and warnings."""

    refusals: tuple[str, ...]
    warnings: tuple[str, ...]
    input_problem: str | None = None

    @property
    def is_acceptable(self) -> bool:
        return not self.refusals and self.input_problem is None


def preview_infusion(session: Session, request: InfusionRequest, *, at: datetime | None = None) -> InfusionPreview:
    """The refusals and warnings ``record_infusion`` would give this request (read-only)."""
    visit = infusions.load(session, request.authorization_id, request.idempotency_key, lock=False)
    if visit is None:
        by_id(session, Authorization, request.authorization_id)  # NotFoundError
        raise AssertionError("an authorization without its enrollment")  # pragma: no cover (a foreign key)
    program = get_program(visit.authorization.program_id)
    try:
        request, unusual = _validate(request, program, now=at or datetime.now(UTC), born=visit.enrollment.birth_on)
    except InputError as exc:
        return InfusionPreview((), (), str(exc))
    reject, warnings = infusion_findings(program, visit, request)
    return InfusionPreview(tuple(reject), (*unusual, *warnings))
