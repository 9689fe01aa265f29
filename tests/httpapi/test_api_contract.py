"""The OpenAPI 3.1 document: committed, equal to the running app's, with stable operation ids,
and a bounded schemathesis run over it (no 5xx, no response that breaks its schema).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from rxguard.access import create_token, create_user
from rxguard.api.app import create_app
from rxguard.api.openapi import DOCUMENT, current_document, render
from rxguard.api.settings import ServerSettings
from rxguard.program.demo import load_demo
from rxguard.store import make_engine, session_factory, transaction, upgrade

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_the_committed_openapi_document_matches_the_running_app() -> None:
    assert DOCUMENT.read_bytes() == render(current_document()), (
        "the API changed: regenerate the document with 'python -m rxguard.api.openapi' and commit docs/openapi.json"
    )


def test_every_operation_has_a_stable_explicit_id_and_documents_its_errors() -> None:
    document = orjson.loads(DOCUMENT.read_bytes())
    assert document["openapi"].startswith("3.1")
    seen = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            op_id = operation["operationId"]
            assert op_id not in seen and "_api_v1_" not in op_id, f"{method} {path}: {op_id}"
            seen.add(op_id)
            if path.startswith(("/api/v1", "/cds-services")):
                assert "401" in operation["responses"], f"{method} {path} does not document 401"
    lists = [
        p for p, ops in document["paths"].items() if "get" in ops and "Page_" in str(ops["get"]["responses"]["200"])
    ]
    for path in lists:
        names = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
        assert {"limit", "offset"} <= names, path


def _contract_app():  # type: ignore[no-untyped-def]
    folder = Path(tempfile.mkdtemp(prefix="rxguard-contract-"))
    url = f"sqlite:///{folder / 'contract.db'}"
    engine = make_engine(url=url)
    upgrade(engine)
    with transaction(session_factory(engine)) as session:
        load_demo(session, at=NOW)
    with transaction(session_factory(engine)) as session:
        create_user(session, name="contract-admin", role="admin", at=NOW, actor="test")
        token, _ = create_token(session, user_name="contract-admin", at=NOW, actor="test")
    engine.dispose()
    app = create_app(ServerSettings(database_url=url, log_level="ERROR"), clock=lambda: NOW)
    return app, token


APP, TOKEN = _contract_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_the_document_allows_gets_a_5xx_or_an_off_schema_answer(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
