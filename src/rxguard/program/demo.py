"""Demo data: named personas and patients in every state, with real histories.

Everything goes through the same services a clinic uses (nothing is written
behind their back), so the demo also exercises every check and fills the
audit chain. Histories end at ``at`` and are long enough to show items that
are due and overdue.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program import adverse_events, authorization, certification, clearance, enrollment, monitoring
from rxguard.program import participants as people
from rxguard.program.common import prescriber as people_prescriber
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.program.registry import get_program
from rxguard.program.transfer import is_empty

ADMIN = "demo-admin"
NATALIZUMAB_NO = {
    "new-or-worsening-symptoms": False,
    "immunocompromising-condition": False,
    "immunosuppressant-or-antineoplastic-use": False,
    "active-infection": False,
    "steroid-use": False,
}
PRODUCT = {"touch": "tysabri", "tyruko-rems": "tyruko", "natalizumab-eu": "tysabri", "mepact-course": "mepact"}
DOSE = {"mepact-course": (2.0, "mg/m2", "0.9% sodium chloride", 50.0)}


def _participants(s: Session, at: datetime) -> None:
    for key, name in (("dr_ada", "Dr Ada Lovelace"), ("dr_ben", "Dr Ben Carter")):
        people.register_prescriber(s, key=key, name=name, at=at, actor=ADMIN)
    sites = (("site_north", "North Infusion Centre", "Europe/London"),
             ("site_south", "South Clinic Infusion Suite", "Europe/Lisbon"))  # fmt: skip
    for key, name, zone in sites:
        people.register_site(s, key=key, name=name, at=at, actor=ADMIN, timezone=zone)
        people.add_pharmacy(s, site_key=key, key=key.replace("site", "pharm"), name=f"{name} Pharmacy", at=at,
                            actor=ADMIN)  # fmt: skip
    for number, program in enumerate(("touch", "tyruko-rems", "natalizumab-eu", "mepact-course"), start=1):
        for kind, key in (("prescriber", "dr_ada"), ("site", "site_north"), ("site", "site_south")):
            certification.enroll_participant(s, program_id=program, kind=kind, key=key, at=at, actor=ADMIN)
            san = f"SAN-{number}-{key.removeprefix('site_').upper()}" if kind == "site" else None  # one per site
            certification.certify(s, program_id=program, kind=kind, key=key, at=at, actor=ADMIN,
                                  training_attested_at=at, site_authorization_number=san)  # fmt: skip
    certification.enroll_participant(s, program_id="touch", kind="prescriber", key="dr_ben", at=at, actor=ADMIN,
                                     reason="enrolled; training not yet attested")  # fmt: skip


def _start(s: Session, key: str, name: str, program: str, at: datetime, *, birth: date, sex: str,
           indication: str = "multiple-sclerosis", consent: bool = True, authorize: bool = True) -> None:  # fmt: skip
    people.register_patient(s, key=key, name=name, at=at, actor=ADMIN, birth_on=birth, sex=sex)
    enrollment.enroll_patient(s, program_id=program, patient_key=key, prescriber_key="dr_ada",
                              indication=indication, at=at, actor="dr_ada")  # fmt: skip
    if not consent:
        return
    language = "zh" if key in ("pat_gus", "pat_ivy") else "en"
    version = get_program(program).consent_document(at.date()).version
    enrollment.record_consent(s, program_id=program, patient_key=key, version=version, language=language,
                              patient_signed_at=at, prescriber_key="dr_ada", prescriber_signed_at=at, at=at,
                              actor="dr_ada")  # fmt: skip
    for form in get_program(program).definition.forms:
        if form.moment == "enrollment":
            enrollment.record_form(s, program_id=program, patient_key=key, form_id=form.id, at=at, actor="dr_ada")
    if authorize:
        enrollment.authorize_treatment(s, program_id=program, patient_key=key, prescriber_key="dr_ada", at=at,
                                       actor="dr_ada")  # fmt: skip


def _default_answers(program: str) -> dict[str, bool]:
    return {} if program == "mepact-course" else dict(NATALIZUMAB_NO)


def _infuse(s: Session, key: str, program: str, when: datetime, answers: dict[str, bool] | None = None,
            site: str = "site_north") -> str:  # fmt: skip
    """Authorize and, when authorized, infuse; returns the decision."""
    row = authorization.authorize_dose(s, site_key=site, patient_key=key, at=when, actor="nurse_kim",
                                       answers=_default_answers(program) if answers is None else answers)  # fmt: skip
    if row.decision != "authorized":
        return row.decision
    dose, unit, diluent, volume = DOSE.get(program, (300.0, "mg", "0.9% sodium chloride", 100.0))
    start = when + timedelta(minutes=30)
    stop = start + timedelta(minutes=60)
    request = InfusionRequest(
        authorization_id=row.id, idempotency_key=f"demo-{key}-{row.dose_number}", product=PRODUCT[program],
        lot=f"LOT{2400 + row.dose_number}", dose=dose, dose_unit=unit, diluent=diluent, volume_ml=volume,
        prepared_at=start - timedelta(hours=2), storage="refrigerated", started_at=start, stopped_at=stop,
        observation_end_at=stop + timedelta(minutes=60),
    )  # fmt: skip
    record_infusion(s, request, at=stop + timedelta(minutes=60), actor="nurse_kim")
    return row.decision


def _course(s: Session, key: str, program: str, first: datetime, every: timedelta, until: datetime) -> list[datetime]:
    """Infuse every ``every`` from ``first`` while before ``until``, reauthorizing when due."""
    given, when = [], first
    while when < until:
        enrolled = enrollment.enrollment_of(s, key, program)
        if enrolled.authorized_until_on and when.date() > enrolled.authorized_until_on:
            enrollment.reauthorize(s, program_id=program, patient_key=key, prescriber_key="dr_ada", at=when,
                                   actor="dr_ada")  # fmt: skip
        if _infuse(s, key, program, when) == "authorized":
            given.append(when)
        when += every
    return given


def _assess(s: Session, key: str, program: str, on: datetime, edss: float, relapses: int, t1: int, t2: int) -> None:
    enrolled = enrollment.enrollment_of(s, key, program)
    monitoring.record_assessment(s, enrolled, on=on.date(), at=on, actor="dr_ada", edss=edss, relapses=relapses,
                                 t1_gd_lesions=t1, new_t2_lesions=t2)  # fmt: skip


def _antibody_test(s: Session, key: str, program: str, on: datetime, result: str) -> None:
    """An anti-natalizumab antibody result (the pack's 12-weekly seed-basis item ``anti-drug-antibodies``)."""
    enrolled = enrollment.enrollment_of(s, key, program)
    monitoring.add_event(s, enrolled, kind="anti-natalizumab-antibody", on=on.date(), at=on, actor="dr_ada",
                         result=result)  # fmt: skip


def load_demo(s: Session, *, at: datetime) -> dict[str, str]:
    """Load the personas into an empty database; returns patient key -> state shown."""
    if not is_empty(s):
        raise InputError("demo data goes into an empty database; create a new one (rxguard db upgrade)")
    day = timedelta(days=1)
    origin = at - 900 * day
    _participants(s, origin)
    four_weeks = 28 * day

    # pat_amy: on TOUCH for 14 months, assessments recorded early, then overdue.
    start = at - 420 * day
    _start(s, "pat_amy", "Amy Chen", "touch", start, birth=date(1990, 3, 2), sex="female")
    _course(s, "pat_amy", "touch", start + day, four_weeks, at - 3 * day)
    # Anti-natalizumab antibodies tested every 12 weeks, all negative; the next test is due now.
    for weeks in (12, 24, 36, 48):
        _antibody_test(s, "pat_amy", "touch", start + day + weeks * 7 * day, "negative")
    for months, edss, relapses, t1, t2 in ((3, 3.0, 1, 1, 2), (6, 2.5, 0, 0, 1), (12, 2.5, 0, 0, 0)):
        _assess(s, "pat_amy", "touch", start + day + months * 30 * day, edss, relapses, t1, t2)

    # pat_bob: TOUCH, reauthorization missed: lapsed.
    start = at - 230 * day
    _start(s, "pat_bob", "Bob Okafor", "touch", start, birth=date(1984, 7, 19), sex="male",
           indication="crohns-disease")  # fmt: skip
    _course(s, "pat_bob", "touch", start + day, four_weeks, start + 170 * day)
    _infuse(s, "pat_bob", "touch", at - 2 * day)  # notices the lapse: DO-NOT-INFUSE

    # pat_cal: enrolled, consent not yet signed.  pat_dee: consented, awaiting authorization.
    _start(s, "pat_cal", "Cal Ruiz", "touch", at - 10 * day, birth=date(1979, 1, 5), sex="male", consent=False)
    _start(s, "pat_dee", "Dee Novak", "touch", at - 5 * day, birth=date(1995, 11, 30), sex="female", authorize=False)

    # pat_eli: suspected PML reported after 20 months: suspended.
    start = at - 640 * day
    _start(s, "pat_eli", "Eli Haddad", "touch", start, birth=date(1970, 5, 14), sex="male")
    _course(s, "pat_eli", "touch", start + day, four_weeks, at - 40 * day)
    adverse_events.report_adverse_event(
        s, program_id="touch", patient_key="pat_eli", kind="pml-suspected", serious=True,
        seriousness=["hospitalisation"], onset_on=(at - 20 * day).date(), outcome="not-recovered",
        description="Progressive right-sided weakness and word-finding difficulty over 10 days",
        at=at - 18 * day, actor="dr_ada",
    )  # fmt: skip

    # pat_fay: discontinued 7 months ago; the 6-month follow-up is overdue.
    start = at - 500 * day
    _start(s, "pat_fay", "Fay Lindqvist", "touch", start, birth=date(1988, 9, 9), sex="female")
    _course(s, "pat_fay", "touch", start + day, four_weeks, at - 220 * day)
    enrollment.discontinue(s, program_id="touch", patient_key="pat_fay", at=at - 210 * day, actor="dr_ada",
                           reason="planning pregnancy")  # fmt: skip

    # pat_gus: TYRUKO REMS, a separate program; today's visit held for the prescriber.
    start = at - 90 * day
    _start(s, "pat_gus", "Gus Wang", "tyruko-rems", start, birth=date(1992, 2, 29), sex="male")
    _course(s, "pat_gus", "tyruko-rems", start + day, four_weeks, at - 5 * day)
    _infuse(s, "pat_gus", "tyruko-rems", at - 2 * day, answers={**NATALIZUMAB_NO, "active-infection": True})

    # pat_hana: EU, more than two years on treatment: the continuation form is due.
    start = at - 760 * day
    _start(s, "pat_hana", "Hana Kowalska", "natalizumab-eu", start, birth=date(1986, 4, 21), sex="female")
    _course(s, "pat_hana", "natalizumab-eu", start + day, four_weeks, at - 3 * day)

    # pat_ivy: MEPACT course, twice weekly then weekly.
    start = at - 70 * day
    _start(s, "pat_ivy", "Ivy Zhang", "mepact-course", start, birth=date(2011, 6, 1), sex="female",
           indication="osteosarcoma")  # fmt: skip
    given = _course(s, "pat_ivy", "mepact-course", start + day, timedelta(days=3, hours=12), at - day)

    # An emergency override at site_south for pat_amy's next dose this morning (asked by the medical
    # director, confirmed by her prescriber, reached by phone: two people), not yet reconciled.
    visit = max(at - timedelta(hours=3), at.replace(hour=0, minute=0, second=0, microsecond=0))  # the same day
    row = authorization.authorize_dose(s, site_key="site_south", patient_key="pat_amy", at=visit,
                                       answers={**NATALIZUMAB_NO, "steroid-use": True}, actor="nurse_lee")  # fmt: skip
    if row.decision == "hold":
        asked = clearance.request_override(
            s, authorization_id=row.id, requester=clearance.Signer("dr_mo", "medical-director"),
            reason="prescriber unreachable overnight; prednisone stopped 3 weeks ago",
            bypassed=[c["id"] for c in authorization.failed_checks(row)], at=visit,
        )  # fmt: skip
        ada = people_prescriber(s, "dr_ada").id
        clearance.confirm_override(s, override_id=asked.id, confirmer=clearance.Signer("dr_ada", "prescriber",
                                   prescriber_id=ada), reason="reached by phone; steroid course ended 3 weeks ago",
                                   at=visit)  # fmt: skip
    return {
        "pat_amy": "authorized; prescriber assessment overdue; antibody test due; unreconciled override",
        "pat_bob": "lapsed (reauthorization missed)",
        "pat_cal": "enrolled, consent not signed",
        "pat_dee": "consented, awaiting authorization",
        "pat_eli": "suspended (suspected PML)",
        "pat_fay": "discontinued; follow-up overdue",
        "pat_gus": "TYRUKO REMS; visit on hold for the prescriber",
        "pat_hana": "EU; continuation form due after 2 years",
        "pat_ivy": f"MEPACT course, {len(given)} infusions given",
    }
