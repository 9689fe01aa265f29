"""Identity links over REST: which program patient or prescriber another system's identifier means.

Administrators list, add and remove links; a prescriber may also give the
enrolling EHR's identifiers with an enrollment (``POST /api/v1/enrollments``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.responses import Response

from rxguard.api.deps import ClockDep, SessionDep, UserDep
from rxguard.api.problems import problem_responses
from rxguard.api.routes import API_PREFIX
from rxguard.api.routes.pagination import PageDep
from rxguard.api.routes.program import Body
from rxguard.api.schemas import Open, Page
from rxguard.program import identities

router = APIRouter(prefix=API_PREFIX, tags=["identities"])
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422)


class IdentifierIn(Body):
    """An identifier in the namespace of the system that sends it."""

    issuer: str = Field(
        default=identities.LOCAL_ISSUER, min_length=1, max_length=255,
        description="The EHR's JWT iss, or 'rxguard' for identifiers rxguard's own callers use",
    )  # fmt: skip
    tenant: str = Field(default="", max_length=64, description="The JWT's tenant claim ('' when none)")
    system: str = Field(
        default=identities.FHIR_ID_SYSTEM, min_length=1, max_length=255,
        description="Identifier system; urn:rxguard:fhir-id for the EHR's FHIR logical id",
    )  # fmt: skip
    value: str = Field(min_length=1, max_length=128)

    def namespace(self) -> identities.Namespace:
        return identities.Namespace(self.issuer, self.tenant)

    def identifier(self) -> identities.Identifier:
        return identities.Identifier(self.system, self.value)


class LinkIn(IdentifierIn):
    kind: Literal["patient", "prescriber"]
    key: str = Field(min_length=1, max_length=64, description="The program key, e.g. pat_amy or dr_ada")


@router.get("/identities", operation_id="list_identities", response_model=Page[Open], responses=READ)
def list_identities(
    user: UserDep, session: SessionDep, page: PageDep,
    patient: Annotated[str | None, Query(max_length=64, description="Only this patient's links")] = None,
    issuer: Annotated[str | None, Query(max_length=255, description="Only this issuer's links")] = None,
) -> dict[str, Any]:  # fmt: skip
    """Identity links (program administrator)."""
    user.require("administer")
    rows = identities.list_links(session, patient_key=patient, issuer=issuer)
    return page.page([identities.identity_out(session, r) for r in rows])


@router.post("/identities", operation_id="link_identity", status_code=201, response_model=Open, responses=WRITE)
def link_identity(user: UserDep, session: SessionDep, clock: ClockDep, body: LinkIn) -> dict[str, Any]:
    """Link another system's identifier to a program patient or prescriber (program administrator)."""
    user.require("administer")
    link = identities.link_patient if body.kind == "patient" else identities.link_prescriber
    key_arg = {"patient_key" if body.kind == "patient" else "prescriber_key": body.key}
    row = link(session, namespace=body.namespace(), identifier=body.identifier(), at=clock(), actor=user.name,
               **key_arg)  # fmt: skip
    return identities.identity_out(session, row)


@router.delete(
    "/identities/{identity_id}", operation_id="unlink_identity", status_code=204, responses=WRITE,
    response_class=Response,
)  # fmt: skip
def unlink_identity(
    user: UserDep, session: SessionDep, clock: ClockDep,
    identity_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:  # fmt: skip
    """Remove an identity link (program administrator); the audit log keeps what it was."""
    user.require("administer")
    identities.unlink(session, identity_id=identity_id, at=clock(), actor=user.name)
    return Response(status_code=204)
