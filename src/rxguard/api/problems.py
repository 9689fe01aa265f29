"""One error body for every 4xx and 5xx: ``application/problem+json`` (RFC 9457).

Every error an HTTP client sees has ``type``, ``title``, ``status`` and
``detail`` — what is wrong and what to do next — plus the ``request_id`` to
quote when reporting it. Handlers here cover rxguard's own errors, FastAPI
validation errors, Starlette's 404/405/413 and anything unexpected (500, no
traceback: the traceback goes to the log under the same request id).

Validation errors list where and what, never the rejected input: a bad
request body may be a patient record.

A browser that asks for a page (``Accept: text/html`` ranked first) gets the
same problem as an HTML page in the web application's layout and language
instead (:mod:`rxguard.api.negotiation`); every other client gets the JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from rxguard.api.negotiation import prefers_html
from rxguard.errors import (
    AccessDeniedError,
    AuditChainError,
    ConflictError,
    FactsError,
    HardStopError,
    ImplausibleError,
    InfusionRejectedError,
    InputError,
    NotFoundError,
    PackError,
    ProgramError,
    RxguardError,
    TransitionError,
    UnconfirmedError,
    UnknownDrugError,
)
from rxguard.store.idempotency import IdempotencyConflictError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:rxguard:problem:"
log = structlog.get_logger("rxguard.api")


class Problem(BaseModel):
    """The body of every error response (RFC 9457 problem details)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the kind of problem, e.g. urn:rxguard:problem:not-found")
    title: str = Field(description="Short, fixed summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What is wrong in this request and what to do about it")
    instance: str | None = Field(default=None, description="The request path")
    request_id: str | None = Field(default=None, description="Quote this when reporting a problem")


class ApiProblem(Exception):
    """Raised by API code to answer with a given problem (status, slug, detail, extras)."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.headers = headers or {}
        self.extra = extra


def problem_body(
    status: int, slug: str, detail: str, *, instance: str | None = None,
    request_id: str | None = None, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if request_id is not None:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_bytes(status: int, slug: str, detail: str, **extra: Any) -> bytes:
    return orjson.dumps(problem_body(status, slug, detail, **extra))


def request_id_of(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


#: ``(request, status, slug, detail, headers) -> Response``: the HTML error page for a browser,
#: installed by the web application on ``app.state.error_page`` (see rxguard.web.errors).
ErrorPage = Callable[[Request, int, str, str, dict[str, str] | None], Response]


def problem_response(
    request: Request, status: int, slug: str, detail: str, *,
    headers: dict[str, str] | None = None, **extra: Any,
) -> Response:  # fmt: skip
    """The problem document, or for a browser that asked for a page, the same problem as a page."""
    page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if page is not None and prefers_html(request.headers.get("accept")):
        return page(request, status, slug, detail, headers)
    body = problem_body(status, slug, detail, instance=request.url.path, request_id=request_id_of(request), **extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


#: rxguard's error classes → (status, problem slug). Most specific first.
ERROR_STATUS: tuple[tuple[type[RxguardError], int, str], ...] = (
    (AccessDeniedError, 403, "forbidden"),
    (ImplausibleError, 422, "implausible-input"),
    (UnconfirmedError, 422, "confirmation-needed"),
    (UnknownDrugError, 404, "unknown-drug"),
    (NotFoundError, 404, "not-found"),
    (HardStopError, 409, "hard-stop"),
    (TransitionError, 409, "transition-not-allowed"),
    (IdempotencyConflictError, 409, "idempotency-key-reused"),
    (ConflictError, 409, "conflict"),
    (InfusionRejectedError, 422, "infusion-rejected"),
    (AuditChainError, 500, "audit-chain-broken"),
    (ProgramError, 409, "program-step-refused"),
    (FactsError, 422, "unusable-fhir-input"),
    (InputError, 400, "bad-input"),
    (PackError, 500, "pack-error"),
)


def status_for(exc: RxguardError) -> tuple[int, str]:
    for cls, status, slug in ERROR_STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 400, "bad-request"


def _rxguard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RxguardError)
    status, slug = status_for(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, UnknownDrugError):
        extra["suggestions"] = exc.suggestions
    if isinstance(exc, InfusionRejectedError):
        extra["reasons"] = exc.reasons
    if isinstance(exc, ImplausibleError | UnconfirmedError):
        extra["field"] = exc.field
    if isinstance(exc, UnconfirmedError):
        extra["warnings"] = exc.warnings
    if isinstance(exc, HardStopError):
        extra["hard_stops"] = exc.stops
    detail = str(exc)
    if status >= 500:
        log.error("server_error", error=type(exc).__name__, detail=detail)
        if isinstance(exc, PackError):
            detail = "a knowledge pack on this server failed to load; the operator must run 'rxguard packs validate'"
    return problem_response(request, status, slug, detail, **extra)


def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return problem_response(request, exc.status, exc.slug, exc.detail, headers=exc.headers, **exc.extra)


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"where": _where(e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()]
    first = errors[0] if errors else {"where": "request", "problem": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    detail = f"{first['where']}: {first['problem']}{more}; fix the request as the API document describes"
    return problem_response(request, 422, "invalid-request", detail, errors=errors)


_HTTP_DETAIL = {
    404: ("not-found", "no such resource at this path; see /docs for the API's paths"),
    405: ("method-not-allowed", "this path does not accept that method; see the Allow header"),
    413: ("body-too-large", "the request body is too large; send a smaller body"),
}


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug, default_detail = _HTTP_DETAIL.get(exc.status_code, ("http-error", ""))
    detail = (
        exc.detail
        if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase
        else default_detail
    )
    return problem_response(
        request, exc.status_code, slug, detail or HTTPStatus(exc.status_code).phrase,
        headers=dict(exc.headers or {}),
    )  # fmt: skip


#: The database could not be reached or stopped answering: the connection was refused or dropped,
#: or no pooled connection came free in time. Transient by nature, so 503 with Retry-After.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
RETRY_AFTER_SECONDS = 5


def _database_unavailable(request: Request, exc: Exception) -> Response:
    """503, not 500: the request was fine and nothing was written; retrying later will work.

    Only the error's class is logged: its text can hold the SQL and its parameters (patient data).
    """
    log.error("database_unavailable", error=type(exc).__name__, cause=type(getattr(exc, "orig", None)).__name__)
    return problem_response(
        request, 503, "database-unavailable",
        "the database is not answering; nothing was changed by this request — retry in a few seconds",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )  # fmt: skip


def _database_refused(request: Request, exc: Exception) -> Response:
    """A statement the database refused: 409 for a constraint (a concurrent write got there first,
    or a value already exists), 400 for a value it cannot store, 503 for anything else it refused.

    As above, only class names reach the log: the engine is built with ``hide_parameters`` too, so
    not even a traceback printed elsewhere carries a patient's name or birth date.
    """
    log.error("database_refused", error=type(exc).__name__, cause=type(getattr(exc, "orig", None)).__name__)
    if isinstance(exc, IntegrityError):
        return problem_response(
            request, 409, "conflict",
            "the database refused this change because it conflicts with what is stored (a duplicate or a "
            "change made at the same moment); nothing was changed — reload and try again",
        )  # fmt: skip
    if isinstance(exc, DataError):
        return problem_response(
            request, 400, "invalid-value",
            "a value in this request cannot be stored (out of range or containing characters the database "
            "refuses, such as NUL); nothing was changed — correct the value and send it again",
        )  # fmt: skip
    return _database_unavailable(request, exc)


#: Detail of the 500 answered for an unexpected error (the middleware sends it).
INTERNAL_DETAIL = (
    "rxguard failed on this request and rolled back any change it had started; report the request_id to the operator"
)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RxguardError, _rxguard_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_refused)
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, _database_unavailable)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
