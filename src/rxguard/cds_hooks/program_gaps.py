"""What rxguard's program records say is missing before this patient may receive the drug.

The EHR's ids are resolved through the identity links of the calling EHR
(:mod:`rxguard.program.identities`): ``context.patientId`` and a
``Practitioner/{id}`` user are looked up as ``urn:rxguard:fhir-id`` values
linked for the JWT's ``iss`` and ``tenant``. An id nobody linked for this EHR
is unknown to the program, even when another EHR linked the same id or it
equals a program key: one EHR is never told another's patient's status.
Only in explicit unauthenticated development mode (no issuer) are the ids
taken as program keys. Reads only: one query (plus a consent look-up for an
enrolled, not yet authorized patient); a record the program does not hold is a gap only
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

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, Select, and_, bindparam, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from rxguard.cds_hooks.cards import ProgramGap
from rxguard.cds_hooks.services import ORDER_HOOKS, Call
from rxguard.program.enrollment import consent_in_force, effective_status
from rxguard.program.identities import FHIR_ID_SYSTEM
from rxguard.program.registry import Program, all_programs
from rxguard.store.identity_models import ExternalIdentity
from rxguard.store.models import Certification, Enrollment, Patient, Prescriber

_STATUS_GAP = {
    "lapsed": (
        "reauthorization-lapsed",
        "reauthorization has lapsed",
        "Complete the reauthorization before the next dose.",
    ),
    "suspended": (
        "suspended",
        "treatment is suspended in the program",
        "Resolve the suspension (e.g. exclude the suspected adverse event) before dosing.",
    ),
    "discontinued": (
        "discontinued",
        "treatment was discontinued in the program",
        "Do not dose; a new enrollment decision is needed.",
    ),
}


class ProgramGapLookup:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
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

    def patient_key(self, call: Call) -> str | None:
        """The program key the calling EHR's ``context.patientId`` is linked to, if any.

        Without an issuer (development only) the id is taken as a program key when the program holds
        a patient with that key, so a card never links to a patient page that does not exist.
        """
        if call.issuer is None:
            key = str(call.context.get("patientId") or "")
            if not key:
                return None
            with self._engine.connect() as connection:
                found = connection.execute(select(Patient.key).where(Patient.key == key)).first()
            return key if found is not None else None
        with self._engine.connect() as connection:
            row = connection.execute(_LINKED_KEY, {
                "issuer": call.issuer, "tenant": call.tenant or "", "value": str(call.context.get("patientId") or ""),
            }).first()  # fmt: skip
        return None if row is None else str(row[0])

    def __call__(self, call: Call, drug: str) -> list[ProgramGap]:
        programs = self._programs_for(drug, call.jurisdiction)
        if not programs:
            return []
        with self._engine.connect() as connection:
            return _gaps(connection, call, programs)


def suspension_severity(program: Program) -> str:
    """The weight of a suspension: the most severe that the pack declares for its suspending event kinds."""
    declared = [kind.suspends.severity for kind in program.kinds.adverse_events if kind.suspends is not None]
    return "contraindicated" if "contraindicated" in declared else "hold"


def _prescriber_key(call: Call) -> str | None:
    user = call.context.get("userId")
    if isinstance(user, str) and user.startswith("Practitioner/"):
        return user.removeprefix("Practitioner/")
    return None


_ordering = aliased(Prescriber)
_enrolling_cert = aliased(Certification)
_ordering_cert = aliased(Certification)


def _linked(kind: str, column: str, value_param: str) -> ColumnElement[bool]:
    """``column`` is the party the calling EHR's id (``value_param``) is linked to, in its namespace."""
    linked = select(getattr(ExternalIdentity, column)).where(
        ExternalIdentity.party_kind == kind, ExternalIdentity.issuer == bindparam("issuer"),
        ExternalIdentity.tenant == bindparam("tenant"), ExternalIdentity.system == FHIR_ID_SYSTEM,
        ExternalIdentity.value == bindparam(value_param),
    )  # fmt: skip
    target = Enrollment.patient_id if kind == "patient" else _ordering.id
    return target.in_(linked)


def _enrollments_query(*, by_identity: bool) -> Select[str, str, str, date | None, str, str]:
    """Every CDS call asks the same thing: the patient's enrollments in these programs, with the
    certification status of the enrolling prescriber and of the ordering one in each. One query,
    built once per kind; unknown patient -> no rows, unknown or uncertified prescriber -> NULL."""
    ordering_is = _linked("prescriber", "prescriber_id", "ordering_key") if by_identity else (
        _ordering.key == bindparam("ordering_key"))  # fmt: skip
    patient_is = _linked("patient", "patient_id", "patient_key") if by_identity else (
        Patient.key == bindparam("patient_key"))  # fmt: skip
    return (
        select(
            Enrollment.id, Enrollment.program_id, Enrollment.status, Enrollment.authorized_until_on,
            _enrolling_cert.status, _ordering_cert.status,
        )
        .join(Patient, Patient.id == Enrollment.patient_id)
        .outerjoin(_enrolling_cert, and_(_enrolling_cert.program_id == Enrollment.program_id,
                                         _enrolling_cert.prescriber_id == Enrollment.prescriber_id))
        .outerjoin(_ordering, ordering_is)
        .outerjoin(_ordering_cert, and_(_ordering_cert.program_id == Enrollment.program_id,
                                        _ordering_cert.prescriber_id == _ordering.id))
        .where(patient_is, Enrollment.program_id.in_(bindparam("programs", expanding=True)))
        .order_by(Enrollment.enrolled_at)
    )  # fmt: skip


_LINKED_KEY = (
    select(Patient.key)
    .join(ExternalIdentity, ExternalIdentity.patient_id == Patient.id)
    .where(
        ExternalIdentity.party_kind == "patient", ExternalIdentity.issuer == bindparam("issuer"),
        ExternalIdentity.tenant == bindparam("tenant"), ExternalIdentity.system == FHIR_ID_SYSTEM,
        ExternalIdentity.value == bindparam("value"),
    )
)  # fmt: skip
_BY_KEY = _enrollments_query(by_identity=False)
_BY_IDENTITY = _enrollments_query(by_identity=True)


@dataclass(frozen=True)
class _Enrolled:
    id: str
    program: Program
    status: str
    authorized_until_on: date | None
    enrolling_certified: bool
    ordering_certified: bool


def _enrollments(connection: Connection, call: Call, programs: list[Program], key: str | None) -> list[_Enrolled]:
    by_id = {p.id: p for p in programs}
    params = {"patient_key": str(call.context.get("patientId") or ""), "programs": list(by_id), "ordering_key": key}
    if call.issuer is None:
        rows = connection.execute(_BY_KEY, params)
    else:
        params |= {"issuer": call.issuer, "tenant": call.tenant or ""}
        rows = connection.execute(_BY_IDENTITY, params)
    return [
        _Enrolled(row[0], by_id[row[1]], row[2], row[3], row[4] == "certified", row[5] == "certified") for row in rows
    ]


def _gaps(connection: Connection, call: Call, programs: list[Program]) -> list[ProgramGap]:
    ordering = call.service.hook in ORDER_HOOKS
    key = _prescriber_key(call) if ordering else None
    enrolled = _enrollments(connection, call, programs, key)
    if not enrolled:
        rems = [p for p in programs if p.definition.kind == "rems"]
        if not ordering or not rems:
            return []
        names = " or ".join(p.definition.title for p in rems)
        if call.issuer is None:
            return [ProgramGap("not-enrolled", names, "patient is not enrolled in the program",
                               f"Enroll the patient in {names} before the first dose.")]  # fmt: skip
        return [ProgramGap("not-enrolled", names, "patient is unknown to the program (not enrolled under this EHR's id)",
                           f"Enroll the patient in {names} before the first dose; if already enrolled, ask the "
                           "program administrator to link this EHR's patient id.")]  # fmt: skip
    gaps = []
    for enrollment in enrolled:
        title = enrollment.program.definition.title
        gaps += _enrollment_gaps(connection, enrollment, call.at)
        if not enrollment.enrolling_certified:
            gaps.append(ProgramGap("prescriber-not-certified", title, "the enrolling prescriber is not certified",
                                   "Only a certified prescriber may authorize doses; certify or transfer care."))  # fmt: skip
        if key is not None and not enrollment.ordering_certified:
            gaps.append(ProgramGap("prescriber-not-certified", title,
                                   "the ordering prescriber is not certified in the program",
                                   "Have a certified prescriber order, or complete certification first."))  # fmt: skip
    return gaps


def _enrollment_gaps(connection: Connection, enrollment: _Enrolled, on: date) -> list[ProgramGap]:
    title = enrollment.program.definition.title
    status = effective_status(enrollment, on)
    if status in _STATUS_GAP:
        code, message, action = _STATUS_GAP[status]
        severity = suspension_severity(enrollment.program) if status == "suspended" else "hold"
        return [ProgramGap(code, title, message, action, severity)]
    if status == "enrolled":
        consented, why = consent_in_force(connection, enrollment.program, enrollment.id, on)
        if not consented:
            return [
                ProgramGap("consent-missing", title, why, "Have the patient and prescriber sign the consent in force.")
            ]
        return [ProgramGap("enrollment-not-authorized", title, "treatment is not yet authorized",
                           "The prescriber authorizes treatment before the first dose.")]  # fmt: skip
    return []
