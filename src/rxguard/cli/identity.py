"""``rxguard identity link|list|unlink``: other systems' identifiers for program patients and prescribers."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from rxguard.cli.program import Actor, At, actor_of, echo_json, parse_datetime, run_in_transaction
from rxguard.errors import InputError

IssuerOpt = Annotated[str, typer.Option("--issuer", help="The EHR's JWT iss, or 'rxguard' for rxguard's own callers.")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="The JWT's tenant claim (leave out when none).")]


def register(app: typer.Typer) -> None:
    from rxguard.program import identities

    identity_app = typer.Typer(help="Link EHR and pharmacy identifiers to program patients.", no_args_is_help=True)
    app.add_typer(identity_app, name="identity")

    @identity_app.command("link")
    def link(
        identifier: Annotated[
            str, typer.Argument(help="system|value, or a bare FHIR logical id (urn:rxguard:fhir-id)")
        ],
        issuer: IssuerOpt,
        patient: Annotated[str | None, typer.Option(help="Program patient key, e.g. pat_amy.")] = None,
        prescriber: Annotated[str | None, typer.Option(help="Program prescriber key, e.g. dr_ada.")] = None,
        tenant: TenantOpt = "",
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Link an identifier of ISSUER to a program patient or prescriber."""
        if bool(patient) == bool(prescriber):
            raise InputError("name exactly one of --patient or --prescriber")
        ident = identities.parse_identifier(identifier)
        namespace = identities.Namespace(issuer, tenant)

        def work(s: Session) -> dict[str, object]:
            if patient:
                row = identities.link_patient(s, patient_key=patient, namespace=namespace, identifier=ident,
                                              at=parse_datetime(at), actor=actor_of(actor))  # fmt: skip
            else:
                row = identities.link_prescriber(s, prescriber_key=str(prescriber), namespace=namespace,
                                                 identifier=ident, at=parse_datetime(at), actor=actor_of(actor))  # fmt: skip
            return identities.identity_out(s, row)

        echo_json(run_in_transaction(work))

    @identity_app.command("list")
    def list_(
        patient: Annotated[str | None, typer.Option(help="Only this patient's links.")] = None,
        issuer: Annotated[str | None, typer.Option(help="Only this issuer's links.")] = None,
    ) -> None:
        """List identity links (JSON)."""
        echo_json(run_in_transaction(
            lambda s: [identities.identity_out(s, r) for r in identities.list_links(s, patient_key=patient,
                                                                                    issuer=issuer)]
        ))  # fmt: skip

    @identity_app.command("unlink")
    def unlink(identity_id: str, at: At = None, actor: Actor = None) -> None:
        """Remove an identity link by its id (from 'rxguard identity list')."""
        run_in_transaction(
            lambda s: identities.unlink(s, identity_id=identity_id, at=parse_datetime(at), actor=actor_of(actor))
        )
        typer.echo(f"identity link {identity_id} removed")
