"""``rxguard check``: assess one patient record for one drug."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from rxguard.cli.options import parse_at, parse_jurisdiction, read_json_file
from rxguard.engine.check import CheckResult, check_patient
from rxguard.engine.model import Assessment
from rxguard.errors import InputError, RxguardError
from rxguard.knowledge.names import resolve_drug

_STYLE = {"contraindicated": "bold red", "hold": "bold yellow", "caution": "yellow", "ok": "green", "info": "cyan"}


def render_text(result: CheckResult, console: Console) -> None:
    a, r = result.assessment, result.resolution
    via = "" if r.matched.casefold() == r.display.casefold() else f" (from “{escape(r.matched)}”, {r.via})"
    console.print(
        f"[bold]{escape(r.display)}[/bold]{via} — {a.jurisdiction or 'no jurisdiction: stricter rules apply'} — {a.at}"
    )
    console.print(f"Verdict: [{_STYLE[a.verdict]}]{a.verdict.upper()}[/]")
    if a.stratum:
        review = " [yellow](cut-offs not verified: review)[/]" if a.stratum.needs_review else ""
        console.print(f"{escape(a.stratum.model_title or 'Risk')} stratum: {escape(a.stratum.title)}{review}")
    console.print(f"Previous infusions: {a.infusions_before}")
    for f in a.findings:
        flag = " [yellow]NEEDS REVIEW[/]" if f.needs_review else ""
        flag += " [bold yellow]COULD NOT VERIFY[/]" if f.could_not_verify else ""
        counts = f" (counts as {f.effective_severity})" if f.effective_severity != f.severity else ""
        console.print(
            f"\n[{_STYLE.get(f.severity, '')}]{f.severity.upper()}[/]{counts}{flag} {escape(f.title)}  [dim]{f.rule_id} · basis {f.basis}[/]"
        )
        # A rule that could not be verified has not found what its message describes: say so before it.
        when = "[bold]If it applies:[/] " if f.could_not_verify else ""
        console.print(f"  {when}{escape(f.message)}")
        console.print(f"  [bold]Action:[/] {escape(f.action)}")
        for line in f.evidence:
            console.print(f"  • {escape(line)}")
        if f.needs_review and f.review_note:
            console.print(f"  [yellow]Review:[/] {escape(f.review_note)}")
        for s in f.sources:
            verified = "verified" if s.verified else "not verified"
            console.print(
                f"  [dim]Source {s.id}: {escape(s.title)} — {escape(s.section)} ({s.jurisdiction}, tier {s.tier}, {verified})[/]"
            )
    if not a.findings:
        console.print("\nNo rule fired.")
    if a.due:
        console.print("\n[bold]Due[/]")
        for d in a.due:
            console.print(f"  {d.status:<9} {d.due_on}  {escape(d.title)}")
    for note in a.notes:
        console.print(f"[yellow]Note:[/] {escape(note)}")
    render_coverage(a, console)
    console.print(
        f"\n[dim]Pack {a.pack_name} {a.pack_version}. For healthcare professionals; not a treatment recommendation.[/]"
    )


def render_coverage(a: Assessment, console: Console) -> None:
    """What was checked and what could not be: a verdict is only as good as what it could read."""
    cov = a.coverage
    gaps = len(cov.could_not_verify)
    state = "[green]complete[/]" if cov.complete else f"[bold yellow]{gaps} rule(s) could not be verified[/]"
    console.print(f"\n[bold]Coverage:[/] {len(cov.checked)} rule(s) checked; {state}")
    for f in cov.could_not_verify:
        console.print(f"  [yellow]could not verify[/] {f.rule_id} (counts as {f.effective_severity})")
        for reason in f.evidence:
            console.print(f"    • {escape(reason)}")
    for line in cov.not_read:
        console.print(f"  [yellow]not read:[/] {escape(line)}")
    for line in cov.notes:
        console.print(f"  [dim]{escape(line)}[/]")
    if cov.switched_off:
        console.print(f"  [dim]switched off by protocol: {', '.join(cov.switched_off)}[/]")


def check_folder(
    folder: Path, drug: str, *, at: date, jurisdiction: str | None, answers: Any, patient: str | None = None
) -> bool:
    """One NDJSON line per ``*.json`` file in ``folder`` (sorted by name): its assessment, or its error.

    A file that cannot be assessed gets a line ``{"file": ..., "error": ...}`` and the run goes on;
    returns False when any file failed, so the command can exit 2 after writing every line.
    """
    if not folder.is_dir():
        raise InputError(f"--bundles {str(folder)!r} is not a folder; give a folder of FHIR Bundle files (*.json)")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise InputError(f"--bundles {str(folder)!r} holds no *.json file")
    resolve_drug(drug)  # an unknown drug is one error for the run, not one per file
    ok = True
    for path in files:
        line: dict[str, Any] = {"file": path.name}
        try:
            result = check_patient(
                drug, read_json_file(path, "bundle"), at=at, jurisdiction=jurisdiction, answers=answers, patient=patient
            )
            line.update(result.to_dict())
        except RxguardError as exc:
            line["error"] = str(exc)
            ok = False
        typer.echo(orjson.dumps(line).decode())
    return ok


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        drug: Annotated[
            str, typer.Option("--drug", help="INN, brand, biosimilar, Chinese name or a common misspelling.")
        ],
        bundle: Annotated[Path | None, typer.Option("--bundle", help="FHIR R4 Bundle (JSON) of the patient.")] = None,
        bundles: Annotated[
            Path | None,
            typer.Option("--bundles", help="A folder of Bundles (*.json): one assessment per file, as NDJSON."),
        ] = None,
        at: Annotated[str | None, typer.Option(help="Assessment date, YYYY-MM-DD (default: today).")] = None,
        jurisdiction: Annotated[str | None, typer.Option(help="US or EU; omit to apply the stricter rule.")] = None,
        answers: Annotated[
            Path | None, typer.Option(help="JSON object of pre-infusion checklist answers (true = yes).")
        ] = None,
        format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
        patient: Annotated[
            str | None,
            typer.Option("--patient", help="Which Patient to assess when the bundle holds several (id or fullUrl)."),
        ] = None,
    ) -> None:
        """Assess a patient record for a drug: verdict, findings with evidence and sources, what is due."""
        if (bundle is None) == (bundles is None):
            raise InputError("give either --bundle FILE (one record) or --bundles FOLDER (every *.json in it)")
        if bundles is not None:
            format = "ndjson" if format == "text" else format
            if format != "ndjson":
                raise InputError(f"--format {format!r} does not go with --bundles; --bundles writes ndjson")
        elif format not in ("text", "json"):
            raise InputError(f"--format {format!r} is not known; use text or json (ndjson with --bundles)")
        day = parse_at(at)
        where = parse_jurisdiction(jurisdiction)
        answer_data = read_json_file(answers, "answers") if answers else None
        if bundles is not None:
            if not check_folder(bundles, drug, at=day, jurisdiction=where, answers=answer_data, patient=patient):
                raise typer.Exit(2)
            return
        assert bundle is not None
        data = read_json_file(bundle, "bundle")
        result = check_patient(drug, data, at=day, jurisdiction=where, answers=answer_data, patient=patient)
        if format == "json":
            typer.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
        else:
            render_text(result, Console(highlight=False, soft_wrap=True))
