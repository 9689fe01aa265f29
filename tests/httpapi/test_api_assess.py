"""``POST /api/v1/assess`` gives exactly what ``rxguard check --format json`` gives; packs and names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from rxguard.cli import run as run_cli
from rxguard.facts.builder import build_bundle

M1 = {
    "age": 16,
    "sex": "male",
    "conditions": [{"text": "High-grade osteosarcoma of the left femur", "onset": "2025-11-10"}],
    "medications": [{"text": "Ciclosporin 100 MG Oral Capsule", "status": "active", "start": "2025-12-01"}],
}
AT = date(2026, 3, 2)


@pytest.fixture
def m1_bundle() -> dict:  # type: ignore[type-arg]
    return build_bundle(M1, at=AT, drug="mifamurtide")


def test_assess_returns_the_same_json_as_the_cli(
    client: TestClient,
    auth: dict[str, str],
    m1_bundle: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[type-arg]
) -> None:
    path = tmp_path / "m1.json"
    path.write_bytes(orjson.dumps(m1_bundle))
    assert run_cli(["check", "--drug", "MEPACT", "--bundle", str(path), "--at", "2026-03-02",
                    "--jurisdiction", "EU", "--format", "json"]) == 0  # fmt: skip
    cli_json = orjson.loads(capsys.readouterr().out)
    response = client.post("/api/v1/assess", params={"drug": "MEPACT", "at": "2026-03-02", "jurisdiction": "EU"},
                           json=m1_bundle, headers=auth)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json() == cli_json
    assert response.json()["verdict"] == "contraindicated"


def test_answers_come_with_the_bundle_in_a_wrapper(client: TestClient, auth: dict[str, str], m1_bundle: dict) -> None:  # type: ignore[type-arg]
    body = {"bundle": m1_bundle, "answers": {"childbearing-potential": False}}
    response = client.post(
        "/api/v1/assess", params={"drug": "mifamurtide", "at": "2026-03-02"}, json=body, headers=auth
    )
    assert response.status_code == 200, response.text
    wrong = {"bundle": m1_bundle, "answers": {"no-such-question": True}}
    response = client.post("/api/v1/assess", params={"drug": "mifamurtide"}, json=wrong, headers=auth)
    assert response.status_code == 400
    assert "no-such-question" in response.json()["detail"]


def test_an_unknown_drug_is_a_404_with_suggestions(client: TestClient, auth: dict[str, str], m1_bundle: dict) -> None:  # type: ignore[type-arg]
    response = client.post("/api/v1/assess", params={"drug": "natalizumib"}, json=m1_bundle, headers=auth)
    assert response.status_code in (200, 404)  # close misspellings resolve
    response = client.post("/api/v1/assess", params={"drug": "omalizumab"}, json=m1_bundle, headers=auth)
    assert response.status_code == 404
    assert response.json()["type"] == "urn:rxguard:problem:unknown-drug"
    assert "suggestions" in response.json()


def test_a_body_that_is_not_fhir_is_refused_with_what_to_fix(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/assess", params={"drug": "mifamurtide"}, json={"resourceType": "Bundle", "entry": "x"},
                           headers=auth)  # fmt: skip
    assert response.status_code == 422
    assert response.json()["type"] == "urn:rxguard:problem:unusable-fhir-input"
    response = client.post("/api/v1/assess", params={"drug": "mifamurtide"}, json=[1, 2], headers=auth)
    assert response.status_code == 400


def test_packs_are_listed_in_pages_and_shown_by_any_name(client: TestClient, auth: dict[str, str]) -> None:
    first = client.get("/api/v1/packs", params={"limit": 1}, headers=auth).json()
    assert first["total"] >= 2 and len(first["items"]) == 1 and first["next_offset"] == 1
    last = client.get("/api/v1/packs", params={"limit": 1, "offset": first["total"] - 1}, headers=auth).json()
    assert last["next_offset"] is None
    pack = client.get("/api/v1/packs/那他珠单抗", headers=auth).json()
    assert pack["name"] == "natalizumab" and pack["sources"]


def test_names_resolve_and_suggest(client: TestClient, auth: dict[str, str]) -> None:
    resolved = client.get("/api/v1/names/resolve", params={"q": "Tysabri"}, headers=auth).json()
    assert resolved["drug"] == "natalizumab" and resolved["via"] == "brand"
    suggestions = client.get("/api/v1/names/suggest", params={"q": "tysab"}, headers=auth).json()
    assert suggestions and suggestions[0]["drug"] == "natalizumab"


def test_the_patient_parameter_chooses_among_several_and_a_deceased_patient_is_refused(
    client: TestClient,
    auth: dict[str, str],
    m1_bundle: dict,  # type: ignore[type-arg]
) -> None:
    other = {"fullUrl": "urn:uuid:ben", "resource": {"resourceType": "Patient", "id": "ben", "birthDate": "1970-01-01"}}
    two = {**m1_bundle, "entry": [*m1_bundle["entry"], other]}
    params = {"drug": "mifamurtide", "at": "2026-03-02", "jurisdiction": "EU"}
    response = client.post("/api/v1/assess", params=params, json=two, headers=auth)
    assert response.status_code == 422 and "say which one to assess" in response.json()["detail"]
    own = next(e["resource"]["id"] for e in m1_bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    chosen = client.post("/api/v1/assess", params={**params, "patient": own}, json=two, headers=auth)
    assert chosen.status_code == 200 and chosen.json()["verdict"] == "contraindicated"
    assert chosen.json()["coverage"]["version"] == 1
    ben = client.post("/api/v1/assess", params={**params, "patient": "ben"}, json=two, headers=auth)
    assert ben.status_code == 200 and ben.json()["verdict"] != "contraindicated"
    dead = {**m1_bundle, "entry": [{**e, "resource": {**e["resource"], "deceasedBoolean": True}}
                                   if e["resource"]["resourceType"] == "Patient" else e for e in m1_bundle["entry"]]}  # fmt: skip
    refused = client.post("/api/v1/assess", params=params, json=dead, headers=auth)
    assert refused.status_code == 422 and "deceased" in refused.json()["detail"]
