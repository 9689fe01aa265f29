"""Monographs and ``ask``: drug information generated from the packs, every statement cited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from rxguard.api.deps import UserDep
from rxguard.api.problems import problem_responses
from rxguard.api.routes import API_PREFIX
from rxguard.api.schemas import Open
from rxguard.druginfo.ask import answer_question
from rxguard.druginfo.formats import render_answer, render_monograph
from rxguard.druginfo.monograph import build_monograph
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.names import resolve_drug

router = APIRouter(prefix=API_PREFIX, tags=["drug information"])
_MEDIA = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8", "json": "application/json"}


@router.get(
    "/monographs/{drug}",
    operation_id="get_monograph",
    response_class=Response,
    responses={
        200: {
            "description": "The monograph in the format asked for",
            "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        **problem_responses(401, 404, 422),
    },
)
def get_monograph(
    user: UserDep,
    drug: Annotated[str, Path(min_length=1, max_length=200, description="Any name of the drug")],
    lang: Annotated[Literal["en", "zh"], Query()] = "en",
    format: Annotated[Literal["md", "html", "json"], Query()] = "md",
) -> Response:
    """A drug's monograph built from its pack (en or zh; markdown, HTML or JSON), conflicts included."""
    user.require("read")
    doc = build_monograph(load_all()[resolve_drug(drug).drug], lang)
    return Response(render_monograph(doc, format), media_type=_MEDIA[format])


@router.get("/ask", operation_id="ask_question", response_model=Open, responses=problem_responses(400, 401, 422))
def ask_question(
    user: UserDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="A question in English or Chinese")],
    lang: Annotated[Literal["en", "zh"] | None, Query(description="Default: the question's language")] = None,
    jurisdiction: Annotated[Literal["US", "EU"] | None, Query(description="Default: both")] = None,
) -> dict[str, Any]:
    """Answer a drug question from the packs, with sources (no network, no language model)."""
    user.require("read")
    answer = answer_question(q, lang=lang, jurisdiction=jurisdiction)
    data: dict[str, Any] = orjson.loads(render_answer(answer, "json"))
    return data
