"""Liveness, readiness and metrics: unauthenticated, no patient data, cheap."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import Response

from rxguard.api.problems import ApiProblem, problem_responses
from rxguard.api.schemas import Status

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status, operation_id="healthz")
def healthz() -> dict[str, str]:
    """The process is up and answering (it does not touch the database)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Status, operation_id="readyz", responses=problem_responses(503))
def readyz(request: Request) -> dict[str, str]:
    """The database answers a query: the process can serve requests that need it."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiProblem(
            503, "database-unreachable",
            f"the database does not answer ({type(exc).__name__}); check RXGUARD_DATABASE_URL and that the "
            "database is up, then retry",
        ) from None  # fmt: skip
    return {"status": "ok"}


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}
    },
)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process (requests, latency, CDS Hooks cards and refusals)."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
