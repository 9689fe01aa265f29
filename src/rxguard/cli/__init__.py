"""The ``rxguard`` command line: ``rxguard <verb>`` or ``rxguard <noun> <verb>``.

Every command turns :class:`rxguard.errors.RxguardError` into one line on
stderr and exit code 2; usage errors also exit 2. Never a traceback.

Command modules are imported lazily: ``rxguard check`` loads the engine and
nothing of the program stack (SQLAlchemy, Alembic, FastAPI), because
:data:`COMMANDS` says which module registers which top-level command. Help,
an unknown command or no command at all registers every module.
"""

from __future__ import annotations

import importlib
import sys

import typer

from rxguard.errors import RxguardError, UnknownDrugError

# Top-level command -> the rxguard.cli module whose ``register(app)`` defines it.
# A test checks this table against what the modules register, so a new command
# that is missing here is caught (it would still work, only more slowly).
COMMANDS: dict[str, str] = {
    "check": "check",
    "packs": "packs",
    "info": "packs",
    "ask": "druginfo",
    "monograph": "druginfo",
    "names": "druginfo",
    "serve": "serve",
    "token": "access",
    "user": "access",
    "web": "web",
    "identity": "identity",
    **{
        name: "program"
        for name in (
            "ae",
            "audit",
            "authorize",
            "authorize-treatment",
            "certification",
            "certify",
            "clear",
            "consent",
            "db",
            "demo",
            "discontinue",
            "due",
            "enroll",
            "export",
            "form",
            "import",
            "infuse",
            "monitor",
            "override",
            "override-confirm",
            "overrides",
            "reauthorize",
            "record-kinds",
            "register",
            "resume",
        )
    },
}
MODULES: tuple[str, ...] = ("check", "packs", "druginfo", "program", "serve", "access", "identity", "web")


def build_app(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """The typer application with the commands of ``modules`` registered."""
    app = typer.Typer(
        name="rxguard",
        help="Keeps high-risk medicines safe: cited knowledge packs, patient assessment, the restricted-distribution program.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root() -> None:
        """Keeps high-risk medicines safe: cited knowledge packs, patient assessment, the restricted-distribution program."""

    for name in modules:
        importlib.import_module(f"rxguard.cli.{name}").register(app)
    return app


def modules_for(argv: list[str]) -> tuple[str, ...]:
    """The command modules ``argv`` needs: one for a known command, all otherwise."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    module = COMMANDS.get(command) if command else None
    return (module,) if module else MODULES


def run(argv: list[str]) -> int:
    """Run the CLI on ``argv``; return the exit code (usage errors: 2)."""
    try:
        build_app(modules_for(argv))(args=argv, prog_name="rxguard")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except UnknownDrugError as exc:
        hint = f" Did you mean: {', '.join(exc.suggestions)}?" if exc.suggestions else ""
        print(f"rxguard: error: {exc}{hint}", file=sys.stderr)
        return 2
    except RxguardError as exc:
        print(f"rxguard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rxguard: interrupted; the command's changes were rolled back", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback, whatever the input: one line saying what failed
        print(f"rxguard: error: {describe_unexpected(exc)}", file=sys.stderr)
        return 1
    return 0


def describe_unexpected(exc: Exception) -> str:
    """One line for an error no command expected: its kind, never the SQL or the values it carried."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}; check the path and its permissions"
    if type(exc).__module__.startswith("sqlalchemy"):
        cause = type(getattr(exc, "orig", None) or exc).__name__
        return (
            f"the database refused the command ({cause}); nothing was changed. Check RXGUARD_DATABASE_URL, "
            "and run 'rxguard db upgrade' if the database is new or older than this rxguard"
        )
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"unexpected {type(exc).__name__}{': ' + first[:200] if first else ''}; nothing was changed. "
        "This is a bug in rxguard: please report the command that caused it"
    )


def main() -> None:
    sys.exit(run(sys.argv[1:]))
