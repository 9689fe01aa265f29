"""A TOUCH program to run races and crashes against, built through the program's own services.

dr_ada is a certified prescriber; site_north and site_south are certified
infusion sites. Patients are registered, enrolled by dr_ada, consented and
authorized on demand, so each race round or crash client can take a fresh one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from rxguard.program import certification, enrollment, participants
from rxguard.program.infusion import InfusionRequest
from rxguard.program.registry import get_program
from rxguard.store import transaction
from rxguard.store.models import Authorization
from rxguard.store.testing import TestDatabase

PROGRAM = "touch"
SITES = ("site_north", "site_south")
NO = {
    "new-or-worsening-symptoms": False,
    "immunocompromising-condition": False,
    "immunosuppressant-or-antineoplastic-use": False,
    "active-infection": False,
    "steroid-use": False,
}


def build_program(database: TestDatabase, at: datetime) -> None:
    """The prescriber and the two sites, certified in TOUCH at ``at``."""
    with transaction(database.factory) as s:
        participants.register_prescriber(s, key="dr_ada", name="Dr Ada Lovelace", at=at, actor="admin")
        certification.enroll_participant(s, program_id=PROGRAM, kind="prescriber", key="dr_ada", at=at, actor="admin")
        certification.certify(s, program_id=PROGRAM, kind="prescriber", key="dr_ada", at=at, actor="admin",
                              training_attested_at=at)  # fmt: skip
        for number, key in enumerate(SITES, start=1):
            participants.register_site(s, key=key, name=key.replace("_", " ").title(), at=at, actor="admin")
            certification.enroll_participant(s, program_id=PROGRAM, kind="site", key=key, at=at, actor="admin")
            certification.certify(s, program_id=PROGRAM, kind="site", key=key, at=at, actor="admin",
                                  training_attested_at=at, site_authorization_number=f"SAN-{number}00")  # fmt: skip


def add_patient(session: Session, key: str, at: datetime) -> None:
    """Register, enroll, consent and authorize one MS patient at ``at`` (authorized for 6 months)."""
    participants.register_patient(session, key=key, name=f"Patient {key}", at=at, actor="admin",
                                  birth_on=date(1990, 3, 2), sex="female")  # fmt: skip
    enrollment.enroll_patient(session, program_id=PROGRAM, patient_key=key, prescriber_key="dr_ada",
                              indication="multiple-sclerosis", at=at, actor="dr_ada")  # fmt: skip
    version = get_program(PROGRAM).consent_document(at.date()).version
    enrollment.record_consent(session, program_id=PROGRAM, patient_key=key, version=version, language="en",
                              patient_signed_at=at, prescriber_key="dr_ada", prescriber_signed_at=at, at=at,
                              actor="dr_ada")  # fmt: skip
    enrollment.authorize_treatment(session, program_id=PROGRAM, patient_key=key, prescriber_key="dr_ada", at=at,
                                   actor="dr_ada")  # fmt: skip


def infusion_request(row: Authorization, key: str, after: timedelta = timedelta(minutes=30)) -> InfusionRequest:
    """A clean TYSABRI infusion ``after`` the visit (30 minutes), observed for an hour."""
    start = row.visit_at + after
    stop = start + timedelta(minutes=60)
    return InfusionRequest(
        authorization_id=row.id, idempotency_key=key, product="tysabri", lot="LOT-42", dose=300, dose_unit="mg",
        diluent="0.9% sodium chloride", volume_ml=100, prepared_at=start - timedelta(hours=1),
        storage="refrigerated", started_at=start, stopped_at=stop, observation_end_at=stop + timedelta(minutes=60),
    )  # fmt: skip


def infusion_body(visit_at: datetime, key: str) -> dict[str, Any]:
    """The same infusion as the JSON body of ``POST /api/v1/authorizations/{id}/infusions``.

    It starts at the moment of the checklist: a live server refuses an infusion start in the future.
    """
    request = infusion_request(Authorization(id="-", visit_at=visit_at), key, after=timedelta(0))
    body = {name: getattr(request, name) for name in request.__dataclass_fields__ if name != "authorization_id"}
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in body.items()}
