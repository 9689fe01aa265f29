"""Separation of duties for overrides over the REST API, as a matrix, and the suspended-patient reproduction.

Identities over the demo program (all patients are dr_ada's): ``ada`` (the patients'
prescriber), ``ben`` (another prescriber), ``nina`` (nurse, site_north), ``paul``
(pharmacist, site_south), ``admin`` (program administrator, medical director),
``audrey`` (auditor). A visit happens at site_north (nina's) or at site_south
(paul's, once the patient is handed to it); the failed check is a hard stop
(pat_eli, suspended for suspected PML) or overridable (pat_ivy, too early for the
next MEPACT dose: dose-interval). The expected status of every cell is written
out from the rules in plain words below, not computed by the code under test.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cds_scenarios import NOW
from fastapi.testclient import TestClient
from sqlalchemy import select

from rxguard.access import create_token, create_user
from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.program.demo import load_demo
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Authorization, Override

USERS = {
    "ada": ("prescriber", {"prescriber_key": "dr_ada"}),
    "ben": ("prescriber", {"prescriber_key": "dr_ben"}),
    "nina": ("nurse", {"site_key": "site_north"}),
    "paul": ("pharmacist", {"site_key": "site_south"}),
    "admin": ("admin", {}),
    "audrey": ("auditor", {}),
}
NO = {q: False for q in ("new-or-worsening-symptoms", "immunocompromising-condition",
                         "immunosuppressant-or-antineoplastic-use", "active-infection", "steroid-use")}  # fmt: skip
PATIENT = {"hard": ("pat_eli", "touch", NO), "overridable": ("pat_ivy", "mepact-course", {})}


@pytest.fixture(scope="module")
def template(sqlite_template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("overrides") / "demo.db"
    shutil.copy(sqlite_template_path, path)
    engine = make_engine(url=f"sqlite:///{path}")
    factory = session_factory(engine)
    tokens = {}
    with transaction(factory) as s:
        load_demo(s, at=NOW)
    with transaction(factory) as s:
        for name, (role, links) in USERS.items():
            create_user(s, name=name, role=role, at=NOW, actor="test", **links)
            tokens[name] = create_token(s, user_name=name, at=NOW, actor="test")[0]
    engine.dispose()
    return path, tokens


@pytest.fixture
def api(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    path = tmp_path / "api.db"
    shutil.copy(template[0], path)
    settings = ServerSettings(database_url=f"sqlite:///{path}", log_level="WARNING")
    with TestClient(create_app(settings, clock=lambda: NOW), raise_server_exceptions=False) as client:

        def call(who: str, method: str, url: str, body: Any = None) -> Any:
            return client.request(method, url, json=body, headers={"Authorization": f"Bearer {template[1][who]}"})

        yield call, path


def _visit(call: Any, kind: str, site: str) -> dict[str, Any]:
    patient, program, answers = PATIENT[kind]
    nurse = "nina" if site == "north" else "paul"
    if site == "south":  # the patient is handed to site_south first (the administrator)
        assert call("admin", "POST", f"/api/v1/patients/{patient}/sites", {"site": "site_south"}).status_code < 300
    response = call(
        nurse, "POST", "/api/v1/authorizations", {"patient": patient, "program": program, "answers": answers}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["decision"] == ("do-not-infuse" if kind == "hard" else "hold"), body
    return body


def _failed(body: dict[str, Any]) -> list[str]:
    return [c["id"] for c in body["checks"] if c["outcome"] in ("hold", "do-not-infuse")]


def expected_ask(who: str, kind: str, site: str) -> int:
    """Asking. Nurses and auditors hold no override role (403); a prescriber other than the patient's
    and a site that is not the visit's do not see it (404); anyone else asking past a hard stop gets
    409. dose-interval may be overridden by the prescriber, the pharmacist in charge and the medical
    director (program.yaml); the medical director acts for the whole program."""
    if who in ("nina", "audrey"):
        return 403
    if who == "ben" or (who == "paul" and site == "north"):
        return 404
    if kind == "hard":
        return 409
    return 201


def expected_confirm(who: str, kind: str, site: str) -> int:
    """Confirming someone else's request. As for asking, and: the medical director has no site and is not
    the patient's prescriber, so may not be the second person (403)."""
    first = expected_ask(who, kind, site)
    if first in (403, 404):
        return first
    if kind == "hard":
        return 409
    return 403 if who == "admin" else 200


CELLS = list(itertools.product(USERS, ("hard", "overridable"), ("north", "south")))


@pytest.mark.parametrize(("who", "kind", "site"), CELLS, ids=[f"{w}-{k}-{s}" for w, k, s in CELLS])
def test_who_may_ask_for_an_override(api: tuple[Any, Path], who: str, kind: str, site: str) -> None:
    call, _ = api
    body = _visit(call, kind, site)
    response = call(who, "POST", f"/api/v1/authorizations/{body['id']}/overrides",
                    {"reason": "urgent", "bypassed": _failed(body)})  # fmt: skip
    assert response.status_code == expected_ask(who, kind, site), response.text
    if response.status_code == 409:
        problem = response.json()
        assert problem["type"].endswith("hard-stop")
        assert {s["check"] for s in problem["hard_stops"]} >= {"not-suspended"}
        assert "resume the patient in the program first" in problem["detail"]
    after = call("admin", "GET", f"/api/v1/authorizations/{body['id']}").json()
    assert after["infusable"] is False  # asking never bypasses anything


@pytest.mark.parametrize(("who", "kind", "site"), CELLS, ids=[f"{w}-{k}-{s}" for w, k, s in CELLS])
def test_who_may_confirm_an_override(api: tuple[Any, Path], who: str, kind: str, site: str) -> None:
    call, path = api
    body = _visit(call, kind, site)
    asker = "ada" if who == "admin" else "admin"
    if kind == "overridable":
        asked = call(asker, "POST", f"/api/v1/authorizations/{body['id']}/overrides",
                     {"reason": "urgent", "bypassed": _failed(body)})  # fmt: skip
        assert asked.status_code == 201, asked.text
        override_id = asked.json()["id"]
    else:  # a one-person request written behind the service's back: confirming it must still be refused
        engine = make_engine(url=f"sqlite:///{path}")
        with transaction(session_factory(engine)) as s:
            record = Override(authorization_id=body["id"], actor=asker, role="medical-director", reason="urgent",
                              bypassed={"requirements": _failed(body)}, at=NOW)  # fmt: skip
            s.add(record)
            s.flush()
            override_id = record.id
        engine.dispose()
    response = call(who, "POST", f"/api/v1/overrides/{override_id}/confirmation", {"reason": "agreed"})
    assert response.status_code == expected_confirm(who, kind, site), response.text
    after = call("admin", "GET", f"/api/v1/authorizations/{body['id']}").json()
    assert after["infusable"] is (response.status_code == 200)


def test_the_suspended_patient_cannot_be_talked_past_by_one_person(api: tuple[Any, Path]) -> None:
    """pat_eli, suspended for suspected PML: DO-NOT-INFUSE; a one-person override; then the infusion."""
    call, path = api
    body = _visit(call, "hard", "north")
    clinical = next(c for c in body["checks"] if c["id"] == "clinical-assessment")
    assert clinical["outcome"] != "pass", clinical  # the program's own PML report reaches the clinical check
    for who in ("admin", "ada"):
        refused = call(who, "POST", f"/api/v1/authorizations/{body['id']}/overrides",
                       {"reason": "emergency", "bypassed": _failed(body)})  # fmt: skip
        assert refused.status_code == 409 and "hard stop" in refused.json()["detail"]
    infusion = call("nina", "POST", f"/api/v1/authorizations/{body['id']}/infusions", {
        "idempotency_key": "eli-after-override", "product": "tysabri", "lot": "L1", "dose": 300, "volume_ml": 100,
        "prepared_at": "2026-03-02T11:00:00Z", "started_at": "2026-03-02T12:00:00Z",
        "stopped_at": "2026-03-02T13:00:00Z", "observation_end_at": "2026-03-02T14:00:00Z",
    })  # fmt: skip
    assert infusion.status_code == 409, infusion.text
    engine = make_engine(url=f"sqlite:///{path}")
    with transaction(session_factory(engine)) as s:
        assert s.execute(select(Override).where(Override.authorization_id == body["id"])).first() is None
        assert s.get(Authorization, body["id"]).status == "do-not-infuse"
    engine.dispose()


def test_a_second_checklist_on_a_pending_hold_returns_that_hold(api: tuple[Any, Path]) -> None:
    call, _ = api
    first = _visit(call, "overridable", "north")
    again = call("nina", "POST", "/api/v1/authorizations", {"patient": "pat_ivy", "program": "mepact-course"})
    assert again.status_code == 201
    assert again.json()["id"] == first["id"] and "the hold" in again.json()["notice"]
