"""Registering a site through the API takes its time zone, as the administrator's web page does."""

from __future__ import annotations

from fastapi.testclient import TestClient

from conftest import make_token


def test_a_site_is_registered_with_its_time_zone_and_a_wrong_zone_is_one_line(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    admin = {"Authorization": f"Bearer {make_token(database, 'admin_a', 'admin')}"}
    made = client.post("/api/v1/sites", json={"key": "site_east", "name": "East", "timezone": "Asia/Shanghai"},
                       headers=admin)  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["timezone"] == "Asia/Shanghai"
    plain = client.post("/api/v1/sites", json={"key": "site_west", "name": "West"}, headers=admin)
    assert plain.status_code == 201 and plain.json()["timezone"] is None
    wrong = client.post("/api/v1/sites", json={"key": "site_moon", "name": "Moon", "timezone": "Moon/Base"},
                        headers=admin)  # fmt: skip
    assert wrong.status_code in (400, 422) and "IANA" in wrong.text
    assert "Traceback" not in wrong.text
