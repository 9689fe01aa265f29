"""``rxguard user create|list|disable|enable|role|totp`` and ``rxguard token create|list|revoke``: who may use rxguard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from rxguard.access import create_token, create_user, list_users, revoke_token
from rxguard.access.tokens import DEFAULT_DAYS, list_tokens, token_state
from rxguard.access.users import change_role, disable_user, enable_user
from rxguard.cli.options import require_development
from rxguard.store import make_engine, session_factory, transaction

ACTOR = "cli"


def _sessions() -> sessionmaker[Session]:
    return session_factory(make_engine())


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="Users of the API and their roles.", no_args_is_help=True)
    token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")

    @user_app.command("create")
    def user_create(
        name: Annotated[str, typer.Argument(help="Sign-in name, e.g. ada.")],
        role: Annotated[str, typer.Option(help="prescriber, nurse, pharmacist, admin or auditor.")],
        prescriber: Annotated[str | None, typer.Option(help="Prescriber key (role prescriber).")] = None,
        site: Annotated[str | None, typer.Option(help="Infusion site key (roles nurse, pharmacist).")] = None,
        display_name: Annotated[str, typer.Option(help="Name shown to people.")] = "",
    ) -> None:
        """Add a user with one role; prescribers are tied to a prescriber, site staff to a site."""
        with transaction(_sessions()) as session:
            user = create_user(
                session, name=name, role=role, prescriber_key=prescriber, site_key=site,
                display_name=display_name, at=datetime.now(UTC), actor=ACTOR,
            )  # fmt: skip
            typer.echo(f"user {user.name} ({user.role}) created")

    @user_app.command("list")
    def user_list() -> None:
        """Every user with role and state."""
        with transaction(_sessions()) as session:
            for user in list_users(session):
                state = "disabled" if user.disabled_at else "active"
                typer.echo(f"{user.name}\t{user.role}\t{state}\t{user.display_name}")

    @user_app.command("disable")
    def user_disable(name: Annotated[str, typer.Argument(help="The user to stop.")]) -> None:
        """Stop a user at once: sign-in refused, every browser session and API token ended for good."""
        with transaction(_sessions()) as session:
            disable_user(session, name=name, at=datetime.now(UTC), actor=ACTOR)
        typer.echo(f"user {name} disabled; their sessions and tokens are revoked (enabling does not restore them)")

    @user_app.command("enable")
    def user_enable(name: Annotated[str, typer.Argument(help="The user to let in again.")]) -> None:
        """Let a disabled user sign in again; they need new tokens (old ones stay revoked)."""
        with transaction(_sessions()) as session:
            enable_user(session, name=name, at=datetime.now(UTC), actor=ACTOR)
        typer.echo(f"user {name} enabled; create new tokens with 'rxguard token create --user {name}'")

    @user_app.command("role")
    def user_role(
        name: Annotated[str, typer.Argument(help="The user.")],
        role: Annotated[str, typer.Argument(help="prescriber, nurse, pharmacist, admin or auditor.")],
        prescriber: Annotated[str | None, typer.Option(help="Prescriber key (role prescriber).")] = None,
        site: Annotated[str | None, typer.Option(help="Infusion site key (roles nurse, pharmacist).")] = None,
    ) -> None:
        """Give a user another role; it applies from their next request."""
        with transaction(_sessions()) as session:
            user = change_role(session, name=name, role=role, prescriber_key=prescriber, site_key=site,
                               at=datetime.now(UTC), actor=ACTOR)  # fmt: skip
            typer.echo(f"user {user.name} is now {user.role}")

    @user_app.command("totp")
    def user_totp(
        name: Annotated[str, typer.Argument(help="The user (administrators and pharmacists need one).")],
    ) -> None:
        """Enrol a new TOTP second factor (replacing any old one); prints the secret and otpauth URI once."""
        from rxguard.access.passwords import enroll_totp

        with transaction(_sessions()) as session:
            secret, uri = enroll_totp(session, user_name=name, at=datetime.now(UTC), actor=ACTOR)
        typer.echo(uri)
        typer.echo(f"secret {secret}: add it to the user's authenticator app (scan the URI as a QR code)", err=True)

    @user_app.command("demo")
    def user_demo() -> None:
        """Create one demo user per role over the demo program and print a 30-day token for each."""
        require_development("rxguard user demo")
        from rxguard.access.demo import create_demo_users

        with transaction(_sessions()) as session:
            users = create_demo_users(session, at=datetime.now(UTC), actor=ACTOR)
        for user in users:
            typer.echo(f"  {user['name']:7} {user['role']:11} sees {user['sees']}")
            typer.echo(f"          token {user['token']}")

    @token_app.command("create")
    def token_create(
        user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
        days: Annotated[int, typer.Option(help=f"Expire after this many days (1-366; default {DEFAULT_DAYS}).")] = (
            DEFAULT_DAYS
        ),
        label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    ) -> None:
        """Print a new API token for a user (shown once; only its hash is stored)."""
        with transaction(_sessions()) as session:
            token, row = create_token(
                session, user_name=user, label=label, valid_days=days, at=datetime.now(UTC), actor=ACTOR
            )
            token_id = row.id
        typer.echo(token)
        typer.echo(f"token id {token_id}: send it as 'Authorization: Bearer <token>'", err=True)

    @token_app.command("list")
    def token_list(
        user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    ) -> None:
        """Every API token: id, user, state, created, expires, label (never the token itself)."""
        now = datetime.now(UTC)
        with transaction(_sessions()) as session:
            for row, name in list_tokens(session, user_name=user):
                expires = row.expires_at.strftime("%Y-%m-%d") if row.expires_at else "never"
                typer.echo(
                    f"{row.id}\t{name}\t{token_state(row, now)}\t{row.created_at:%Y-%m-%d}\t{expires}\t{row.label}"
                )

    @token_app.command("revoke")
    def token_revoke(
        token_id: Annotated[str, typer.Argument(help="The token id printed when it was created.")],
    ) -> None:
        """Revoke a token at once."""
        with transaction(_sessions()) as session:
            revoke_token(session, token_id=token_id, at=datetime.now(UTC), actor=ACTOR)
        typer.echo(f"token {token_id} revoked")
