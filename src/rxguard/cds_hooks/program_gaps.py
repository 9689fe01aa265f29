"""What rxguard's program records say is missing before this patient may receive the drug.

The EHR's ids are matched to the program's keys: ``context.patientId`` is the
patient key and a ``Practitioner/{id}`` user is the prescriber key (register
participants under the EHR's ids to use this). Reads only, through the
program's own functions; a record the program does not hold is a gap only
where the program requires it:

* ``not-enrolled`` — ordering a drug under a REMS (in force in the caller's
  jurisdiction) for a patient with no enrollment in it (order hooks only: on
  ``patient-view`` it would flag every patient of a clinic not using the
  program; EU risk-minimisation programmes and treatment courses do not
  gate the order on enrollment);
* ``enrollment-not-authorized`` / ``consent-missing`` — enrolled but not yet
  authorized, and whether the consent in force is signed;
* ``reauthorization-lapsed``, ``suspended``, ``discontinued`` — from the
  enrollment's status on the day;
* ``prescriber-not-certified`` — the enrolling or the ordering prescriber is
  not certified in that program.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from rxguard.cds_hooks.cards import ProgramGap
from rxguard.cds_hooks.services import ORDER_HOOKS, Call
from rxguard.errors import NotFoundError
from rxguard.program.common import certification_for, find_enrollment, patient, prescriber
from rxguard.program.enrollment import effective_status, has_current_consent
from rxguard.program.registry import Program, all_programs
from rxguard.store.db import transaction
from rxguard.store.models import Enrollment

_STATUS_GAP = {
    "lapsed": (
        "reauthorization-lapsed",
        "reauthorization has lapsed",
        "Complete the reauthorization before the next dose.",
    ),
    "suspended": (
        "suspended",
        "treatment is suspended in the program",
        "Resolve the suspension (e.g. exclude PML) before dosing.",
    ),
    "discontinued": (
        "discontinued",
        "treatment was discontinued in the program",
        "Do not dose; a new enrollment decision is needed.",
    ),
}


class ProgramGapLookup:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._programs: dict[tuple[str, str | None], list[Program]] = {}

    def _programs_for(self, drug: str, jurisdiction: str | None) -> list[Program]:
        """Program definitions do not change while the process runs: look them up once."""
        key = (drug, jurisdiction)
        if key not in self._programs:
            self._programs[key] = [
                p for p in all_programs()
                if p.drug == drug and (jurisdiction is None or p.definition.jurisdiction in (None, jurisdiction))
            ]  # fmt: skip
        return self._programs[key]

    def __call__(self, call: Call, drug: str) -> list[ProgramGap]:
        programs = self._programs_for(drug, call.jurisdiction)
        if not programs:
            return []
        with transaction(self._sessions) as session:
            return _gaps(session, call, programs)


def _prescriber_key(call: Call) -> str | None:
    user = call.context.get("userId")
    if isinstance(user, str) and user.startswith("Practitioner/"):
        return user.removeprefix("Practitioner/")
    return None


def _enrollments(session: Session, patient_key: str, programs: list[Program]) -> list[tuple[Program, Enrollment]]:
    try:
        row = patient(session, patient_key)
    except NotFoundError:
        return []
    found = []
    for program in programs:
        try:
            found.append((program, find_enrollment(session, row, program.id)))
        except NotFoundError:
            continue
    return found


def _is_certified(session: Session, program: Program, prescriber_id: str) -> bool:
    cert = certification_for(session, program.id, prescriber_id=prescriber_id)
    return cert is not None and cert.status == "certified"


def _gaps(session: Session, call: Call, programs: list[Program]) -> list[ProgramGap]:
    patient_key = str(call.context.get("patientId") or "")
    ordering = call.service.hook in ORDER_HOOKS
    enrolled = _enrollments(session, patient_key, programs)
    if not enrolled:
        rems = [p for p in programs if p.definition.kind == "rems"]
        if not ordering or not rems:
            return []
        names = " or ".join(p.definition.title for p in rems)
        return [ProgramGap("not-enrolled", names, "patient is not enrolled in the program",
                           f"Enroll the patient in {names} before the first dose.")]  # fmt: skip
    gaps = []
    for program, enrollment in enrolled:
        gaps += _enrollment_gaps(session, program, enrollment, call.at)
        if not _is_certified(session, program, enrollment.prescriber_id):
            gaps.append(ProgramGap("prescriber-not-certified", program.definition.title,
                                   "the enrolling prescriber is not certified",
                                   "Only a certified prescriber may authorize doses; certify or transfer care."))  # fmt: skip
        key = _prescriber_key(call) if ordering else None
        if key is not None and not _ordering_prescriber_certified(session, program, key):
            gaps.append(ProgramGap("prescriber-not-certified", program.definition.title,
                                   "the ordering prescriber is not certified in the program",
                                   "Have a certified prescriber order, or complete certification first."))  # fmt: skip
    return gaps


def _ordering_prescriber_certified(session: Session, program: Program, key: str) -> bool:
    try:
        doc = prescriber(session, key)
    except NotFoundError:
        return False
    return _is_certified(session, program, doc.id)


def _enrollment_gaps(session: Session, program: Program, enrollment: Enrollment, on: date) -> list[ProgramGap]:
    title = program.definition.title
    status = effective_status(enrollment, on)
    if status in _STATUS_GAP:
        code, message, action = _STATUS_GAP[status]
        return [ProgramGap(code, title, message, action)]
    if status == "enrolled":
        consented, why = has_current_consent(session, program, enrollment, on)
        if not consented:
            return [
                ProgramGap("consent-missing", title, why, "Have the patient and prescriber sign the consent in force.")
            ]
        return [ProgramGap("enrollment-not-authorized", title, "treatment is not yet authorized",
                           "The prescriber authorizes treatment before the first dose.")]  # fmt: skip
    return []
