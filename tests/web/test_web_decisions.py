"""Prescriber decisions on the web: a confirmation first, and the pack's own form for reauthorization and
discontinuation — the same definition the FHIR Questionnaire endpoint serves, applied the same way.

Nothing changes until the form is complete and confirmed; the timeline says a status report was made only
when one was, and the stored response validates as FHIR R4 with a validator rxguard did not write.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from chinese_pages import typed_text
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.fhir_r4_validator import validate_r4
from web_demo import NOW, sign_in

from rxguard.program import enrollment
from rxguard.program.questionnaires import form_problems, prescriber_form
from rxguard.program.registry import all_programs, get_program
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.identity_models import QuestionnaireAnswer
from rxguard.store.models import Enrollment, EnrollmentEvent, Patient
from rxguard.web.security import LANG_COOKIE

ROLES = {"ada": "prescriber", "nina": "nurse", "paul": "pharmacist", "admin": "admin", "audrey": "auditor"}


def _factory(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]


def _enrollment(client: TestClient, key: str, program: str) -> tuple[str, str | None, int]:
    """(status, authorized until, number of status moves) of one enrollment."""
    with transaction(_factory(client)) as session:
        row = session.execute(
            select(Enrollment).join(Patient, Patient.id == Enrollment.patient_id)
            .where(Patient.key == key, Enrollment.program_id == program)
        ).scalar_one()  # fmt: skip
        moves = session.execute(select(EnrollmentEvent).where(EnrollmentEvent.enrollment_id == row.id)).all()
        until = row.authorized_until_on.isoformat() if row.authorized_until_on else None
        return row.status, until, len(moves)


def _complete(program: str, form: str) -> dict[str, str]:
    """Every item of the pack's form answered so that it takes effect."""
    definition = prescriber_form(get_program(program), form)
    out = {}
    for item in definition.items:
        if item.type == "boolean":
            out[f"item.{item.link_id}"] = "yes" if item.must_be is not False else "no"
        elif item.required:
            out[f"item.{item.link_id}"] = "stable, no new neurological symptoms"
    return out


# (action, patient, program, the pack form or None)
DECISIONS = [
    ("authorize", "pat_dee", "touch", None),
    ("reauthorize", "pat_bob", "touch", "reauthorization"),
    ("discontinue", "pat_amy", "touch", "discontinuation"),
]


@pytest.mark.parametrize(("action", "patient", "program", "form"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_every_decision_opens_a_page_with_the_packs_form_and_a_confirmation(
    client: TestClient, action: str, patient: str, program: str, form: str | None
) -> None:
    sign_in(client, "ada")
    page = client.get(f"/patients/{patient}/decisions/{action}?program={program}")
    assert page.status_code == 200
    assert 'name="confirm"' in page.text
    if form:
        for item in prescriber_form(get_program(program), form).items:
            assert f'name="item.{item.link_id}"' in page.text and item.text in page.text
    client.cookies.set(LANG_COOKIE, "zh")
    zh = client.get(f"/patients/{patient}/decisions/{action}?program={program}")
    if form:
        for item in prescriber_form(get_program(program), form, language="zh").items:
            assert item.text in zh.text


@pytest.mark.parametrize(("action", "patient", "program", "form"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_nothing_changes_until_the_form_is_complete_and_confirmed(
    client: TestClient, action: str, patient: str, program: str, form: str | None
) -> None:
    token = sign_in(client, "ada")
    before = _enrollment(client, patient, program)
    complete = _complete(program, form) if form else {}
    variants: list[dict[str, str]] = [complete]  # not confirmed
    for name in complete:  # each answer left out, or an attestation answered "no"
        variants.append({**{k: v for k, v in complete.items() if k != name}, "confirm": "yes"})
        if complete[name] == "yes":
            variants.append({**complete, name: "no", "confirm": "yes"})
    for fields in variants:
        refused = client.post(f"/patients/{patient}/decisions/{action}",
                              data={"csrf_token": token, "program": program, **fields})  # fmt: skip
        assert refused.status_code == 400, (fields, refused.text[:300])
        assert 'id="decide-error"' in refused.text
        assert _enrollment(client, patient, program) == before, fields
    done = client.post(f"/patients/{patient}/decisions/{action}",
                       data={"csrf_token": token, "program": program, "confirm": "yes", **complete},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text[:500]
    assert _enrollment(client, patient, program) != before


@pytest.mark.parametrize("user", sorted(ROLES))
@pytest.mark.parametrize(("action", "patient", "program", "form"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_only_the_patients_prescriber_decides(
    client: TestClient, user: str, action: str, patient: str, program: str, form: str | None
) -> None:
    token = sign_in(client, user)
    before = _enrollment(client, patient, program)
    page = client.get(f"/patients/{patient}/decisions/{action}?program={program}")
    fields = {"csrf_token": token, "program": program, "confirm": "yes", **(_complete(program, form) if form else {})}
    response = client.post(f"/patients/{patient}/decisions/{action}", data=fields, follow_redirects=False)
    if ROLES[user] == "prescriber":
        assert page.status_code == 200 and response.status_code == 303
    else:
        assert page.status_code in (403, 404) and response.status_code in (403, 404), (user, response.status_code)
        assert _enrollment(client, patient, program) == before


def test_the_status_report_is_kept_and_validates_as_fhir_r4_and_the_timeline_says_what_was_done(
    client: TestClient,
) -> None:
    token = sign_in(client, "ada")
    fields = {**_complete("touch", "reauthorization"), "item.status-note": "EDSS stable; no new lesions"}
    done = client.post("/patients/pat_bob/decisions/reauthorize",
                       data={"csrf_token": token, "program": "touch", "confirm": "yes", **fields},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    with transaction(_factory(client)) as session:
        stored: list[Any] = list(session.execute(select(QuestionnaireAnswer.response)).scalars())
    [response] = [r for r in stored if r["questionnaire"].endswith("/touch-reauthorization")]
    assert {i["linkId"] for i in response["item"]} >= {"pml-assessment-done", "continue-treatment", "status-note"}
    assert validate_r4([response]) == [[]]
    assert response["authored"] == NOW.isoformat()
    page = client.get("/patients/pat_bob").text
    assert "Form completed: patient status report and reauthorization; notes: EDSS stable; no new lesions" in _text(
        page
    )
    assert "EDSS stable; no new lesions" in typed_text(page)  # the notes are shown as the prescriber typed them
    client.cookies.set(LANG_COOKIE, "zh")
    chinese = client.get("/patients/pat_bob").text
    assert "已填写患者状况报告及重新授权表；备注：EDSS stable; no new lesions（原文）" in _text(chinese)
    assert "EDSS stable; no new lesions" in typed_text(chinese)


def _text(page: str) -> str:
    """The page's text without its tags."""
    return re.sub(r"<[^>]+>", "", page)


def test_a_reauthorization_outside_the_form_does_not_claim_a_status_report(client: TestClient) -> None:
    with transaction(_factory(client)) as session:
        enrollment.reauthorize(session, program_id="touch", patient_key="pat_bob", prescriber_key="dr_ada", at=NOW,
                               actor="dr_ada")  # fmt: skip
    sign_in(client, "ada")
    assert "status report" not in client.get("/patients/pat_bob").text.split('id="h-timeline"')[1]


def test_every_programs_pack_declares_the_forms_its_program_needs() -> None:
    problems = [p for program in all_programs() for p in form_problems(program)]
    assert problems == []


@pytest.mark.parametrize("form_id", ["touch-reauthorization", "tyruko-rems-reauthorization", "touch-discontinuation",
                                     "mepact-course-discontinuation"])  # fmt: skip
def test_the_fhir_questionnaire_is_the_web_forms_definition(client: TestClient, form_id: str) -> None:
    program_id, _, form = form_id.rpartition("-")
    served = client.get(f"/fhir/Questionnaire/{form_id}").json()
    definition = prescriber_form(get_program(program_id), form)
    assert [(i["linkId"], i["text"], i.get("required")) for i in served["item"]] == [
        (i.link_id, i.text, i.required) for i in definition.items
    ]
    assert validate_r4([served]) == [[]]
