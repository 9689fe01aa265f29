"""Access over real HTTP on PostgreSQL: sessions, CSRF, sign-in brake, injection, hashed secrets, clean logs.

One ``rxguard serve`` on a PostgreSQL scratch schema, with one user per role
(each with an API token and a web password). The role-and-site matrix of
every ``/api/v1`` endpoint is ``tests/httpapi/test_api_access_matrix.py``
(``make reliability`` runs it with this folder); here:

* web sessions and CSRF as a browser meets them: cookie flags, a form without
  or with a forged token, a form from another origin, a replayed cookie after
  sign-out, a cookie planted before sign-in — each refused, nothing changed;
* the sign-in brake: repeated wrong passwords slow that user only, and a
  wrong password costs the same whether or not the user exists;
* SQL, template and header injection in paths, queries, bodies, form fields,
  the ``next`` redirect and request headers: no 5xx, no evaluation, no
  reflected markup, no injected header, no changed record;
* passwords, API tokens and session tokens appear nowhere in the database in
  the clear;
* and, last, the server's log holds none of the passwords, tokens, session
  cookies, CSRF tokens or JWTs this module used — including those it sent
  where they do not belong (query strings, request ids, bodies).
"""

from __future__ import annotations

import hashlib
import re
import socket
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from rel_db import ScratchDatabases, fingerprint
from rel_server import Deployment, Server, deploy, is_problem, serving
from sqlalchemy import MetaData, String, Text, select

from rxguard.access.passwords import set_password
from rxguard.store import transaction

pytestmark = pytest.mark.reliability
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class Secrets:
    """Every secret this module hands out or sends, for the database and log scans."""

    def __init__(self) -> None:
        self.values: set[str] = {PASSWORD}

    def add(self, value: str | None) -> str:
        if value:
            self.values.add(value)
        return value or ""


SECRETS = Secrets()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_base: str) -> Iterator[tuple[Deployment, Server]]:
    folder = Path(tmp_path_factory.mktemp("access"))
    databases = ScratchDatabases(folder, lambda: postgres_base)
    deployment = deploy(databases.create("postgresql"), folder, patients=6)
    with transaction(deployment.database.factory) as s:
        for user in deployment.tokens:
            set_password(s, user_name=user, password=PASSWORD, at=datetime.now(UTC), actor="admin")
    for token in deployment.tokens.values():
        SECRETS.add(token)
    with serving(deployment, folder / "server.log", databases) as server:
        yield deployment, server


def _browser(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base, follow_redirects=False, timeout=30)


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return SECRETS.add(found.group(1))


def _sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    token = _csrf(client.get("/sign-in").text)
    return client.post("/sign-in", data={"csrf_token": token, "name": name, "password": password, "next": "/"})


def _signed_in(client: httpx.Client, name: str) -> str:
    """Sign in; returns a CSRF token valid for the new session."""
    response = _sign_in(client, name)
    assert response.status_code == 303, response.text[:300]
    SECRETS.add(client.cookies.get("rxguard_session"))
    return _csrf(client.get("/").text)


# --------------------------------------------------------------------------- sessions and CSRF


def test_web_sessions_and_csrf_refuse_every_forgery_and_change_nothing(site: tuple[Deployment, Server]) -> None:
    deployment, server = site
    with _browser(server) as browser:
        planted = "f" * 43  # a session id an attacker fixed before sign-in
        token = _csrf(browser.get("/sign-in").text)
        response = browser.post("/sign-in", data={"csrf_token": token, "name": "ada", "password": PASSWORD},
                                headers={"cookie": f"rxguard_pre={browser.cookies.get('rxguard_pre')}; "
                                                   f"rxguard_session={planted}"})  # fmt: skip
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and planted not in cookie
        session = SECRETS.add(response.cookies.get("rxguard_session"))
        assert session and session != planted and "ada" not in session
        token = _csrf(browser.get("/").text)
        before = fingerprint(deployment.database)
        form = {"program": "touch", "reason": "forged"}
        attempts = {
            "no token": browser.post("/patients/pat_0001/decisions/discontinue", data=form),
            "forged token": browser.post("/patients/pat_0001/decisions/discontinue",
                                         data={**form, "csrf_token": "0" * 64}),
            "other origin": browser.post("/patients/pat_0001/decisions/discontinue",
                                         data={**form, "csrf_token": token}, headers={"origin": "https://evil.example"}),
        }  # fmt: skip
        for what, refused in attempts.items():
            assert refused.status_code == 403, f"{what}: {refused.status_code}"
        assert fingerprint(deployment.database) == before
        assert browser.post("/sign-out", data={"csrf_token": token}).status_code == 303
    with _browser(server) as thief:
        thief.cookies.set("rxguard_session", session)
        assert thief.get("/").headers["location"].startswith("/sign-in")


def test_the_sign_in_brake_slows_one_user_and_hides_who_exists(site: tuple[Deployment, Server], figures: Any) -> None:
    _, server = site
    timings: dict[str, list[float]] = {"nurse_s": [], "no_such_user": []}
    with _browser(server) as browser:
        for attempt in range(6):
            for name in timings:
                started = time.monotonic()
                response = _sign_in(browser, name, "wrong password, wrong")
                timings[name].append(time.monotonic() - started)
                assert response.status_code == 401, (attempt, name, response.status_code)
        braked = _sign_in(browser, "nurse_s")
        assert braked.status_code == 401 and "Too many attempts" in braked.text
        assert _sign_in(browser, "audrey").status_code == 303  # other users are not affected
    known, unknown = statistics.median(timings["nurse_s"]), statistics.median(timings["no_such_user"])
    figures.record("access.sign_in", wrong_password_median_s=round(known, 4),
                   unknown_user_median_s=round(unknown, 4), braked_after=5)  # fmt: skip
    assert max(known, unknown) < 3 * min(known, unknown), "a wrong password tells whether the user exists"


# --------------------------------------------------------------------------- injection

SQL = ["' OR '1'='1", "pat_0001' --", "x'; DROP TABLE patient; --", "1; SELECT pg_sleep(3)--", '" OR ""="']
TEMPLATE = ["{{ 1337*1337 }}", "${1337*1337}", "{% for x in range(99999999) %}x{% endfor %}", "#{1337*1337}"]
MARKUP = ['<script>alert("rxguard")</script>', '"><img src=x onerror=alert(1)>']
EVALUATED = "1787569"  # 1337*1337: present only if a template was evaluated


def _clean(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:200]}"
    assert EVALUATED not in response.text, f"{what}: a template expression was evaluated"
    if response.headers.get("content-type", "").startswith("text/html"):
        assert "<script>alert" not in response.text and "<img src=x" not in response.text, f"{what}: unescaped"
    assert "Traceback" not in response.text
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/"):
        assert is_problem(response), f"{what}: {response.text[:200]}"


def test_sql_template_and_markup_injection_has_no_effect(site: tuple[Deployment, Server], figures: Any) -> None:
    deployment, server = site
    tried = 0
    with httpx.Client(base_url=server.base, timeout=30) as api, _browser(server) as browser, \
            _browser(server) as stranger:  # fmt: skip
        _signed_in(browser, "ada")  # a sign-in is audited: before the fingerprint
        before = fingerprint(deployment.database)
        for payload in SQL + TEMPLATE + MARKUP:
            quoted = quote(payload, safe="")
            requests = [
                api.get(f"/api/v1/patients/{quoted}", headers=deployment.auth("admin")),
                api.get("/api/v1/names/resolve", params={"q": payload}, headers=deployment.auth("admin")),
                api.get("/api/v1/ask", params={"q": payload}, headers=deployment.auth("admin")),
                api.get("/api/v1/monitoring/due", params={"on": payload}, headers=deployment.auth("admin")),
                api.post("/api/v1/authorizations", json={"patient": payload}, headers=deployment.auth("nurse_n")),
                api.post("/api/v1/assess", params={"drug": payload}, json={"resourceType": "Bundle"},
                         headers=deployment.auth("audrey")),
                browser.get("/patients", params={"q": payload}),
                browser.get(f"/patients/{quoted}"),
                browser.get("/drugs/ask", params={"q": payload}),
                _sign_in(stranger, payload),
            ]  # fmt: skip
            for response in requests:
                tried += 1
                _clean(response, f"{response.request.method} {response.request.url.path} <- {payload!r}")
                assert response.elapsed.total_seconds() < 2.5, "an injected sleep ran"
    assert fingerprint(deployment.database) == before, "an injection attempt changed a record"
    _stored_literally(deployment, server)
    figures.record("access.injection", requests=tried + 2, evaluated_or_reflected=0, records_changed=0)


def _stored_literally(deployment: Deployment, server: Server) -> None:
    """A hostile name that is valid data is stored and shown as the same characters, escaped in HTML."""
    name = 'Robert\'); DROP TABLE patient;-- {{ 1337*1337 }} <script>alert("rxguard")</script>'
    with httpx.Client(base_url=server.base, timeout=30) as api:
        created = api.post("/api/v1/patients", json={"key": "pat_bobby", "name": name}, headers=deployment.auth("ada"))
        assert created.status_code == 201, created.text
        assert api.get("/api/v1/patients/pat_bobby", headers=deployment.auth("admin")).json()["name"] == name
    with _browser(server) as browser:
        _signed_in(browser, "admin")
        page = browser.get("/patients", params={"q": "Robert"})
        _clean(page, "patient list with a hostile name")


def test_header_injection_and_open_redirects_are_refused(site: tuple[Deployment, Server]) -> None:
    _, server = site
    with _browser(server) as browser:
        for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/%0d%0aSet-Cookie:%20evil=1",
                       "/\r\nSet-Cookie: evil=1", "/\t/evil.example"):  # fmt: skip
            token = _csrf(browser.get("/sign-in").text)
            response = browser.post("/sign-in", data={"csrf_token": token, "name": "admin", "password": PASSWORD,
                                                      "next": target})  # fmt: skip
            location = response.headers.get("location", "")
            assert response.status_code == 303 and location.startswith("/") and not location.startswith("//")
            assert "\r" not in location and "\n" not in location and "\t" not in location
            assert "evil" not in response.headers.get("set-cookie", "")
            browser.cookies.clear()
    raw = _raw_request(server, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\r\n Set-Cookie: evil=1\r\n\r\n")
    assert "evil" not in raw.split("\r\n\r\n")[0].lower()
    echoed = _raw_request(server, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: ok%0d%0aX-Injected:%201\r\n\r\n")
    assert "x-injected" not in echoed.split("\r\n\r\n")[0].lower()


def _raw_request(server: Server, text: str) -> str:
    """Send bytes no HTTP library would (folded or encoded header breaks); return the raw answer."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(text.encode("latin-1"))
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


# --------------------------------------------------------------------------- secrets at rest and in logs


def test_passwords_and_tokens_are_stored_only_as_hashes(site: tuple[Deployment, Server]) -> None:
    deployment, server = site
    with _browser(server) as browser:
        _signed_in(browser, "nurse_n")
        cookie = browser.cookies.get("rxguard_session") or ""
    metadata = MetaData()
    metadata.reflect(deployment.database.engine)
    found: list[str] = []
    with deployment.database.engine.connect() as connection:
        for table in metadata.tables.values():
            texts = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in connection.execute(select(*texts)) if texts else []:
                found += [f"{table.name}: a secret in the clear" for v in row if v and v in SECRETS.values]
        hashes = dict(connection.execute(select(metadata.tables["api_token"].c.token_hash,
                                                metadata.tables["api_token"].c.id)).all())  # fmt: skip
        passwords = list(connection.execute(select(metadata.tables["user_password"].c.password_hash)).scalars())
        sessions = set(connection.execute(select(metadata.tables["web_session"].c.token_hash)).scalars())
    assert not found, found
    assert all(hashlib.sha256(t.encode()).hexdigest() in hashes for t in deployment.tokens.values())
    assert passwords and all(p.startswith("scrypt$") and PASSWORD not in p for p in passwords)
    assert cookie and cookie not in sessions and hashlib.sha256(cookie.encode()).hexdigest() in sessions


def test_the_log_holds_no_password_token_session_or_jwt(site: tuple[Deployment, Server], figures: Any) -> None:
    """Runs last in this module: the log then covers every request above, plus secrets sent where they do not belong."""
    deployment, server = site
    jwt = SECRETS.add(deployment.ehr.token(f"{server.base}/cds-services/rxguard-patient-view"))
    token = deployment.tokens["admin"]
    with httpx.Client(base_url=server.base, timeout=30) as client:
        client.get("/api/v1/packs", params={"access_token": token, "password": PASSWORD})
        client.get("/api/v1/packs", headers={"X-Request-ID": token[:60], "Authorization": f"Bearer {jwt}"})
        client.post("/cds-services/rxguard-patient-view", json={"hook": "patient-view"},
                    headers={"Authorization": f"Bearer {jwt}x"})  # fmt: skip
        client.post("/api/v1/patients", json={"key": token, "name": PASSWORD, "sex": jwt},
                    headers=deployment.auth("ada"))  # fmt: skip
        client.get(f"/api/v1/patients/{token}", headers=deployment.auth("admin"))
        client.post(
            "/api/v1/assess", params={"drug": PASSWORD}, content=jwt.encode(), headers=deployment.auth("audrey")
        )
    time.sleep(0.5)  # let the server flush its last lines
    log = server.log.read_text(encoding="utf-8", errors="replace")
    leaked = sorted({s[:12] + "…" for s in SECRETS.values if s in log})
    shaped = re.findall(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}|rxg_[A-Za-z0-9_-]{16,}|scrypt\$", log)
    figures.record("access.log_scan", log_lines=log.count("\n"), secrets_checked=len(SECRETS.values),
                   leaked=len(leaked) + len(shaped))  # fmt: skip
    assert not leaked and not shaped, (leaked, shaped[:3])
