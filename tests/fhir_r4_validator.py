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
