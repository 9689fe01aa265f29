"""The one ASGI middleware around every request: id, limits, timeout, log, metrics.

Written as plain ASGI rather than ``BaseHTTPMiddleware`` because it sits on
the CDS Hooks hot path (single-digit milliseconds budget) and must see the
request before the framework reads it:

* **request id** — taken from a well-formed ``X-Request-ID`` or made up, bound
  into the log context, echoed in the response header and in every problem;
* **body limit** — a declared ``Content-Length`` over the limit is refused at
  once with 413; a chunked body is read up to the limit (within the request
  timeout, so a slow client cannot hold a worker) and replayed to the app;
* **timeout** — a request still running after the limit is answered 504
  (a sync handler's thread cannot be killed; its transaction still commits
  or rolls back as a whole);
* **last-resort errors** — anything unhandled becomes a 500 problem without a
  traceback; the traceback goes to the log;
* **access log and metrics** — method, route template, status and duration.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from http import HTTPStatus
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rxguard.api.metrics import Metrics
from rxguard.api.negotiation import prefers_html
from rxguard.api.problems import INTERNAL_DETAIL, PROBLEM_JSON, problem_bytes

_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = structlog.get_logger("rxguard.access")


def plain_error_page(status: int, detail: str, request_id: str) -> bytes:
    """The page a browser gets when the request failed before or outside the application (413, 504, 500)."""
    title = html.escape(HTTPStatus(status).phrase)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} · rxguard</title>'
        '<link rel="stylesheet" href="/static/app.css"></head><body><main id="main" class="panel narrow">'
        f"<h1>{title}</h1><p>{html.escape(detail)}.</p><p>Request id: <code>{html.escape(request_id)}</code></p>"
        '<p><a class="button" href="/">Back to the dashboard</a></p></main></body></html>'
    ).encode()


class _BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    if given:
        text = given.decode("latin-1")
        if _GOOD_ID.match(text):
            return text
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.timeout = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        async def answer(status: int, slug: str, detail: str) -> None:
            if prefers_html((_header(scope, b"accept") or b"").decode("latin-1")):
                body, media = plain_error_page(status, detail, rid), b"text/html; charset=utf-8"
            else:
                body = problem_bytes(status, slug, detail, instance=scope.get("path"), request_id=rid)
                media = PROBLEM_JSON.encode()
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", media),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})

        try:
            async with asyncio.timeout(self.timeout):
                inner_receive = await self._bounded_receive(scope, receive)
                await self.app(scope, inner_receive, send_wrapper)
        except _BodyTooLarge:
            await answer(
                413, "body-too-large",
                f"the request body exceeds {self.max_body} bytes; send a smaller body "
                "(e.g. only the resources the rules need)",
            )  # fmt: skip
        except TimeoutError:
            if not state["started"]:
                await answer(504, "timeout", f"the request took longer than {self.timeout:g} s; try again later")
        except Exception:
            log.exception("unhandled_error")
            if not state["started"]:
                await answer(500, "internal-error", INTERNAL_DETAIL)
        finally:
            self._observe(scope, state["status"], time.perf_counter() - started)

    async def _bounded_receive(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse an over-long body; buffer a chunked one so its size is known first."""
        if scope["method"] not in _WITH_BODY:
            return receive
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = self.max_body + 1
            if size > self.max_body:
                raise _BodyTooLarge
            return receive
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        return replay

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(seconds)
        log.info("request", method=method, route=template, status=status, ms=round(seconds * 1000, 2))
