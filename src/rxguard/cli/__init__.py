"""The ``rxguard`` command line: ``rxguard <verb>`` or ``rxguard <noun> <verb>``.

Every command turns :class:`rxguard.errors.RxguardError` into one line on
stderr and exit code 2; usage errors also exit 2. Never a traceback.
"""

from __future__ import annotations

import sys

import typer

from rxguard.cli import access, check, druginfo, identity, packs, serve, web
from rxguard.cli import program as program_cli
from rxguard.errors import RxguardError, UnknownDrugError

app = typer.Typer(
    name="rxguard",
    help="Keeps high-risk medicines safe: cited knowledge packs, patient assessment, the restricted-distribution program.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
check.register(app)
packs.register(app)
druginfo.register(app)
program_cli.register(app)
serve.register(app)
access.register(app)
identity.register(app)
web.register(app)


def run(argv: list[str]) -> int:
    """Run the CLI on ``argv``; return the exit code (usage errors: 2)."""
    try:
        app(args=argv, prog_name="rxguard")
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
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))
