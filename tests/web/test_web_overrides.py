"""The dose page's override: a hard stop is refused with what lifts it; an override takes two people; one visit."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_demo import csrf_of, sign_in

from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Authorization, Override

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
