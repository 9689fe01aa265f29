"""``create_app(settings)``: the one FastAPI application behind ``rxguard serve``.

It wires the layers, nothing more: settings, the database engine, metrics,
the request middleware, problem+json handlers, the REST routes under
``/api/v1``, operations routes (``/healthz``, ``/readyz``, ``/metrics``) and
the CDS Hooks routes (``/cds-services``). Operation ids are the route
functions' names, set explicitly, so the committed OpenAPI document and any
generated client stay stable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import httpx
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine, create_engine, event
from starlette.concurrency import run_in_threadpool

import rxguard
from rxguard.api.docs import install_docs
from rxguard.api.headers import SecurityHeadersMiddleware
from rxguard.api.log import configure_logging
from rxguard.api.metrics import make_metrics
from rxguard.api.middleware import RequestContextMiddleware
from rxguard.api.problems import Problem, install_problem_handlers
from rxguard.api.routes import assess, druginfo, health, identities, packs, program
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.issuers import load_issuers
from rxguard.cds_hooks.program_gaps import ProgramGapLookup
from rxguard.cds_hooks.replay import MemoryReplayCache, ReplayCache
from rxguard.cds_hooks.router import router as cds_router
from rxguard.cds_hooks.security import JwksCache, JwtVerifier
from rxguard.fhir.router import router as fhir_router
from rxguard.store.db import make_engine, session_factory
from rxguard.web import install as install_web

DESCRIPTION = """\
rxguard keeps high-risk medicines (one knowledge pack per drug) safe from prescription to infusion.

* **REST API** under `/api/v1`: send `Authorization: Bearer rxg_…` (an API token from
  `rxguard token create --user NAME`). Access is by role and scope; anything not granted is refused.
* **CDS Hooks 2.0** under `/cds-services`: every call carries a JWT signed by an EHR in the issuer allowlist.
* **Errors** are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`, `request_id`.
"""


def _operation_id(route: APIRoute) -> str:
    return route.operation_id or route.name


#: Every router, in the order its routes appear in the OpenAPI document.
#: CDS Hooks first: the EHR's calls are the hot path, and routes are matched in this order.
ROUTERS: tuple[APIRouter, ...] = (
    cds_router, health.router, assess.router, packs.router, druginfo.router, program.router, identities.router,
    fhir_router,
)  # fmt: skip


def _lifespan_for(settings: ServerSettings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Packs are loaded (and compiled) before the first request, not during it.
        from rxguard.knowledge.loader import load_all

        await run_in_threadpool(load_all)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        schedule = None
        if settings.audit_checkpoint_dir is not None:
            from rxguard.api.checkpoints import publish_every
            from rxguard.program.audit_trail import load_signer

            every = publish_every(app.state.sessions, load_signer(settings), settings.audit_checkpoint_dir,
                                  settings.audit_checkpoint_interval_seconds, app.state.clock)  # fmt: skip
            schedule = asyncio.create_task(every)
        yield
        if schedule is not None:
            schedule.cancel()
        await app.state.http.aclose()
        app.state.engine.dispose()
        app.state.read_engine.dispose()

    return lifespan


def system_clock() -> datetime:
    return datetime.now(UTC)


def create_app(settings: ServerSettings | None = None, *, clock: Callable[[], datetime] = system_clock) -> FastAPI:
    """The application; ``clock`` is what "now" means (tests pass a fixed one)."""
    settings = settings or ServerSettings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="rxguard",
        version=rxguard.__version__,
        description=DESCRIPTION,
        generate_unique_id_function=_operation_id,
        lifespan=_lifespan_for(settings),
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(settings)
    sessions = session_factory(engine)
    metrics = make_metrics()
    timeout = httpx.Timeout(settings.fhir_timeout_seconds)
    http = httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=httpx.Limits(max_connections=50))
    remember, app.state.remember_jti = _replay_cache(settings, engine)

    app.state.settings = settings
    app.state.clock = clock
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.metrics = metrics
    app.state.http = http
    app.state.cds_verifier = JwtVerifier(
        load_issuers(settings.cds_issuers_file),
        JwksCache(http, ttl=settings.cds_jwks_ttl_seconds, min_refetch=settings.cds_jwks_min_refetch_seconds),
        remember,
        max_lifetime=settings.cds_max_token_lifetime_seconds,
        leeway=settings.cds_leeway_seconds,
    )
    app.state.read_engine = _read_engine(settings, engine)
    app.state.program_gaps = ProgramGapLookup(app.state.read_engine)

    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_docs(app)  # /docs and /redoc from the vendored Swagger UI and ReDoc
    install_web(app)  # the web application's pages at / (see rxguard.web)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        timeout_seconds=settings.request_timeout_seconds,
    )
    # Outermost: the answers the request middleware makes itself (413, 504, 500) carry them too.
    app.add_middleware(SecurityHeadersMiddleware, https_only=settings.environment != "development")
    _register_problem_schema(app)
    return app


def _read_engine(settings: ServerSettings, engine: Engine) -> Engine:
    """An engine for read-only look-ups on the CDS Hooks path.

    The store opens every SQLite transaction with ``BEGIN IMMEDIATE`` (the
    write lock), which is right for writes; a read that takes it too queues
    behind every ``jti`` insert on SQLite's sleeping busy handler. WAL lets
    readers run beside the writer, so reads get a plain, query-only engine.
    Other databases need nothing special.
    """
    if engine.dialect.name != "sqlite" or settings.sqlite_path() is None:
        return engine
    reader = create_engine(settings.database_url, connect_args={"check_same_thread": False}, hide_parameters=True)

    @event.listens_for(reader, "connect")
    def _query_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.execute("PRAGMA busy_timeout = 5000")
        cursor.close()

    return reader


def _replay_cache(
    settings: ServerSettings, engine: Engine
) -> tuple[Callable[[str, str, datetime], Awaitable[bool]], Callable[[str, str, datetime], bool]]:
    """The ``jti`` check: an in-process set, or a database write; as a coroutine (a database write
    goes off the event loop) and as a plain function for code already on a worker thread."""
    cache: MemoryReplayCache | ReplayCache = (
        MemoryReplayCache() if settings.cds_replay_cache == "memory" else ReplayCache(engine)
    )

    def remember(iss: str, jti: str, expires_at: datetime) -> bool:
        return cache.remember(iss, jti, expires_at=expires_at, now=system_clock())

    if isinstance(cache, MemoryReplayCache):

        async def remember_here(iss: str, jti: str, expires_at: datetime) -> bool:
            return remember(iss, jti, expires_at)

        return remember_here, remember

    async def remember_shared(iss: str, jti: str, expires_at: datetime) -> bool:
        return await run_in_threadpool(remember, iss, jti, expires_at)

    return remember_shared, remember


def _register_problem_schema(app: FastAPI) -> None:
    """Make ``#/components/schemas/Problem`` part of the OpenAPI document, and every schema reachable.

    A request body given as ``Model.model_json_schema()`` carries its own ``$defs`` and refers to
    them as ``#/$defs/Name``, which resolves against the document's root, where there is nothing:
    those definitions move to ``components/schemas`` and the references follow them.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema()
            _hoist_defs(schema, components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _hoist_defs(node: Any, components: dict[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _hoist_defs(item, components)
        return
    if not isinstance(node, dict):
        return
    for name, definition in (node.pop("$defs", None) or {}).items():
        _hoist_defs(definition, components)
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are both named {name!r} in the OpenAPI document")
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    for value in list(node.values()):
        _hoist_defs(value, components)
