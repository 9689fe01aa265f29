"""Sign-in, sessions, CSRF and scoping of the web pages (server side, no browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from web_demo import PASSWORD, csrf_of, sign_in

from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Enrollment, Patient
from rxguard.store.testing import audit_signing


def _status(client: TestClient, patient_key: str) -> str:
    url = str(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    engine = make_engine(url=url)
    with transaction(session_factory(engine)) as session:
        status = session.execute(
            select(Enrollment.status)
            .join(Patient, Patient.id == Enrollment.patient_id)
            .where(Patient.key == patient_key)
        ).scalar_one()
    engine.dispose()
    return str(status)


def test_a_visitor_is_sent_to_sign_in_and_back_afterwards(client: TestClient) -> None:
    response = client.get("/patients/pat_amy", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/patients/pat_amy"
    token = csrf_of(client.get("/sign-in?next=/patients/pat_amy").text)
    signed = client.post("/sign-in", data={"csrf_token": token, "name": "ada", "password": PASSWORD,
                                           "next": "/patients/pat_amy"}, follow_redirects=False)  # fmt: skip
    assert signed.headers["location"] == "/patients/pat_amy"


def test_the_session_cookie_is_httponly_and_samesite_and_never_holds_the_user(client: TestClient) -> None:
    token = csrf_of(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"csrf_token": token, "name": "nina", "password": PASSWORD},
                           follow_redirects=False)  # fmt: skip
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("rxguard_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "nina" not in cookie


def test_outside_development_the_cookie_is_secure_and_host_prefixed(make_client: Any, tmp_path: Path) -> None:
    issuers = tmp_path / "issuers.json"
    issuers.write_text("[]")
    client = make_client(environment="production", public_url="https://rxguard.example.org",
                         cds_issuers_file=issuers, **audit_signing(tmp_path))  # fmt: skip
    page = client.get("/sign-in", headers={"host": "rxguard.example.org"})
    assert "__Host-rxguard_pre=" in page.headers["set-cookie"] and "Secure" in page.headers["set-cookie"]
    client.cookies.set("__Host-rxguard_pre", page.headers["set-cookie"].split(";")[0].split("=", 1)[1])
    response = client.post("/sign-in", data={"csrf_token": csrf_of(page.text), "name": "ada", "password": PASSWORD},
                           headers={"host": "rxguard.example.org"}, follow_redirects=False)  # fmt: skip
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-rxguard_session=") and "Secure" in cookie and "HttpOnly" in cookie


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client: TestClient) -> None:
    for name in ("ada", "nobody_here"):
        token = csrf_of(client.get("/sign-in").text)
        response = client.post("/sign-in", data={"csrf_token": token, "name": name, "password": "wrong password!"})
        assert response.status_code == 401
        assert "do not match" in response.text


def test_repeated_wrong_passwords_put_a_short_brake_on_that_user(client: TestClient) -> None:
    for _ in range(5):
        token = csrf_of(client.get("/sign-in").text)
        client.post("/sign-in", data={"csrf_token": token, "name": "ben", "password": "guess guess guess"})
    token = csrf_of(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"csrf_token": token, "name": "ben", "password": PASSWORD})
    assert response.status_code == 401
    assert "Too many attempts" in response.text
    sign_in(client, "ada")  # other users are not affected


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    token = sign_in(client, "ada")
    stolen = client.cookies.get("rxguard_session")
    assert client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    client.cookies.set("rxguard_session", stolen or "")
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/sign-in")


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(client: TestClient) -> None:
    sign_in(client, "ada")
    response = client.post("/patients/pat_dee/decisions/authorize", data={"program": "touch"})
    assert response.status_code == 403
    assert "nothing was saved" in response.text
    forged = client.post("/patients/pat_dee/decisions/authorize", data={"program": "touch", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert _status(client, "pat_dee") == "enrolled"


def test_a_form_posted_from_another_site_is_refused(client: TestClient) -> None:
    token = sign_in(client, "ada")
    response = client.post("/patients/pat_dee/decisions/authorize", data={"program": "touch", "csrf_token": token},
                           headers={"origin": "https://evil.example"})  # fmt: skip
    assert response.status_code == 403
    assert _status(client, "pat_dee") == "enrolled"


def test_htmx_requests_carry_the_token_in_a_header(client: TestClient) -> None:
    token = sign_in(client, "ada")
    response = client.post("/patients/pat_dee/decisions/authorize", data={"program": "touch", "confirm": "yes"},
                           headers={"x-csrf-token": token, "hx-request": "true"})  # fmt: skip
    assert response.status_code == 204 and response.headers["hx-redirect"].startswith("/patients/pat_dee")
    assert _status(client, "pat_dee") == "authorized"


def test_a_foreign_sites_patient_is_not_found_like_a_patient_who_does_not_exist(client: TestClient) -> None:
    sign_in(client, "paul")  # site_south; pat_gus is treated at site_north only
    foreign = client.get("/patients/pat_gus")
    missing = client.get("/patients/pat_nobody")
    assert foreign.status_code == missing.status_code == 404
    assert "Gus" not in foreign.text
    assert client.get("/patients/pat_gus/dose").status_code == 404
    listing = client.get("/patients").text
    assert "pat_amy" in listing and "pat_gus" not in listing
    token = csrf_of(listing)
    refused = client.post("/patients/pat_gus/dose", data={"csrf_token": token, "program": "tyruko-rems"})
    assert refused.status_code == 404


def test_each_role_reaches_only_its_own_pages(client: TestClient) -> None:
    sign_in(client, "nina")
    assert client.get("/admin").status_code == 403
    assert client.get("/enroll").status_code == 403
    assert client.get("/patients/pat_gus/dose").status_code == 200
    client.cookies.clear()
    token = sign_in(client, "audrey")
    assert client.get("/admin").status_code == 200
    refused = client.post("/admin/certifications", data={"csrf_token": token, "program": "touch",
                                                          "participant": "site:site_north", "change": "suspend",
                                                          "reason": "x"})  # fmt: skip
    assert refused.status_code == 403
    assert client.get("/patients/pat_amy/dose").status_code == 403


def test_a_prescriber_sees_only_their_own_patients(client: TestClient) -> None:
    sign_in(client, "ben")
    assert client.get("/patients/pat_amy").status_code == 404
    assert "pat_amy" not in client.get("/").text
