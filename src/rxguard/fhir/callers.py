"""Who is calling the FHIR endpoint: an rxguard user (API token) or a trusted EHR (signed JWT).

``Authorization: Bearer rxg_…`` is an API token, checked as on ``/api/v1``;
any other bearer is taken as a JWT and verified like a CDS Hooks call, with
``aud`` the URL called. Either way a failure is 401 with the same detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy import Engine

from rxguard.access import Principal, authenticate
from rxguard.api.problems import ApiProblem
from rxguard.api.settings import ServerSettings
from rxguard.cds_hooks.security import CdsAuthError
from rxguard.program.identities import Namespace

log = structlog.get_logger("rxguard.fhir")
TOKEN_PREFIX = "rxg_"


@dataclass(frozen=True)
class FhirCaller:
    """A signed-in user (``principal``), or an EHR (``namespace`` and its ``jurisdiction``)."""

    principal: Principal | None = None
    namespace: Namespace | None = None
    jurisdiction: str | None = None

    @property
    def actor(self) -> str:
        if self.principal is not None:
            return self.principal.name
        assert self.namespace is not None
        return f"ehr:{self.namespace.issuer}"[:64]


def _unauthorized() -> ApiProblem:
    return ApiProblem(
        401, "unauthorized",
        "send 'Authorization: Bearer rxg_…' (an rxguard API token) or a JWT signed by a trusted EHR",
        headers={"WWW-Authenticate": 'Bearer realm="rxguard"'},
    )  # fmt: skip


async def fhir_caller(request: Request) -> FhirCaller:
    header = request.headers.get("authorization") or ""
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise _unauthorized()
    state = request.app.state
    if credential.startswith(TOKEN_PREFIX):
        engine: Engine = state.read_engine
        with engine.connect() as connection:
            principal = authenticate(connection, credential, at=state.clock())
        if principal is None:
            raise _unauthorized()
        return FhirCaller(principal=principal)
    settings: ServerSettings = state.settings
    url = settings.public_base() + request.url.path
    try:
        caller = await state.cds_verifier.verify(header, [url, url + "/"], remember=True)
    except CdsAuthError as exc:
        log.warning("fhir_auth_refused", reason=exc.reason, iss=exc.iss, jti=exc.jti)
        raise _unauthorized() from None
    structlog.contextvars.bind_contextvars(iss=caller.issuer.iss, tenant=caller.tenant)
    return FhirCaller(namespace=Namespace(caller.issuer.iss, caller.tenant or ""),
                      jurisdiction=caller.issuer.jurisdiction)  # fmt: skip


FhirCallerDep = Annotated[FhirCaller, Depends(fhir_caller)]
