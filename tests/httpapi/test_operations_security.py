"""Operations hardening: /metrics needs its token, and a database error never leaks bound values."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.store.db import make_engine
from rxguard.store.testing import TestDatabase, audit_signing

TOKEN = "m" * 40


def _production(database: TestDatabase, tmp_path: Path, **extra: str) -> ServerSettings:
    issuers = tmp_path / "issuers.json"
    issuers.write_text("[]")
    return ServerSettings(environment="production", database_url=database.url, cds_issuers_file=issuers,
                          public_url="https://rxguard.example.org", **audit_signing(tmp_path), **extra)  # type: ignore[arg-type]  # fmt: skip


def test_metrics_need_the_token_when_one_is_set(database: TestDatabase) -> None:
    with TestClient(create_app(ServerSettings(database_url=database.url, metrics_token=TOKEN))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200 and "rxguard_http_requests" in answer.text


def test_production_metrics_are_refused_without_a_token_and_served_with_it(
    database: TestDatabase, tmp_path: Path
) -> None:
    with TestClient(create_app(_production(database, tmp_path)), base_url="https://rxguard.example.org") as client:
        assert client.get("/metrics").status_code == 403
    app = create_app(_production(database, tmp_path, metrics_token=TOKEN))
    with TestClient(app, base_url="https://rxguard.example.org") as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    with pytest.raises(ValueError, match="RXGUARD_METRICS_TOKEN"):
        _production(database, tmp_path, metrics_token="short")


def test_a_database_error_shows_no_bound_parameter(database: TestDatabase) -> None:
    engine = make_engine(url=database.url)
    with pytest.raises(IntegrityError) as error, engine.begin() as connection:
        connection.execute(text("INSERT INTO app_user (id, name) VALUES (:id, :name)"),
                           {"id": "x", "name": "Eli Patient 1984-02-29"})  # fmt: skip
    engine.dispose()
    assert "Eli Patient" not in str(error.value) and "1984-02-29" not in str(error.value)
    assert "parameters hidden" in str(error.value)


def _failing_app(database: TestDatabase, error: Exception) -> FastAPI:
    app = create_app(ServerSettings(database_url=database.url, log_level="INFO"))

    @app.get("/boom")
    def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (IntegrityError("INSERT INTO patient ...", {"name": "Eli Patient"}, Exception("Eli Patient")), 409),
        (DataError("INSERT INTO patient ...", {"name": "Eli\x00"}, Exception("NUL in Eli Patient")), 400),
    ],
)
def test_database_refusals_are_4xx_and_logged_without_values(
    database: TestDatabase, error: Exception, status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        with TestClient(_failing_app(database, error), raise_server_exceptions=False) as client:
            response = client.get("/boom")
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    logged = stream.getvalue() + "".join(capfd.readouterr())
    assert "database_refused" in logged
    assert "Eli" not in logged and "Eli" not in response.text
