"""Security headers on every answer: pages, REST API, CDS Hooks, static files, operations and errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.store.testing import TestDatabase, audit_signing
from rxguard.web.templating import TEMPLATES

ANSWERS = [
    ("GET", "/sign-in", 200),  # a page
    ("GET", "/", 303),  # a redirect to sign in
    ("GET", "/static/app.css", 200),
    ("GET", "/api/v1/patients", 401),
    ("GET", "/api/v1/packs", 401),
    ("GET", "/cds-services", 401),
    ("GET", "/healthz", 200),
    ("GET", "/no-such-page", 404),
    ("POST", "/api/v1/assess", 413),  # answered by the request middleware itself
]


def _answer(client: TestClient, method: str, path: str):  # type: ignore[no-untyped-def]
    if method == "POST":
        return client.post(path, content=b"x" * 4096, headers={"content-type": "application/json"})
    return client.get(path, follow_redirects=False)


@pytest.mark.parametrize(("method", "path", "status"), ANSWERS)
def test_every_answer_carries_the_security_headers(database: TestDatabase, method: str, path: str, status: int) -> None:
    settings = ServerSettings(database_url=database.url, max_body_bytes=2048)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = _answer(client, method, path)
    assert response.status_code == status, response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # development: http on a laptop


def test_hsts_outside_development(database: TestDatabase, tmp_path: Path) -> None:
    issuers = tmp_path / "issuers.json"
    issuers.write_text("[]")
    settings = ServerSettings(
        environment="production", database_url=database.url,
        cds_issuers_file=issuers, public_url="https://rxguard.example.org", **audit_signing(tmp_path),
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="https://rxguard.example.org") as client:
        for path in ("/sign-in", "/healthz", "/api/v1/patients"):
            hsts = client.get(path).headers["strict-transport-security"]
            assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts)
            assert int(hsts.split("=")[1].split(";")[0]) >= 31536000


def test_the_api_documentation_pages_load_from_this_site_only_and_are_never_framed(database: TestDatabase) -> None:
    with TestClient(create_app(ServerSettings(database_url=database.url))) as client:
        for path in ("/docs", "/redoc"):
            csp = client.get(path).headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
            assert "http" not in csp and "script-src" not in csp


def test_no_template_has_inline_script_or_style() -> None:
    """The policy forbids inline script and style, so the templates must not rely on them."""
    offending = []
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style\b",
            r"\son[a-z]+\s*=",
            r"\sstyle\s*=",
            r"javascript:",
        ):
            offending += [f"{template.name}: {m.group(0)}" for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert offending == []
