"""CDS Hooks services: discovery, cards for each hook, prefetch and the FHIR-server fallback, feedback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from cds_scenarios import BASE, M1, N3, NOW, prefetch_of
from fastapi.testclient import TestClient
from sqlalchemy import select

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.cards import NON_ADHERENCE, topic_of
from rxguard.cds_hooks.prefetch import PREFETCH
from rxguard.cds_hooks.testing import (
    SigningEhr,
    cds_request,
    draft_medication_request,
    fhir_resources_for,
    fhir_server_app,
    serve_in_thread,
)
from rxguard.store.models import AuditEntry
from rxguard.store.testing import TestDatabase


def post(client: TestClient, ehr: SigningEhr, path: str, body: Any):  # type: ignore[no-untyped-def]
    token = ehr.token(BASE + path)
    return client.post(path, content=orjson.dumps(body), headers={"Authorization": f"Bearer {token}"})


@contextmanager
def client_fetching_from(settings: ServerSettings, ehr: SigningEhr, tmp_path: Path, url: str) -> Iterator[TestClient]:
    """An app whose issuers file lets ``ehr`` name the FHIR server at ``url`` (deny by default)."""
    path = tmp_path / "issuers-with-fhir.json"
    path.write_bytes(orjson.dumps([ehr.issuer_entry(jurisdiction="EU", fhir_servers=[f"{url}/fhir"])]))
    app = create_app(settings.model_copy(update={"cds_issuers_file": path}), clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def cards_of(response) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")
        for reason in card.get("overrideReasons", ()):
            assert reason["display"]
        for link in card.get("links", ()):
            assert link["type"] == "smart" or "appContext" not in link
    return cards


# Restricted prefetch syntax (CDS Hooks 2.0): a read, or a type search with reference, token,
# date (eq/lt/gt/ge/le), _count, _maxresults and _sort parameters only.
_READ = re.compile(r"^[A-Z][A-Za-z]+/\{\{context\.patientId\}\}$")
_PARAM = re.compile(
    r"^(patient=\{\{context\.patientId\}\}|category=[a-z-]+|code(:in)?=[^&]+|status=[a-z-]+"
    r"|date=(eq|lt|gt|ge|le)[0-9-]+|_count=\d+|_maxresults=\d+|_sort=-?[a-z]+)$"
)


def test_discovery_lists_three_services_with_restricted_prefetch(client: TestClient, ehr: SigningEhr) -> None:
    token = ehr.token(BASE + "/cds-services")
    services = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("rxguard-patient-view", "patient-view"),
        ("rxguard-order-select", "order-select"),
        ("rxguard-order-sign", "order-sign"),
    }
    for template in PREFETCH.values():
        if "?" not in template:
            assert _READ.match(template), template
            continue
        rtype, _, query = template.partition("?")
        assert re.match(r"^[A-Z][A-Za-z]+$", rtype)
        assert all(_PARAM.match(param) for param in query.split("&")), template


def test_order_sign_with_a_contraindication_is_critical_with_evidence_source_and_remedy(
    client: TestClient, ehr: SigningEhr
) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    body = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT 4 mg"))
    cards = cards_of(post(client, ehr, "/cds-services/rxguard-order-sign", body))
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert len(critical) == 1
    card = critical[0]
    assert "contraindicated" in card["summary"]
    assert "Ciclosporin" in card["detail"] and "**Sources:**" in card["detail"]
    assert "rule(s) checked" in card["detail"], "every card says what was checked"
    assert card["source"]["url"].startswith("https://")
    assert card["source"]["topic"]["code"] == "rule:mifamurtide.calcineurin-inhibitor"
    assert topic_of(card["uuid"]) == "rule:mifamurtide.calcineurin-inhibitor"
    assert {r["system"] for r in card["overrideReasons"]} == {NON_ADHERENCE}
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft mifamurtide order",
            "resourceId": "MedicationRequest/draft-1",
        }
    ]
    app_context = orjson.loads(card["links"][0]["appContext"])
    assert app_context["drug"] == "mifamurtide" and app_context["hookInstance"] == body["hookInstance"]


@pytest.mark.parametrize(
    ("text", "coding"),
    [
        ("TYSABRI 300 mg concentrate", None),
        ("", [{"system": "http://www.whocc.no/atc", "code": "L04AG03", "display": "natalizumab"}]),
        ("natalizumab-sztn 300 mg", None),
    ],
)
def test_order_select_recognises_natalizumab_by_name_or_atc(
    client: TestClient, ehr: SigningEhr, text: str, coding: list[dict[str, str]] | None
) -> None:
    pid, prefetch = prefetch_of(N3, "natalizumab")
    orders = draft_medication_request(pid, text=text, coding=coding)
    cards = cards_of(
        post(
            client,
            ehr,
            "/cds-services/rxguard-order-select",
            cds_request("order-select", pid, prefetch, draft_orders=orders),
        )
    )
    assert cards and all(c["summary"].startswith("natalizumab") for c in cards)


def test_an_order_for_another_drug_gets_no_cards(client: TestClient, ehr: SigningEhr) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    orders = draft_medication_request(pid, text="Ibuprofen 400 MG Oral Tablet")
    assert (
        cards_of(
            post(
                client,
                ehr,
                "/cds-services/rxguard-order-sign",
                cds_request("order-sign", pid, prefetch, draft_orders=orders),
            )
        )
        == []
    )


def test_patient_view_alone_shows_overdue_monitoring_and_the_pml_stratum(client: TestClient, ehr: SigningEhr) -> None:
    pid, prefetch = prefetch_of(N3, "natalizumab")
    cards = cards_of(
        post(client, ehr, "/cds-services/rxguard-patient-view", cds_request("patient-view", pid, prefetch))
    )
    overdue = [c for c in cards if "monitoring overdue" in c["summary"]]
    assert overdue and overdue[0]["indicator"] == "warning"
    assert any(s["actions"][0]["resource"]["resourceType"] == "ServiceRequest" for s in overdue[0]["suggestions"])
    assert any("PML risk" in c["summary"] and c["indicator"] == "info" for c in cards)
    assert not any(c["indicator"] == "critical" for c in cards)  # opening a chart never pops up


def test_missing_required_prefetch_without_a_fhir_server_is_412(client: TestClient, ehr: SigningEhr) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    del prefetch["allergies"]
    body = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT"))
    response = post(client, ehr, "/cds-services/rxguard-order-sign", body)
    assert response.status_code == 412
    problem = response.json()
    assert problem["missing"] == ["allergies"]
    assert problem["operationOutcome"]["resourceType"] == "OperationOutcome"


def test_a_prefetch_the_ehr_reports_as_failed_counts_as_missing(client: TestClient, ehr: SigningEhr) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    prefetch["labs"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    body = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT"))
    response = post(client, ehr, "/cds-services/rxguard-order-sign", body)
    assert response.status_code == 412
    assert response.json()["missing"] == ["labs"]


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_the_given_token(
    settings: ServerSettings, ehr: SigningEhr, tmp_path: Path
) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    orders = draft_medication_request(pid, text="MEPACT")
    fhir = fhir_server_app(fhir_resources_for(prefetch, pid), token="ehr-access-token")
    with serve_in_thread(fhir) as url, client_fetching_from(settings, ehr, tmp_path, url) as client:
        body = cds_request(
            "order-sign", pid, None, draft_orders=orders, fhirServer=f"{url}/fhir",
            fhirAuthorization={"access_token": "ehr-access-token", "token_type": "Bearer", "expires_in": 300,
                               "scope": "patient/*.read", "subject": "rxguard"},
        )  # fmt: skip
        fetched = cards_of(post(client, ehr, "/cds-services/rxguard-order-sign", body))
    assert len(fhir.state.calls) == len(PREFETCH)
    given = cards_of(post(client, ehr, "/cds-services/rxguard-order-sign",
                          cds_request("order-sign", pid, prefetch, draft_orders=orders)))  # fmt: skip
    assert [c["summary"] for c in fetched] == [c["summary"] for c in given]


def test_a_fhir_server_that_refuses_gives_412(settings: ServerSettings, ehr: SigningEhr, tmp_path: Path) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    fhir = fhir_server_app(fhir_resources_for(prefetch, pid), token="the-right-token")
    with serve_in_thread(fhir) as url, client_fetching_from(settings, ehr, tmp_path, url) as client:
        body = cds_request("order-sign", pid, None, draft_orders=draft_medication_request(pid, text="MEPACT"),
                           fhirServer=f"{url}/fhir", fhirAuthorization={"access_token": "a-wrong-token"})  # fmt: skip
        response = post(client, ehr, "/cds-services/rxguard-order-sign", body)
    assert response.status_code == 412
    assert "allergies" in response.json()["missing"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"hook": "patient-view"}, 400),
        ({"context": {"patientId": "x"}}, 400),
        ({"fhirAuthorization": {"access_token": "t"}}, 400),
        ({"hookInstance": None}, 400),
    ],
)
def test_malformed_requests_are_400_with_an_operation_outcome(
    client: TestClient, ehr: SigningEhr, change: dict[str, Any], status: int
) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    body = {
        **cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT")),
        **change,
    }
    response = post(client, ehr, "/cds-services/rxguard-order-sign", body)
    assert response.status_code == status
    assert response.json()["operationOutcome"]["issue"][0]["severity"] == "error"


def test_an_unknown_service_is_404_after_authentication(client: TestClient, ehr: SigningEhr) -> None:
    assert post(client, ehr, "/cds-services/no-such-service", {}).status_code == 404
    assert client.post("/cds-services/no-such-service", json={}).status_code == 401


def test_feedback_goes_into_the_audit_log_with_the_rule(
    client: TestClient, ehr: SigningEhr, database: TestDatabase
) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    body = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT"))
    card = cards_of(post(client, ehr, "/cds-services/rxguard-order-sign", body))[0]
    feedback = {
        "feedback": [
            {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-03-02T12:05:00Z",
             "overrideReason": {"reason": card["overrideReasons"][1], "userComment": "discussed with oncology"}},
            {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-03-02T12:06:00Z",
             "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]},
        ]
    }  # fmt: skip
    response = post(client, ehr, "/cds-services/rxguard-order-sign/feedback", feedback)
    assert response.status_code == 200, response.text
    with database.factory() as session:
        rows = (
            session.execute(select(AuditEntry).where(AuditEntry.entity == "cds_card").order_by(AuditEntry.seq))
            .scalars()
            .all()
        )
    assert [r.action for r in rows] == ["cds.card.overridden", "cds.card.accepted"]
    payload = orjson.loads(rows[0].payload)
    assert payload["topic"] == "rule:mifamurtide.calcineurin-inhibitor"
    assert payload["override_reason"]["reason"]["code"] == "risk-benefit-ratio"
    assert rows[0].actor == f"cds:{ehr.iss}"


def test_feedback_that_breaks_the_spec_is_400(client: TestClient, ehr: SigningEhr) -> None:
    bad = {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "2026-03-02T12:05:00Z"}]}
    response = post(client, ehr, "/cds-services/rxguard-order-sign/feedback", bad)
    assert response.status_code == 400
    assert "acceptedSuggestions" in response.json()["detail"]


def test_without_a_smart_launch_url_cards_link_straight_to_the_pre_infusion_page(settings, ehr: SigningEhr) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient as Client

    from rxguard.api.app import create_app

    plain = settings.model_copy(update={"smart_launch_url": ""})
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    body = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT"))
    with Client(create_app(plain)) as client:
        card = cards_of(post(client, ehr, "/cds-services/rxguard-order-sign", body))[0]
    # The EHR's id is linked to no program patient here, so the link opens the patient list, never
    # /patients/{EHR id}/dose (test_identity_links covers a linked patient).
    assert card["links"] == [
        {"label": "Open rxguard's pre-infusion page", "url": f"{BASE}/patients", "type": "absolute"}
    ]


def test_a_replayed_service_call_is_refused_and_its_jti_is_kept_once(client: TestClient, ehr: SigningEhr) -> None:
    """The service call records its JWT id before it reads the body: a replay is 401."""
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    url = "http://testserver/cds-services/rxguard-order-sign"
    body = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT"))
    token = ehr.token(url)
    first = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 200 and cards_of(first)
    again = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"
    assert "cards" not in again.json()


def test_a_replayed_call_that_would_fetch_from_the_fhir_server_is_refused_before_any_fetch(
    settings: ServerSettings, ehr: SigningEhr, tmp_path: Path
) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    url = "http://testserver/cds-services/rxguard-order-sign"
    fhir = fhir_server_app(fhir_resources_for(prefetch, pid), token="ehr-access-token")
    token = ehr.token(url)
    with serve_in_thread(fhir) as server, client_fetching_from(settings, ehr, tmp_path, server) as client:
        body = cds_request("order-sign", pid, None, draft_orders=draft_medication_request(pid, text="MEPACT"),
                           fhirServer=f"{server}/fhir", fhirAuthorization={"access_token": "ehr-access-token"})  # fmt: skip
        assert client.post(url, json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        fetched = len(fhir.state.calls)
        again = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    assert len(fhir.state.calls) == fetched, "a replayed call made rxguard fetch from the EHR again"
