"""Audit the installed dependencies with pip-audit, and say plainly when it could not.

pip-audit looks every package up in an advisory service. Where that service
cannot be reached (a mirror-only package index, no outside network), pip-audit
skips each package and still prints "No known vulnerabilities found" with exit
code 0 — a silent pass. This wrapper reads its JSON instead and:

* fails (exit 1) on any known vulnerability;
* prints ``DEPENDENCY AUDIT NOT DONE`` with the count when packages could not be
  audited, and fails too when ``RXGUARD_REQUIRE_AUDIT=1`` (set it wherever the
  advisory data is reachable, so a lost connection cannot pass unnoticed);
* records the outcome under ``pip_audit`` in the reliability figures report.

Run: ``python tests/reliability/dependency_audit.py`` (``make audit``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPORT = Path(os.environ.get("RXGUARD_RELIABILITY_REPORT", "var/reliability/figures.json"))


def run_pip_audit() -> dict[str, Any]:
    command = [str(Path(sys.executable).with_name("pip-audit")), "--format", "json", "--progress-spinner", "off",
               "--skip-editable"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]}
    return data


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    if "error" in data:
        return {"audited": 0, "not_audited": None, "vulnerabilities": [], "error": data["error"]}
    dependencies = data.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [
        f"{d['name']} {d['version']}: {v.get('id')} (fixed in {', '.join(v.get('fix_versions', [])) or 'no release'})"
        for d in dependencies
        for v in d.get("vulns", [])
    ]
    return {
        "audited": len(dependencies) - len(skipped),
        "not_audited": len(skipped),
        "vulnerabilities": vulnerable,
        "example_skip_reason": skipped[0]["skip_reason"] if skipped else "",
    }


def record(summary: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if REPORT.is_file():
        try:
            data = json.loads(REPORT.read_text())
        except json.JSONDecodeError:
            data = {}
    data.setdefault("figures", {})["pip_audit"] = {
        **{k: v for k, v in summary.items() if k != "vulnerabilities"},
        "vulnerabilities": len(summary["vulnerabilities"]),
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True))


def main() -> int:
    summary = summarise(run_pip_audit())
    record(summary)
    for line in summary["vulnerabilities"]:
        print(f"VULNERABLE: {line}")
    not_done = summary.get("error") or summary["not_audited"]
    if not_done:
        print("=" * 78)
        print(f"DEPENDENCY AUDIT NOT DONE: {summary['not_audited'] or 'all'} packages could not be audited "
              f"({summary.get('error') or summary['example_skip_reason']}).")  # fmt: skip
        print("The advisory data is not reachable from this machine; this is not a pass.")
        print("=" * 78)
    else:
        print(f"dependency audit: {summary['audited']} packages audited, "
              f"{len(summary['vulnerabilities'])} known vulnerabilities")  # fmt: skip
    if summary["vulnerabilities"]:
        return 1
    if not_done and os.environ.get("RXGUARD_REQUIRE_AUDIT") == "1":
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
