"""Hostile input over HTTP: never a 5xx, never a traceback, never a changed record.

One real ``rxguard serve`` (SQLite) receives:

* hypothesis-generated malformed FHIR (:mod:`rel_hostile`) in ``POST
  /api/v1/assess``, in whole CDS Hooks order-sign calls (context, prefetch and
  draft orders all fair game, each with a valid JWT) and in the clinical
  Bundle of ``POST /api/v1/authorizations``. Every answer must be below 500,
  every error a problem+json without a traceback, every answer within 10 s;
  an assessment or CDS call must change no program record, and a refused
  authorization must store nothing;
* 50 MB bodies, declared and chunked: refused with 413 before they are read,
  and the server stays healthy;
* a stateful schemathesis run over the whole API (every operation, each
  called by the role that may use it, with OpenAPI links from created
  patients, authorizations and overrides to the operations that use them):
  no 5xx, every error a problem+json, and a rejected request (4xx) changes no
  record (a digest of every row before and after).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
import schemathesis.engine
from hypothesis import HealthCheck, given, settings
from rel_db import ScratchDatabases, fingerprint, full_run
from rel_hostile import hostile_json
from rel_load import EXAMPLE
from rel_server import Deployment, Server, deploy, is_problem, serving
from rel_world import NO
from schemathesis.engine import Status
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished
from sqlalchemy import func, select

from rxguard.cds_hooks.testing import cds_request, draft_medication_request, prefetch_from_bundle
from rxguard.store import transaction
from rxguard.store.models import Authorization
from rxguard.store.testing import postgres_url

pytestmark = pytest.mark.reliability
BUNDLE = orjson.loads(EXAMPLE.read_bytes())
EXAMPLES = 1500 if full_run() else 120
STATEFUL_EXAMPLES = 300 if full_run() else 60
TALLY: dict[str, Counter[str]] = {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Server]]:
    folder = Path(tmp_path_factory.mktemp("hostile-http"))
    databases = ScratchDatabases(folder, postgres_url)
    deployment = deploy(databases.create("sqlite"), folder, patients=12)
    with serving(deployment, folder / "server.log", databases) as server:
        yield deployment, server


def _judge(target: str, response: httpx.Response, seconds: float) -> None:
    TALLY.setdefault(target, Counter())[f"{response.status_code // 100}xx"] += 1
    assert response.status_code < 500, f"{target}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text and 'File "' not in response.text
    if response.status_code >= 400:
        assert is_problem(response), f"{target}: {response.status_code} is not a problem: {response.text[:300]}"
    assert seconds < 10, f"{target}: {seconds:.1f} s"


def _send(client: httpx.Client, server: Server, deployment: Deployment, target: str, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if target == "assess":
        url = f"{server.base}/api/v1/assess?drug=tysabri&jurisdiction=US"
        headers |= deployment.auth("audrey")
    elif target == "cds":
        url = f"{server.base}/cds-services/rxguard-order-sign"
        headers["Authorization"] = f"Bearer {deployment.ehr.token(url)}"
    else:
        url = f"{server.base}/api/v1/authorizations"
        headers |= deployment.auth("nurse_n")
    return client.post(url, content=body, headers=headers)


def _cds_call() -> dict[str, Any]:
    return cds_request("order-sign", "pat_0001", prefetch_from_bundle(BUNDLE),
                       draft_orders=draft_medication_request("pat_0001", text="Tysabri 300 mg IV"))  # fmt: skip


DOCUMENTS = {
    "assess": BUNDLE,
    "cds": _cds_call(),
    "authorization": {"patient": "pat_0002", "answers": NO, "bundle": BUNDLE},
}


def _authorizations(deployment: Deployment) -> int:
    with transaction(deployment.database.factory) as s:
        return int(s.execute(select(func.count(Authorization.id))).scalar_one())


@pytest.mark.parametrize("target", sorted(DOCUMENTS))
def test_malformed_fhir_is_refused_cleanly_and_changes_nothing(
    target: str, served: tuple[Deployment, Server], figures: Any
) -> None:
    deployment, server = served
    before = fingerprint(deployment.database)
    client = httpx.Client(timeout=30)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not full_run(),
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(body=hostile_json(DOCUMENTS[target]))
    def attempt(body: bytes) -> None:
        stored = _authorizations(deployment) if target == "authorization" else 0
        started = time.monotonic()
        response = _send(client, server, deployment, target, body)
        _judge(target, response, time.monotonic() - started)
        if target == "authorization" and response.status_code != 201:
            assert _authorizations(deployment) == stored, "a refused authorization stored a row"

    try:
        attempt()
    finally:
        client.close()
    if target != "authorization":
        assert fingerprint(deployment.database) == before, f"{target} changed a program record"
    tally = TALLY[target]
    figures.record(f"hostile.fhir.{target}", inputs=sum(tally.values()), **dict(tally))


def _fifty_megabytes() -> Iterator[bytes]:
    yield b'{"resourceType": "Bundle", "type": "collection", "entry": [], "padding": "'
    for _ in range(50):
        yield b"x" * (1024 * 1024)
    yield b'"}'


@pytest.mark.parametrize("target", sorted(DOCUMENTS))
@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_a_fifty_megabyte_body_is_refused_before_it_is_read(
    target: str, framing: str, served: tuple[Deployment, Server], figures: Any
) -> None:
    deployment, server = served
    rss = server.rss_kib()
    body = b"".join(_fifty_megabytes()) if framing == "declared" else _fifty_megabytes()
    started = time.monotonic()
    try:
        with httpx.Client(timeout=60) as client:
            response = _send(client, server, deployment, target, body)  # type: ignore[arg-type]
    except httpx.TransportError:
        response = None  # the server may close the connection after its 413 while we still send
    if response is not None:
        _judge(target, response, time.monotonic() - started)
        assert response.status_code == 413, response.text[:300]
    assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200
    growth = server.rss_kib() - rss
    assert growth < 20 * 1024, f"resident memory grew {growth} KiB on a refused 50 MB body"
    figures.record(f"hostile.body50mb.{target}.{framing}", status=response.status_code if response else "closed",
                   rss_growth_kib=growth)  # fmt: skip


# --------------------------------------------------------------------------- stateful schemathesis

#: Which user calls each operation (the role that may use it); the rest run as the administrator.
CALLER = {
    **dict.fromkeys(["register_patient", "enroll_patient", "record_consent", "record_form", "authorize_treatment",
                     "reauthorize_patient", "resume_patient", "discontinue_patient", "clear_hold", "assign_site",
                     "record_monitoring", "report_adverse_event", "get_monitoring"], "ada"),
    **dict.fromkeys(["authorize_dose", "record_infusion", "get_authorization"], "nurse_n"),
    **dict.fromkeys(["export_program", "verify_audit", "assess_patient"], "audrey"),
}  # fmt: skip


def _link(operation: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation, "parameters": parameters}


def _links(document: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links from the resources the API creates to the operations that use them."""
    patient = "$response.body#/key"
    by_patient = ["get_patient", "assign_site", "record_consent", "record_form", "authorize_treatment",
                  "reauthorize_patient", "resume_patient", "discontinue_patient", "get_monitoring",
                  "record_monitoring"]  # fmt: skip
    by_authorization = ["get_authorization", "record_infusion", "clear_hold", "override_authorization"]
    wanted = {
        ("/api/v1/patients", "post", "201"): {
            **{f"to_{op}": _link(op, patient_key=patient) for op in by_patient},
            "to_enroll_patient": {"operationId": "enroll_patient", "requestBody": {
                "program": "touch", "patient": patient, "indication": "multiple-sclerosis"}},
        },
        ("/api/v1/patients", "get", "200"): {
            "to_authorize_dose": {"operationId": "authorize_dose",
                                  "requestBody": {"patient": "$response.body#/items/0/key", "answers": NO}},
            "to_get_patient": _link("get_patient", patient_key="$response.body#/items/0/key"),
        },
        ("/api/v1/authorizations", "post", "201"): {
            f"to_{op}": _link(op, authorization_id="$response.body#/id") for op in by_authorization
        },
        ("/api/v1/authorizations/{authorization_id}/overrides", "post", "201"): {
            "to_reconcile_override": _link("reconcile_override", override_id="$response.body#/id"),
        },
        ("/api/v1/sites", "post", "201"): {
            "to_register_pharmacy": _link("register_pharmacy", site_key="$response.body#/key"),
        },
    }  # fmt: skip
    for (path, method, status), links in wanted.items():
        document["paths"][path][method]["responses"][status]["links"] = links
    # Every other operation gets a link to /healthz, so that the state machine starts from it too:
    # schemathesis only walks operations that take part in a link.
    for operations in document["paths"].values():
        for operation in operations.values():
            success = next(code for code in operation["responses"] if code.startswith("2"))
            operation["responses"][success].setdefault("links", {"to_healthz": {"operationId": "healthz"}})
    return document


class Watch:
    """What the stateful run saw: answers by class, and rejected calls that changed a record."""

    def __init__(self, deployment: Deployment, base: str) -> None:
        self.deployment = deployment
        self.base = base
        self.before: dict[str, str] = {}  # case id -> digest before the call
        self.calls: Counter[str] = Counter()
        self.changed: list[str] = []


WATCH: Watch | None = None  # the running test's watch (checks are registered once, process-wide)


@schemathesis.check
def rxguard_refusals_are_clean(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, no traceback, errors as problem+json (FHIR: OperationOutcome), and a refused call changes no record."""
    if WATCH is None:
        return None
    label = f"{case.method} {case.path}"
    WATCH.calls[f"{response.status_code // 100}xx"] += 1
    if response.status_code >= 500:
        raise AssertionError(f"{label}: {response.status_code} {response.text[:300]}")
    if "Traceback" in response.text:
        raise AssertionError(f"{label}: a traceback reached the client")
    if response.status_code >= 400:
        content_type = str((response.headers.get("content-type") or [""])[0])
        if case.path.startswith("/fhir"):
            # FHIR answers its errors as an OperationOutcome (FHIR R4 RESTful API), not problem+json.
            if not content_type.startswith("application/fhir+json") or (
                response.json().get("resourceType") != "OperationOutcome"
            ):
                raise AssertionError(f"{label}: {response.status_code} is not a FHIR OperationOutcome")
        elif not content_type.startswith("application/problem+json"):
            raise AssertionError(f"{label}: {response.status_code} is not problem+json")
        before = WATCH.before.get(case.id)
        if before is not None and fingerprint(WATCH.deployment.database) != before:
            WATCH.changed.append(f"{label} -> {response.status_code}")
            raise AssertionError(f"{label}: refused with {response.status_code} but a record changed")
    return None


def _stateful_schema(server: Server) -> Any:
    document = _links(httpx.get(f"{server.base}/openapi.json", timeout=10).json())
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=server.base, request_timeout=30)
    schema.config.phases.update(phases=["stateful"])
    schema.config.checks.update(included_check_names=["not_a_server_error", "rxguard_refusals_are_clean"])
    schema.config.generation.update(max_examples=STATEFUL_EXAMPLES, database="none")

    return schema


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Sign the call as the role that may make it (a fresh JWT for CDS Hooks), then take the digest."""
    if WATCH is None:
        return
    if case.path.startswith("/cds-services"):
        signed = f"Bearer {WATCH.deployment.ehr.token(WATCH.base + case.formatted_path)}"
    else:
        operation = case.operation.definition.raw.get("operationId", "")
        signed = WATCH.deployment.auth(CALLER.get(operation, "admin"))["Authorization"]
    case.headers = {**(case.headers or {}), "Authorization": signed}
    WATCH.before[case.id] = fingerprint(WATCH.deployment.database)


def test_a_stateful_run_over_the_whole_api_never_fails_or_changes_records_it_refuses(
    served: tuple[Deployment, Server], figures: Any
) -> None:
    global WATCH
    deployment, server = served
    WATCH = watch = Watch(deployment, server.base)
    try:
        stream = list(schemathesis.engine.from_schema(_stateful_schema(server)).execute())
    finally:
        WATCH = None
    failed = [e for e in stream if isinstance(e, ScenarioFinished) and e.status == Status.FAILURE]
    errors = [f"{e.label}: {e.value}" for e in stream if isinstance(e, NonFatalError | FatalError)
              for _ in [0] if not isinstance(e, FatalError)] + [
        str(e.exception) for e in stream if isinstance(e, FatalError)]  # fmt: skip
    figures.record("hostile.stateful_schemathesis", calls=sum(watch.calls.values()), **dict(watch.calls),
                   rejected_calls_that_changed_records=len(watch.changed), failed_scenarios=len(failed))  # fmt: skip
    assert sum(watch.calls.values()) > 0, "the stateful run made no calls"
    assert not errors, errors[:5]
    assert not failed and not watch.changed, (watch.changed[:10], [_failure_text(e) for e in failed[:3]])


def _failure_text(event: Any) -> str:
    checks = [c for steps in event.recorder.checks.values() for c in steps if c.status != Status.SUCCESS]
    return "; ".join(f"{c.name}: {c.failure_info.failure.title if c.failure_info else ''}" for c in checks[:5])
