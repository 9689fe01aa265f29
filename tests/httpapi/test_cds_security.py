"""CDS Hooks security with real signed JWTs: what is accepted, and everything that is refused with 401."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from pydantic import ValidationError

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.testing import SigningEhr, fhir_server_app, serve_in_thread

DISCOVERY = "http://testserver/cds-services"


def call(client: TestClient, token: str | None, url: str = DISCOVERY):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get(url.removeprefix("http://testserver"), headers=headers)


def assert_refused(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["detail"] == "a valid JWT signed by a trusted EHR is required"  # the same whatever the reason
    assert response.headers["content-type"] == "application/problem+json"


def test_a_valid_es384_token_opens_discovery(client: TestClient, ehr: SigningEhr) -> None:
    response = call(client, ehr.token(DISCOVERY))
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} == {
        "rxguard-patient-view", "rxguard-order-select", "rxguard-order-sign"
    }  # fmt: skip


def _client_trusting(database, tmp_path: Path, *ehrs: SigningEhr) -> TestClient:  # type: ignore[no-untyped-def]
    path = tmp_path / "issuers.json"
    path.write_bytes(orjson.dumps([e.issuer_entry() for e in ehrs]))
    settings = ServerSettings(database_url=database.url, cds_issuers_file=path, public_url="http://testserver")
    return TestClient(create_app(settings))


@pytest.mark.parametrize("algorithm", ["RS384", "PS256", "PS384", "ES256", "RS256", "ES512"])
def test_other_asymmetric_algorithms_are_accepted(database, tmp_path: Path, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    other = SigningEhr(iss=f"https://{algorithm.lower()}.test", algorithm=algorithm)
    with _client_trusting(database, tmp_path, other) as client:
        assert call(client, other.token(DISCOVERY)).status_code == 200


def test_a_key_declared_for_one_algorithm_verifies_no_other(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ehr = SigningEhr(iss="https://rsa.test", algorithm="RS384")
    with _client_trusting(database, tmp_path, ehr) as client:
        ehr.algorithm = "RS256"  # same RSA key, but its JWK says RS384
        assert_refused(call(client, ehr.token(DISCOVERY)))


def test_no_token_is_refused(client: TestClient) -> None:
    assert_refused(call(client, None))


def test_alg_none_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    now = int(time.time())
    payload = {"iss": ehr.iss, "aud": DISCOVERY, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    token = jwt.encode(payload, None, algorithm="none")  # type: ignore[arg-type]
    assert_refused(call(client, token))


def test_hs256_signed_with_the_public_key_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    public = ehr.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    payload = {"iss": ehr.iss, "aud": DISCOVERY, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    header = base64.urlsafe_b64encode(orjson.dumps({"alg": "HS256", "kid": ehr.kid})).rstrip(b"=")
    body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=")
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(public, header + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
    assert_refused(call(client, (header + b"." + body + b"." + signature).decode()))


def test_an_expired_token_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    now = int(time.time())
    assert_refused(call(client, ehr.token(DISCOVERY, iat=now - 600, exp=now - 300)))


def test_a_token_for_another_audience_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    assert_refused(call(client, ehr.token("http://testserver/cds-services/rxguard-order-sign")))
    assert_refused(call(client, ehr.token("https://elsewhere.example/cds-services")))


def test_an_unknown_issuer_is_refused(client: TestClient) -> None:
    stranger = SigningEhr(iss="https://stranger.test")
    assert_refused(call(client, stranger.token(DISCOVERY)))


def test_a_bad_signature_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    impostor = SigningEhr(iss=ehr.iss, kid=ehr.kid)  # same iss and kid, different private key
    assert_refused(call(client, impostor.token(DISCOVERY)))
    header, payload, signature = ehr.token(DISCOVERY).split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert_refused(call(client, f"{header}.{payload}.{flipped}"))


def test_a_replayed_jti_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    token = ehr.token(DISCOVERY)
    assert call(client, token).status_code == 200
    assert_refused(call(client, token))
    assert_refused(
        call(client, ehr.token(DISCOVERY, jti=jwt.decode(token, options={"verify_signature": False})["jti"]))
    )


def test_required_claims_and_lifetime_are_enforced(client: TestClient, ehr: SigningEhr) -> None:
    now = int(time.time())
    assert_refused(call(client, ehr.token(DISCOVERY, lifetime=7200)))  # longer than an hour
    assert_refused(call(client, ehr.token(DISCOVERY, iat=now + 600, exp=now + 900)))  # issued in the future
    no_jti = jwt.encode({"iss": ehr.iss, "aud": DISCOVERY, "iat": now, "exp": now + 60}, ehr.private_key,
                        algorithm="ES384", headers={"kid": ehr.kid})  # fmt: skip
    assert_refused(call(client, no_jti))


def test_a_jku_other_than_the_configured_one_is_refused(client: TestClient, ehr: SigningEhr) -> None:
    assert_refused(call(client, ehr.token(DISCOVERY, headers={"jku": "https://attacker.example/jwks"})))


def test_tenants_are_checked_when_the_issuer_lists_them(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tenanted = SigningEhr(iss="https://tenanted.test")
    path = tmp_path / "issuers.json"
    path.write_bytes(orjson.dumps([tenanted.issuer_entry(tenants=["hospital-a"])]))
    settings = ServerSettings(database_url=database.url, cds_issuers_file=path, public_url="http://testserver")
    with TestClient(create_app(settings)) as client:
        assert call(client, tenanted.token(DISCOVERY, tenant="hospital-a")).status_code == 200
        assert_refused(call(client, tenanted.token(DISCOVERY, tenant="hospital-b")))
        assert_refused(call(client, tenanted.token(DISCOVERY)))


def test_keys_come_from_the_jwks_url_and_rotation_is_picked_up(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = SigningEhr(iss="https://rotating.test")
    second = SigningEhr(iss="https://rotating.test")
    served = {"keys": [first.jwk()]}
    key_server = fhir_server_app({}, jwks=served)
    with serve_in_thread(key_server) as url:
        path = tmp_path / "issuers.json"
        path.write_bytes(orjson.dumps([{"iss": first.iss, "jwks_url": f"{url}/jwks"}]))
        settings = ServerSettings(database_url=database.url, cds_issuers_file=path, public_url="http://testserver",
                                  cds_jwks_min_refetch_seconds=0)  # fmt: skip
        with TestClient(create_app(settings)) as client:
            assert call(client, first.token(DISCOVERY)).status_code == 200
            served["keys"] = [second.jwk()]  # the EHR rotates its key
            assert call(client, second.token(DISCOVERY)).status_code == 200
            assert_refused(call(client, first.token(DISCOVERY)))  # the old key is gone after the refetch
            assert_refused(call(client, SigningEhr(iss=first.iss).token(DISCOVERY)))  # an unknown kid


def test_unauthenticated_calls_only_when_switched_on_for_development(database) -> None:  # type: ignore[no-untyped-def]
    settings = ServerSettings(database_url=database.url, cds_allow_unauthenticated=True)
    with TestClient(create_app(settings)) as client:
        assert call(client, None).status_code == 200
    with pytest.raises(ValidationError, match="RXGUARD_CDS_ALLOW_UNAUTHENTICATED"):
        ServerSettings(environment="production", cds_allow_unauthenticated=True,
                       database_url="postgresql+psycopg://db/rx", public_url="https://rx.example")  # fmt: skip


def test_production_refuses_to_start_without_an_allowlist_or_an_https_url() -> None:
    with pytest.raises(ValidationError) as refused:
        ServerSettings(environment="production")
    message = str(refused.value)
    assert (
        "RXGUARD_CDS_ISSUERS_FILE" in message and "RXGUARD_PUBLIC_URL" in message and "RXGUARD_DATABASE_URL" in message
    )
