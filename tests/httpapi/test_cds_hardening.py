"""CDS Hooks hardening: where rxguard fetches from, claim types, the audience, and when a jti is spent.

Each test here is one row of the security review (docs/security.md): the
FHIR server allow-list is deny by default and compared after parsing, a claim
of the wrong type is a 401 (never a 500), the audience comes from the
configured public URL (never from request headers), and a token is spent
as soon as it verifies, before the body is read.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cds_scenarios import BASE, M1, NOW, prefetch_of
from fastapi.testclient import TestClient

from rxguard.api.app import create_app
from rxguard.api.settings import DEVELOPMENT_URL, ServerSettings
from rxguard.cds_hooks.issuers import parse_fhir_origin, parse_issuers
from rxguard.cds_hooks.testing import (
    SigningEhr,
    cds_request,
    draft_medication_request,
    fhir_resources_for,
    fhir_server_app,
    serve_in_thread,
)
from rxguard.errors import InputError

SIGN = "/cds-services/rxguard-order-sign"


@contextmanager
def app_client(settings: ServerSettings, tmp_path: Path, entry: dict[str, Any], **changes: Any) -> Iterator[TestClient]:
    path = tmp_path / f"issuers-{uuid.uuid4().hex[:6]}.json"
    path.write_bytes(orjson.dumps([entry]))
    app = create_app(settings.model_copy(update={"cds_issuers_file": path, **changes}), clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client: TestClient, token: str, body: Any, path: str = SIGN, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(path, content=orjson.dumps(body), headers={"Authorization": f"Bearer {token}", **headers})


def unprefetched_call(server: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    body = cds_request("order-sign", pid, None, draft_orders=draft_medication_request(pid, text="MEPACT"),
                       fhirServer=server, fhirAuthorization={"access_token": "ehr-secret-token"})  # fmt: skip
    return body, fhir_resources_for(prefetch, pid)


# --------------------------------------------------------------------------- SSRF


def test_an_issuer_without_fhir_servers_makes_rxguard_fetch_nothing_and_send_no_token(
    settings: ServerSettings, ehr: SigningEhr, tmp_path: Path
) -> None:
    body, resources = unprefetched_call("")
    fhir = fhir_server_app(resources)  # answers anyone: it records what it is sent
    with serve_in_thread(fhir) as url, app_client(settings, tmp_path, ehr.issuer_entry()) as client:
        body["fhirServer"] = f"{url}/fhir"
        response = post(client, ehr.token(BASE + SIGN), body)
    assert response.status_code == 412, response.text
    assert "not a FHIR server configured for this EHR" in response.json()["detail"]
    assert fhir.state.calls == [], "rxguard fetched from a FHIR server nobody configured"


@pytest.mark.parametrize(
    "trick",
    [
        "{allowed_netloc}@{other_netloc}/fhir",  # userinfo: the host is really the other server
        "{other_netloc}/fhir#{allowed_netloc}",
        "{other_netloc}/fhir?{allowed_netloc}",
    ],
)
def test_a_fhir_server_that_only_looks_allowed_gets_no_call_and_no_token(
    settings: ServerSettings, ehr: SigningEhr, tmp_path: Path, trick: str
) -> None:
    body, resources = unprefetched_call("")
    allowed, other = fhir_server_app(resources), fhir_server_app(resources)
    with serve_in_thread(allowed) as allowed_url, serve_in_thread(other) as other_url:
        entry = ehr.issuer_entry(fhir_servers=[f"{allowed_url}/fhir"])
        body["fhirServer"] = "http://" + trick.format(
            allowed_netloc=allowed_url.removeprefix("http://"), other_netloc=other_url.removeprefix("http://")
        )
        with app_client(settings, tmp_path, entry) as client:
            response = post(client, ehr.token(BASE + SIGN), body)
    assert response.status_code == 412, response.text
    assert other.state.calls == [] and allowed.state.calls == []


def test_the_configured_fhir_server_is_fetched_with_the_token(
    settings: ServerSettings, ehr: SigningEhr, tmp_path: Path
) -> None:
    body, resources = unprefetched_call("")
    fhir = fhir_server_app(resources, token="ehr-secret-token")
    with serve_in_thread(fhir) as url:
        body["fhirServer"] = f"{url}/fhir"
        with app_client(settings, tmp_path, ehr.issuer_entry(fhir_servers=[f"{url}/fhir/"])) as client:
            response = post(client, ehr.token(BASE + SIGN), body)
    assert response.status_code == 200, response.text
    assert fhir.state.calls


@pytest.mark.parametrize(
    ("url", "admitted"),
    [
        ("https://ehr.example.org/fhir", True),
        ("https://ehr.example.org/fhir/", True),
        ("https://EHR.example.org:443/fhir/R4", True),
        ("https://ehr.example.org/fhirx", False),  # a prefix of a segment is another path
        ("https://ehr.example.org/", False),
        ("http://ehr.example.org/fhir", False),  # another scheme
        ("https://ehr.example.org:8443/fhir", False),  # another port
        ("https://ehr.example.org.attacker.net/fhir", False),
        ("https://ehr.example.org@attacker.net/fhir", False),
        ("https://user:pw@ehr.example.org/fhir", False),  # userinfo is refused even on the right host
        ("https://ehr.example.org/fhir/../admin", False),
        ("https://ehr.example.org/fhir/%2e%2e/admin", False),
        ("https://ehr.example.org\\@attacker.net/fhir", False),
        ("https://ehr.example.org:notaport/fhir", False),
        ("file:///etc/passwd", False),
        ("", False),
    ],
)
def test_fhir_servers_are_compared_after_parsing(url: str, admitted: bool) -> None:
    issuer = parse_issuers([{"iss": "x", "jwks": {"keys": []}, "fhir_servers": ["https://ehr.example.org/fhir"]}])["x"]
    assert issuer.allows_fhir_server(url) is admitted
    no_servers = parse_issuers([{"iss": "y", "jwks": {"keys": []}}])["y"]
    assert no_servers.allows_fhir_server(url) is False  # deny by default


def test_a_fhir_servers_entry_with_userinfo_is_refused_at_start_up() -> None:
    with pytest.raises(InputError, match="user information"):
        parse_issuers([{"iss": "x", "jwks": {"keys": []}, "fhir_servers": ["https://a@ehr.example.org/fhir"]}])
    assert parse_fhir_origin("https://ehr.example.org/fhir") is not None


# --------------------------------------------------------------------------- claim types


def _signed(ehr: SigningEhr, payload: dict[str, Any], **header: Any) -> str:
    """A compact JWS built by hand, so members of any type can be sent (PyJWT's encoders check some)."""

    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=")

    signing_input = part({"alg": ehr.algorithm, "typ": "JWT", "kid": ehr.kid, **header}) + b"." + part(payload)
    signature = jwt.get_algorithm_by_name(ehr.algorithm).sign(signing_input, ehr.private_key)
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def _claims(ehr: SigningEhr, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ehr.iss, "aud": BASE + "/cds-services", "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex, **changes}  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": ["https://ehr.test"]},
        {"iss": {"a": 1}},
        {"iss": 7},
        {"jti": ["a"]},
        {"jti": 12},
        {"exp": "tomorrow"},
        {"iat": [1]},
        {"aud": [7]},
        {"aud": {"x": 1}},
        {"tenant": ["hospital-a"]},
        {"sub": {"id": 1}},
        {"exp": 1e30},
    ],
)
def test_a_claim_of_the_wrong_type_is_401_not_500(client: TestClient, ehr: SigningEhr, changes: dict[str, Any]) -> None:
    response = client.get("/cds-services", headers={"Authorization": f"Bearer {_signed(ehr, _claims(ehr, **changes))}"})
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("header", [{"kid": ["a"]}, {"kid": {"a": 1}}, {"jku": ["x"]}, {"typ": 5}])
def test_a_header_member_of_the_wrong_type_is_401_not_500(
    client: TestClient, ehr: SigningEhr, header: dict[str, Any]
) -> None:
    valid = _signed(ehr, _claims(ehr))
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {valid}"}).status_code == 200
    token = _signed(ehr, _claims(ehr), **header)
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401


# --------------------------------------------------------------------------- audience


def test_the_audience_comes_from_the_configured_url_not_from_request_headers(
    settings: ServerSettings, ehr: SigningEhr, tmp_path: Path
) -> None:
    with app_client(settings, tmp_path, ehr.issuer_entry(), public_url="") as client:
        for aud, headers in [
            ("http://testserver/cds-services", {}),
            ("https://evil.example/cds-services", {"Host": "evil.example", "X-Forwarded-Proto": "https"}),
            ("https://evil.example/cds-services", {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}),
        ]:
            token = ehr.token(aud)
            response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}", **headers})
            assert response.status_code == 401, (aud, headers)
        # Development without RXGUARD_PUBLIC_URL: the default listening address
        token = ehr.token(DEVELOPMENT_URL + "/cds-services")
        assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app_client(settings, tmp_path, ehr.issuer_entry(), public_url="https://rx.example.org") as client:
        token = ehr.token("https://rx.example.org/cds-services")
        assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --------------------------------------------------------------------------- replay order


def test_a_token_is_spent_before_the_body_is_read(client: TestClient, ehr: SigningEhr) -> None:
    pid, prefetch = prefetch_of(M1, "mifamurtide")
    good = cds_request("order-sign", pid, prefetch, draft_orders=draft_medication_request(pid, text="MEPACT"))
    unfetchable = cds_request("order-sign", pid, None, draft_orders=draft_medication_request(pid, text="MEPACT"))
    for bad_body, status in [({"hook": 3}, 400), (unfetchable, 412)]:
        token = ehr.token(BASE + SIGN)
        assert post(client, token, bad_body).status_code == status
        # the same token again, with any body: refused as a replay, whatever the body
        assert post(client, token, bad_body).status_code == 401
        assert post(client, token, good).status_code == 401
    fresh = ehr.token(BASE + SIGN)
    assert post(client, fresh, good).status_code == 200
    assert post(client, fresh, {"hook": 3}).status_code == 401  # a replay with a bad body says nothing more
