"""The interactive API documentation, served from rxguard's own files: nothing comes from another site.

``/docs`` is Swagger UI and ``/redoc`` is ReDoc, both reading ``/openapi.json``.
Their scripts and styles are copies of the npm packages' files in
``web/static/vendor`` (pinned by version, licence and SHA-256 in
``vendored.json``, checked by a test), so the pages work on a network without
the internet. Swagger UI starts from a small script file of ours
(``static/docs/swagger-init.js``) instead of FastAPI's inline start-up script,
so the pages need no ``'unsafe-inline'`` script. The page's policy
names no other site, so nothing can be fetched from one. ReDoc styles its page with
``<style>`` elements it writes at run time, so the documentation pages (and
only they) allow inline styles; they show no patient data.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse

SWAGGER_UI = "swagger-ui-5.35.0"
REDOC = "redoc-2.5.4"

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API (Swagger UI)</title>
<link rel="stylesheet" href="/static/vendor/{swagger}.css">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{openapi}"></main>
<script src="/static/vendor/{swagger}-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API (ReDoc)</title>
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="/static/vendor/{redoc}.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` (create the app with ``docs_url=None, redoc_url=None``)."""
    openapi = app.openapi_url or "/openapi.json"
    title = app.title

    async def swagger_ui(request: Request) -> HTMLResponse:
        return HTMLResponse(_SWAGGER_PAGE.format(title=title, swagger=SWAGGER_UI, openapi=openapi))

    async def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(_REDOC_PAGE.format(title=title, redoc=REDOC, openapi=openapi))

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
