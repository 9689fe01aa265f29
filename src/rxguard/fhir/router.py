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
from rxguard.errors import AccessDeniedError, InputError, NotFoundError, RxguardError
from rxguard.fhir.callers import FhirCallerDep
from rxguard.fhir.capability import capability_statement
from rxguard.fhir.etasu import _drugs, _medication, _programs_for, operation_definition, rems_etasu
from rxguard.fhir.questionnaires import all_forms, find_form, questionnaire_package, submit_response, to_questionnaire
from rxguard.store.db import transaction

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"


class FhirJsonResponse(Response):
    media_type = FHIR_JSON


_OUTCOME = {"description": "An OperationOutcome saying what is wrong", "content": {FHIR_JSON: {}}}
_RESOURCE = {"description": "A FHIR R4 resource", "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
_OPERATION = {200: _RESOURCE, **problem_responses(401, 413), 400: _OUTCOME, 422: _OUTCOME}


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    return FhirJsonResponse(orjson.dumps(resource), status_code=status)


def outcome(status: int, code: str, text: str) -> Response:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    return fhir_response({"resourceType": "OperationOutcome", "issue": [issue]}, status)


def _base(request: Request) -> str:
    settings: ServerSettings = request.app.state.settings
    return settings.public_base()


@router.get("/metadata", operation_id="fhir_capabilities", response_class=FhirJsonResponse, responses={200: _RESOURCE})
async def fhir_capabilities(request: Request) -> Response:
    """The CapabilityStatement (public, as FHIR servers make it)."""
    return fhir_response(capability_statement(_base(request), date=request.app.state.clock().date().isoformat()))


@router.get(
    "/OperationDefinition/rems-etasu",
    operation_id="fhir_rems_etasu_definition",
    response_class=FhirJsonResponse,
    responses={200: _RESOURCE},
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


# --------------------------------------------------------------------------- questionnaires


@router.get(
    "/Questionnaire",
    operation_id="fhir_list_questionnaires",
    response_class=FhirJsonResponse,
    responses={200: _RESOURCE},
)
async def fhir_list_questionnaires(request: Request) -> Response:
    """Every program form as a Questionnaire (a searchset Bundle)."""
    now, base = request.app.state.clock(), _base(request)
    entries = [to_questionnaire(f, base, date=now.date().isoformat()) for f in all_forms(now)]
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                          "entry": [{"fullUrl": q["url"], "resource": q} for q in entries]})  # fmt: skip


@router.get("/Questionnaire/{questionnaire_id}", operation_id="fhir_read_questionnaire",
            response_class=FhirJsonResponse, responses={200: _RESOURCE, 404: _OUTCOME})  # fmt: skip
async def fhir_read_questionnaire(request: Request, questionnaire_id: str) -> Response:
    """One program form as a Questionnaire."""
    now = request.app.state.clock()
    try:
        form = find_form(questionnaire_id, now)
    except NotFoundError as exc:
        return outcome(404, "not-found", str(exc))
    return fhir_response(to_questionnaire(form, _base(request), date=now.date().isoformat()))


def _programs_for_order(resource: dict[str, Any]) -> Any:
    return _programs_for(_drugs(_medication({"resource": resource})), None)


@router.post(
    "/Questionnaire/$questionnaire-package", operation_id="fhir_questionnaire_package",
    response_class=FhirJsonResponse, responses=_OPERATION,
    openapi_extra={"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": {"type": "object"}},
                                                                  "application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def fhir_questionnaire_package(request: Request, caller: FhirCallerDep) -> Response:
    """Da Vinci DTR ``$questionnaire-package``: the Questionnaires asked for, or those the ordered medicine needs."""
    try:
        body = await _json_body(request)
        return fhir_response(
            questionnaire_package(body, _base(request), request.app.state.clock(), _programs_for_order)
        )
    except NotFoundError as exc:
        return outcome(404, "not-found", str(exc))
    except InputError as exc:
        return outcome(400, "invalid", str(exc))


@router.post(
    "/QuestionnaireResponse", operation_id="fhir_submit_questionnaire_response", status_code=201,
    response_class=FhirJsonResponse, responses={**_OPERATION, 201: _RESOURCE, 403: _OUTCOME, 404: _OUTCOME, 409: _OUTCOME},
    openapi_extra={"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": {"type": "object"}},
                                                                  "application/json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def fhir_submit_questionnaire_response(request: Request, caller: FhirCallerDep) -> Response:
    """A completed form: the same effect as the same answers through the REST API (signed-in users)."""
    if caller.principal is None:
        return outcome(403, "forbidden", "answers are recorded for a signed-in rxguard user; use an API token")
    principal = caller.principal
    try:
        body = await _json_body(request)
        state = request.app.state

        def work() -> tuple[dict[str, Any], str, str]:
            with transaction(state.sessions) as session:
                return submit_response(session, principal, body, now=state.clock())

        result, effect, stored_id = await run_in_threadpool(work)
    except InputError as exc:
        return outcome(400, "invalid", str(exc))
    except AccessDeniedError as exc:
        return outcome(403, "forbidden", str(exc))
    except NotFoundError as exc:
        return outcome(404, "not-found", str(exc))
    except RxguardError as exc:
        return outcome(409, "business-rule", str(exc))
    stored = {**body, "id": stored_id, "extension": [
        {"url": "urn:rxguard:effect", "valueString": orjson.dumps({"form": effect, **result}).decode()}]}  # fmt: skip
    return fhir_response(stored, 201)
