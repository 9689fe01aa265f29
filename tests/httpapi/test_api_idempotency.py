"""The Idempotency-Key header: the same request under one key is answered once, from the database."""

from __future__ import annotations

import orjson
import pytest
from cds_scenarios import NOW
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rxguard.access import create_token, create_user
from rxguard.program.demo import load_demo, ordinary_answers
from rxguard.store import transaction
from rxguard.store.models import Authorization, MonitoringEvent, Patient
from rxguard.store.testing import TestDatabase


@pytest.fixture
def demo(database: TestDatabase) -> TestDatabase:
    with transaction(database.factory) as s:
        load_demo(s, at=NOW)
    return database


def bearer(database: TestDatabase, name: str, role: str, **links: str) -> dict[str, str]:
    with transaction(database.factory) as s:
        create_user(s, name=name, role=role, at=NOW, actor="test", **links)
        token, _ = create_token(s, user_name=name, at=NOW, actor="test")
    return {"Authorization": f"Bearer {token}"}


def authorizations_of(database: TestDatabase, patient: str) -> int:
    with transaction(database.factory) as s:
        return int(
            s.execute(
                select(func.count()).select_from(Authorization).join(Patient, Patient.id == Authorization.patient_id)
                .where(Patient.key == patient)
            ).scalar_one()
        )  # fmt: skip


DOSE = {"patient": "pat_bob", "answers": ordinary_answers("touch")}


def test_a_retried_authorization_gets_the_first_answer_and_makes_no_second_decision(
    client: TestClient, demo: TestDatabase
) -> None:
    headers = {**bearer(demo, "nina", "nurse", site_key="site_north"), "Idempotency-Key": "visit-2026-03-02-bob"}
    before = authorizations_of(demo, "pat_bob")
    first = client.post("/api/v1/authorizations", json=DOSE, headers=headers)
    assert first.status_code == 201, first.text
    reordered = orjson.dumps(
        {"answers": ordinary_answers("touch"), "patient": "pat_bob"}
    )  # same request, other spelling
    again = client.post(
        "/api/v1/authorizations", content=reordered, headers={**headers, "Content-Type": "application/json"}
    )
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert authorizations_of(demo, "pat_bob") == before + 1


def test_the_same_key_for_a_different_request_is_409_and_does_nothing(client: TestClient, demo: TestDatabase) -> None:
    headers = {**bearer(demo, "nina", "nurse", site_key="site_north"), "Idempotency-Key": "visit-key-1"}
    assert client.post("/api/v1/authorizations", json=DOSE, headers=headers).status_code == 201
    before = authorizations_of(demo, "pat_bob")
    other = {**DOSE, "answers": {**ordinary_answers("touch"), "steroid-use": True}}
    response = client.post("/api/v1/authorizations", json=other, headers=headers)
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("idempotency-key-reused")
    assert authorizations_of(demo, "pat_bob") == before


def test_keys_belong_to_their_user(client: TestClient, demo: TestDatabase) -> None:
    ada = {**bearer(demo, "ada", "prescriber", prescriber_key="dr_ada"), "Idempotency-Key": "shared-key"}
    admin = {**bearer(demo, "root", "admin"), "Idempotency-Key": "shared-key"}
    body = {"kind": "mri", "result": "no new lesions"}
    first = client.post("/api/v1/patients/pat_amy/monitoring", json=body, headers=ada)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    other = client.post("/api/v1/patients", json={"key": "pat_new", "name": "New"}, headers=admin)
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers


def test_without_a_key_each_request_is_its_own(client: TestClient, demo: TestDatabase) -> None:
    headers = bearer(demo, "ada", "prescriber", prescriber_key="dr_ada")
    body = {"kind": "mri", "result": "no new lesions"}
    with transaction(demo.factory) as s:
        before = s.execute(select(func.count()).select_from(MonitoringEvent)).scalar_one()
    for key in (None, None, "mri-1", "mri-1"):
        extra = {"Idempotency-Key": key} if key else {}
        assert (
            client.post("/api/v1/patients/pat_amy/monitoring", json=body, headers={**headers, **extra}).status_code
            == 201
        )
    with transaction(demo.factory) as s:
        assert s.execute(select(func.count()).select_from(MonitoringEvent)).scalar_one() == before + 3


def test_an_error_keeps_no_key_so_the_corrected_retry_runs(client: TestClient, demo: TestDatabase) -> None:
    headers = {**bearer(demo, "root", "admin"), "Idempotency-Key": "register-zed"}
    refused = client.post("/api/v1/patients", json={"key": "pat_zed", "name": "Zed\u0000"}, headers=headers)
    assert refused.status_code == 422
    again = client.post("/api/v1/patients", json={"key": "pat_zed", "name": "Zed"}, headers=headers)
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there"])
def test_a_malformed_key_is_422(client: TestClient, demo: TestDatabase, key: str) -> None:
    headers = {**bearer(demo, "root", "admin"), "Idempotency-Key": key}
    response = client.post("/api/v1/patients", json={"key": "pat_k", "name": "K"}, headers=headers)
    assert response.status_code == 422, response.text
