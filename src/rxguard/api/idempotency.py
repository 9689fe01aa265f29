"""The ``Idempotency-Key`` header on creates: a retry gets the first answer, never a second record.

Stripe's rules: the same key with the same request (method, path, JSON body)
answers what the first request answered (with ``Idempotent-Replayed: true``);
the same key with a different request is 409; keys belong to the signed-in
user, so two users cannot collide or read each other's answers. Only a
successful answer is kept: an error rolls the request back, key included, so
a retry after an error runs again. The key's row is written in the request's
own transaction (``rxguard.store.idempotency``), so the guarantee holds across
processes and server instances sharing the database.

A route opts in with :func:`idempotent` and an ``idempotency: IdempotencyDep``
parameter (and the ``user``, ``session`` and ``clock`` it has anyway)::

    @router.post("/authorizations", status_code=201, ...)
    @idempotent(201)
    def authorize_dose(user: UserDep, session: SessionDep, clock: ClockDep, idempotency: IdempotencyDep, ...):
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from rxguard.store import idempotency

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    digest: str


async def get_idempotency_key(
    request: Request,
    idempotency_key_header: Annotated[
        str | None,
        Header(
            alias=HEADER, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
            description="Any unique string (e.g. a UUID) per intended create; resend it with the same body on a retry",
        ),
    ] = None,
) -> IdempotencyKey | None:  # fmt: skip
    key = idempotency_key_header
    if key is None:
        return None
    return IdempotencyKey(key, idempotency.request_digest(request.method, request.url.path, await request.body()))


IdempotencyDep = Annotated[IdempotencyKey | None, Depends(get_idempotency_key)]


def idempotent(status_code: int) -> Callable[[F], F]:
    """Run the route once per (user, key); answer later requests under the key from the database."""

    def decorate(route: F) -> F:
        @functools.wraps(route)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given: IdempotencyKey | None = kwargs["idempotency"]
            if given is None:
                return route(*args, **kwargs)
            session, user, clock = kwargs["session"], kwargs["user"], kwargs["clock"]
            found = idempotency.claim(session, principal=user.name, key=given.key, digest=given.digest, at=clock())
            if isinstance(found, idempotency.Replay):
                return JSONResponse(found.body, status_code=found.status_code, headers={REPLAYED: "true"})
            body = jsonable_encoder(route(*args, **kwargs))
            idempotency.remember(session, found, status_code=status_code, body=body)
            return body

        return wrapper  # type: ignore[return-value]

    return decorate
