"""One error shape for every 4xx and 5xx (problem+json), body limits, timeouts, request ids."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.testclient import TestClient

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "request_id"} <= set(body)
    assert body["status"] == status
    assert body["type"].startswith("urn:rxguard:problem:")
    assert body["detail"] and "Traceback" not in response.text
    assert response.headers["x-request-id"] == body["request_id"]
    return body


def test_an_unknown_path_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/nowhere"), 404)


def test_a_wrong_method_is_a_405_problem(client: TestClient) -> None:
    assert_problem(client.delete("/healthz"), 405)


def test_a_missing_token_is_a_401_problem_that_says_how_to_get_one(client: TestClient) -> None:
    response = client.get("/api/v1/packs")
    body = assert_problem(response, 401)
    assert "rxguard token create" in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_token_is_refused(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/packs", headers={"Authorization": "Bearer rxg_" + "x" * 43}), 401)


def test_validation_errors_name_the_field_without_echoing_input(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/api/v1/assess", params={"drug": "mepact", "at": "secret-value"}, json={}, headers=auth)
    body = assert_problem(response, 422)
    assert body["errors"][0]["where"] == "query.at"
    assert "secret-value" not in response.text


def test_a_body_over_the_limit_is_refused_before_it_is_read(database, issuers_file) -> None:  # type: ignore[no-untyped-def]
    settings = ServerSettings(database_url=database.url, max_body_bytes=2048, cds_issuers_file=issuers_file)
    with TestClient(create_app(settings)) as client:
        body = assert_problem(
            client.post("/api/v1/assess", params={"drug": "x"}, content=b"{" + b" " * 4096 + b"}"), 413
        )
        assert "2048" in body["detail"]

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b" " * 1024

        assert_problem(client.post("/api/v1/assess", params={"drug": "x"}, content=chunks()), 413)


def make_trap_app(settings: ServerSettings, timeout: float) -> FastAPI:
    app = create_app(settings.model_copy(update={"request_timeout_seconds": timeout}))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/slow")
    async def slow() -> None:
        await asyncio.sleep(5)

    return app


def test_an_unexpected_error_is_a_500_problem_without_a_traceback(settings: ServerSettings) -> None:
    # A generous timeout: on a loaded machine the first threadpool call alone can take a second.
    with TestClient(make_trap_app(settings, 30.0), raise_server_exceptions=False) as client:
        response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert "request_id" in body["detail"]


def test_a_request_that_runs_too_long_is_answered_504(settings: ServerSettings) -> None:
    with TestClient(make_trap_app(settings, 0.2)) as client:
        assert_problem(client.get("/slow"), 504)


def test_a_well_formed_request_id_is_kept_and_a_bad_one_replaced(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"}).headers["x-request-id"]
    assert replaced != "bad id\nwith newline" and len(replaced) == 32
