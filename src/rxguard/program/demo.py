"""Demo data: named personas and patients in every state, with real histories.

The patients, their programs' doses and checklist answers and their histories are
pack data (each pack's ``demo.yaml``, :class:`rxguard.knowledge.program.DemoFile`);
this module only plays them. Everything goes through the same services a clinic
uses (nothing is written behind their back), so the demo also exercises every
check and fills the audit chain. Histories end at ``at`` and are long enough to
show items that are due and overdue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import discover_pack_paths
from rxguard.knowledge.program import DemoFile, DemoPatient, DemoProgram, DemoStep, DemoVisit
from rxguard.program import adverse_events, authorization, certification, clearance, enrollment, monitoring
from rxguard.program import participants as people
from rxguard.program.common import prescriber as people_prescriber
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.program.registry import get_program, pack_for
from rxguard.program.transfer import is_empty

ADMIN = "demo-admin"
PRESCRIBER = "dr_ada"
DAY = timedelta(days=1)


def demo_files() -> list[DemoFile]:
    """The demo data of every installed pack that has some, in pack-name order."""
    files = []
    for name in sorted(discover_pack_paths()):
        data = pack_for(name).extras.get("demo.yaml")
        if isinstance(data, DemoFile):
            files.append(data)
    return files


def pack_drug(program_id: str) -> str:
    return get_program(program_id).drug


def ordinary_answers(program_id: str) -> dict[str, bool]:
    """The checklist answers of an ordinary demo visit in ``program_id`` (its pack's ``demo.yaml``)."""
    for demo in demo_files():
        for plan in demo.programs:
            if plan.program == program_id:
                return dict(plan.answers)
    raise LookupError(f"no demo data for program {program_id!r}")


def _participants(s: Session, at: datetime, programs: list[DemoProgram]) -> None:
    for key, name in ((PRESCRIBER, "Dr Ada Lovelace"), ("dr_ben", "Dr Ben Carter")):
        people.register_prescriber(s, key=key, name=name, at=at, actor=ADMIN)
    sites = (("site_north", "North Infusion Centre", "Europe/London"),
             ("site_south", "South Clinic Infusion Suite", "Europe/Lisbon"))  # fmt: skip
    for key, name, zone in sites:
        people.register_site(s, key=key, name=name, at=at, actor=ADMIN, timezone=zone)
        people.add_pharmacy(s, site_key=key, key=key.replace("site", "pharm"), name=f"{name} Pharmacy", at=at,
                            actor=ADMIN)  # fmt: skip
    for number, program in enumerate(programs, start=1):
        for kind, key in (("prescriber", PRESCRIBER), ("site", "site_north"), ("site", "site_south")):
            certification.enroll_participant(s, program_id=program.program, kind=kind, key=key, at=at, actor=ADMIN)
            san = f"SAN-{number}-{key.removeprefix('site_').upper()}" if kind == "site" else None  # one per site
            certification.certify(s, program_id=program.program, kind=kind, key=key, at=at, actor=ADMIN,
                                  training_attested_at=at, site_authorization_number=san)  # fmt: skip
        for key in program.enrolled_only_prescribers:
            certification.enroll_participant(s, program_id=program.program, kind="prescriber", key=key, at=at,
                                             actor=ADMIN, reason="enrolled; training not yet attested")  # fmt: skip


def _start(s: Session, patient: DemoPatient, at: datetime) -> None:
    program = get_program(patient.program)
    indication = patient.indication or program.definition.indications[0].id
    people.register_patient(s, key=patient.key, name=patient.name, at=at, actor=ADMIN, birth_on=patient.birth_on,
                            sex=patient.sex)  # fmt: skip
    enrollment.enroll_patient(s, program_id=program.id, patient_key=patient.key, prescriber_key=PRESCRIBER,
                              indication=indication, at=at, actor=PRESCRIBER)  # fmt: skip
    if not patient.consent:
        return
    version = program.consent_document(at.date()).version
    enrollment.record_consent(s, program_id=program.id, patient_key=patient.key, version=version,
                              language=patient.language, patient_signed_at=at, prescriber_key=PRESCRIBER,
                              prescriber_signed_at=at, at=at, actor=PRESCRIBER)  # fmt: skip
    for form in program.definition.forms:
        if form.moment == "enrollment":
            enrollment.record_form(s, program_id=program.id, patient_key=patient.key, form_id=form.id, at=at,
                                   actor=PRESCRIBER)  # fmt: skip
    if patient.authorize:
        enrollment.authorize_treatment(s, program_id=program.id, patient_key=patient.key, prescriber_key=PRESCRIBER,
                                       at=at, actor=PRESCRIBER)  # fmt: skip


def _visit_bundle(patient: DemoPatient, when: datetime) -> dict[str, Any] | None:
    """The FHIR Bundle the clinic's record sends with a visit: the patient and the labs drawn before it."""
    if not patient.visit_labs:
        return None
    labs = []
    for lab in patient.visit_labs:
        spec: dict[str, Any] = {"test": lab.test, "on": (when - lab.drawn_days_before * DAY).date()}
        if lab.value is not None:
            spec.update(value=lab.value, unit=lab.unit)
        if lab.high is not None:
            spec["high"] = lab.high
        labs.append(spec)
    described = {"birth_date": patient.birth_on, "sex": patient.sex, "labs": labs}
    return build_bundle(described, at=when.date(), drug=pack_drug(patient.program))


def _visit(s: Session, patient: DemoPatient, plan: DemoProgram, when: datetime, visit: DemoVisit) -> str:
    """Authorize and, when authorized, infuse (or ask and confirm an override); returns the decision."""
    answers = {**plan.answers, **visit.answers}
    row = authorization.authorize_dose(s, site_key=visit.site, patient_key=patient.key, at=when, actor=visit.actor,
                                       answers=answers, bundle=_visit_bundle(patient, when))  # fmt: skip
    if visit.override is not None:
        if row.decision == "hold":
            wanted = visit.override
            asked = clearance.request_override(
                s, authorization_id=row.id, requester=clearance.Signer(wanted.requester, wanted.requester_role),
                reason=wanted.reason, bypassed=[c["id"] for c in authorization.failed_checks(row)], at=when,
            )  # fmt: skip
            confirmer = clearance.Signer(wanted.confirmer, wanted.confirmer_role,
                                         prescriber_id=people_prescriber(s, wanted.confirmer).id)  # fmt: skip
            clearance.confirm_override(s, override_id=asked.id, confirmer=confirmer,
                                       reason=wanted.confirmation_reason, at=when)  # fmt: skip
        return row.decision
    if row.decision != "authorized":
        return row.decision
    dose = plan.dose
    observed = get_program(patient.program).definition.observation
    watch = timedelta(minutes=max(60, observed.minutes if observed else 0))  # as long as the program requires
    start = when + timedelta(minutes=30)
    stop = start + timedelta(minutes=60)
    request = InfusionRequest(
        authorization_id=row.id, idempotency_key=f"demo-{patient.key}-{row.dose_number}", product=dose.product,
        lot=f"LOT{2400 + row.dose_number}", dose=dose.amount, dose_unit=dose.unit, diluent=dose.diluent,
        volume_ml=dose.volume_ml, prepared_at=start - timedelta(hours=2), storage="refrigerated", started_at=start,
        stopped_at=stop, observation_end_at=stop + watch,
    )  # fmt: skip
    record_infusion(s, request, at=stop + watch, actor=visit.actor)
    return row.decision


def _course(s: Session, patient: DemoPatient, plan: DemoProgram, start: datetime, at: datetime) -> int:
    """Infuse on the course's days, reauthorizing when due; returns the number of infusions given."""
    course = patient.course
    if course is None:
        return 0
    until = start + course.until_day * DAY if course.until_day is not None else at - (course.until_days_ago or 0) * DAY
    given, when = 0, start + course.first_day * DAY
    while when < until:
        enrolled = enrollment.enrollment_of(s, patient.key, patient.program)
        if enrolled.authorized_until_on and when.date() > enrolled.authorized_until_on:
            enrollment.reauthorize(s, program_id=patient.program, patient_key=patient.key, prescriber_key=PRESCRIBER,
                                   at=when, actor=PRESCRIBER)  # fmt: skip
        if _visit(s, patient, plan, when, DemoVisit()) == "authorized":
            given += 1
        when += course.every_days * DAY
    return given


def _when(step: DemoStep, start: datetime, at: datetime) -> datetime:
    if step.day is not None:
        return start + step.day * DAY
    if step.days_ago is not None:
        return at - step.days_ago * DAY
    assert step.hours_ago is not None
    return max(at - timedelta(hours=step.hours_ago), at.replace(hour=0, minute=0, second=0, microsecond=0))


def _step(s: Session, patient: DemoPatient, plan: DemoProgram, step: DemoStep, start: datetime, at: datetime) -> None:
    when = _when(step, start, at)
    if step.monitoring is not None:
        enrolled = enrollment.enrollment_of(s, patient.key, patient.program)
        monitoring.record(s, enrolled, kind=step.monitoring.kind, on=when.date(), at=when, actor=PRESCRIBER,
                          result=step.monitoring.result, measurements=step.monitoring.measurements)  # fmt: skip
    elif step.adverse_event is not None:
        event = step.adverse_event
        adverse_events.report_adverse_event(
            s, program_id=patient.program, patient_key=patient.key, kind=event.kind, serious=event.serious,
            seriousness=event.seriousness, onset_on=(at - event.onset_days_ago * DAY).date(), outcome=event.outcome,
            description=event.description, at=when, actor=PRESCRIBER,
        )  # fmt: skip
    elif step.visit is not None:
        _visit(s, patient, plan, when, step.visit)
    elif step.discontinue is not None:
        enrollment.discontinue(s, program_id=patient.program, patient_key=patient.key, at=when, actor=PRESCRIBER,
                               reason=step.discontinue)  # fmt: skip


def load_demo(s: Session, *, at: datetime) -> dict[str, str]:
    """Load the personas into an empty database; returns patient key -> state shown."""
    if not is_empty(s):
        raise InputError("demo data goes into an empty database; create a new one (rxguard db upgrade)")
    files = demo_files()
    plans = {plan.program: plan for data in files for plan in data.programs}
    _participants(s, at - 900 * DAY, list(plans.values()))
    states: dict[str, str] = {}
    for data in files:
        for patient in data.patients:
            if patient.program not in plans:
                raise InputError(f"demo patient {patient.key}: program {patient.program} has no demo plan")
            plan = plans[patient.program]
            start = at - patient.starts_days_ago * DAY
            _start(s, patient, start)
            given = _course(s, patient, plan, start, at)
            for step in patient.steps:
                _step(s, patient, plan, step, start, at)
            states[patient.key] = patient.state.replace("{given}", str(given))
    return states
