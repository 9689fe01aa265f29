"""Named personas for the program tests (Healthchecks-style).

``world`` builds the Healthchecks-style cast in the TOUCH program:
dr_ada (certified prescriber), dr_ben (enrolled, not certified), site_north and
site_south (certified infusion sites), site_west (enrolled, not certified),
pat_amy (enrolled, consented, authorized).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rxguard.program import certification, enrollment, participants
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NO = {
    "new-or-worsening-symptoms": False,
    "immunocompromising-condition": False,
    "immunosuppressant-or-antineoplastic-use": False,
    "active-infection": False,
    "steroid-use": False,
}


@dataclass
class World:
    db: TestDatabase
    at: datetime

    def tx(self):  # type: ignore[no-untyped-def]
        return transaction(self.db.factory)


def build_world(database: TestDatabase, program: str = "touch", at: datetime = T0) -> World:
    earlier = at - timedelta(days=30)
    with transaction(database.factory) as s:
        for key, name in (("dr_ada", "Dr Ada Lovelace"), ("dr_ben", "Dr Ben Carter")):
            participants.register_prescriber(s, key=key, name=name, at=earlier, actor="admin")
        for key, name in (
            ("site_north", "North Infusion Centre"),
            ("site_south", "South Clinic"),
            ("site_west", "West Hospital"),
        ):
            participants.register_site(s, key=key, name=name, at=earlier, actor="admin")
        participants.add_pharmacy(
            s, site_key="site_north", key="pharm_north", name="North Pharmacy", at=earlier, actor="admin"
        )
        for kind, key in (
            ("prescriber", "dr_ada"),
            ("prescriber", "dr_ben"),
            ("site", "site_north"),
            ("site", "site_south"),
            ("site", "site_west"),
        ):
            certification.enroll_participant(s, program_id=program, kind=kind, key=key, at=earlier, actor="admin")
        certification.certify(
            s,
            program_id=program,
            kind="prescriber",
            key="dr_ada",
            at=earlier,
            actor="admin",
            training_attested_at=earlier,
        )
        for number, key in (("SAN-100", "site_north"), ("SAN-200", "site_south")):
            certification.certify(
                s,
                program_id=program,
                kind="site",
                key=key,
                at=earlier,
                actor="admin",
                training_attested_at=earlier,
                site_authorization_number=number,
            )
        participants.register_patient(
            s,
            key="pat_amy",
            name="Amy Chen",
            at=earlier,
            actor="admin",
            birth_on=datetime(1990, 3, 2).date(),
            sex="female",
        )
        enroll_and_authorize(s, "pat_amy", program, earlier)
    return World(database, at)


def enroll_and_authorize(s, patient_key: str, program: str, at: datetime, indication: str = "multiple-sclerosis"):  # type: ignore[no-untyped-def]
    from rxguard.program.registry import get_program

    enrollment.enroll_patient(
        s,
        program_id=program,
        patient_key=patient_key,
        prescriber_key="dr_ada",
        indication=indication,
        at=at,
        actor="dr_ada",
    )
    version = get_program(program).consent_document(at.date()).version
    enrollment.record_consent(
        s,
        program_id=program,
        patient_key=patient_key,
        version=version,
        language="en",
        patient_signed_at=at,
        prescriber_key="dr_ada",
        prescriber_signed_at=at,
        at=at,
        actor="dr_ada",
    )
    for form in get_program(program).definition.forms:
        if form.moment == "enrollment":
            enrollment.record_form(
                s, program_id=program, patient_key=patient_key, form_id=form.id, at=at, actor="dr_ada"
            )
    return enrollment.authorize_treatment(
        s, program_id=program, patient_key=patient_key, prescriber_key="dr_ada", at=at, actor="dr_ada"
    )
