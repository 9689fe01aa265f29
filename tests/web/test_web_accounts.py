"""Accounts in the admin pages and the CLI: disable ends sessions and tokens for good, roles change, tokens list.

Disabling a user must end everything they hold at once and for good: a
browser session or API token that worked before the disable never works
again, even after the user is enabled (they sign in again and get new tokens).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_demo import NOW, sign_in

from rxguard.access import create_token
from rxguard.cli import run
from rxguard.store import make_engine, session_factory, transaction


def _factory(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]


def _token_for(client: TestClient, name: str) -> str:
    with transaction(_factory(client)) as session:
        token, _ = create_token(session, user_name=name, at=NOW, actor="test")
    return token


def _api_ok(client: TestClient, token: str) -> bool:
    response = client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


def test_disabling_a_user_ends_their_sessions_and_tokens_for_good(make_client) -> None:  # type: ignore[no-untyped-def]
    admin = make_client()
    nurse = TestClient(admin.app, raise_server_exceptions=False)
    nurse.__enter__()
    try:
        sign_in(nurse, "nina")
        token = _token_for(admin, "nina")
        assert nurse.get("/patients").status_code == 200 and _api_ok(admin, token)
        csrf = sign_in(admin, "admin")
        page = admin.get("/admin")
        assert "nina" in page.text and "API tokens" in page.text
        answer = admin.post("/admin/users/nina/disable", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303
        assert nurse.get("/patients", follow_redirects=False).status_code == 303  # back to sign-in
        assert not _api_ok(admin, token)
        assert (
            admin.post("/admin/users/nina/enable", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        )
        assert nurse.get("/patients", follow_redirects=False).status_code == 303  # the old session stays ended
        assert not _api_ok(admin, token)  # the old token stays revoked
        sign_in(nurse, "nina")  # a new sign-in works
        assert nurse.get("/patients").status_code == 200
    finally:
        nurse.__exit__(None, None, None)


def test_an_administrator_changes_a_role_and_revokes_a_token_in_the_page(make_client) -> None:  # type: ignore[no-untyped-def]
    admin = make_client()
    token = _token_for(admin, "audrey")
    csrf = sign_in(admin, "admin")
    answer = admin.post("/admin/users/role", data={"csrf_token": csrf, "name": "audrey", "role": "nurse",
                                                   "site": "site_north"}, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    refused = admin.post("/admin/users/role", data={"csrf_token": csrf, "name": "audrey", "role": "prescriber"})
    assert refused.status_code == 400 and "--prescriber" in refused.text
    page = admin.get("/admin").text
    token_id = page.split('action="/admin/tokens/')[1].split("/")[0]
    assert _api_ok(admin, token)
    assert admin.post(f"/admin/tokens/{token_id}/revocation", data={"csrf_token": csrf},
                      follow_redirects=False).status_code == 303  # fmt: skip
    assert not _api_ok(admin, token)


@pytest.mark.parametrize("who", ["nina", "audrey"])
def test_only_administrators_change_accounts(make_client, who: str) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    csrf = sign_in(client, who)
    response = client.post("/admin/users/ada/disable", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 403
    assert client.post("/admin/users/ada/disable", data={}, follow_redirects=False).status_code == 403  # no CSRF token


def test_the_account_commands(
    demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "accounts.db"
    path.write_bytes(demo_template.read_bytes())
    monkeypatch.setenv("RXGUARD_DATABASE_URL", f"sqlite:///{path}")
    assert run(["token", "create", "--user", "nina"]) == 0
    token = capsys.readouterr().out.strip()
    assert run(["token", "list", "--user", "nina"]) == 0
    listed = capsys.readouterr().out
    assert "\tnina\tactive\t" in listed and token not in listed
    token_id = listed.split("\t")[0]
    expires = listed.split("\t")[4]
    assert expires != "never"  # tokens expire by default
    assert run(["user", "disable", "nina"]) == 0
    assert run(["token", "list", "--user", "nina"]) == 0
    assert "\trevoked\t" in capsys.readouterr().out
    assert run(["user", "enable", "nina"]) == 0
    assert run(["user", "role", "nina", "pharmacist", "--site", "site_south"]) == 0
    assert run(["user", "list"]) == 0
    assert "nina\tpharmacist\tactive" in capsys.readouterr().out
    assert run(["user", "role", "nina", "nurse"]) == 2
    assert "--site" in capsys.readouterr().err
    assert run(["token", "revoke", token_id]) == 0
    assert run(["token", "create", "--user", "nina", "--days", "0"]) == 2
    capsys.readouterr()
    assert run(["user", "totp", "paul"]) == 0
    assert capsys.readouterr().out.startswith("otpauth://totp/rxguard:paul?secret=")


def test_a_new_password_ends_the_users_sessions(make_client) -> None:  # type: ignore[no-untyped-def]
    from rxguard.access.passwords import set_password

    nurse = make_client()
    sign_in(nurse, "nina")
    assert nurse.get("/patients").status_code == 200
    with transaction(_factory(nurse)) as session:
        set_password(session, user_name="nina", password="a brand new passphrase", at=NOW, actor="admin")
    assert nurse.get("/patients", follow_redirects=False).status_code == 303


def test_every_sign_in_decision_is_logged_without_the_password(make_client, capfd: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from web_demo import csrf_of

    client = make_client()  # logs at WARNING: refusals are warnings, sign-ins info
    token = csrf_of(client.get("/sign-in").text)
    client.post("/sign-in", data={"csrf_token": token, "name": "nina", "password": "not her password at all"})
    logged = "".join(capfd.readouterr())
    assert '"event":"sign_in"' in logged and '"outcome":"wrong"' in logged and '"user":"nina"' in logged
    assert "not her password at all" not in logged


def test_the_administrator_adds_a_nurse_with_a_first_password_and_she_signs_in(make_client) -> None:  # type: ignore[no-untyped-def]
    admin = make_client()
    csrf = sign_in(admin, "admin")
    form = {"csrf_token": csrf, "name": "lin", "display_name": "Lin Zhou, RN", "role": "nurse",
            "password": "amber kettle under moss"}  # fmt: skip
    refused = admin.post("/admin/users", data=form, follow_redirects=False)  # no site chosen
    assert refused.status_code == 400 and "infusion site they work at" in refused.text
    weak = admin.post("/admin/users", data={**form, "site": "site_south", "password": "password1234"})
    assert weak.status_code == 400 and "too easy to guess" in weak.text
    assert "Lin Zhou" not in admin.get("/admin").text  # nothing was created by the refusals
    added = admin.post("/admin/users", data={**form, "site": "site_south"}, follow_redirects=False)
    assert added.status_code == 303 and "notice=user-created" in added.headers["location"]
    assert "Lin Zhou, RN" in admin.get("/admin").text
    nurse = TestClient(admin.app, raise_server_exceptions=False)
    with nurse:
        sign_in(nurse, "lin", "amber kettle under moss")
        patients = nurse.get("/patients").text
        assert "Amy Chen" in patients and "Gus Wang" not in patients  # site_south's patients only
