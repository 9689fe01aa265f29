"""``make bench``: every benchmark section in one invocation, one report.

Writes ``bench/results/latest.md`` and ``latest.json`` with the machine,
versions, commit and every figure; each ratio is computed from measurements
taken in this same run. ``--quick`` shortens every section.

Sections register in :data:`SECTIONS` as ``name -> "module:function"``;
each function takes ``quick`` and returns a flat dict of figures. A section
module may also define ``markdown(figures) -> list[str]``: its lines (summary
tables) come first in that section of the report, before every figure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

SECTIONS: dict[str, str] = {
    "engine": "bench.engine:run",
    "cql": "bench.cql_bench:run",
    "population": "bench.population:run",
    "writes": "bench.writes:run",
    "cold_start": "bench.cold_start:run",
    "cds_hooks": "bench.cds_hooks:run",
    "audit": "bench.audit_log:run",
    "cli_start": "bench.cli_start:run",
}
RESULTS = Path(__file__).parent / "results"


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "commit": commit,
    }


def _summary(name: str, figures: dict[str, Any]) -> list[str]:
    render = getattr(importlib.import_module(SECTIONS[name].split(":")[0]), "markdown", None)
    return [*render(figures), ""] if render is not None else []


# Issue 17's targets: (figure, section, key, target text, met(value) or None).
TARGETS: tuple[tuple[str, str, str, str, Any], ...] = (
    ("CDS Hooks order-sign, concurrency 8, 2 workers (req/s)", "cds_hooks", "workers2_c8_rps", ">= 500",
     lambda v: v >= 500),
    ("CDS Hooks order-sign, concurrency 8, 2 workers (p99 ms)", "cds_hooks", "workers2_c8_p99_ms", "<= 25",
     lambda v: v <= 25),
    ("authorization + infusion pairs/s, PostgreSQL, concurrency 8", "writes", "pairs_per_s", ">= 300",
     lambda v: v >= 300),
    ("engine, full pack, prefetch-sized facts (assessments/s)", "engine", "assessments_per_s", ">= 25,000",
     lambda v: v >= 25_000),
    ("engine vs no-op floor (x)", "engine", "assess_vs_floor", "-", None),
    ("parse + assess of ~1 MB bundle vs orjson.loads alone (x)", "engine", "parse_assess_vs_orjson", "<= 1.0",
     lambda v: v <= 1.0),
    ("rxguard check process vs python -c 'import json' (x)", "cli_start", "check_vs_python", "<= 4",
     lambda v: v <= 4),
    ("rxguard ask process vs python -c 'import json' (x)", "cli_start", "ask_vs_python", "<= 4",
     lambda v: v <= 4),
)  # fmt: skip


def _targets(report: dict[str, Any]) -> list[str]:
    """The issue 17 table from the sections of this run (a figure of a section not run says so)."""
    lines = ["## Targets (issue 17), this run", "", "| figure | measured | target | met |", "| --- | --- | --- | --- |"]
    for label, section, key, target, met in TARGETS:
        value = report["sections"].get(section, {}).get(key)
        if value is None:
            lines.append(f"| {label} | not run | {target} | - |")
            continue
        verdict = "-" if met is None else ("met" if met(value) else "missed")
        lines.append(f"| {label} | {value} | {target} | {verdict} |")
    return [*lines, ""]


def _markdown(report: dict[str, Any]) -> str:
    lines = ["# rxguard benchmark report", ""]
    for key, value in report["machine"].items():
        lines.append(f"- {key}: {value}")
    lines.append(f"- mode: {'quick' if report['quick'] else 'full'}; took {report['seconds']} s")
    lines += ["", *_targets(report)]
    for name, figures in report["sections"].items():
        lines += ["", f"## {name}", "", *_summary(name, figures), "| figure | value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in figures.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few minutes instead of up to 20")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these sections")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # in-process figures are for one core
    started = time.perf_counter()
    sections: dict[str, Any] = {}
    for name, target in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        module, func = target.split(":")
        print(f"bench: {name} ...", flush=True)
        sections[name] = getattr(importlib.import_module(module), func)(quick=args.quick)
        for key, value in sections[name].items():
            print(f"  {key}: {value}")
    report = {
        "machine": _machine(),
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "sections": sections,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (RESULTS / "latest.md").write_text(_markdown(report))
    print(f"bench: report written to {RESULTS / 'latest.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
