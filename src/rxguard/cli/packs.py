"""``rxguard packs list|validate|test`` and ``rxguard info DRUG``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rxguard.engine.vignettes import coverage, run_vignette
from rxguard.errors import PackError
from rxguard.knowledge.loader import Pack, discover_pack_paths, load_all, load_pack
from rxguard.knowledge.names import resolve_drug
from rxguard.knowledge.summary import info_dict


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _selected(paths: list[Path] | None) -> dict[str, Pack]:
    if paths:
        loaded = [load_pack(p) for p in paths]
        return {p.name: p for p in loaded}
    return {name: load_pack(path) for name, path in sorted(discover_pack_paths().items())}


def register(app: typer.Typer) -> None:
    packs_app = typer.Typer(help="Knowledge packs: list, validate, run vignettes.", no_args_is_help=True)
    app.add_typer(packs_app, name="packs")

    @packs_app.command("list")
    def list_packs() -> None:
        """Installed packs with version, rule count and where they come from."""
        table = Table("pack", "version", "reviewed", "rules", "vignettes", "path")
        for name, path in discover_pack_paths().items():
            pack = load_all()[name]
            table.add_row(
                name,
                pack.meta.version,
                str(pack.meta.last_reviewed_on),
                str(len(pack.rules)),
                str(sum(len(v.vignettes) for v in pack.vignette_files)),
                str(path),
            )
        _console().print(table)

    @packs_app.command("validate")
    def validate(
        paths: Annotated[list[Path] | None, typer.Argument(help="Pack folders (default: all installed).")] = None,
    ) -> None:
        """Schema and cross-reference checks; every problem names file, line and field."""
        packs = _selected(paths)
        problems = []
        for pack in packs.values():
            for rule_id, (fires, quiet) in coverage(pack).items():
                if not fires:
                    problems.append(f"{pack.path}: rule {rule_id} has no vignette where it fires")
                if not quiet:
                    problems.append(f"{pack.path}: rule {rule_id} has no vignette where it must not fire")
        if problems:
            raise PackError("\n".join(problems))
        for pack in packs.values():
            typer.echo(
                f"{pack.name} {pack.meta.version}: valid ({len(pack.rules)} rules, {len(pack.sources)} sources, {len(pack.conflicts)} conflicts)"
            )

    @packs_app.command("test")
    def test(
        paths: Annotated[list[Path] | None, typer.Argument(help="Pack folders (default: all installed).")] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every vignette.")] = False,
    ) -> None:
        """Run every vignette: rules that must fire and must not."""
        console = _console()
        failed = total = 0
        for pack in _selected(paths).values():
            for vfile, index, _ in pack.vignettes():
                result = run_vignette(pack, vfile, index)
                total += 1
                label = f"{result.ref + ': ' if result.ref else ''}{result.name}"
                if result.problems:
                    failed += 1
                    console.print(f"[red]FAIL[/] {pack.name} {escape(label)}  [dim]{result.path}:{result.line}[/]")
                    for problem in result.problems:
                        console.print(f"     - {escape(problem)}")
                elif verbose:
                    console.print(f"[green]ok[/]   {pack.name} {escape(label)}")
        console.print(f"{total - failed} passed, {failed} failed")
        if failed:
            raise typer.Exit(1)

    @app.command()
    def info(
        drug: Annotated[str, typer.Argument(help="Any name of the drug.")],
        format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ) -> None:
        """Names, products, rule count, sources and recorded conflicts of a drug's pack."""
        resolution = resolve_drug(drug)
        pack = load_all()[resolution.drug]
        data = info_dict(pack)
        if format == "json":
            typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
            return
        console = _console()
        console.print(
            f"[bold]{escape(pack.identity.inn)}[/] ({escape(pack.identity.display.get('zh', ''))}) — pack {pack.meta.version}, reviewed {pack.meta.last_reviewed_on}"
        )
        console.print(
            f"ATC {pack.identity.atc}; products: "
            + ", ".join(
                f"{p.name}{' (' + p.proper_name + ')' if p.proper_name else ''} [{'/'.join(p.jurisdictions)}]"
                for p in pack.identity.products
            )
        )
        review = sum(1 for r in pack.rules if r.needs_review)
        protocol = sum(1 for r in pack.rules if r.protocol)
        console.print(f"{len(pack.rules)} rules ({review} need review, {protocol} protocol)")
        table = Table("source", "title", "jur.", "version", "tier", "verified")
        for s in pack.sources.values():
            table.add_row(
                s.id, escape(s.title), s.jurisdiction, escape(s.version), s.tier, "yes" if s.verified else "no"
            )
        console.print(table)
        console.print("[bold]Where sources disagree[/]")
        for c in pack.conflicts:
            console.print(f"• [bold]{escape(c.topic)}[/] ({c.kind}): {escape(c.resolution)}")
