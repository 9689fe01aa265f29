"""The web routes' own route class: rxguard errors become readable pages, never a traceback.

API routes answer errors as problem+json; a person in a browser needs a page
that says what went wrong and what to do, in their language, with the way
back. Forms catch their own errors and show them next to the fields; what
reaches this class is what a page cannot recover from: a patient outside the
user's scope (404, the same page whether or not the patient exists), a role
that may not act (403), a refused CSRF token (403) or a sign-in needed
(redirect, and back afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from rxguard.errors import AccessDeniedError, NotFoundError, RxguardError, UnknownDrugError
from rxguard.web.context import PageContext, SignInRequiredError, now_of, public_context, web_settings
from rxguard.web.i18n import pick_language, translator
from rxguard.web.security import LANG_COOKIE, CsrfRefusedError, csrf_token
from rxguard.web.templating import render


def redirect(request: Request, path: str) -> Response:
    """See-other to ``path``; an htmx request gets ``HX-Redirect`` so the whole page moves."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": path})
    return RedirectResponse(path, status_code=303)


def _context_for(request: Request) -> PageContext:
    ctx: PageContext | None = getattr(request.state, "page", None)
    return ctx if ctx is not None else public_context(request)


def error_page(request: Request, status: int, title_key: str, message: str) -> Response:
    ctx = _context_for(request)
    return render(ctx, "error.html", status_code=status, title=ctx.t(title_key), message=message)


def _context_even_without_database(request: Request) -> PageContext:
    """The page context; when the database is what failed, one without a signed-in user."""
    try:
        return _context_for(request)
    except Exception:  # the database is down or refusing: the error page must still be shown
        lang = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
        return PageContext(request=request, user=None, display_name="", lang=lang, t=translator(lang),
                           csrf=csrf_token(request, signed_in=False), now=now_of(request),
                           zone=web_settings(request).zone)  # fmt: skip


def problem_page(request: Request, status: int, slug: str, detail: str, headers: dict[str, str] | None) -> Response:
    """An API problem as a page, for a browser that asked for HTML (see rxguard.api.negotiation).

    The words come from the interface strings (``problem.<slug>``) in the reader's language; a
    problem without its own words shows the API's detail, which says what is wrong and what to do.
    """
    ctx = _context_even_without_database(request)
    title = ctx.t(f"problem.status-{status}", default=HTTPStatus(status).phrase)
    message = ctx.t(f"problem.{slug}", default=detail)
    response = render(ctx, "error.html", status_code=status, title=title, message=message)
    response.headers.update(headers or {})
    return response


def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequiredError):
        return redirect(request, "/sign-in?next=" + quote(exc.next_path, safe="/"))
    if isinstance(exc, CsrfRefusedError):
        ctx = _context_for(request)
        return error_page(request, 403, "error.csrf-title", ctx.t("error.csrf"))
    if isinstance(exc, NotFoundError | UnknownDrugError):
        return error_page(request, 404, "error.not-found-title", str(exc))
    if isinstance(exc, AccessDeniedError):
        return error_page(request, 403, "error.forbidden-title", str(exc))
    assert isinstance(exc, RxguardError)
    return error_page(request, 400, "error.refused-title", str(exc))


class WebRoute(APIRoute):
    """An APIRoute whose rxguard errors and sign-in redirects are answered as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (SignInRequiredError, CsrfRefusedError, RxguardError) as exc:
                return _handle(request, exc)

        return handle
