"""``install(app)``: put the web application into rxguard's FastAPI application.

One call from the app factory adds the pages and the static files (CSS, the
vendored htmx). The pages live in their own small FastAPI application that
shares the main application's state (database, clock, settings); the main
application only gets a plain route per page path that hands the request
over. Why: FastAPI rebuilds its per-route parameter models whenever a router
changes, and the pages' form parameters would otherwise add to the first
request's latency of every API route; a plain route costs nothing to
rebuild. The pages stay out of the OpenAPI document, which describes the
REST API for programs, not pages for people.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from rxguard.web.routes import ROUTERS
from rxguard.web.routing import problem_page
from rxguard.web.settings import WebSettings
from rxguard.web.templating import STATIC


def web_application(app: FastAPI) -> FastAPI:
    """The pages as an application of their own, reading ``app``'s state."""
    pages = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    pages.state = app.state
    for router in ROUTERS:
        pages.include_router(router)
    return pages


def install(app: FastAPI, settings: WebSettings | None = None) -> None:
    """Serve the web pages from ``app`` (at ``/``, ``/patients``, …, static files at ``/static``)."""
    app.state.web_settings = settings or WebSettings()
    app.state.error_page = problem_page  # a browser's error answers are pages (rxguard.api.problems)
    pages = web_application(app)
    paths: dict[str, set[str]] = {}
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                paths.setdefault(route.path, set()).update(route.methods or ())
    for path, methods in paths.items():
        app.router.routes.append(Route(path, endpoint=pages, methods=sorted(methods), include_in_schema=False))
    app.router.routes.append(Route("/favicon.ico", endpoint=_favicon, methods=["GET", "HEAD"], include_in_schema=False))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


async def _favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page says; they get the application's icon, not a 404."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})
