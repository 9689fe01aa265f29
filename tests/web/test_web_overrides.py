"""The dose page's override: a hard stop is refused with what lifts it; an override takes two people; one visit."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from chinese_pages import english_words, typed_text, visible_text
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_demo import NOW, csrf_of, sign_in

from rxguard.access.users import change_role
from rxguard.errors import AccessDeniedError
from rxguard.program.reconciliation import RECONCILE_ROLES, Reviewer, reconcile
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Authorization, AuthorizationEvent, Override
from rxguard.web.security import LANG_COOKIE

NO = {f"q.{q}": "no" for q in ("new-or-worsening-symptoms", "immunocompromising-condition",
                                "immunosuppressant-or-antineoplastic-use", "active-infection", "steroid-use")}  # fmt: skip


def _db(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]


def _count(client: TestClient, model: type) -> int:
    with transaction(_db(client)) as session:
        return int(session.execute(select(func.count(model.id))).scalar_one())  # type: ignore[attr-defined]


def _checklist(client: TestClient, token: str, key: str, program: str, **answers: str) -> str:
    response = client.post(f"/patients/{key}/dose", data={"csrf_token": token, "program": program, **answers},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text[:400]
    found = re.search(r"/authorizations/([0-9a-f-]{36})", response.headers["location"])
    assert found
    return found.group(1)


def test_a_suspended_patient_gets_no_override_form_and_a_forced_one_is_refused(client: TestClient) -> None:
    token = sign_in(client, "nina")
    decision = _checklist(client, token, "pat_eli", "touch", **NO)
    token = sign_in(client, "admin")
    page = client.get(f"/authorizations/{decision}").text
    assert 'id="hard-stops"' in page and "resume the patient in the program first" in page
    assert 'id="override-ask"' not in page
    before = _count(client, Override)
    refused = client.post(f"/authorizations/{decision}/override", data={"csrf_token": token, "reason": "urgent"})
    assert refused.status_code == 409
    assert "hard stop" in refused.text and "resume the patient in the program first" in refused.text
    assert _count(client, Override) == before


def test_an_override_asked_by_one_person_is_confirmed_by_another_then_the_dose_may_be_given(
    client: TestClient,
) -> None:
    token = sign_in(client, "nina")
    decision = _checklist(client, token, "pat_ivy", "mepact-course")  # too early for the next MEPACT dose: HOLD
    token = sign_in(client, "admin")
    page = client.get(f"/authorizations/{decision}").text
    assert 'id="override-ask"' in page
    asked = client.post(f"/authorizations/{decision}/override", data={"csrf_token": token, "reason": "day unit closes"},
                        follow_redirects=False)  # fmt: skip
    assert asked.status_code == 303 and "notice=override-asked" in asked.headers["location"]
    page = client.get(f"/authorizations/{decision}").text
    assert 'id="override-you-asked"' in page and 'id="override-confirm"' not in page
    with transaction(_db(client)) as session:
        row = session.get(Authorization, decision)
        assert row.status == "hold" and not row.is_infusable  # asked is not bypassed
        pending = session.execute(select(Override.id).where(Override.authorization_id == decision)).scalar_one()
    mine = client.post(f"/overrides/{pending}/confirmation", data={"csrf_token": token, "reason": "me"})
    assert mine.status_code == 409 and "second, other person" in mine.text
    token = sign_in(client, "ada")
    page = client.get(f"/authorizations/{decision}").text
    assert 'id="override-confirm"' in page
    confirmed = client.post(f"/overrides/{pending}/confirmation", data={"csrf_token": token, "reason": "agreed"},
                            follow_redirects=False)  # fmt: skip
    assert confirmed.status_code == 303 and "notice=override-confirmed" in confirmed.headers["location"]
    with transaction(_db(client)) as session:
        row = session.get(Authorization, decision)
        record = session.get(Override, pending)
        assert row.status == "overridden" and row.is_infusable
        assert (record.actor, record.confirmed_by) == ("admin", "ada")


def test_a_confirmed_override_is_recorded_as_a_message_and_read_in_chinese_with_the_reasons_as_typed(
    client: TestClient,
) -> None:
    token = sign_in(client, "nina")
    decision = _checklist(client, token, "pat_ivy", "mepact-course")
    token = sign_in(client, "admin")
    client.post(f"/authorizations/{decision}/override", data={"csrf_token": token, "reason": "day unit closes"})
    with transaction(_db(client)) as session:
        pending = session.execute(select(Override.id).where(Override.authorization_id == decision)).scalar_one()
    token = sign_in(client, "ada")
    client.post(f"/overrides/{pending}/confirmation", data={"csrf_token": token, "reason": "agreed by phone"})
    with transaction(_db(client)) as session:
        event = session.execute(
            select(AuthorizationEvent).where(AuthorizationEvent.authorization_id == decision)
            .where(AuthorizationEvent.to_status == "overridden")
        ).scalar_one()  # fmt: skip
        record = session.get(Override, pending)
        asked, confirmed = (record.actor, record.role), (record.confirmed_by, record.confirmed_role)
        assert event.reason == (  # the English sentence the API and the audit trail read, unchanged
            f"override asked by {asked[0]} ({asked[1]}): day unit closes; "
            f"confirmed by {confirmed[0]} ({confirmed[1]}): agreed by phone"
        )
        assert event.reason_code == "override-confirmed"
        assert event.reason_values == {"asked_by": asked[0], "asked_role": asked[1], "asked_reason": "day unit closes",
                                       "confirmed_by": confirmed[0], "confirmed_role": confirmed[1],
                                       "confirmed_reason": "agreed by phone"}  # fmt: skip
    english = client.get(f"/authorizations/{decision}?lang=en").text
    assert f"Override asked by {asked[0]} (" in english and "agreed by phone" in english
    client.cookies.set(LANG_COOKIE, "zh")
    page = client.get(f"/authorizations/{decision}").text
    assert "提出紧急例外放行" in page
    assert typed_text(page).count("day unit closes") >= 1 and "agreed by phone" in typed_text(page)
    texts, _ = visible_text(page[page.index("提出紧急例外放行") - 200 : page.index("提出紧急例外放行") + 600])
    assert not {"day", "unit", "closes", "agreed", "phone", "asked", "confirmed"} & set(english_words(texts, set()))


def test_a_second_checklist_on_a_pending_hold_continues_it(client: TestClient) -> None:
    token = sign_in(client, "nina")
    held = _checklist(client, token, "pat_ivy", "mepact-course")
    before = _count(client, Authorization)
    again = client.post("/patients/pat_ivy/dose", data={"csrf_token": csrf_of(client.get("/patients/pat_ivy/dose").text),
                        "program": "mepact-course"}, follow_redirects=False)  # fmt: skip
    assert again.status_code == 303
    assert (
        f"/authorizations/{held}" in again.headers["location"] and "notice=hold-continued" in again.headers["location"]
    )
    assert _count(client, Authorization) == before
    page = client.get(again.headers["location"]).text
    assert "the hold continues" in page


# --------------------------------------------------------------------------- reconciliation


def _unreconciled(client: TestClient) -> list[str]:
    with transaction(_db(client)) as session:
        return list(session.execute(select(Override.id).where(Override.reconciled_at.is_(None))).scalars())


def test_the_sites_pharmacist_reconciles_an_override_from_the_dashboard(client: TestClient) -> None:
    """The demo's override was given at site_south: paul (its pharmacist) gets the form and it works."""
    [override] = _unreconciled(client)
    token = sign_in(client, "paul")
    board = client.get("/").text
    assert f'action="/overrides/{override}/reconciliation"' in board
    done = client.post(f"/overrides/{override}/reconciliation",
                       data={"csrf_token": token, "note": "reviewed the steroid history with Dr Ada", "back": "dashboard"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].startswith("/?notice=override-reconciled")
    assert _unreconciled(client) == []
    assert "Override reconciled" in client.get(done.headers["location"]).text


def test_who_may_reconcile_an_override_matrix(client: TestClient) -> None:
    """Every role: only the administrator and the site's own pharmacist; nobody else changes anything."""
    [override] = _unreconciled(client)
    with transaction(_db(client)) as session:
        change_role(session, name="nina", role="pharmacist", site_key="site_north", prescriber_key=None,
                    at=datetime(2026, 3, 2, 11, tzinfo=UTC), actor="test")  # fmt: skip
    for user in ("ada", "ben", "audrey", "nina"):  # nina: a pharmacist now, but of site_north
        client.cookies.clear()
        token = sign_in(client, user)
        assert f'/overrides/{override}/reconciliation"' not in client.get("/").text
        refused = client.post(f"/overrides/{override}/reconciliation", data={"csrf_token": token, "note": "x"})
        assert refused.status_code in (403, 404), (user, refused.status_code)
        assert _unreconciled(client) == [override], user
    client.cookies.clear()
    token = sign_in(client, "admin")
    assert f'action="/admin/overrides/{override}/reconciliation"' in client.get("/admin").text
    ok = client.post(f"/admin/overrides/{override}/reconciliation", data={"csrf_token": token, "note": "reviewed"},
                     follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303 and _unreconciled(client) == []


def test_a_person_who_took_part_in_an_override_does_not_reconcile_it(client: TestClient) -> None:
    """The asker and the confirmer are refused whatever their role; a third person of a role that may, succeeds."""
    [override] = _unreconciled(client)
    with transaction(_db(client)) as session:
        record = session.get(Override, override)
        assert record is not None and record.confirmed_by
        site_id = session.get(Authorization, record.authorization_id).site_id  # type: ignore[union-attr]
        signers = (record.actor, record.confirmed_by)
    for name in signers:
        for role in RECONCILE_ROLES:
            with pytest.raises(AccessDeniedError, match="another reviewer"), transaction(_db(client)) as session:
                reconcile(session, override_id=override, reviewer=Reviewer(name, role, site_id), note="n", at=NOW)
    assert _unreconciled(client) == [override]
    with transaction(_db(client)) as session:
        reconcile(session, override_id=override, reviewer=Reviewer("someone_else", "pharmacist", site_id),
                  note="reviewed", at=NOW)  # fmt: skip
    assert _unreconciled(client) == []
