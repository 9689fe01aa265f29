"""Recording monitoring over REST: an anti-natalizumab antibody test satisfies the pack's calendar item."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from cds_scenarios import NOW
from fastapi.testclient import TestClient

from rxguard.access import create_token, create_user
from rxguard.program.demo import load_demo
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase


@pytest.fixture
def headers(database: TestDatabase) -> dict[str, str]:
    """The demo program, and its certified prescriber dr_ada signed in."""
    with transaction(database.factory) as s:
        load_demo(s, at=NOW)
    with transaction(database.factory) as s:
        create_user(s, name="ada", role="prescriber", at=NOW, actor="test", prescriber_key="dr_ada")
        token, _ = create_token(s, user_name="ada", at=NOW, actor="test")
    return {"Authorization": f"Bearer {token}"}


def _antibody_row(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    response = client.get("/api/v1/patients/pat_gus/monitoring", headers=headers)
    assert response.status_code == 200, response.text
    (row,) = [r for r in response.json()["calendar"] if r["item"] == "anti-drug-antibodies"]
    return row


def test_a_recorded_antibody_test_moves_the_anti_drug_antibody_item_on(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert _antibody_row(client, headers)["status"] == "overdue"
    tested = NOW.date() - timedelta(days=2)
    response = client.post(
        "/api/v1/patients/pat_gus/monitoring",
        json={"kind": "anti-natalizumab-antibody", "on": tested.isoformat(), "result": "negative"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"patient": "pat_gus", "kind": "anti-natalizumab-antibody", "on": tested.isoformat()}
    row = _antibody_row(client, headers)
    assert date.fromisoformat(row["due_on"]) == tested + timedelta(weeks=12) and row["status"] == "upcoming"
    due = client.get("/api/v1/monitoring/due", params={"limit": 500}, headers=headers).json()["items"]
    assert not any(r["patient"] == "pat_gus" and r["item"] == "anti-drug-antibodies" for r in due)


def test_an_unknown_monitoring_kind_is_a_400_naming_the_known_ones(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/api/v1/patients/pat_gus/monitoring", json={"kind": "anti-drug-antibody"}, headers=headers)
    assert response.status_code == 400
    assert "anti-natalizumab-antibody" in response.json()["detail"]
