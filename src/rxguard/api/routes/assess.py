"""``POST /api/v1/assess``: the same call and the same JSON as ``rxguard check --format json``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from rxguard.api.deps import UserDep
from rxguard.api.problems import problem_responses
from rxguard.api.responses import OrjsonResponse
from rxguard.api.routes import API_PREFIX
from rxguard.api.schemas import AssessmentOut, AssessRequest
from rxguard.engine.check import check_patient
from rxguard.errors import FactsError, InputError
from rxguard.facts.fhir import parse_json

router = APIRouter(prefix=API_PREFIX, tags=["assessment"])

_BUNDLE_SCHEMA: dict[str, Any] = {
    "title": "Bundle",
    "description": "A FHIR R4 Bundle of the patient (any Bundle type), or a CDS Hooks prefetch object",
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]}, "entry": {"type": "array"}},
}
_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "Either the FHIR R4 Bundle itself, or an object "
            '`{"bundle": <Bundle>, "answers": {<question id>: true|false|number}}` '
            "when pre-infusion checklist answers come with it."
        ),
        "content": {"application/json": {"schema": {"anyOf": [_BUNDLE_SCHEMA, AssessRequest.model_json_schema()]}}},
    }
}


def split_body(data: Any) -> tuple[Any, Any]:
    """(bundle, answers) from either accepted body shape."""
    if not isinstance(data, dict):
        raise InputError('the body must be a JSON object: a FHIR R4 Bundle or {"bundle": ..., "answers": ...}')
    if "resourceType" in data:
        return data, None
    if "bundle" in data:
        unknown = sorted(set(data) - {"bundle", "answers"})
        if unknown:
            raise InputError(f"unknown body field(s) {unknown}; only 'bundle' and 'answers' are accepted")
        return data["bundle"], data.get("answers")
    raise InputError("the body has neither 'resourceType' (a FHIR Bundle) nor 'bundle'; send one of the two shapes")


@router.post(
    "/assess",
    operation_id="assess_patient",
    response_model=AssessmentOut,
    openapi_extra=_BODY,
    responses=problem_responses(400, 401, 404, 413, 422),
)
async def assess_patient(
    request: Request,
    user: UserDep,
    drug: Annotated[
        str, Query(min_length=1, max_length=200, description="INN, brand, biosimilar, Chinese name or misspelling")
    ],
    at: Annotated[date | None, Query(description="Assessment date YYYY-MM-DD (default: today)")] = None,
    jurisdiction: Annotated[Literal["US", "EU"] | None, Query(description="Omit to apply the stricter rule")] = None,
    patient: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Which Patient to assess when the Bundle holds several"),
    ] = None,
) -> OrjsonResponse:
    """Assess a patient for a drug: verdict, findings with evidence and sources, what is due."""
    user.require("assess")
    try:
        data = parse_json(await request.body())
    except FactsError:
        raise InputError("the body is not valid JSON; send a FHIR R4 Bundle") from None
    bundle, answers = split_body(data)
    # Reading a large Bundle takes milliseconds of CPU: keep it off the event loop.
    result = await run_in_threadpool(
        check_patient,
        drug,
        bundle,
        at=at or request.app.state.clock().date(),
        jurisdiction=jurisdiction,
        answers=answers,
        patient=patient,
    )
    return OrjsonResponse(result.to_dict())
