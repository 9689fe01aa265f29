"""Are the Elements to Assure Safe Use met for this patient in this program, today?

The question a pharmacy or an EHR asks a REMS administrator out of band
(``$rems-etasu`` in the HL7 Medication REMS IG). Read only; it answers from
the same records the per-dose authorization reads, requirement by
requirement, as the program definition lays them out:

* **Prescriber certification** — the enrolling prescriber is certified in the program;
* **Infusion site certification** — the site asking (site staff), or else a
  site caring for the patient, is certified in the program;
* **Patient enrollment** — enrolled and not discontinued;
* **Patient consent** — the consent document version in force is signed;
* **Program forms** — forms the program requires at enrollment are recorded
  (only programs that require forms);
* **Treatment authorization** — authorized and, where the program requires
  reauthorization, not lapsed; not suspended;
* **Pre-infusion checklist** — completed by the site before every dose; met
  unless the last visit was held and never cleared (only programs with a
  checklist).

The case number is the enrollment id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from rxguard.program.enrollment import consent_in_force, effective_status
from rxguard.program.registry import Program, get_program
from rxguard.store import etasu_reads
from rxguard.store.models import Enrollment, Patient, Site


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    met: bool
    detail: str


@dataclass(frozen=True)
class EtasuStatus:
    """One program's requirements for one patient: met when every one is."""

    program: Program
    patient_key: str
    case_number: str | None
    requirements: tuple[Requirement, ...]

    @property
    def met(self) -> bool:
        return bool(self.requirements) and all(r.met for r in self.requirements)

    @property
    def unmet(self) -> list[Requirement]:
        return [r for r in self.requirements if not r.met]


def _certification_status(session: Session, program_id: str, *, prescriber_id: str | None = None,
                          site_id: str | None = None) -> str:  # fmt: skip
    status = etasu_reads.certification_status(session, program_id, prescriber_id=prescriber_id, site_id=site_id)
    return status or "not enrolled"


def _site_requirement(session: Session, program: Program, enrollment: Enrollment, site_id: str | None) -> Requirement:
    title = "Infusion site certification"
    if site_id is not None:
        candidates = [site_id]
    else:
        candidates = etasu_reads.patient_sites(session, enrollment.patient_id, enrollment.id)
    if not candidates:
        return Requirement("site-certified", title, False, "no infusion site is assigned to the patient")
    statuses = {
        session.get(Site, s).key: _certification_status(session, program.id, site_id=s)  # type: ignore[union-attr]
        for s in candidates
    }
    certified = sorted(k for k, v in statuses.items() if v == "certified")
    if certified:
        return Requirement("site-certified", title, True, f"certified: {', '.join(certified)}")
    detail = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    return Requirement("site-certified", title, False, f"no certified site: {detail}")


def _authorization_requirement(program: Program, enrollment: Enrollment, on: date) -> Requirement:
    title = "Treatment authorization"
    status = effective_status(enrollment, on)
    until = enrollment.authorized_until_on
    if status == "authorized":
        detail = f"authorized until {until.isoformat()}" if until else "authorized"
        return Requirement("treatment-authorized", title, True, detail)
    details = {
        "enrolled": "not yet authorized by the prescriber",
        "lapsed": f"reauthorization lapsed on {until.isoformat() if until else '?'}; the prescriber must reauthorize",
        "suspended": "treatment is suspended in the program",
        "discontinued": "treatment was discontinued",
    }
    return Requirement("treatment-authorized", title, False, details.get(status, status))


def _forms_requirement(session: Session, program: Program, enrollment: Enrollment) -> Requirement | None:
    required = [f for f in program.definition.forms if f.moment == "enrollment"]
    if not required:
        return None
    done = etasu_reads.forms_done(session, enrollment.id)
    missing = [f.title for f in required if f.id not in done]
    if missing:
        return Requirement("program-forms", "Program forms", False, "missing: " + "; ".join(missing))
    return Requirement("program-forms", "Program forms", True, "required forms recorded")


def _checklist_requirement(session: Session, program: Program, enrollment: Enrollment) -> Requirement | None:
    if not any(q.kind == "checklist" for q in program.pack.questions.values()):
        return None
    title = "Pre-infusion checklist"
    last = etasu_reads.last_visit(session, enrollment.id)
    if last is None:
        return Requirement("pre-infusion-checklist", title, True, "completed by the infusion site before every dose")
    visit_at, decision, status = last
    if decision == "hold" and status in ("hold", "deferred"):  # as the next visit's previous-visit check
        return Requirement(
            "pre-infusion-checklist", title, False,
            f"the visit on {visit_at.date().isoformat()} was {decision} and not cleared; the prescriber must clear it",
        )  # fmt: skip
    return Requirement("pre-infusion-checklist", title, True,
                       f"last visit {visit_at.date().isoformat()}: {status}")  # fmt: skip


def program_etasu(session: Session, program: Program, patient: Patient, on: date, *,
                  site_id: str | None = None) -> EtasuStatus:  # fmt: skip
    """Every requirement of ``program`` for ``patient`` on ``on`` (not enrolled: that one requirement unmet)."""
    enrollment = etasu_reads.enrollment_in(session, program.id, patient.id)
    if enrollment is None:
        return EtasuStatus(program, patient.key, None, (
            Requirement("patient-enrolled", "Patient enrollment", False, f"not enrolled in {program.definition.title}"),
        ))  # fmt: skip
    prescriber_status = _certification_status(session, program.id, prescriber_id=enrollment.prescriber_id)
    consented, consent_detail = consent_in_force(session, program, enrollment.id, on)
    enrolled = enrollment.status != "discontinued"
    requirements = [
        Requirement("prescriber-certified", "Prescriber certification", prescriber_status == "certified",
                    f"enrolling prescriber is {prescriber_status}"),
        _site_requirement(session, program, enrollment, site_id),
        Requirement("patient-enrolled", "Patient enrollment", enrolled,
                    f"enrolled {enrollment.enrolled_at.date().isoformat()}" if enrolled else "discontinued"),
        Requirement("patient-consent", "Patient consent", consented, consent_detail),
        _forms_requirement(session, program, enrollment),
        _authorization_requirement(program, enrollment, on),
        _checklist_requirement(session, program, enrollment),
    ]  # fmt: skip
    return EtasuStatus(program, patient.key, enrollment.id, tuple(r for r in requirements if r is not None))


def patient_etasu(session: Session, patient: Patient, programs: list[Program], on: date, *,
                  site_id: str | None = None) -> list[EtasuStatus]:  # fmt: skip
    """One status per program: the programs the patient is enrolled in, else every program asked about."""
    enrolled = etasu_reads.programs_of(session, patient.id)
    chosen = [p for p in programs if p.id in enrolled] or programs
    return [program_etasu(session, p, patient, on, site_id=site_id) for p in chosen]


def case_of(session: Session, case_number: str) -> tuple[Patient, Program] | None:
    """The patient and program of a case number (an enrollment id), or None."""
    row = session.get(Enrollment, case_number)
    if row is None:
        return None
    patient = session.get(Patient, row.patient_id)
    return (patient, get_program(row.program_id)) if patient else None
