"""The CDS Hooks HTTP interface: discovery, service calls, feedback.

Authentication comes first on every route, discovery included, before the
body is even read: an unauthenticated caller learns nothing, not even
whether its body was valid. Errors are problem+json like the rest of
rxguard; 400 and 412 also carry the OperationOutcome CDS Hooks recommends,
as the ``operationOutcome`` member.
"""

from __future__ import annotations

from dataclasses import replace
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
from rxguard.cds_hooks.program_gaps import ProgramGapLookup
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


def _base_url(settings: ServerSettings) -> str:
    """The configured public URL (never the request's Host or X-Forwarded-* headers)."""
    return settings.public_base()


async def cds_caller(request: Request) -> CdsCaller | None:
    """The verified EHR behind this call (None only in explicit unauthenticated development mode).

    The ``jti`` is recorded as soon as the signature and claims verify, before the body is read:
    a replayed token is refused whatever its body, so a replay never learns from a 400 or 412
    that the token would still be accepted, and a token answered 400 or 412 is spent too."""
    state = request.app.state
    settings: ServerSettings = state.settings
    authorization = request.headers.get("authorization")
    if authorization is None and settings.cds_allow_unauthenticated:
        return None
    url = _base_url(settings) + request.url.path
    audiences = [url, url + "/"]
    if url.endswith("/feedback"):
        service_url = url.removesuffix("/feedback")
        audiences += [service_url, service_url + "/"]
    try:
        caller: CdsCaller = await state.cds_verifier.verify(authorization, audiences)
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


CallerDep = Annotated[CdsCaller | None, Depends(cds_caller)]
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


NO_FHIR_SERVER = "not prefetched and no fhirServer to fetch from"
NOT_CONFIGURED = (
    "not prefetched, and fhirServer is not a FHIR server configured for this EHR "
    "(fhir_servers in RXGUARD_CDS_ISSUERS_FILE; https outside development)"
)


def _fhir_access(body: CdsRequest, caller: CdsCaller | None, settings: ServerSettings) -> tuple[FhirAccess | None, str]:
    """Where missing prefetch may be fetched, and why not when nowhere.

    Deny by default: only a ``fhirServer`` that matches one of the calling issuer's configured
    FHIR servers (scheme, host, port and base path, compared after parsing) is fetched from, and
    only there is the ``fhirAuthorization`` token sent. An unauthenticated development call has
    no issuer, so nothing is fetched for it."""
    server = body.fhirServer
    if server is None:
        return None, NO_FHIR_SERVER
    allowed_scheme = server.startswith("https://") or (
        settings.environment == "development" and server.startswith("http://")
    )
    if not allowed_scheme or caller is None or not caller.issuer.allows_fhir_server(server):
        return None, NOT_CONFIGURED
    token = body.fhirAuthorization.access_token if body.fhirAuthorization else None
    return FhirAccess(server, token), NO_FHIR_SERVER


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
async def cds_call_service(request: Request, caller: CallerDep, service_id: ServiceId) -> OrjsonResponse:
    """Call a CDS service: cards for the hook's patient and draft orders."""
    service = _service(service_id)
    state = request.app.state
    settings: ServerSettings = state.settings
    body = await _parse(request, service)
    access, no_access = _fhir_access(body, caller, settings)
    try:
        data = await complete_prefetch(
            body.prefetch, body.context, access, state.http,
            total_timeout=settings.fhir_total_timeout_seconds, max_bytes=settings.max_body_bytes,
            no_access=no_access,
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
        or f"{_base_url(settings)}/patients/{quote(body.context['patientId'], safe='')}/dose",
        smart_launch=bool(settings.smart_launch_url),
    )

    cards = await run_in_threadpool(_cards, call, state.program_gaps, _base_url(settings))
    for card in cards:
        state.metrics.cds_cards.labels(service.id, card["indicator"]).inc()
    return OrjsonResponse({"cards": cards})


def _cards(call: Call, program_gaps: ProgramGapLookup, base: str) -> list[dict[str, Any]]:
    """Cards for the call; a card's link to the pre-infusion page names the program patient the EHR's id
    is linked to (never a program patient whose key happens to equal the EHR's id, and never a patient the
    program does not hold), or the patient list."""
    if not call.smart_launch:
        key = program_gaps.patient_key(call)
        link = f"{base}/patients/{quote(key, safe='')}/dose" if key else f"{base}/patients"
        call = replace(call, launch_url=link)
    return evaluate(call, program_gaps)


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
