"""Program forms as FHIR Questionnaires; a QuestionnaireResponse has the effect of the same answers via the API.

The checklist is answered both ways on two copies of the same demo database
and the decisions (and every check) must be the same; the reauthorization is
refused until the response is completed with both attestations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_users import user_token
from cds_scenarios import BASE, NOW
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.store.identity_models import QuestionnaireAnswer
from rxguard.store.testing import TestDatabase, sqlite_database

FHIR = {"Content-Type": "application/fhir+json"}


class Deployment:
    def __init__(self, template: Path, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.db: TestDatabase = sqlite_database(template, folder)
        self.nurse = {"Authorization": f"Bearer {user_token(self.db, 'kim', 'nurse', site_key='site_north')}"}
        # pat_amy's dose today is already open at site_south (the demo's confirmed override), and one
        # authorization per dose and visit means her checklist is answered there.
        self.south_nurse = {"Authorization": f"Bearer {user_token(self.db, 'lee', 'nurse', site_key='site_south')}"}
        self.doctor = {"Authorization": f"Bearer {user_token(self.db, 'ada', 'prescriber', prescriber_key='dr_ada')}"}
        settings = ServerSettings(database_url=self.db.url, public_url=BASE)
        self.client = TestClient(create_app(settings, clock=lambda: NOW), raise_server_exceptions=False)
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.db.engine.dispose()

    def questionnaire(self, form_id: str) -> dict[str, Any]:
        response = self.client.get(f"/fhir/Questionnaire/{form_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def submit(self, headers: dict[str, str], body: dict[str, Any]) -> Any:
        return self.client.post("/fhir/QuestionnaireResponse", content=orjson.dumps(body), headers={**headers, **FHIR})


@pytest.fixture
def deployments(demo_template_path: Path, tmp_path: Path) -> Iterator[list[Deployment]]:
    made = [Deployment(demo_template_path, tmp_path / name) for name in ("a", "b")]
    yield made
    for deployment in made:
        deployment.close()


def response_for(questionnaire: dict[str, Any], patient: str, answers: dict[str, Any], status: str = "completed"):  # type: ignore[no-untyped-def]
    items = []
    for link_id, value in answers.items():
        key = {bool: "valueBoolean", float: "valueDecimal", str: "valueString"}[type(value)]
        if isinstance(value, dict):
            key = "valueCoding"
        items.append({"linkId": link_id, "answer": [{key: value}]})
    return {"resourceType": "QuestionnaireResponse", "questionnaire": questionnaire["url"], "status": status,
            "subject": {"identifier": {"system": "urn:rxguard:patient-key", "value": patient}}, "item": items}  # fmt: skip


def checklist_ids(questionnaire: dict[str, Any]) -> list[str]:
    return [i["linkId"] for i in questionnaire["item"] if i["type"] == "boolean"]


def test_every_program_has_its_forms_as_questionnaires(deployments: list[Deployment]) -> None:
    bundle = deployments[0].client.get("/fhir/Questionnaire").json()
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert {"touch-enrollment", "touch-pre-infusion-checklist", "touch-reauthorization", "touch-discontinuation"} <= ids
    checklist = deployments[0].questionnaire("touch-pre-infusion-checklist")
    assert checklist_ids(checklist) and all(i["required"] for i in checklist["item"])
    assert deployments[0].client.get("/fhir/Questionnaire/nope").status_code == 404


@pytest.mark.parametrize("yes_at", [None, 0, -1])
def test_a_checklist_response_decides_exactly_as_the_api(deployments: list[Deployment], yes_at: int | None) -> None:
    via_fhir, via_api = deployments
    questionnaire = via_fhir.questionnaire("touch-pre-infusion-checklist")
    ids = checklist_ids(questionnaire)
    answers = {q: False for q in ids}
    if yes_at is not None:
        answers[ids[yes_at]] = True
    submitted = via_fhir.submit(via_fhir.south_nurse, response_for(questionnaire, "pat_amy", answers))
    assert submitted.status_code == 201, submitted.text
    effect = orjson.loads(submitted.json()["extension"][0]["valueString"])
    api = via_api.client.post("/api/v1/authorizations", json={"patient": "pat_amy", "answers": answers},
                              headers=via_api.south_nurse)  # fmt: skip
    assert api.status_code == 201, api.text
    assert effect["decision"] == api.json()["decision"]
    if yes_at is not None:
        assert effect["decision"] == "hold"  # a yes holds the dose, both ways
    [checklist] = [c for c in effect["checks"] if c["id"] == "checklist"]
    assert checklist["outcome"] == ("pass" if yes_at is None else "hold")
    strip = [{k: c[k] for k in ("id", "outcome", "reason")} for c in api.json()["checks"]]
    assert [{k: c[k] for k in ("id", "outcome", "reason")} for c in effect["checks"]] == strip
    with via_fhir.db.factory() as s:
        assert s.execute(select(func.count(QuestionnaireAnswer.id))).scalar_one() == 1


def test_a_reauthorization_needs_a_completed_response(deployments: list[Deployment]) -> None:
    site = deployments[0]
    questionnaire = site.questionnaire("touch-reauthorization")
    both = {"pml-assessment-done": True, "continue-treatment": True}
    for status, answers in (("in-progress", both), ("completed", {"pml-assessment-done": True}),
                            ("completed", {"pml-assessment-done": True, "continue-treatment": False})):  # fmt: skip
        refused = site.submit(site.doctor, response_for(questionnaire, "pat_bob", answers, status))
        assert refused.status_code == 409, refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"
    assert site.client.get("/api/v1/patients/pat_bob", headers=site.doctor).json()["enrollments"][0]["status"] == (
        "lapsed"
    )
    done = site.submit(site.doctor, response_for(questionnaire, "pat_bob", {**both, "status-note": "stable"}))
    assert done.status_code == 201, done.text
    patient = site.client.get("/api/v1/patients/pat_bob", headers=site.doctor).json()
    assert patient["enrollments"][0]["status"] == "authorized"
    # A nurse cannot reauthorize; an EHR-signed caller cannot submit answers at all.
    assert site.submit(site.nurse, response_for(questionnaire, "pat_bob", both)).status_code == 403


def test_a_discontinuation_response_discontinues(deployments: list[Deployment]) -> None:
    site = deployments[0]
    questionnaire = site.questionnaire("touch-discontinuation")
    # Every yes/no the pack's form requires is an attestation; without one the response is refused.
    attestations = {i["linkId"]: True for i in questionnaire["item"] if i["type"] == "boolean" and i["required"]}
    for missing in attestations:
        partial = {"reason": "patient decision", **{k: v for k, v in attestations.items() if k != missing}}
        refused = site.submit(site.doctor, response_for(questionnaire, "pat_amy", partial))
        assert refused.status_code == 409 and missing in refused.text
    done = site.submit(site.doctor, response_for(questionnaire, "pat_amy", {"reason": "patient decision",
                                                                             **attestations}))  # fmt: skip
    assert done.status_code == 201, done.text
    assert orjson.loads(done.json()["extension"][0]["valueString"])["status"] == "discontinued"


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda r: r.update(resourceType="Bundle"), 400),
        (lambda r: r.update(questionnaire="http://x/Questionnaire/unknown"), 404),
        (lambda r: r.update(subject={}), 400),
        (lambda r: r["item"].append({"linkId": "not-a-question", "answer": [{"valueBoolean": True}]}), 400),
        (lambda r: r["item"][0].update(answer=[{"valueString": "yes"}]), 400),
        (lambda r: r.update(subject={"reference": "Patient/pat_nobody"}), 404),
    ],
)
def test_malformed_responses_are_refused_with_an_operation_outcome(
    deployments: list[Deployment], mutate: Any, status: int
) -> None:
    site = deployments[0]
    questionnaire = site.questionnaire("touch-pre-infusion-checklist")
    body = response_for(questionnaire, "pat_amy", {q: False for q in checklist_ids(questionnaire)})
    mutate(body)
    refused = site.submit(site.nurse, body)
    assert refused.status_code == status, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_questionnaire_package_by_order_and_by_canonical(deployments: list[Deployment]) -> None:
    site = deployments[0]
    order = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
             "medicationCodeableConcept": {"text": "Tysabri 300 mg"}, "subject": {"reference": "Patient/x"}}  # fmt: skip
    body = {"resourceType": "Parameters", "parameter": [{"name": "order", "resource": order}]}
    package = site.client.post("/fhir/Questionnaire/$questionnaire-package", content=orjson.dumps(body),
                               headers={**site.nurse, **FHIR}).json()  # fmt: skip
    ids = {p["resource"]["entry"][0]["resource"]["id"] for p in package["parameter"] if p["name"] == "PackageBundle"}
    assert "touch-pre-infusion-checklist" in ids and "touch-reauthorization" in ids
    url = site.questionnaire("touch-discontinuation")["url"]
    body = {"resourceType": "Parameters", "parameter": [{"name": "questionnaire", "valueCanonical": url}]}
    package = site.client.post("/fhir/Questionnaire/$questionnaire-package", content=orjson.dumps(body),
                               headers={**site.nurse, **FHIR}).json()  # fmt: skip
    assert [p["resource"]["entry"][0]["resource"]["id"] for p in package["parameter"]] == ["touch-discontinuation"]
