"""Command line for the restricted-distribution program.

``rxguard db upgrade``, ``rxguard demo load``, the lifecycle (register,
certify, enroll, consent, authorize-treatment, authorize, clear, override,
infuse, reauthorize, resume, discontinue, monitor, ae), ``rxguard due``,
``rxguard export|import`` and ``rxguard audit verify``.

Each command parses its input, runs one program service inside one database
transaction and prints the result; bad input raises an RxguardError (one line
on stderr, exit 2) and the transaction rolls back, so nothing half-written
stays in the database.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from sqlalchemy.orm import Session

from rxguard.cli.options import require_development
from rxguard.errors import InputError
from rxguard.program import validation
from rxguard.store import get_settings, make_engine, session_factory, transaction, upgrade
from rxguard.store.db import open_existing

T = TypeVar("T")
At = Annotated[str | None, typer.Option("--at", help="When (ISO 8601; naive means UTC). Default: now.")]
Actor = Annotated[str | None, typer.Option("--actor", help="Who does it (default: $RXGUARD_ACTOR or $USER).")]
ProgramOpt = Annotated[
    str, typer.Option("--program", help="Program id, as the packs define it (GET /api/v1/programs).")
]
PatientOpt = Annotated[str, typer.Option("--patient", help="Patient key, e.g. pat_amy.")]
PrescriberOpt = Annotated[str, typer.Option("--prescriber", help="Prescriber key, e.g. dr_ada.")]


# --------------------------------------------------------------------------- helpers


def parse_datetime(value: str | None, name: str = "--at") -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date-time; use e.g. 2026-01-05T09:00+00:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date; use YYYY-MM-DD") from None


def _refuse_outside_development(option: str) -> None:
    if get_settings().environment != "development":
        raise InputError(
            f"{option} is refused outside development: the audit log records who ran a command and when, "
            "not a name or a time typed on the command line (set RXGUARD_ACTOR for the operator's name)"
        )


def actor_of(value: str | None) -> str:
    """Who does it: ``--actor`` (development only), else ``$RXGUARD_ACTOR`` or ``$USER``."""
    if value:
        _refuse_outside_development("--actor")
        return validation.clean_text(value, "--actor", max_length=64, required=True)
    return os.environ.get("RXGUARD_ACTOR") or os.environ.get("USER") or "cli"


def at_of(value: str | None) -> datetime:
    """When a command that writes does it: now, or ``--at`` (development only, within sane years)."""
    if value is None:
        return datetime.now(UTC)
    _refuse_outside_development("--at")
    return validation.recording_time(parse_datetime(value), "--at")


@contextmanager
def _session() -> Iterator[Session]:
    engine = open_existing()
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def run_in_transaction(work: Callable[[Session], T]) -> T:
    with _session() as session:
        return work(session)


def echo_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def parse_answers(items: list[str] | None, answers_file: Path | None) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if answers_file is not None:
        try:
            loaded = orjson.loads(answers_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InputError(f"--answers-file {answers_file}: cannot read JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise InputError("--answers-file must hold a JSON object of question id -> answer")
        answers.update(loaded)
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--answer {item!r} must look like question-id=no")
        lowered = value.strip().lower()
        if lowered in ("yes", "true", "y"):
            answers[key] = True
        elif lowered in ("no", "false", "n"):
            answers[key] = False
        else:
            try:
                answers[key] = float(lowered)
            except ValueError:
                raise InputError(f"--answer {item!r}: the answer must be yes, no or a number") from None
    return answers


def read_bundle(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"--bundle {path} does not exist") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"--bundle {path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"--bundle {path} must hold a FHIR R4 Bundle object")
    return data


def _party(prescriber: str | None, site: str | None) -> tuple[str, str]:
    if bool(prescriber) == bool(site):
        raise InputError("name exactly one of --prescriber or --site")
    return ("prescriber", prescriber) if prescriber else ("site", site)  # type: ignore[return-value]


# --------------------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    """Add the program commands to the rxguard CLI."""
    db_app = typer.Typer(help="The program database.", no_args_is_help=True)
    demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
    reg_app = typer.Typer(help="Register prescribers, sites, pharmacies and patients.", no_args_is_help=True)
    cert_app = typer.Typer(help="Suspend, reinstate or revoke a certification.", no_args_is_help=True)
    ae_app = typer.Typer(help="Adverse events: report and export.", no_args_is_help=True)
    audit_app = typer.Typer(help="The audit log: signed checkpoints, verification, proofs.", no_args_is_help=True)
    app.add_typer(db_app, name="db")
    app.add_typer(demo_app, name="demo")
    app.add_typer(reg_app, name="register")
    app.add_typer(cert_app, name="certification")
    app.add_typer(ae_app, name="ae")
    app.add_typer(audit_app, name="audit")
    _db_commands(db_app, demo_app, audit_app)
    _participant_commands(reg_app, cert_app, app)
    _patient_commands(app)
    _dose_commands(app)
    _monitoring_commands(app, ae_app)


def _db_commands(db_app: typer.Typer, demo_app: typer.Typer, audit_app: typer.Typer) -> None:
    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Create or migrate the database named by RXGUARD_DATABASE_URL (SQLite file by default)."""
        engine = make_engine()
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is at the latest revision")

    @db_app.command("grant-app-role")
    def db_grant_app_role(role: str) -> None:
        """PostgreSQL: let ROLE (what the server connects as) use the program but never rewrite the audit log.

        Run it as the role that owns the tables (the one that ran 'rxguard db upgrade'); see docs/audit.md.
        """
        from rxguard.store.roles import grant_app_role

        engine = make_engine()
        try:
            if engine.dialect.name != "postgresql":
                raise InputError("grant-app-role is for PostgreSQL; a SQLite file is guarded by its file permissions")
            with engine.begin() as connection:
                grant_app_role(connection, role)
        finally:
            engine.dispose()
        typer.echo(f"role {role} may read and write the program; on the audit tables only read and append")

    @demo_app.command("load")
    def demo_load(at: At = None) -> None:
        """Load named personas and patients in every state into an empty database."""
        require_development("rxguard demo load")
        from rxguard.program.demo import load_demo

        when = at_of(at)
        engine = make_engine()
        upgrade(engine)
        engine.dispose()
        states = run_in_transaction(lambda s: load_demo(s, at=when))
        for key, state in states.items():
            typer.echo(f"{key:10} {state}")

    from rxguard.cli import audit as audit_cli

    audit_cli.register(audit_app)


def _participant_commands(reg_app: typer.Typer, cert_app: typer.Typer, app: typer.Typer) -> None:
    from rxguard.program import certification, participants

    @reg_app.command("prescriber")
    def register_prescriber(key: str, name: Annotated[str, typer.Option()], at: At = None, actor: Actor = None) -> None:
        """Register a prescriber (e.g. dr_ada)."""
        run_in_transaction(
            lambda s: participants.register_prescriber(s, key=key, name=name, at=at_of(at), actor=actor_of(actor))
        )
        typer.echo(f"prescriber {key} registered")

    @reg_app.command("site")
    def register_site(key: str, name: Annotated[str, typer.Option()], at: At = None, actor: Actor = None) -> None:
        """Register an infusion site (e.g. site_north)."""
        run_in_transaction(
            lambda s: participants.register_site(s, key=key, name=name, at=at_of(at), actor=actor_of(actor))
        )
        typer.echo(f"site {key} registered")

    @reg_app.command("pharmacy")
    def register_pharmacy(
        key: str,
        site: Annotated[str, typer.Option(help="The site the pharmacy belongs to.")],
        name: Annotated[str, typer.Option()],
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Register a pharmacy of an infusion site."""
        run_in_transaction(
            lambda s: participants.add_pharmacy(
                s, site_key=site, key=key, name=name, at=at_of(at), actor=actor_of(actor)
            )
        )
        typer.echo(f"pharmacy {key} of {site} registered")

    @reg_app.command("patient")
    def register_patient(
        key: str,
        name: Annotated[str, typer.Option()],
        birth_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
        sex: Annotated[str | None, typer.Option()] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Register a patient (e.g. pat_amy)."""
        born = parse_date(birth_on, "--birth-on") if birth_on else None
        run_in_transaction(
            lambda s: participants.register_patient(
                s, key=key, name=name, birth_on=born, sex=sex, at=at_of(at), actor=actor_of(actor)
            )
        )
        typer.echo(f"patient {key} registered")

    @app.command("certify")
    def certify(
        program: ProgramOpt,
        prescriber: Annotated[str | None, typer.Option()] = None,
        site: Annotated[str | None, typer.Option()] = None,
        san: Annotated[str | None, typer.Option("--site-authorization-number")] = None,
        trained_at: Annotated[str | None, typer.Option(help="Training attestation time (default: --at).")] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Enroll (if needed) and certify a prescriber or site in a program after the training attestation."""
        kind, key = _party(prescriber, site)
        when = at_of(at)
        trained = parse_datetime(trained_at, "--trained-at") if trained_at else when

        def work(s: Session) -> str:
            try:
                certification.get_certification(s, program, kind, key)
            except Exception:
                certification.enroll_participant(
                    s, program_id=program, kind=kind, key=key, at=when, actor=actor_of(actor)
                )
            cert = certification.certify(
                s,
                program_id=program,
                kind=kind,
                key=key,
                at=when,
                actor=actor_of(actor),
                training_attested_at=trained,
                site_authorization_number=san,
            )
            return cert.status

        typer.echo(f"{kind} {key} is {run_in_transaction(work)} in {program}")

    def _move(verb: str) -> Callable[..., None]:
        def command(
            program: ProgramOpt,
            reason: Annotated[str, typer.Option()],
            prescriber: Annotated[str | None, typer.Option()] = None,
            site: Annotated[str | None, typer.Option()] = None,
            at: At = None,
            actor: Actor = None,
        ) -> None:
            kind, key = _party(prescriber, site)
            service = getattr(certification, verb)
            cert = run_in_transaction(
                lambda s: service(
                    s,
                    program_id=program,
                    kind=kind,
                    key=key,
                    at=at_of(at),
                    actor=actor_of(actor),
                    reason=reason,
                )
            )
            typer.echo(f"{kind} {key} is {cert.status} in {program}")

        command.__doc__ = f"{verb.capitalize()} a prescriber's or site's certification, with a reason."
        return command

    for verb in ("suspend", "reinstate", "revoke"):
        cert_app.command(verb)(_move(verb))


def _patient_commands(app: typer.Typer) -> None:
    from rxguard.program import enrollment

    @app.command("enroll")
    def enroll(
        program: ProgramOpt,
        patient: PatientOpt,
        prescriber: PrescriberOpt,
        indication: Annotated[str, typer.Option(help="e.g. multiple-sclerosis, crohns-disease, osteosarcoma")],
        ehr_issuer: Annotated[
            str | None, typer.Option(help="The enrolling EHR's JWT iss, to link its ids (--ehr-id) for the patient.")
        ] = None,
        ehr_tenant: Annotated[str, typer.Option(help="The EHR's tenant claim, if any.")] = "",
        ehr_id: Annotated[
            list[str] | None, typer.Option(help="The EHR's identifier for the patient: system|value or a FHIR id.")
        ] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """A certified prescriber enrolls a patient for an indication (and links the EHR's ids for them)."""
        from rxguard.program import identities

        if bool(ehr_issuer) != bool(ehr_id):
            raise InputError("give --ehr-issuer together with one or more --ehr-id (or neither)")
        links = [
            (identities.Namespace(str(ehr_issuer), ehr_tenant), identities.parse_identifier(i)) for i in ehr_id or []
        ]
        when, who = at_of(at), actor_of(actor) if actor else prescriber

        def work(s: Session) -> None:
            enrollment.enroll_patient(s, program_id=program, patient_key=patient, prescriber_key=prescriber,
                                      indication=indication, at=when, actor=who)  # fmt: skip
            identities.enroll_links(s, patient_key=patient, links=links, at=when, actor=who)

        run_in_transaction(work)
        typer.echo(f"{patient} enrolled in {program}" + (f", {len(links)} EHR id(s) linked" if links else ""))

    @app.command("consent")
    def consent(
        program: ProgramOpt,
        patient: PatientOpt,
        prescriber: PrescriberOpt,
        version: Annotated[str, typer.Option(help="Consent document version, e.g. 1.0")],
        language: Annotated[str, typer.Option(help="en or zh")] = "en",
        patient_signed_at: Annotated[str | None, typer.Option()] = None,
        prescriber_signed_at: Annotated[str | None, typer.Option()] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record the patient's and the prescriber's signatures on a consent document version."""
        when = at_of(at)
        signed = parse_datetime(patient_signed_at, "--patient-signed-at") if patient_signed_at else when
        counter = parse_datetime(prescriber_signed_at, "--prescriber-signed-at") if prescriber_signed_at else signed
        run_in_transaction(
            lambda s: enrollment.record_consent(
                s,
                program_id=program,
                patient_key=patient,
                version=version,
                language=language,
                patient_signed_at=signed,
                prescriber_key=prescriber,
                prescriber_signed_at=counter,
                at=when,
                actor=actor_of(actor),
            )
        )
        typer.echo(f"consent {version} ({language}) recorded for {patient}")

    @app.command("form")
    def form(
        program: ProgramOpt,
        patient: PatientOpt,
        form_id: Annotated[str, typer.Option("--form")],
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record a completed program form (e.g. patient-alert-card, treatment-continuation)."""
        run_in_transaction(
            lambda s: enrollment.record_form(
                s,
                program_id=program,
                patient_key=patient,
                form_id=form_id,
                at=at_of(at),
                actor=actor_of(actor),
            )
        )
        typer.echo(f"form {form_id} recorded for {patient}")

    @app.command("authorize-treatment")
    def authorize_treatment(
        program: ProgramOpt, patient: PatientOpt, prescriber: PrescriberOpt, at: At = None, actor: Actor = None
    ) -> None:
        """The prescriber authorizes treatment (after consent)."""
        row = run_in_transaction(
            lambda s: enrollment.authorize_treatment(
                s,
                program_id=program,
                patient_key=patient,
                prescriber_key=prescriber,
                at=at_of(at),
                actor=actor_of(actor) if actor else prescriber,
            )
        )
        typer.echo(f"{patient} authorized in {program} until {row.authorized_until_on or 'further notice'}")

    @app.command("reauthorize")
    def reauthorize(
        program: ProgramOpt, patient: PatientOpt, prescriber: PrescriberOpt, at: At = None, actor: Actor = None
    ) -> None:
        """The periodic reauthorization, as often as the program requires (reauthorization_every)."""
        row = run_in_transaction(
            lambda s: enrollment.reauthorize(
                s,
                program_id=program,
                patient_key=patient,
                prescriber_key=prescriber,
                at=at_of(at),
                actor=actor_of(actor) if actor else prescriber,
            )
        )
        typer.echo(f"{patient} reauthorized in {program} until {row.authorized_until_on}")

    @app.command("resume")
    def resume(
        program: ProgramOpt,
        patient: PatientOpt,
        prescriber: PrescriberOpt,
        reason: Annotated[str, typer.Option()],
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Lift a suspension (e.g. the suspected event excluded)."""
        run_in_transaction(
            lambda s: enrollment.resume(
                s,
                program_id=program,
                patient_key=patient,
                prescriber_key=prescriber,
                at=at_of(at),
                actor=actor_of(actor) if actor else prescriber,
                reason=reason,
            )
        )
        typer.echo(f"{patient} resumed in {program}")

    @app.command("discontinue")
    def discontinue(
        program: ProgramOpt,
        patient: PatientOpt,
        reason: Annotated[str, typer.Option()],
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Discontinue treatment with a reason; schedules the follow-up."""
        row = run_in_transaction(
            lambda s: enrollment.discontinue(
                s, program_id=program, patient_key=patient, at=at_of(at), actor=actor_of(actor), reason=reason
            )
        )
        typer.echo(f"{patient} discontinued in {program}; follow-up due {row.follow_up_due_on}")


def _dose_commands(app: typer.Typer) -> None:
    from rxguard.program import authorization, clearance
    from rxguard.program.infusion import InfusionRequest, record_infusion

    @app.command("authorize")
    def authorize(
        site: Annotated[str, typer.Option()],
        patient: PatientOpt,
        answer: Annotated[list[str] | None, typer.Option(help="question-id=no (repeat)")] = None,
        answers_file: Annotated[Path | None, typer.Option(help="JSON object of answers")] = None,
        bundle: Annotated[Path | None, typer.Option(help="FHIR R4 Bundle with the latest clinical facts")] = None,
        program: Annotated[str | None, typer.Option()] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Per-dose authorization: AUTHORIZED, HOLD or DO-NOT-INFUSE, stored either way."""
        answers = parse_answers(answer, answers_file)
        facts = read_bundle(bundle)

        def work(s: Session) -> dict[str, Any]:
            row = authorization.authorize_dose(
                s,
                site_key=site,
                patient_key=patient,
                at=at_of(at),
                answers=answers,
                actor=actor_of(actor),
                bundle=facts,
                program_id=program,
            )
            return {
                "authorization": row.id,
                "decision": row.decision.upper(),
                "dose_number": row.dose_number,
                "checks": authorization.checks_of(row),
            }

        echo_json(run_in_transaction(work))

    @app.command("clear")
    def clear(
        authorization_id: str,
        prescriber: PrescriberOpt,
        outcome: Annotated[str, typer.Option(help="proceed, defer or discontinue")],
        reason: Annotated[str, typer.Option()],
        at: At = None,
    ) -> None:
        """The prescriber clears a HOLD for that visit."""
        run_in_transaction(
            lambda s: clearance.clear_hold(
                s,
                authorization_id=authorization_id,
                prescriber_key=prescriber,
                outcome=outcome,
                reason=reason,
                at=at_of(at),
            )
        )
        typer.echo(f"authorization {authorization_id}: {outcome}")

    def _signer(s: Session, name: str, role: str, site: str | None, prescriber: str | None) -> Any:
        from rxguard.program import clearance
        from rxguard.program.common import prescriber as prescriber_by_key
        from rxguard.program.common import site as site_by_key

        return clearance.Signer(
            name,
            role,
            site_id=site_by_key(s, site).id if site else None,
            prescriber_id=prescriber_by_key(s, prescriber).id if prescriber else None,
        )

    @app.command("override")
    def override(
        authorization_id: str,
        role: Annotated[str, typer.Option()],
        reason: Annotated[str, typer.Option()],
        bypass: Annotated[list[str], typer.Option(help="Failed check id bypassed (repeat)")],
        site: Annotated[str | None, typer.Option(help="The infusion site you work at")] = None,
        prescriber: Annotated[str | None, typer.Option(help="Your prescriber key, if you are one")] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Ask for an emergency override of overridable checks; a second person confirms it (override-confirm)."""
        row = run_in_transaction(
            lambda s: clearance.request_override(
                s,
                authorization_id=authorization_id,
                requester=_signer(s, actor_of(actor), role, site, prescriber),
                reason=reason,
                bypassed=bypass,
                at=at_of(at),
            )
        )
        typer.echo(
            f"override {row.id} asked; it bypasses nothing until a second person confirms it with: "
            f"rxguard override-confirm {row.id} --role ROLE --reason ..."
        )

    @app.command("override-confirm")
    def override_confirm(
        override_id: str,
        role: Annotated[str, typer.Option()],
        reason: Annotated[str, typer.Option()],
        site: Annotated[str | None, typer.Option(help="The infusion site you work at")] = None,
        prescriber: Annotated[str | None, typer.Option(help="Your prescriber key, if you are one")] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Confirm an override as the second person (not the one who asked; of the visit's site or its prescriber)."""
        row = run_in_transaction(
            lambda s: clearance.confirm_override(
                s,
                override_id=override_id,
                confirmer=_signer(s, actor_of(actor), role, site, prescriber),
                reason=reason,
                at=parse_datetime(at),
            )
        )
        typer.echo(f"override {row.id} confirmed; reconcile it with: rxguard overrides --reconcile {row.id}")

    @app.command("overrides")
    def overrides(
        reconcile: Annotated[str | None, typer.Option(help="Override id to reconcile")] = None,
        note: Annotated[str | None, typer.Option()] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """List overrides not yet reconciled, or reconcile one."""
        if reconcile:
            run_in_transaction(
                lambda s: clearance.reconcile_override(
                    s, override_id=reconcile, actor=actor_of(actor), note=note or "", at=at_of(at)
                )
            )
            typer.echo(f"override {reconcile} reconciled")
            return
        rows = run_in_transaction(
            lambda s: [
                {
                    "id": o.id,
                    "authorization": o.authorization_id,
                    "actor": o.actor,
                    "role": o.role,
                    "reason": o.reason,
                    "bypassed": o.bypassed["requirements"],
                    "at": o.at.isoformat(),
                }
                for o in clearance.unreconciled_overrides(s)
            ]
        )
        echo_json(rows)

    @app.command("infuse")
    def infuse(
        authorization_id: str,
        key: Annotated[str, typer.Option("--idempotency-key")],
        product: Annotated[str, typer.Option()],
        lot: Annotated[str, typer.Option()],
        dose: Annotated[float, typer.Option()],
        volume_ml: Annotated[float, typer.Option("--volume-ml")],
        prepared_at: Annotated[str, typer.Option()],
        started_at: Annotated[str, typer.Option()],
        stopped_at: Annotated[str, typer.Option()],
        observation_end_at: Annotated[str | None, typer.Option()] = None,
        storage: Annotated[str, typer.Option(help="refrigerated or room_temperature")] = "refrigerated",
        unit: Annotated[str, typer.Option()] = "mg",
        diluent: Annotated[str, typer.Option()] = "0.9% sodium chloride",
        reactions: Annotated[str, typer.Option()] = "",
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record an infusion under its authorization (checked against the pack; retries are safe)."""
        request = InfusionRequest(
            authorization_id=authorization_id,
            idempotency_key=key,
            product=product,
            lot=lot,
            dose=dose,
            dose_unit=unit,
            diluent=diluent,
            volume_ml=volume_ml,
            prepared_at=parse_datetime(prepared_at, "--prepared-at"),
            storage=storage,
            started_at=parse_datetime(started_at, "--started-at"),
            stopped_at=parse_datetime(stopped_at, "--stopped-at"),
            observation_end_at=parse_datetime(observation_end_at, "--observation-end-at")
            if observation_end_at
            else None,
            reactions=reactions,
        )
        row = run_in_transaction(lambda s: record_infusion(s, request, at=at_of(at), actor=actor_of(actor)))
        echo_json({"infusion": row.id, "dose_number": row.dose_number, "warnings": row.warnings["warnings"]})


def _monitoring_commands(app: typer.Typer, ae_app: typer.Typer) -> None:
    from rxguard.program import adverse_events, enrollment, monitoring, transfer

    @app.command("monitor")
    def monitor(
        patient: PatientOpt,
        kind: Annotated[str, typer.Option(help="A monitoring kind the program declares (see 'rxguard record-kinds').")],
        on: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: --at)")] = None,
        measure: Annotated[
            list[str] | None,
            typer.Option("--measure", help="id=value (repeat), in the unit the pack declares; e.g. score=2.5"),
        ] = None,
        result: Annotated[str, typer.Option()] = "",
        program: Annotated[str | None, typer.Option()] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record a monitoring item of a kind the pack declares, with its measurements."""
        when = at_of(at)
        day = parse_date(on, "--on") if on else when.date()

        def work(s: Session) -> None:
            enrolled = enrollment.enrollment_of(s, patient, program, lock=True)
            kinds = monitoring.kinds_of(enrolled)
            values: dict[str, object] = {}
            for text in measure or []:
                name, value = monitoring.parse_measurement(kinds, text)
                if name in values:
                    raise InputError(f"--measure {name} is given twice; give each measurement once")
                values[name] = value
            monitoring.record(s, enrolled, kind=kind, on=day, at=when, actor=actor_of(actor), result=result,
                              measurements=values)  # fmt: skip

        run_in_transaction(work)
        typer.echo(f"{kind} recorded for {patient} on {day}")

    @app.command("record-kinds")
    def record_kinds(program: ProgramOpt) -> None:
        """The monitoring and adverse-event kinds and the measurements (type, UCUM unit, range) a program records."""
        from rxguard.program.registry import get_program

        echo_json(get_program(program).kinds.model_dump(mode="json"))

    @app.command("due")
    def due(
        at: At = None,
        patient: Annotated[str | None, typer.Option()] = None,
        program: Annotated[str | None, typer.Option()] = None,
    ) -> None:
        """Who is overdue or due, for what (one SQL query); or one patient's calendar and trend."""
        day = parse_datetime(at).date()

        def work(s: Session) -> Any:
            if patient is None:
                rows = monitoring.population_due(s, on=day) + adverse_events.alert_clock(s, on=day)
                return [row.to_dict() for row in sorted(rows, key=lambda r: (r.due_on, r.patient, r.item))]
            enrolled = enrollment.enrollment_of(s, patient, program)
            return {
                "calendar": [row.to_dict() for row in monitoring.calendar(s, enrolled, on=day)],
                "measurements": monitoring.measurement_trend(s, enrolled),
            }

        echo_json(run_in_transaction(work))

    @ae_app.command("report")
    def ae_report(
        patient: PatientOpt,
        kind: Annotated[str, typer.Option()],
        description: Annotated[str, typer.Option()],
        onset: Annotated[str, typer.Option(help="YYYY-MM-DD")],
        outcome: Annotated[str, typer.Option()] = "unknown",
        serious: Annotated[bool, typer.Option()] = False,
        seriousness: Annotated[list[str] | None, typer.Option(help="death, hospitalisation... (repeat)")] = None,
        program: Annotated[str | None, typer.Option()] = None,
        expectedness: Annotated[
            str, typer.Option(help="unexpected, expected (listed in the current labeling) or unassessed")
        ] = "unassessed",
        meddra_version: Annotated[str | None, typer.Option(help="MedDRA version of the codes, e.g. 27.1")] = None,
        meddra_llt: Annotated[
            str | None, typer.Option(help="MedDRA LLT code (8 digits), as the reporter gives it")
        ] = None,
        meddra_pt: Annotated[str | None, typer.Option(help="MedDRA PT code (8 digits)")] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Report an adverse event; a kind the pack marks as suspending suspends the authorization at once."""
        row = run_in_transaction(
            lambda s: adverse_events.report_adverse_event(
                s,
                program_id=program,
                patient_key=patient,
                kind=kind,
                serious=serious or bool(seriousness),
                seriousness=seriousness or [],
                onset_on=parse_date(onset, "--onset"),
                outcome=outcome,
                description=description,
                at=at_of(at),
                actor=actor_of(actor),
                expectedness=expectedness,
                meddra_version=meddra_version,
                meddra_llt=meddra_llt,
                meddra_pt=meddra_pt,
            )
        )
        typer.echo(f"adverse event {row.id} recorded")

    @ae_app.command("code")
    def ae_code(
        event: Annotated[str, typer.Argument(help="The adverse event id")],
        meddra_version: Annotated[str, typer.Option(help="MedDRA version, e.g. 27.1")],
        meddra_llt: Annotated[str, typer.Option(help="MedDRA LLT code (8 digits)")],
        meddra_pt: Annotated[str | None, typer.Option(help="MedDRA PT code (8 digits)")] = None,
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record the MedDRA coding the reporter or safety officer gives (rxguard ships no MedDRA)."""
        run_in_transaction(lambda s: adverse_events.code_adverse_event(
            s, event_id=event, version=meddra_version, llt=meddra_llt, pt=meddra_pt, at=at_of(at),
            actor=actor_of(actor)))  # fmt: skip
        typer.echo(f"adverse event {event} coded (MedDRA {meddra_version} LLT {meddra_llt})")

    @ae_app.command("expectedness")
    def ae_expectedness(
        event: Annotated[str, typer.Argument(help="The adverse event id")],
        value: Annotated[str, typer.Argument(help="unexpected, expected or unassessed")],
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record whether the event is listed in the current labeling (the 15-day clock counts unexpected ones)."""
        run_in_transaction(lambda s: adverse_events.assess_expectedness(
            s, event_id=event, expectedness=value, at=at_of(at), actor=actor_of(actor)))  # fmt: skip
        typer.echo(f"adverse event {event} is {value}")

    @ae_app.command("submitted")
    def ae_submitted(
        event: Annotated[str, typer.Argument(help="The adverse event id")],
        on: Annotated[str, typer.Option(help="YYYY-MM-DD the 15-day alert report was submitted")],
        at: At = None,
        actor: Actor = None,
    ) -> None:
        """Record that the 15-day alert report was submitted (it leaves 'rxguard due')."""
        run_in_transaction(lambda s: adverse_events.record_alert_submission(
            s, event_id=event, on=parse_date(on, "--on"), at=at_of(at), actor=actor_of(actor)))  # fmt: skip
        typer.echo(f"15-day alert report of {event} submitted on {on}")

    @ae_app.command("export")
    def ae_export(
        fmt: Annotated[str, typer.Option("--format", help="fhir, medwatch-json, medwatch-csv or e2b")] = "fhir",
        patient: Annotated[str | None, typer.Option()] = None,
        event: Annotated[str | None, typer.Option(help="e2b: the adverse event id")] = None,
        sender: Annotated[
            Path | None, typer.Option(help="e2b: JSON file of the sender (organisation, contact)")
        ] = None,
        draft: Annotated[bool, typer.Option(help="e2b: write it even when required elements are missing")] = False,
    ) -> None:
        """Export adverse events as FHIR AdverseEvent, the MedWatch 3500A field set, or one ICH E2B(R3) ICSR."""
        if fmt == "e2b":
            _export_icsr(event, sender, draft)
            return
        if fmt not in ("fhir", "medwatch-json", "medwatch-csv"):
            raise InputError(f"--format {fmt!r} must be fhir, medwatch-json, medwatch-csv or e2b")

        def work(s: Session) -> Any:
            events = adverse_events.list_events(s, patient)
            if fmt == "fhir":
                return [adverse_events.to_fhir(s, e) for e in events]
            return [adverse_events.to_medwatch(s, e) for e in events]

        data = run_in_transaction(work)
        if fmt == "medwatch-csv":
            sys.stdout.write(adverse_events.medwatch_csv(data))
        else:
            echo_json(data)

    @app.command("export")
    def export(path: Path, actor: Actor = None) -> None:
        """Export the whole program as FHIR NDJSON (history and audit chain included); the export is audited."""

        def work(s: Session) -> int:
            lines = list(transfer.export_ndjson(s))
            body = "".join(line + "\n" for line in lines)
            path.write_text(body, encoding="utf-8")
            transfer.record_export(s, resources=len(lines), digest=hashlib.sha256(body.encode()).hexdigest(),
                                   at=parse_datetime(None), actor=actor_of(actor))  # fmt: skip
            return len(lines)

        typer.echo(f"{run_in_transaction(work)} resources written to {path}")

    @app.command("import")
    def import_(path: Path) -> None:
        """Import a FHIR NDJSON export into an empty database (all or nothing)."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise InputError(f"{path} does not exist") from None
        engine = make_engine()
        upgrade(engine)
        engine.dispose()
        counts = run_in_transaction(lambda s: transfer.import_ndjson(s, lines))
        typer.echo(f"imported {sum(counts.values())} records into {len(counts)} tables")


def _export_icsr(event_id: str | None, sender_file: Path | None, draft: bool) -> None:
    """One ICSR to stdout; refused (with what is missing) unless complete or ``--draft``."""
    from rxguard.program import icsr
    from rxguard.program.common import by_id
    from rxguard.store.models import AdverseEvent

    if event_id is None:
        raise InputError("--format e2b needs --event ID (one report per ICSR; 'rxguard ae export' lists ids)")
    sender = icsr.Sender()
    if sender_file is not None:
        try:
            data = orjson.loads(sender_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InputError(f"--sender {sender_file}: cannot read JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InputError("--sender must hold a JSON object of sender fields")
        sender = icsr.sender_from(data)

    def work(s: Session) -> bytes:
        return icsr.to_icsr(s, by_id(s, AdverseEvent, event_id), sender, now=datetime.now(UTC))

    xml = run_in_transaction(work)
    problems = icsr.check_icsr(xml)
    if problems and not draft:
        raise InputError(
            "the ICSR is not complete: " + "; ".join(problems)
            + " (supply MedDRA coding with 'rxguard ae code', the sender with --sender; --draft writes it anyway)"
        )  # fmt: skip
    for problem in problems:
        print(f"rxguard: warning: {problem}", file=sys.stderr)
    sys.stdout.write(xml.decode())
