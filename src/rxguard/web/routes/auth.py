"""Sign in, sign out, and the language switch."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from rxguard.access.passwords import check_sign_in
from rxguard.access.web_sessions import end_session, start_session
from rxguard.web.context import CsrfDep, PublicDep, unit_of_work
from rxguard.web.i18n import LANGUAGES
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.security import (
    LANG_COOKIE,
    clear_session_cookie,
    is_production,
    local_path,
    session_token,
    set_session_cookie,
)
from rxguard.web.templating import render

router = APIRouter(route_class=WebRoute)
log = structlog.get_logger("rxguard.auth")


@router.get("/sign-in")
def sign_in_page(ctx: PublicDep, next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    if ctx.user is not None:
        return redirect(ctx.request, local_path(next))
    return render(ctx, "sign_in.html", next=local_path(next), error=None, name="")


@router.post("/sign-in")
def sign_in(
    ctx: PublicDep,
    _: CsrfDep,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password (and the second factor where the role needs one); on success start a
    session (a new cookie, so a planted one is useless)."""
    request = ctx.request
    result = check_sign_in(
        request.app.state.sessions, user_name=name, password=password, code=code, at=ctx.now,
        address=request.client.host if request.client else None,
        environment=getattr(request.app.state.settings, "environment", "development"),
    )  # fmt: skip
    outcome = "signed-in" if result.principal else "braked" if result.wait_seconds else result.refusal or "wrong"
    # Every sign-in decision is logged (never the password or the code): who, from where, what happened.
    (log.info if result.principal else log.warning)(
        "sign_in",
        outcome=outcome,
        user=name.strip().lower()[:64],
        address=request.client.host if request.client else None,
    )
    token = None
    if result.principal is not None:
        with unit_of_work(request) as session:
            token = start_session(session, result.principal, at=ctx.now)
    if token is None:
        if result.wait_seconds:
            error = ctx.t("sign-in.wait", seconds=result.wait_seconds)
        else:
            error = ctx.t(f"sign-in.{result.refusal or 'wrong'}")
        return render(ctx, "sign_in.html", status_code=401, next=local_path(next), error=error, name=name)
    response = redirect(ctx.request, local_path(next))
    set_session_cookie(ctx.request, response, token)
    return response


@router.post("/sign-out")
def sign_out(ctx: PublicDep, _: CsrfDep) -> Response:
    token = session_token(ctx.request)
    if token:
        with unit_of_work(ctx.request) as session:
            end_session(session, token, at=ctx.now)
    response = redirect(ctx.request, "/sign-in?signed_out=1")
    clear_session_cookie(ctx.request, response)
    return response


@router.post("/language")
def switch_language(
    request: Request,
    _: CsrfDep,
    lang: Annotated[str, Form(max_length=8)] = "en",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Remember the language for a year; every page, form and message then follows it."""
    response = redirect(request, local_path(next))
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            path="/",
            samesite="lax",
            secure=is_production(request),
            httponly=True,
        )
    return response
