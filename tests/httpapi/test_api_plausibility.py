"""Implausible input over REST: a 422 problem naming the field, never a 500, and nothing stored."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from cds_scenarios import NOW
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rxguard.access import create_token, create_user
from rxguard.program.demo import load_demo
from rxguard.store import transaction
from rxguard.store.models import AuditEntry, Authorization, Infusion, Patient
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


def audit_entries(database: TestDatabase) -> int:
    with transaction(database.factory) as s:
        return int(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def assert_refused(response, field: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert field in (body.get("field"), *(e["where"].split(".")[-1] for e in body.get("errors", [])))
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "pat_nul", "name": "Amy\u0000Smith"}, "name"),
        ({"key": "pat_rlo", "name": "Amy \u202eSmith"}, "name"),
        ({"key": "pat_zw", "name": "Amy\u200bSmith"}, "name"),
        ({"key": "pat_old", "name": "Old", "birth_on": "0001-01-01"}, "birth_on"),
        ({"key": "pat_unborn", "name": "Unborn", "birth_on": "2999-01-01"}, "birth_on"),
    ],
)
def test_a_patient_that_cannot_be_real_is_answered_422_and_not_stored(
    client: TestClient,
    demo: TestDatabase,
    body: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    headers = bearer(demo, "root", "admin")
    before = audit_entries(demo)
    assert_refused(client.post("/api/v1/patients", json=body, headers=headers), field)
    with transaction(demo.factory) as s:
        assert s.execute(select(Patient).where(Patient.key == body["key"])).first() is None
    assert audit_entries(demo) == before


@pytest.mark.parametrize(
    ("values", "field"),
    [({"relapses": 2**62}, "relapses"), ({"relapses": 2**70}, "relapses"), ({"new_t2_lesions": 2**40}, "new_t2_lesions"),
     ({"on": "0001-01-01"}, "on")],
)  # fmt: skip
def test_an_assessment_out_of_bounds_is_422_not_500(
    client: TestClient,
    demo: TestDatabase,
    values: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    headers = bearer(demo, "ada", "prescriber", prescriber_key="dr_ada")
    values = dict(values)
    on = {"on": values.pop("on")} if "on" in values else {}
    body = {"kind": "prescriber-assessment", "measurements": {"edss": 2.0, **values}, **on}
    assert_refused(client.post("/api/v1/patients/pat_amy/monitoring", json=body, headers=headers), field)


@pytest.mark.parametrize("on", ["9999-12-31", "0001-01-01"])
def test_the_due_list_on_a_day_beyond_a_century_is_422(client: TestClient, demo: TestDatabase, on: str) -> None:
    response = client.get("/api/v1/monitoring/due", params={"on": on}, headers=bearer(demo, "root", "admin"))
    assert_refused(response, "on")


def test_a_nul_in_a_path_key_is_422(client: TestClient, demo: TestDatabase) -> None:
    response = client.get("/api/v1/patients/pat%00amy", headers=bearer(demo, "root", "admin"))
    assert response.status_code == 422, response.text


def _overridden(demo: TestDatabase) -> Authorization:
    with transaction(demo.factory) as s:
        return s.execute(select(Authorization).where(Authorization.status == "overridden")).scalars().first()  # type: ignore[return-value]


def _bag(row: Authorization, **changes: object) -> dict[str, object]:
    start = NOW - timedelta(hours=2)
    body: dict[str, object] = {
        "idempotency_key": "api-bag-0001", "product": "tysabri", "lot": "LOT-9", "dose": 300, "dose_unit": "mg",
        "volume_ml": 100, "prepared_at": (start - timedelta(hours=1)).isoformat(), "started_at": start.isoformat(),
        "stopped_at": (start + timedelta(hours=1)).isoformat(),
        "observation_end_at": (start + timedelta(hours=2)).isoformat(),
    }  # fmt: skip
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"dose": 3000, "dose_unit": "g"}, "dose"), ({"dose": 3000}, "dose"), ({"dose_unit": "mL"}, "dose_unit"),
     ({"lot": "LOT\u0000"}, "lot"), ({"started_at": "0001-01-01T10:00:00+00:00"}, "started_at")],
)  # fmt: skip
def test_an_implausible_infusion_is_422_naming_the_field_and_nothing_is_stored(
    client: TestClient,
    demo: TestDatabase,
    changes: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    row = _overridden(demo)
    headers = bearer(demo, "sam", "nurse", site_key="site_south")
    response = client.post(f"/api/v1/authorizations/{row.id}/infusions", json=_bag(row, **changes), headers=headers)
    if field == "started_at":  # earlier than prepared: the ordering check or the date bound, both 4xx
        assert 400 <= response.status_code < 500, response.text
    else:
        assert_refused(response, field)
    with transaction(demo.factory) as s:
        assert s.execute(select(Infusion).where(Infusion.authorization_id == row.id)).first() is None


def test_a_nan_dose_sent_as_json_is_refused(client: TestClient, demo: TestDatabase) -> None:
    row = _overridden(demo)
    headers = {**bearer(demo, "sam", "nurse", site_key="site_south"), "Content-Type": "application/json"}
    text = orjson.dumps(_bag(row, dose=-1)).replace(b"-1", b"NaN", 1)
    response = client.post(f"/api/v1/authorizations/{row.id}/infusions", content=text, headers=headers)
    assert 400 <= response.status_code < 500, response.text


def test_an_unusual_volume_needs_confirmation_and_is_then_stored(client: TestClient, demo: TestDatabase) -> None:
    row = _overridden(demo)
    headers = bearer(demo, "sam", "nurse", site_key="site_south")
    url = f"/api/v1/authorizations/{row.id}/infusions"
    body = assert_refused(client.post(url, json=_bag(row, volume_ml=250), headers=headers), "confirm_unusual")
    assert body["type"].endswith("confirmation-needed") and "250 mL" in body["warnings"][0]
    confirmed = client.post(url, json=_bag(row, volume_ml=250, confirm_unusual=True), headers=headers)
    assert confirmed.status_code == 201, confirmed.text
    assert any("250 mL" in w for w in confirmed.json()["warnings"])
