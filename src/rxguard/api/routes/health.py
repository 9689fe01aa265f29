"""Liveness, readiness and metrics: no patient data, cheap.

``/healthz`` and ``/readyz`` are open (a load balancer probes them). ``/metrics``
needs ``Authorization: Bearer $RXGUARD_METRICS_TOKEN`` when that is set; without
it the metrics are open in development only and refused in production, where
request counts per route and CDS Hooks refusals tell an attacker how the
service is used and whether their probing is noticed.
"""

from __future__ import annotations

import hmac

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


def _check_metrics_access(request: Request) -> None:
    settings = request.app.state.settings
    expected: str = settings.metrics_token
    if not expected:
        if settings.environment == "development":
            return
        raise ApiProblem(
            403, "forbidden",
            "metrics are off in production until RXGUARD_METRICS_TOKEN is set; give Prometheus that token",
        )  # fmt: skip
    scheme, _, sent = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
        raise ApiProblem(
            401, "unauthorized", "send Authorization: Bearer <RXGUARD_METRICS_TOKEN> to read the metrics",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        **problem_responses(401, 403),
    },
)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process (requests, latency, CDS Hooks cards and refusals).

    Send ``Authorization: Bearer <RXGUARD_METRICS_TOKEN>``; production without that setting refuses."""
    _check_metrics_access(request)
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
