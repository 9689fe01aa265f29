"""The ``/fhir`` routes: a route parses, calls one function, shapes the answer as FHIR JSON.

Bad input is 400 with an OperationOutcome (``application/fhir+json``), never a
traceback; an unknown patient is not an error but a ``failure`` GuidanceResponse.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rxguard.api.problems import problem_responses
from rxguard.api.settings import ServerSettings
from rxguard.errors import InputError, RxguardError
from rxguard.fhir.callers import FhirCallerDep
from rxguard.fhir.capability import capability_statement
from rxguard.fhir.etasu import operation_definition, rems_etasu
from rxguard.store.db import transaction

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"


class FhirJsonResponse(Response):
    media_type = FHIR_JSON


_OUTCOME = {"description": "An OperationOutcome saying what is wrong", "content": {FHIR_JSON: {}}}
_OPERATION = {**problem_responses(401, 413), 400: _OUTCOME, 422: _OUTCOME}


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    return FhirJsonResponse(orjson.dumps(resource), status_code=status)


def outcome(status: int, code: str, text: str) -> Response:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    return fhir_response({"resourceType": "OperationOutcome", "issue": [issue]}, status)


def _base(request: Request) -> str:
    settings: ServerSettings = request.app.state.settings
    return settings.base_url(str(request.base_url))


@router.get("/metadata", operation_id="fhir_capabilities", response_class=FhirJsonResponse)
async def fhir_capabilities(request: Request) -> Response:
    """The CapabilityStatement (public, as FHIR servers make it)."""
    return fhir_response(capability_statement(_base(request), date=request.app.state.clock().date().isoformat()))


@router.get(
    "/OperationDefinition/rems-etasu", operation_id="fhir_rems_etasu_definition", response_class=FhirJsonResponse
)
async def fhir_rems_etasu_definition(request: Request) -> Response:
    """The OperationDefinition of ``$rems-etasu``."""
    return fhir_response(operation_definition(_base(request)))


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not JSON ({exc}); send a FHIR R4 Parameters resource") from None


@router.post(
    "/GuidanceResponse/$rems-etasu", operation_id="fhir_rems_etasu", response_class=FhirJsonResponse,
    responses=_OPERATION,
    openapi_extra={"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": {"type": "object"}},
                                                                  "application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def fhir_rems_etasu(request: Request, caller: FhirCallerDep) -> Response:
    """Are the ETASU met for this patient and medication (HL7 Medication REMS IG)?"""
    try:
        body = await _json_body(request)
        state = request.app.state

        def work() -> dict[str, Any]:
            with transaction(state.sessions) as session:
                return rems_etasu(session, caller, body, now=state.clock())

        return fhir_response(await run_in_threadpool(work))
    except InputError as exc:
        return outcome(400, "invalid", str(exc))
    except RxguardError as exc:
        return outcome(422, "processing", str(exc))
