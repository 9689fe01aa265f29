"""What every page knows about its request: who is signed in, the language, the CSRF token, now.

Routes take :data:`PageDep` (sign-in required: a visitor is sent to the
sign-in page and back afterwards) or :data:`PublicDep` (the sign-in page),
and POST routes also take :data:`CsrfDep`, which refuses the request before
the route runs when the token is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rxguard.access.policy import Principal
from rxguard.access.web_sessions import session_user
from rxguard.program.participants import site_timezone
from rxguard.store.db import transaction
from rxguard.web.i18n import Language, pick_language, translator
from rxguard.web.security import LANG_COOKIE, check_csrf, csrf_token, session_token
from rxguard.web.settings import WebSettings


class SignInRequiredError(Exception):
    """The page needs a signed-in user; the visitor is sent to sign in and back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass
class PageContext:
    request: Request
    user: Principal | None
    display_name: str
    lang: Language
    t: Callable[..., str]
    csrf: str
    now: datetime
    zone: ZoneInfo  # the user's site's zone for site staff, else the installation's

    @property
    def today(self) -> date:
        """Today where the user works: the date of now in the page's zone."""
        return self.now.astimezone(self.zone).date()

    @property
    def path(self) -> str:
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")

    def may(self, action: Any) -> bool:
        return self.user is not None and self.user.may(action)

    @property
    def role(self) -> str:
        return self.user.role if self.user else ""


def web_settings(request: Request) -> WebSettings:
    settings: WebSettings | None = getattr(request.app.state, "web_settings", None)
    if settings is None:
        settings = WebSettings()
        request.app.state.web_settings = settings
    return settings


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back whole on any error."""
    with transaction(request.app.state.sessions) as session:
        yield session


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def _context(request: Request) -> PageContext:
    now = now_of(request)
    user, display = None, ""
    zone = web_settings(request).zone
    token = session_token(request)
    if token:
        with unit_of_work(request) as session:
            found = session_user(session, token, at=now)
            if found is not None:
                site_zone = site_timezone(session, found[0].site_id)
                zone = ZoneInfo(site_zone) if site_zone else zone
        if found is not None:
            user, display = found
    lang = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return PageContext(
        request=request,
        user=user,
        display_name=display,
        lang=lang,
        t=translator(lang),
        csrf=csrf_token(request, signed_in=user is not None),
        now=now,
        zone=zone,
    )


def public_context(request: Request) -> PageContext:
    ctx = _context(request)
    request.state.page = ctx
    return ctx


def page_context(request: Request, ctx: Annotated[PageContext, Depends(public_context)]) -> PageContext:
    if ctx.user is None:
        query = request.url.query
        raise SignInRequiredError(request.url.path + (f"?{query}" if query else ""))
    return ctx


async def csrf_protected(request: Request, ctx: Annotated[PageContext, Depends(public_context)]) -> None:
    await check_csrf(request, expected=ctx.csrf)


PublicDep = Annotated[PageContext, Depends(public_context)]
PageDep = Annotated[PageContext, Depends(page_context)]
CsrfDep = Annotated[None, Depends(csrf_protected)]
