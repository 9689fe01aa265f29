"""Typed dependency aliases: what a route needs, said in its signature.

``SessionDep`` is one unit of work per request (commit when the route
returns, roll back on any error). ``UserDep`` is the signed-in principal:
every ``/api/v1`` route takes it, so a route without it is visibly public
(deny by default is also enforced by a test that walks every route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rxguard.access import Principal, authenticate
from rxguard.api.problems import ApiProblem
from rxguard.api.settings import ServerSettings


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def _finish(session: Session, commit: bool) -> None:
    """Commit (or roll back) and close: the end of the request's unit of work."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_session(
    factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
) -> AsyncIterator[Session]:
    """One unit of work per request: commit when the route returns, roll back on any error.

    The session is made on the event loop (that does no I/O: its connection is
    taken by the route's first query, in the route's thread); only the commit
    goes to a thread, and none when the route never touched the database. The
    end runs shielded from cancellation (a request that times out still
    commits or rolls back as a whole) and with its own thread limit, so it never
    waits for a thread held by a request that waits for this connection.
    """
    session = factory()
    try:
        yield session
    except BaseException:
        await _end(session, commit=False)
        raise
    await _end(session, commit=True)


async def _end(session: Session, *, commit: bool) -> None:
    if not session.in_transaction():
        session.close()
        return
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_finish, session, commit, limiter=anyio.CapacityLimiter(1))


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
#: scope="function": the transaction commits before the response is sent. (A ``yield`` dependency's
#: default scope ends after the response, so a client could be told 201 for a write that a crash or
#: a failed commit then lost.)
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An rxguard API token: `rxguard token create --user NAME`")


def unauthorized() -> ApiProblem:
    return ApiProblem(
        401, "unauthorized",
        "this endpoint needs a valid API token: send 'Authorization: Bearer rxg_…' "
        "(an administrator creates one with 'rxguard token create --user NAME')",
        headers={"WWW-Authenticate": 'Bearer realm="rxguard"'},
    )  # fmt: skip


def get_clock(request: Request) -> Callable[[], datetime]:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock


ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    clock: ClockDep,
) -> Principal:
    """The user behind the bearer token, or 401 (unknown, revoked, expired or absent).

    Read on the read-only engine: on SQLite the main engine opens every
    transaction with the write lock, which a token look-up does not need.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    engine: Engine = request.app.state.read_engine
    with engine.connect() as connection:
        principal = authenticate(connection, credentials.credentials, at=clock())
    if principal is None:
        raise unauthorized()
    return principal


UserDep = Annotated[Principal, Depends(get_principal)]
