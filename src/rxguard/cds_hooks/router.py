"""The CDS Hooks HTTP interface: discovery, service calls, feedback.

Authentication comes first on every route, discovery included, before the
body is even read: an unauthenticated caller learns nothing, not even
whether its body was valid. Errors are problem+json like the rest of
rxguard; 400 and 412 also carry the OperationOutcome CDS Hooks recommends,
as the ``operationOutcome`` member.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from rxguard.api.problems import ApiProblem, problem_responses
from rxguard.api.responses import OrjsonResponse
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.feedback import FeedbackRequest, record_feedback
from rxguard.cds_hooks.prefetch import FhirAccess, PrefetchUnavailableError, complete_prefetch
from rxguard.cds_hooks.security import CdsAuthError, CdsCaller
from rxguard.cds_hooks.services import ORDER_HOOKS, SERVICES, Call, Service, discovery, evaluate
from rxguard.store.db import transaction

log = structlog.get_logger("rxguard.cds")
router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])
ServiceId = Annotated[str, Path(max_length=64, description="A service id from discovery")]


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")

    access_token: str = Field(max_length=8192)
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int | None = None
    scope: str = ""
    subject: str = ""
    patient: str | None = None


class CdsRequest(BaseModel):
    """A CDS Hooks 2.0 service request (hook-specific context left open)."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(max_length=64)
    hookInstance: str = Field(max_length=128)
    fhirServer: str | None = Field(default=None, max_length=2048)
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class CardsOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    cards: list[dict[str, Any]]


def operation_outcome(code: str, text: str, expression: list[str] | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "details": {"text": text}}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def bad_request(detail: str) -> ApiProblem:
    return ApiProblem(400, "invalid-cds-request", detail, operationOutcome=operation_outcome("invalid", detail))


# --------------------------------------------------------------------------- authentication


def _base_url(request: Request, settings: ServerSettings) -> str:
    return settings.base_url(str(request.base_url))


async def _verified_caller(request: Request, *, remember: bool) -> CdsCaller | None:
    state = request.app.state
    settings: ServerSettings = state.settings
    authorization = request.headers.get("authorization")
    if authorization is None and settings.cds_allow_unauthenticated:
        return None
    url = _base_url(request, settings) + request.url.path
    audiences = [url, url + "/"]
    if url.endswith("/feedback"):
        service_url = url.removesuffix("/feedback")
        audiences += [service_url, service_url + "/"]
    try:
        caller: CdsCaller = await state.cds_verifier.verify(authorization, audiences, remember=remember)
    except CdsAuthError as exc:
        raise _refused(request, exc) from None
    structlog.contextvars.bind_contextvars(iss=caller.issuer.iss, jti=caller.jti, tenant=caller.tenant)
    return caller


def _refused(request: Request, exc: CdsAuthError) -> ApiProblem:
    request.app.state.metrics.cds_auth_failures.inc()
    log.warning("cds_auth_refused", reason=exc.reason, iss=exc.iss, jti=exc.jti)
    return ApiProblem(
        401, "unauthorized", "a valid JWT signed by a trusted EHR is required",
        headers={"WWW-Authenticate": "Bearer"},
    )  # fmt: skip


def _replayed(request: Request, caller: CdsCaller | None) -> ApiProblem:
    iss, jti = (caller.issuer.iss, caller.jti) if caller else (None, None)
    return _refused(request, CdsAuthError("jti replayed", iss=iss, jti=jti))


async def cds_caller(request: Request) -> CdsCaller | None:
    """The verified EHR behind this call (None only in explicit unauthenticated development mode)."""
    return await _verified_caller(request, remember=True)


async def cds_service_caller(request: Request) -> CdsCaller | None:
    """As :func:`cds_caller`, but the ``jti`` is recorded by the service call itself, in the same
    thread call as the evaluation (one hand-off and one connection fewer per call)."""
    return await _verified_caller(request, remember=False)


CallerDep = Annotated[CdsCaller | None, Depends(cds_caller)]
ServiceCallerDep = Annotated[CdsCaller | None, Depends(cds_service_caller)]
_AUTH_ERRORS = problem_responses(401)


# --------------------------------------------------------------------------- routes


@router.get("", operation_id="cds_discovery", responses=_AUTH_ERRORS)
async def cds_discovery(caller: CallerDep) -> dict[str, Any]:
    """CDS Hooks discovery: the three rxguard services and their prefetch templates."""
    return discovery()


def _service(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        raise ApiProblem(404, "unknown-cds-service", f"no CDS service {service_id!r}; GET /cds-services lists them")
    return service


async def _parse(request: Request, service: Service) -> CdsRequest:
    try:
        body = CdsRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}; send a CDS Hooks 2.0 request") from None
    if body.hook != service.hook:
        raise bad_request(f"hook {body.hook!r} does not match service {service.id} ({service.hook})")
    if not isinstance(body.context.get("patientId"), str) or not body.context["patientId"]:
        raise bad_request("context.patientId is required for this hook")
    if service.hook in ORDER_HOOKS and not isinstance(body.context.get("draftOrders"), dict):
        raise bad_request("context.draftOrders must be a FHIR Bundle of the draft orders")
    if body.fhirAuthorization is not None and body.fhirServer is None:
        raise bad_request("fhirAuthorization needs fhirServer (cds-r-1)")
    return body


def _fhir_access(body: CdsRequest, caller: CdsCaller | None, settings: ServerSettings) -> FhirAccess | None:
    if body.fhirServer is None:
        return None
    server = body.fhirServer
    allowed_scheme = server.startswith("https://") or (
        settings.environment == "development" and server.startswith("http://")
    )
    if not allowed_scheme or (caller is not None and not caller.issuer.allows_fhir_server(server)):
        raise bad_request("fhirServer is not an allowed FHIR server for this EHR (https is required)")
    token = body.fhirAuthorization.access_token if body.fhirAuthorization else None
    return FhirAccess(server, token)


@router.post(
    "/{service_id}",
    operation_id="cds_call_service",
    response_model=CardsOut,
    responses=problem_responses(400, 401, 404, 412, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CdsRequest.model_json_schema()}},
        }
    },
)
async def cds_call_service(request: Request, caller: ServiceCallerDep, service_id: ServiceId) -> OrjsonResponse:
    """Call a CDS service: cards for the hook's patient and draft orders."""
    service = _service(service_id)
    state = request.app.state
    settings: ServerSettings = state.settings
    body = await _parse(request, service)

    def first_use() -> bool:
        """Record the JWT id; False for a replay (no caller in unauthenticated development mode)."""
        if caller is None or caller.jti_expires_at is None:
            return True
        remember: Callable[[str, str, datetime], bool] = state.remember_jti
        return remember(caller.issuer.iss, caller.jti, caller.jti_expires_at)

    # A call that may make rxguard fetch from the EHR's FHIR server is checked for replay first.
    replay_checked = body.fhirServer is not None
    if replay_checked and not await run_in_threadpool(first_use):
        raise _replayed(request, caller)
    try:
        data = await complete_prefetch(
            body.prefetch, body.context, _fhir_access(body, caller, settings), state.http,
            total_timeout=settings.fhir_total_timeout_seconds, max_bytes=settings.max_body_bytes,
        )  # fmt: skip
    except PrefetchUnavailableError as exc:
        detail = f"rxguard cannot assess without {', '.join(exc.keys) or 'the patient'}: {exc.why}"
        raise ApiProblem(
            412, "prefetch-unavailable", detail + "; prefetch them or send fhirServer and fhirAuthorization",
            operationOutcome=operation_outcome("processing", detail, [f"prefetch.{k}" for k in exc.keys]),
            missing=exc.keys,
        ) from None  # fmt: skip
    if service.hook in ORDER_HOOKS:
        data["draftOrders"] = body.context["draftOrders"]
    call = Call(
        service=service,
        hook_instance=body.hookInstance,
        context=body.context,
        data=data,
        at=state.clock().date(),
        jurisdiction=caller.issuer.jurisdiction if caller else None,
        issuer=caller.issuer.iss if caller else None,
        tenant=caller.tenant if caller else None,
        launch_url=settings.smart_launch_url
        or f"{_base_url(request, settings)}/patients/{quote(body.context['patientId'], safe='')}/dose",
        smart_launch=bool(settings.smart_launch_url),
    )

    def answer() -> list[dict[str, Any]] | None:
        if not replay_checked and not first_use():
            return None
        return evaluate(call, state.program_gaps)

    cards = await run_in_threadpool(answer)
    if cards is None:
        raise _replayed(request, caller)
    for card in cards:
        state.metrics.cds_cards.labels(service.id, card["indicator"]).inc()
    return OrjsonResponse({"cards": cards})


@router.post(
    "/{service_id}/feedback",
    operation_id="cds_feedback",
    response_model=dict[str, Any],
    responses=problem_responses(400, 401, 404, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
        }
    },
)
async def cds_feedback(request: Request, caller: CallerDep, service_id: ServiceId) -> dict[str, Any]:
    """Record what the clinician did with rxguard's cards (accepted, overridden and why) in the audit log."""
    service = _service(service_id)
    try:
        body = FeedbackRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f'{where}: {first["msg"]}; send {{"feedback": [...]}} as CDS Hooks 2.0 describes') from None

    def write() -> int:
        with transaction(request.app.state.sessions) as session:
            return record_feedback(
                session, body, service_id=service.id, iss=caller.issuer.iss if caller else None,
                tenant=caller.tenant if caller else None, at=request.app.state.clock(),
            )  # fmt: skip

    await run_in_threadpool(write)
    return {}
