"""Typed dependency aliases: what a route needs, said in its signature.

``SessionDep`` is one unit of work per request (commit when the route
returns, roll back on any error). ``UserDep`` is the signed-in principal:
every ``/api/v1`` route takes it, so a route without it is visibly public
(deny by default is also enforced by a test that walks every route).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rxguard.access import Principal, authenticate
from rxguard.api.problems import ApiProblem
from rxguard.api.settings import ServerSettings
from rxguard.store.db import transaction


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def get_session(factory: Annotated[sessionmaker[Session], Depends(get_session_factory)]) -> Iterator[Session]:
    with transaction(factory) as session:
        yield session


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
