"""``/fhir``: the CapabilityStatement and ``$rems-etasu`` on the demo program.

The demo's pat_amy is on treatment (every requirement met), pat_bob's
reauthorization lapsed, pat_eli is suspended (suspected PML). A pharmacy user
asks with an API token and rxguard's own keys; an EHR asks with a signed JWT
and its own ids, linked for it (and for nobody else).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from api_users import user_token
from cds_scenarios import BASE, NOW
from fastapi.testclient import TestClient

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.testing import SigningEhr
from rxguard.program.identities import FHIR_ID_SYSTEM, Identifier, Namespace, link_patient
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

PATH = "/fhir/GuidanceResponse/$rems-etasu"
EHR_A = SigningEhr(iss="https://ehr-a.test")
EHR_B = SigningEhr(iss="https://ehr-b.test")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture
def fhir(demo_database: TestDatabase, tmp_path: Path) -> Any:
    issuers = tmp_path / "issuers.json"
    issuers.write_bytes(orjson.dumps([EHR_A.issuer_entry(jurisdiction="US"), EHR_B.issuer_entry(jurisdiction="US")]))
    with transaction(demo_database.factory) as s:
        link_patient(s, patient_key="pat_bob", namespace=Namespace(EHR_A.iss),
                     identifier=Identifier("http://hospital-a.example/mrn", "MRN-7"), at=NOW, actor="admin")  # fmt: skip
        link_patient(s, patient_key="pat_amy", namespace=Namespace(EHR_B.iss),
                     identifier=Identifier(FHIR_ID_SYSTEM, "p-1"), at=NOW, actor="admin")  # fmt: skip
    token = user_token(demo_database, "phil", "admin")
    settings = ServerSettings(database_url=demo_database.url, cds_issuers_file=issuers, public_url=BASE)
    with TestClient(create_app(settings, clock=lambda: NOW), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def query(patient: dict[str, Any], medication: dict[str, Any] | None = None) -> dict[str, Any]:
    medication = medication or {"resourceType": "Medication", "code": {"text": "Tysabri 300 mg"}}
    return {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "resource": {"resourceType": "Patient", **patient}},
        {"name": "medication", "resource": medication},
    ]}  # fmt: skip


def by_key(key: str) -> dict[str, Any]:
    return {"identifier": [{"system": "urn:rxguard:patient-key", "value": key}]}


def ask(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(
        PATH, content=orjson.dumps(body), headers={**headers, "Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    out = response.json()
    assert out["resourceType"] == "Parameters"
    return [p["resource"] for p in out["parameter"] if p["name"] == "rems-etasu"]


def unmet(guidance: dict[str, Any]) -> dict[str, str]:
    [contained] = guidance["contained"]
    return {
        p["name"]: p["resource"]["note"][1]["text"]
        for p in contained["parameter"]
        if "resource" in p and p["resource"]["status"] == "data-required"
    }


def case_number(guidance: dict[str, Any]) -> str:
    [contained] = guidance["contained"]
    return next(p["valueString"] for p in contained["parameter"] if p["name"] == "case_number")


def ehr_headers(ehr: SigningEhr) -> dict[str, str]:
    return {"Authorization": f"Bearer {ehr.token(BASE + PATH)}"}


def test_the_authorized_demo_patient_meets_every_etasu(fhir: Any) -> None:
    client, admin = fhir
    [guidance] = ask(client, admin, query(by_key("pat_amy")))
    assert guidance["status"] == "success", unmet(guidance)
    assert unmet(guidance) == {}
    names = [p["name"] for p in guidance["contained"][0]["parameter"]]
    assert names[:4] == ["Prescriber certification", "Infusion site certification", "Patient enrollment",
                         "Patient consent"]  # fmt: skip
    assert "Pre-infusion checklist" in names and case_number(guidance)
    assert guidance["outputParameters"] == {"reference": "#etasuOutputParameters"}


def test_the_lapsed_demo_patient_is_data_required_naming_the_reauthorization(fhir: Any) -> None:
    client, admin = fhir
    [guidance] = ask(client, admin, query(by_key("pat_bob")))
    assert guidance["status"] == "data-required"
    assert list(unmet(guidance)) == ["Treatment authorization"]
    assert "lapsed" in unmet(guidance)["Treatment authorization"]


def test_the_suspended_patient_is_data_required(fhir: Any) -> None:
    client, admin = fhir
    [guidance] = ask(client, admin, query(by_key("pat_eli"), {"resourceType": "Medication", "code": {"coding": [
        {"system": "http://www.whocc.no/atc", "code": "L04AG03"}]}}))  # fmt: skip
    assert guidance["status"] == "data-required" and "suspended" in unmet(guidance)["Treatment authorization"]


def test_an_ehr_reaches_only_the_patient_it_linked(fhir: Any) -> None:
    client, _admin = fhir
    mrn = {"identifier": [{"system": "http://hospital-a.example/mrn", "value": "MRN-7"}]}
    [a] = ask(client, ehr_headers(EHR_A), query(mrn))
    assert a["status"] == "data-required" and "Treatment authorization" in unmet(a)  # pat_bob for EHR A
    [b] = ask(client, ehr_headers(EHR_B), query(mrn))
    assert b["status"] == "failure"  # EHR B never linked that MRN
    [b_own] = ask(client, ehr_headers(EHR_B), query({"id": "p-1"}))
    assert b_own["status"] == "success" and b_own["subject"] == {"reference": "Patient/p-1"}
    # An EHR cannot use rxguard's keys, nor another's case number.
    [by_program_key] = ask(client, ehr_headers(EHR_B), query(by_key("pat_eli")))
    assert by_program_key["status"] == "failure"
    case = {"resourceType": "Parameters", "parameter": [{"name": "case_number", "valueString": case_number(a)}]}
    [by_case] = ask(client, ehr_headers(EHR_B), case)
    assert by_case["status"] == "failure"
    [own_case] = ask(client, ehr_headers(EHR_A), case)
    assert own_case["status"] == "data-required"


def test_a_medication_no_program_covers_is_failure(fhir: Any) -> None:
    client, admin = fhir
    other = {"resourceType": "Medication", "code": {"coding": [{"system": RXNORM, "code": "6064"}]}}
    [guidance] = ask(client, admin, query(by_key("pat_amy"), other))
    assert guidance["status"] == "failure"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{", "not JSON"),
        (b'{"resourceType": "Bundle"}', "Parameters"),
        (b'{"resourceType": "Parameters", "parameter": []}', "patient"),
        (b'{"resourceType": "Parameters", "parameter": [{"name": "patient", "valueString": "x"}]}', "Patient"),
    ],
)
def test_bad_input_is_400_with_an_operation_outcome(fhir: Any, body: bytes, says: str) -> None:
    client, admin = fhir
    response = client.post(PATH, content=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome" and says in response.text


def test_without_credentials_it_is_401(fhir: Any) -> None:
    client, _admin = fhir
    assert client.post(PATH, content=orjson.dumps(query(by_key("pat_amy")))).status_code == 401
    forged = SigningEhr(iss=EHR_A.iss)  # same iss, another key
    response = client.post(PATH, content=orjson.dumps(query(by_key("pat_amy"))), headers=ehr_headers(forged))
    assert response.status_code == 401


def test_metadata_lists_the_operation(fhir: Any) -> None:
    client, _admin = fhir
    statement = client.get("/fhir/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement" and statement["fhirVersion"] == "4.0.1"
    [guidance] = [r for r in statement["rest"][0]["resource"] if r["type"] == "GuidanceResponse"]
    [operation] = guidance["operation"]
    assert operation["name"] == "rems-etasu"
    definition = client.get(operation["definition"].removeprefix(BASE)).json()
    assert definition["code"] == "rems-etasu" and definition["resource"] == ["GuidanceResponse"]
