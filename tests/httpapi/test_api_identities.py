"""Identity links over REST: administrators manage them; enrollment links the EHR's ids."""

from __future__ import annotations

from api_users import user_token
from cds_scenarios import NOW
from fastapi.testclient import TestClient

from rxguard.program import certification, participants
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase


def _people(database: TestDatabase) -> dict[str, dict[str, str]]:
    with transaction(database.factory) as s:
        participants.register_prescriber(s, key="dr_ada", name="Dr Ada", at=NOW, actor="admin")
        participants.register_patient(s, key="pat_amy", name="Amy", at=NOW, actor="admin")
        certification.enroll_participant(s, program_id="touch", kind="prescriber", key="dr_ada", at=NOW, actor="a")
        certification.certify(s, program_id="touch", kind="prescriber", key="dr_ada", at=NOW, actor="a",
                              training_attested_at=NOW)  # fmt: skip
    admin = user_token(database, "root", "admin")
    doctor = user_token(database, "ada", "prescriber", prescriber_key="dr_ada")
    return {"admin": {"Authorization": f"Bearer {admin}"}, "doctor": {"Authorization": f"Bearer {doctor}"}}


def test_an_administrator_links_lists_and_unlinks(client: TestClient, database: TestDatabase) -> None:
    auth = _people(database)
    body = {"kind": "patient", "key": "pat_amy", "issuer": "https://ehr.test", "value": "123"}
    created = client.post("/api/v1/identities", json=body, headers=auth["admin"])
    assert created.status_code == 201, created.text
    assert created.json()["system"] == "urn:rxguard:fhir-id" and created.json()["key"] == "pat_amy"
    again = client.post("/api/v1/identities", json=body, headers=auth["admin"])
    assert again.status_code == 409 and "pat_amy" not in again.text
    listed = client.get("/api/v1/identities", params={"patient": "pat_amy"}, headers=auth["admin"]).json()
    assert [i["value"] for i in listed["items"]] == ["123"]
    gone = client.delete(f"/api/v1/identities/{created.json()['id']}", headers=auth["admin"])
    assert gone.status_code == 204
    assert client.get("/api/v1/identities", headers=auth["admin"]).json()["items"] == []


def test_only_administrators_manage_links(client: TestClient, database: TestDatabase) -> None:
    auth = _people(database)
    body = {"kind": "patient", "key": "pat_amy", "issuer": "https://ehr.test", "value": "123"}
    assert client.post("/api/v1/identities", json=body, headers=auth["doctor"]).status_code == 403
    assert client.get("/api/v1/identities", headers=auth["doctor"]).status_code == 403
    assert client.post("/api/v1/identities", json=body).status_code == 401


def test_enrollment_links_the_enrolling_ehrs_ids(client: TestClient, database: TestDatabase) -> None:
    auth = _people(database)
    body = {"program": "touch", "patient": "pat_amy", "indication": "multiple-sclerosis",
            "identifiers": [{"issuer": "https://ehr.test", "value": "123"},
                            {"issuer": "https://ehr.test", "system": "http://hospital.example/mrn", "value": "M9"}]}  # fmt: skip
    enrolled = client.post("/api/v1/enrollments", json=body, headers=auth["doctor"])
    assert enrolled.status_code == 201, enrolled.text
    assert {i["value"] for i in enrolled.json()["identifiers"]} == {"123", "M9"}
    listed = client.get("/api/v1/identities", params={"issuer": "https://ehr.test"}, headers=auth["admin"]).json()
    assert {i["key"] for i in listed["items"]} == {"pat_amy"}
