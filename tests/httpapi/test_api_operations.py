"""Liveness, readiness, metrics, and logs that are JSON, carry a request id and hold no secrets."""

from __future__ import annotations

import io
import logging

import orjson
from fastapi.testclient import TestClient

from rxguard.api.app import create_app
from rxguard.api.log import REDACTED, configure_logging, redact_value
from rxguard.api.settings import ServerSettings


def test_healthz_and_readyz_answer_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_is_503_when_the_database_does_not_answer() -> None:
    settings = ServerSettings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "RXGUARD_DATABASE_URL" in response.json()["detail"]


def test_metrics_count_requests_by_route_template_not_by_value(client: TestClient, auth: dict[str, str]) -> None:
    client.get("/api/v1/packs/natalizumab", headers=auth)
    client.get("/api/v1/packs/Tysabri", headers=auth)
    text = client.get("/metrics").text
    assert 'rxguard_http_requests_total{method="GET",route="/api/v1/packs/{drug}",status="200"} 2.0' in text
    assert "Tysabri" not in text
    assert "rxguard_http_request_duration_seconds_bucket" in text


def _log_lines(stream: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_logs_are_json_with_the_request_id_and_never_a_token(client: TestClient, auth: dict[str, str]) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    token = auth["Authorization"].split()[1]
    response = client.get("/api/v1/names/resolve", params={"q": "pat_amy-secret"}, headers=auth)
    client.get("/api/v1/packs", headers={"Authorization": "Bearer eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"})
    logging.getLogger("rxguard.test").info("value %s", token)
    lines = _log_lines(stream)
    text = stream.getvalue()
    assert token not in text and "eyJhbGciOiJFUzM4NCJ9" not in text
    assert "pat_amy-secret" not in text  # query strings are not logged
    access = [line for line in lines if line.get("event") == "request"]
    assert access[0]["request_id"] == response.headers["x-request-id"]
    assert access[0]["route"] == "/api/v1/names/resolve"


def test_redaction_covers_secret_keys_and_token_shaped_values() -> None:
    data = {"Authorization": "Bearer abc", "nested": {"access_token": "x", "note": "got rxg_" + "a" * 43}}
    out = redact_value(data)
    assert out["Authorization"] == REDACTED
    assert out["nested"]["access_token"] == REDACTED
    assert out["nested"]["note"] == f"got {REDACTED}"
