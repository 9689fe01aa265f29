"""The access-control matrix: every /api/v1 endpoint, every role, and foreign identities.

Identities over the demo program (all patients are dr_ada's; pat_bob is
infused at site_north only):

* ``ada`` — prescriber dr_ada (in scope); ``ben`` — prescriber dr_ben (a foreign prescriber);
* ``nina`` — nurse at site_north (in scope); ``paul`` — pharmacist at site_south (a foreign site);
* ``admin`` — program administrator; ``audrey`` — auditor.

For each endpoint the roles that may act are listed; every other identity must
get 403 (role) or 404 (scope), the database must not change (row counts and
the audit chain), and the response must not carry the patient's record. A
test also fails when an endpoint is added without a row here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from cds_scenarios import NOW
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rxguard.access import create_token, create_user
from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.program.demo import load_demo
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Authorization, Base, Override, Patient

ALL = frozenset({"ada", "ben", "nina", "paul", "admin", "audrey"})
USERS = {
    "ada": ("prescriber", {"prescriber_key": "dr_ada"}),
    "ben": ("prescriber", {"prescriber_key": "dr_ben"}),
    "nina": ("nurse", {"site_key": "site_north"}),
    "paul": ("pharmacist", {"site_key": "site_south"}),
    "admin": ("admin", {}),
    "audrey": ("auditor", {}),
}


@dataclass(frozen=True)
class Demo:
    path: Path
    tokens: dict[str, str]
    ids: dict[str, str]


@pytest.fixture(scope="module")
def demo(sqlite_template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    path = tmp_path_factory.mktemp("matrix") / "demo.db"
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

        def patient_id(key: str) -> str:
            return s.execute(select(Patient.id).where(Patient.key == key)).scalar_one()

        bob_auth = s.execute(
            select(Authorization.id).where(Authorization.patient_id == patient_id("pat_bob"))
            .order_by(Authorization.created_at.desc())
        ).scalars().first()  # fmt: skip
        gus_hold = (
            s.execute(
                select(Authorization.id).where(
                    Authorization.patient_id == patient_id("pat_gus"), Authorization.status == "hold"
                )
            )
            .scalars()
            .first()
        )
        override = s.execute(select(Override.id).where(Override.reconciled_at.is_(None))).scalars().first()
    engine.dispose()
    assert bob_auth and gus_hold and override
    return Demo(path, tokens, {"bob_auth": bob_auth, "gus_hold": gus_hold, "override": override})


B = "pat_bob"
# (method, path, body or query, roles that may act). {bob_auth}, {gus_hold}, {override} are filled in.
# fmt: off
MATRIX: list[tuple[str, str, dict[str, Any] | None, frozenset[str]]] = [
    ("GET", "/api/v1/packs", None, ALL),
    ("GET", "/api/v1/packs/natalizumab", None, ALL),
    ("GET", "/api/v1/names/resolve?q=tysabri", None, ALL),
    ("GET", "/api/v1/names/suggest?q=tysab", None, ALL),
    (
        "POST",
        "/api/v1/assess?drug=natalizumab&at=2026-03-02",
        {
            "resourceType": "Bundle",
            "entry": [
                {"resource": {"resourceType": "Patient", "id": "x", "birthDate": "1990-01-01", "gender": "female"}}
            ],
        },
        ALL,
    ),
    ("GET", "/api/v1/monographs/natalizumab", None, ALL),
    ("GET", "/api/v1/ask?q=What+are+the+contraindications+of+natalizumab", None, ALL),
    ("GET", "/api/v1/programs", None, ALL),
    ("GET", "/api/v1/programs/touch", None, ALL),
    ("GET", "/api/v1/prescribers", None, ALL),
    ("POST", "/api/v1/prescribers", {"key": "dr_new", "name": "Dr New"}, frozenset({"admin"})),
    ("GET", "/api/v1/sites", None, ALL),
    ("POST", "/api/v1/sites", {"key": "site_new", "name": "New Site"}, frozenset({"admin"})),
    ("POST", "/api/v1/sites/site_north/pharmacies", {"key": "pharm_new", "name": "New Pharmacy"}, frozenset({"admin"})),
    (
        "POST",
        "/api/v1/certifications",
        {"program": "touch", "kind": "prescriber", "key": "dr_ben"},
        frozenset({"admin"}),
    ),
    ("POST", "/api/v1/certifications/touch/site/site_south/suspend", {"reason": "audit finding"}, frozenset({"admin"})),
    ("GET", "/api/v1/patients", None, ALL),
    ("POST", "/api/v1/patients", {"key": "pat_new", "name": "New Patient"}, frozenset({"ada", "ben", "admin"})),
    ("GET", f"/api/v1/patients/{B}", None, frozenset({"ada", "nina", "admin", "audrey"})),
    ("POST", f"/api/v1/patients/{B}/sites", {"site": "site_south"}, frozenset({"ada", "admin"})),
    (
        "POST",
        "/api/v1/enrollments",
        {"program": "tyruko-rems", "patient": B, "indication": "multiple-sclerosis"},
        frozenset({"ada"}),
    ),
    ("POST", f"/api/v1/patients/{B}/consents", {"program": "touch", "version": "1.0"}, frozenset({"ada"})),
    ("POST", f"/api/v1/patients/{B}/forms", {"program": "touch", "form": "patient-alert-card"}, frozenset({"ada"})),
    ("POST", f"/api/v1/patients/{B}/treatment-authorizations", {"program": "touch"}, frozenset({"ada"})),
    ("POST", f"/api/v1/patients/{B}/reauthorizations", {"program": "touch"}, frozenset({"ada"})),
    ("POST", f"/api/v1/patients/{B}/resumptions", {"program": "touch", "reason": "PML excluded"}, frozenset({"ada"})),
    (
        "POST",
        f"/api/v1/patients/{B}/discontinuations",
        {"program": "touch", "reason": "patient request"},
        frozenset({"ada"}),
    ),
    ("POST", "/api/v1/authorizations", {"patient": B}, frozenset({"nina"})),
    ("GET", "/api/v1/authorizations/{bob_auth}", None, frozenset({"ada", "nina", "admin", "audrey"})),
    (
        "POST",
        "/api/v1/authorizations/{gus_hold}/clearances",
        {"outcome": "defer", "reason": "recheck labs"},
        frozenset({"ada"}),
    ),
    (
        "POST",
        "/api/v1/authorizations/{gus_hold}/overrides",
        {"reason": "emergency", "bypassed": ["checklist"]},
        frozenset({"ada", "admin"}),
    ),
    # The demo's override is confirmed already: the roles that may confirm get 409, the others 403/404.
    ("POST", "/api/v1/overrides/{override}/confirmation", {"reason": "agreed"}, frozenset({"ada", "paul", "admin"})),
    ("GET", "/api/v1/overrides", None, frozenset({"admin", "audrey"})),
    # The demo's override was given at site_south: its pharmacist (paul) may reconcile it, as the administrator.
    ("POST", "/api/v1/overrides/{override}/reconciliation", {"note": "reviewed"}, frozenset({"admin", "paul"})),
    (
        "POST",
        "/api/v1/authorizations/{gus_hold}/infusions",
        {
            "idempotency_key": "matrix-0001",
            "product": "tyruko",
            "lot": "L1",
            "dose": 300,
            "volume_ml": 100,
            "prepared_at": "2026-03-02T09:00:00Z",
            "started_at": "2026-03-02T09:30:00Z",
            "stopped_at": "2026-03-02T10:30:00Z",
        },
        frozenset({"nina"}),
    ),
    ("GET", f"/api/v1/patients/{B}/monitoring", None, frozenset({"ada", "nina", "admin", "audrey"})),
    ("POST", f"/api/v1/patients/{B}/monitoring", {"kind": "labs", "result": "ALT 30 U/L"}, frozenset({"ada", "nina"})),
    ("GET", "/api/v1/monitoring/due", None, ALL),
    (
        "POST",
        "/api/v1/adverse-events",
        {"patient": B, "kind": "other", "description": "headache", "onset_on": "2026-03-01"},
        frozenset({"ada", "nina"}),
    ),
    ("GET", "/api/v1/adverse-events", None, ALL),
    ("GET", "/api/v1/exports/program", None, frozenset({"admin", "audrey"})),
    ("GET", "/api/v1/audit/verification", None, frozenset({"admin", "audrey"})),
]
# fmt: on


def _state(path: Path) -> dict[str, int]:
    """Row count of every table: any write shows up here (the audit chain included)."""
    engine = make_engine(url=f"sqlite:///{path}")
    with engine.connect() as c:
        counts = {
            t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t in Base.metadata.sorted_tables
        }
    engine.dispose()
    return counts


@pytest.fixture
def fresh(demo: Demo, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    path = tmp_path / "matrix.db"
    shutil.copy(demo.path, path)
    settings = ServerSettings(database_url=f"sqlite:///{path}", log_level="WARNING")
    with TestClient(create_app(settings, clock=lambda: NOW), raise_server_exceptions=False) as client:
        yield client, path


def _request(client: TestClient, method: str, url: str, body: Any, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_only_the_listed_roles_act_and_nobody_else_sees_or_changes_anything(
    demo: Demo, fresh: tuple[TestClient, Path], method: str, path: str, body: Any, allowed: frozenset[str]
) -> None:
    client, db_path = fresh
    url = path.format(**demo.ids)
    for name in [None, *sorted(ALL - allowed)]:
        before = _state(db_path)
        response = _request(client, method, url, body, demo.tokens[name] if name else None)
        expected = (401,) if name is None else (403, 404)
        assert response.status_code in expected, f"{name}: {response.status_code} {response.text[:300]}"
        assert response.headers["content-type"] == "application/problem+json"
        # pat_bob's name and birth year; left out: the random request id and the echoed URL (``instance``),
        # whose hex ids can spell 1984 by chance
        shown = orjson.dumps({k: v for k, v in response.json().items() if k not in ("request_id", "instance")}).decode()
        assert "Bob" not in shown and "1984" not in shown, shown
        assert _state(db_path) == before, f"{name} changed the database"
    for name in sorted(allowed):
        response = _request(client, method, url, body, demo.tokens[name])
        assert response.status_code not in (401, 403, 404), f"{name}: {response.status_code} {response.text[:300]}"
        assert response.status_code < 500, response.text


def test_every_api_route_is_in_the_matrix() -> None:
    app = create_app(ServerSettings(log_level="WARNING"))
    routes = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1")
        for method in route.methods
    }
    covered = set()
    for method, path, _, _ in MATRIX:
        plain = path.split("?")[0]
        for route_method, template in routes:
            parts, given = template.split("/"), plain.split("/")
            if (
                route_method == method
                and len(parts) == len(given)
                and all(p == g or p.startswith("{") for p, g in zip(parts, given, strict=True))
            ):
                covered.add((route_method, template))
    assert routes - covered == set()


def test_lists_hold_only_patients_in_scope(demo: Demo, fresh: tuple[TestClient, Path]) -> None:
    client, _ = fresh

    def keys(name: str, url: str, field: str) -> set[str]:
        response = _request(client, "GET", url + "?limit=500", None, demo.tokens[name])
        assert response.status_code == 200
        return {item[field] for item in response.json()["items"]}

    assert keys("paul", "/api/v1/patients", "key") == {"pat_amy"}
    assert keys("ben", "/api/v1/patients", "key") == set()
    assert "pat_bob" in keys("nina", "/api/v1/patients", "key")
    assert keys("audrey", "/api/v1/patients", "key") >= {"pat_amy", "pat_bob", "pat_cal", "pat_ivy"}
    assert keys("paul", "/api/v1/monitoring/due", "patient") <= {"pat_amy"}
    assert keys("ben", "/api/v1/monitoring/due", "patient") == set()
