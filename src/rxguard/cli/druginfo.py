"""``rxguard monograph``, ``rxguard ask`` and ``rxguard names resolve``: drug information.

Thin on purpose: parse the arguments, call :mod:`rxguard.druginfo` or the name
resolver, print. Bad input raises an :class:`rxguard.errors.RxguardError`,
which the CLI turns into one line on stderr and exit code 2.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import orjson
import typer

from rxguard.druginfo.ask import answer_question
from rxguard.druginfo.formats import FORMATS, render_answer, render_monograph
from rxguard.druginfo.labels import Language
from rxguard.druginfo.monograph import LANGS, build_monograph
from rxguard.errors import InputError
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.names import resolve_drug, suggest


def _language(value: str | None) -> Language | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("en", "zh"):
        return "en" if lowered == "en" else "zh"
    raise InputError(f"--lang {value!r} is not available; use one of {', '.join(LANGS)}")


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    lowered = value.strip().lower()
    if lowered not in allowed:
        raise InputError(f"{option} {value!r} is not available; use one of {', '.join(allowed)}")
    return lowered


def _jurisdiction(value: str | None) -> str | None:
    if value is None:
        return None
    upper = value.strip().upper()
    if upper not in ("US", "EU"):
        raise InputError(f"--jurisdiction {value!r} is not known; use US or EU, or leave it out (all are shown)")
    return upper


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {str(output)!r} ({exc.strerror}); check the folder exists") from None
    typer.echo(f"wrote {output}")


def _question_lines(path: Path) -> list[str]:
    """Non-empty lines of a question file (lines starting with # are comments)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--file {str(path)!r} does not exist; give a text file with one question per line") from None
    except UnicodeDecodeError:
        raise InputError(f"--file {str(path)!r} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"cannot read --file {str(path)!r} ({exc.strerror})") from None
    lines = [line.strip() for line in text.splitlines()]
    questions = [line for line in lines if line and not line.startswith("#")]
    if not questions:
        raise InputError(f"--file {str(path)!r} holds no question; write one question per line")
    return questions


def register(app: typer.Typer) -> None:
    """Add ``monograph``, ``ask`` and ``names`` to the rxguard command line."""

    @app.command()
    def monograph(
        drug: Annotated[str, typer.Argument(help="Any name of the drug: INN, brand, Chinese name, misspelling.")],
        lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "en",
        format: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    ) -> None:
        """Drug information generated from the pack, every statement cited, conflicts included."""
        language = _language(lang) or "en"
        fmt = _choice("--format", format, FORMATS)
        resolution = resolve_drug(drug)
        doc = build_monograph(load_all()[resolution.drug], language)
        _write(render_monograph(doc, fmt), output)

    @app.command()
    def ask(
        question: Annotated[str | None, typer.Argument(help="A question in English or Chinese.")] = None,
        lang: Annotated[str | None, typer.Option("--lang", help="en or zh (default: the question's).")] = None,
        format: Annotated[
            str, typer.Option("--format", help="text or json (with --file: one JSON per line).")
        ] = "text",
        jurisdiction: Annotated[str | None, typer.Option("--jurisdiction", help="US or EU (default: both).")] = None,
        file: Annotated[
            Path | None,
            typer.Option("--file", help="Answer every question in this file, one per line ('-': standard input)."),
        ] = None,
    ) -> None:
        """Answer a drug question from the packs, with sources. No network, no language model."""
        fmt = _choice("--format", format, ("text", "json"))
        language, where = _language(lang), _jurisdiction(jurisdiction)
        if (question is None) == (file is None):
            raise InputError("give one question, or --file with one question per line (e.g. rxguard ask --file q.txt)")
        if file is None:
            answer = answer_question(question or "", lang=language, jurisdiction=where)
            typer.echo(render_answer(answer, fmt), nl=False)
            return
        for number, line in enumerate(_question_lines(file), start=1):
            answer = answer_question(line, lang=language, jurisdiction=where)
            if fmt == "json":
                typer.echo(orjson.dumps(dataclasses.asdict(answer)).decode())
            else:
                typer.echo(f"{'' if number == 1 else chr(10)}## {line}\n")
                typer.echo(render_answer(answer, "text"), nl=False)

    names_app = typer.Typer(help="Drug names: how any name resolves to a pack.", no_args_is_help=True)
    app.add_typer(names_app, name="names")

    @names_app.command("resolve")
    def resolve(
        text: Annotated[str, typer.Argument(help="A drug, brand, program or Chinese name, or a misspelling.")],
        format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ) -> None:
        """Which drug a name means, how it matched and how confident the match is."""
        fmt = _choice("--format", format, ("text", "json"))
        res = resolve_drug(text)
        if fmt == "json":
            typer.echo(orjson.dumps(asdict(res), option=orjson.OPT_INDENT_2).decode())
            return
        extra = "".join(
            [
                f"; product {res.product}" if res.product else "",
                f"; program {res.program}" if res.program else "",
                "" if res.verified else "; name not verified",
            ]
        )
        typer.echo(f"{text} → {res.display} (pack {res.drug}; via {res.via}; confidence {res.confidence:.2f}{extra})")

    @names_app.command("suggest")
    def suggest_names(
        text: Annotated[str, typer.Argument(help="Part of a name or a misspelling.")],
        limit: Annotated[int, typer.Option("--limit", min=1, max=20, help="How many suggestions.")] = 5,
    ) -> None:
        """Ranked names that the input may have meant."""
        for item in suggest(text, limit=limit):
            typer.echo(f"{item.score:.2f}  {item.display}  ({item.drug})")
