"""Security headers on every answer: pages, API, CDS Hooks, static files, errors.

Plain ASGI (like the request middleware) and outermost, so even a 413, 504
or last-resort 500 answered before the application runs carries them:

* ``Content-Security-Policy`` — ``default-src 'self'`` (no inline script or
  style, no third-party origin: the web pages load their own CSS, htmx and
  one small script file), ``frame-ancestors 'none'`` (no page can be framed,
  so no clickjacking), ``base-uri 'none'``, ``form-action 'self'`` and
  ``object-src 'none'``. The interactive API documentation (``/docs``,
  ``/redoc``, see :mod:`rxguard.api.docs`) loads only rxguard's own copies of
  Swagger UI and ReDoc; its policy adds inline styles (ReDoc writes its
  ``<style>`` elements at run time) and ``blob:`` workers (ReDoc's search),
  still no other site and no inline script. It shows no patient data.
* ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` (for
  browsers without ``frame-ancestors``).
* ``Referrer-Policy: same-origin`` — page URLs carry patient keys; they never
  leave rxguard in a ``Referer`` header. (Not ``no-referrer``: with it a
  browser sends ``Origin: null`` on the pages' own form posts, which the
  CSRF check rightly refuses.)
* ``Strict-Transport-Security`` outside development: rxguard in production
  is reached over https (see docs/deployment-tls.md); a development server
  on http://127.0.0.1 must not pin a laptop's browser to https.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'; "
    "img-src 'self' data:"
)
DOCS_CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(path: str, *, https_only: bool) -> list[tuple[bytes, bytes]]:
    """The headers for an answer to ``path`` (HSTS only when the deployment is https-only)."""
    headers = [
        (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else CSP).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if https_only:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https_only: bool) -> None:
        self.app = app
        self.https_only = https_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = security_headers(scope.get("path", ""), https_only=self.https_only)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in added if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
