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
from rxguard.program.infusion import InfusionRequest, _observation_problem, _pack_findings, _validate
from rxguard.program.registry import get_program
from rxguard.store.models import Authorization, Enrollment, Patient


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
    authorization = by_id(session, Authorization, request.authorization_id)
    program = get_program(authorization.program_id)
    enrollment = by_id(session, Enrollment, authorization.enrollment_id)
    patient_row = session.get(Patient, enrollment.patient_id)
    born = patient_row.birth_on if patient_row is not None else None
    try:
        request, unusual = _validate(request, program, now=at or datetime.now(UTC), born=born)
    except InputError as exc:
        return InfusionPreview((), (), str(exc))
    reject, warnings = _pack_findings(session, program, enrollment, request, patient_row=patient_row)
    problem = _observation_problem(program, authorization.dose_number, request)
    if problem:
        reject.append(f"{program.id}.post-infusion-observation: {problem}")
    return InfusionPreview(tuple(reject), (*unusual, *warnings))
