"""EHR identities: two trusted EHRs sending the same patient id reach their own patient or nobody.

The demo program is loaded; EHR A links its id for the demo patient on
treatment (pat_amy), EHR B links the *same* id for the lapsed one (pat_bob),
and EHR C links nothing. Each call goes through the real CDS Hooks route with
a JWT signed by that EHR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cds_scenarios import BASE, N3, NOW, prefetch_of
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.testing import SigningEhr, cds_request, draft_medication_request, prefetch_from_bundle
from rxguard.facts.builder import build_bundle
from rxguard.program.identities import FHIR_ID_SYSTEM, Identifier, Namespace, link_patient, link_prescriber
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

EHR_A = SigningEhr(iss="https://ehr-a.test")
EHR_B = SigningEhr(iss="https://ehr-b.test")
EHR_C = SigningEhr(iss="https://ehr-c.test")
DEMO_KEYS = ("pat_amy", "pat_bob", "pat_cal", "pat_dee", "pat_eli", "pat_fay")
STATUS_GAPS = {"reauthorization-lapsed", "suspended", "discontinued", "consent-missing", "enrollment-not-authorized"}
PATH = "/cds-services/rxguard-order-sign"


@pytest.fixture
def linked_client(demo_database: TestDatabase, tmp_path: Path) -> Any:
    issuers = tmp_path / "issuers.json"
    issuers.write_bytes(orjson.dumps([
        EHR_A.issuer_entry(jurisdiction="US", tenants=["north", "south"]),
        EHR_B.issuer_entry(jurisdiction="US"),
        EHR_C.issuer_entry(jurisdiction="US"),
    ]))  # fmt: skip
    pid, prefetch = prefetch_of(N3, "natalizumab")
    with transaction(demo_database.factory) as s:
        link = Identifier(FHIR_ID_SYSTEM, pid)
        link_patient(s, patient_key="pat_amy", namespace=Namespace(EHR_A.iss, "north"), identifier=link, at=NOW,
                     actor="admin")  # fmt: skip
        link_patient(s, patient_key="pat_bob", namespace=Namespace(EHR_B.iss), identifier=link, at=NOW, actor="admin")
        for ehr, tenant in ((EHR_A, "north"), (EHR_B, "")):
            link_prescriber(s, prescriber_key="dr_ada", namespace=Namespace(ehr.iss, tenant),
                            identifier=Identifier(FHIR_ID_SYSTEM, "prac-1"), at=NOW, actor="admin")  # fmt: skip
    settings = ServerSettings(database_url=demo_database.url, cds_issuers_file=issuers, public_url=BASE)
    app: FastAPI = create_app(settings, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, pid, prefetch


def _for(patient_id: str) -> dict[str, Any]:
    """The N3 patient's prefetch under this EHR id (the prefetched Patient is the context's patient)."""
    prefetch = prefetch_from_bundle(build_bundle(N3, at=NOW.date(), drug="natalizumab"))
    old = prefetch["patient"]["id"]
    text = orjson.dumps(prefetch).replace(f'"{old}"'.encode(), orjson.dumps(patient_id))
    data: dict[str, Any] = orjson.loads(text.replace(f"Patient/{old}".encode(), f"Patient/{patient_id}".encode()))
    return data


def _gaps(client: TestClient, ehr: SigningEhr, patient_id: str, prefetch: dict[str, Any], **claims: Any) -> list[str]:
    if prefetch["patient"]["id"] != patient_id:
        prefetch = _for(patient_id)
    body = cds_request("order-sign", patient_id, prefetch,
                       draft_orders=draft_medication_request(patient_id, text="TYSABRI 300 mg"))  # fmt: skip
    body["context"]["userId"] = "Practitioner/prac-1"
    token = ehr.token(BASE + PATH, **claims)
    response = client.post(PATH, content=orjson.dumps(body), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    codes = []
    for card in response.json()["cards"]:
        code = card["source"].get("topic", {}).get("code", "")
        if code.startswith("program:"):
            codes.append(code.rsplit(":", 1)[1])
    return sorted(codes)


def test_two_ehrs_sending_the_same_id_reach_their_own_patient(linked_client: Any) -> None:
    client, pid, prefetch = linked_client
    assert _gaps(client, EHR_A, pid, prefetch, tenant="north") == []  # pat_amy: authorized, certified prescriber
    assert _gaps(client, EHR_B, pid, prefetch) == ["reauthorization-lapsed"]  # pat_bob


def test_an_ehr_that_linked_nothing_is_told_nothing_about_the_same_id(linked_client: Any) -> None:
    client, pid, prefetch = linked_client
    assert _gaps(client, EHR_C, pid, prefetch) == ["not-enrolled"]


def test_another_tenant_of_the_same_ehr_does_not_reach_the_patient(linked_client: Any) -> None:
    client, pid, prefetch = linked_client
    assert _gaps(client, EHR_A, pid, prefetch, tenant="south") == ["not-enrolled"]


def test_a_program_key_sent_as_an_ehr_id_is_unknown_to_the_program(linked_client: Any) -> None:
    """The tenancy finding: a trusted EHR sending patientId=pat_eli was told that patient's status.

    Every demo patient key, from every EHR (linked or not): never a status gap, always unknown."""
    client, _pid, prefetch = linked_client
    for ehr in (EHR_A, EHR_B, EHR_C):
        claims = {"tenant": "north"} if ehr is EHR_A else {}
        for key in DEMO_KEYS:
            gaps = _gaps(client, ehr, key, prefetch, **claims)
            assert not STATUS_GAPS & set(gaps), (ehr.iss, key, gaps)
            assert "not-enrolled" in gaps, (ehr.iss, key, gaps)


def _links(client: TestClient, ehr: SigningEhr, patient_id: str, prefetch: dict[str, Any], **claims: Any) -> set[str]:
    if prefetch["patient"]["id"] != patient_id:
        prefetch = _for(patient_id)
    body = cds_request("order-sign", patient_id, prefetch,
                       draft_orders=draft_medication_request(patient_id, text="TYSABRI 300 mg"))  # fmt: skip
    token = ehr.token(BASE + PATH, **claims)
    response = client.post(PATH, content=orjson.dumps(body), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return {link["url"] for card in response.json()["cards"] for link in card.get("links", ())}


def test_card_links_open_the_linked_patient_never_one_whose_key_equals_the_ehr_id(linked_client: Any) -> None:
    client, pid, prefetch = linked_client
    assert _links(client, EHR_A, pid, prefetch, tenant="north") == {f"{BASE}/patients/pat_amy/dose"}
    assert _links(client, EHR_B, pid, prefetch) == {f"{BASE}/patients/pat_bob/dose"}
    assert _links(client, EHR_C, "pat_eli", prefetch) == {f"{BASE}/patients"}
