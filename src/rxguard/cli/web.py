"""``rxguard web password NAME`` and ``rxguard web demo-users``: sign-ins for the web application.

API clients use tokens (``rxguard token create``); people in a browser sign
in with a user name and a password, stored as a scrypt hash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from rxguard.access.demo_users import create_demo_users
from rxguard.access.passwords import set_password
from rxguard.cli.options import require_development
from rxguard.store import make_engine, session_factory, transaction

ACTOR = "cli"
DEMO_PASSWORD = "rxguard-demo-2026"


def register(app: typer.Typer) -> None:
    web_app = typer.Typer(help="Sign-ins for the web application.", no_args_is_help=True)
    app.add_typer(web_app, name="web")

    @web_app.command("password")
    def password(
        name: Annotated[str, typer.Argument(help="The user (see 'rxguard user list').")],
        new_password: Annotated[
            str, typer.Option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                              help="At least 12 characters; prompted for when not given.")
        ],
    ) -> None:  # fmt: skip
        """Set a user's web sign-in password (stored as a scrypt hash)."""
        with transaction(session_factory(make_engine())) as session:
            set_password(session, user_name=name, password=new_password, at=datetime.now(UTC), actor=ACTOR)
        typer.echo(f"password of {name} set; they can sign in to the web application")

    @web_app.command("demo-users")
    def demo_users(
        demo_password: Annotated[str, typer.Option("--password", help="The password every demo user gets.")] = (
            DEMO_PASSWORD
        ),
    ) -> None:
        """Create one sign-in per role for the demo program (run after 'rxguard demo load'); development only."""
        require_development("rxguard web demo-users")
        with transaction(session_factory(make_engine())) as session:
            users = create_demo_users(session, password=demo_password, at=datetime.now(UTC), actor=ACTOR)
        typer.echo(f"web sign-ins (password for each: {demo_password}):")
        for name, what in users.items():
            typer.echo(f"  {name:8} {what}")
