"""Session cookies and CSRF protection for the web pages.

* The session cookie holds a random token (see :mod:`rxguard.access.web_sessions`):
  HttpOnly (no script can read it), SameSite=Lax (not sent on a cross-site
  form POST), Secure outside development, and named with the ``__Host-``
  prefix there so no other sub-domain can plant one.
* Every form and every htmx request carries a CSRF token: an HMAC of the
  session token (or, before sign-in, of a random pre-session cookie), so it
  cannot be computed without the cookie and needs no server-side storage.
  A POST whose token does not match is refused before any work is done; a
  POST whose ``Origin`` names another site is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from rxguard.access.web_sessions import LIFETIME

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LANG_COOKIE = "rxguard_lang"


class CsrfRefusedError(Exception):
    """A state-changing request without a valid CSRF token or from another origin."""


def is_production(request: Request) -> bool:
    return getattr(request.app.state.settings, "environment", "development") != "development"


def session_cookie_name(request: Request) -> str:
    return "__Host-rxguard_session" if is_production(request) else "rxguard_session"


def pre_cookie_name(request: Request) -> str:
    return "__Host-rxguard_pre" if is_production(request) else "rxguard_pre"


def _set(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=is_production(request)
    )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    _set(request, response, session_cookie_name(request), token, int(LIFETIME.total_seconds()))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        session_cookie_name(request), path="/", httponly=True, samesite="lax", secure=is_production(request)
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(request))


def pre_session_token(request: Request) -> str:
    """The pre-session secret, creating one for this response when the browser has none yet."""
    token = request.cookies.get(pre_cookie_name(request)) or getattr(request.state, "new_pre_token", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_pre_token = token
    return token


def remember_pre_session(request: Request, response: Response) -> None:
    """Send the pre-session cookie if this request created it."""
    token = getattr(request.state, "new_pre_token", None)
    if token:
        _set(request, response, pre_cookie_name(request), token, None)


def csrf_token(request: Request, *, signed_in: bool) -> str:
    key = (session_token(request) if signed_in else None) or pre_session_token(request)
    return hmac.new(key.encode(), b"rxguard-csrf-v1", hashlib.sha256).hexdigest()


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    netloc = urlsplit(origin).netloc
    public = urlsplit(getattr(request.app.state.settings, "public_url", "") or "").netloc
    return netloc in (request.headers.get("host", ""), public)


async def check_csrf(request: Request, *, expected: str) -> None:
    """Refuse a POST without the right token (form field or htmx header) or from another origin."""
    if not _same_origin(request):
        raise CsrfRefusedError("cross-origin form")
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfRefusedError("missing or wrong CSRF token")


def local_path(target: str | None, default: str = "/") -> str:
    """A redirect target that stays on this site (``/patients/x``), never ``//evil`` or a URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
