"""Dependencies: floors above the versions with known advisories, and a hashed lock that covers pyproject.toml.

The floors table names the advisories read for the security review
(docs/security.md); a floor may only rise. The lock must pin every package
pyproject.toml names, each with at least one sha256 hash, at a version inside
the declared range, so `make` (pip install --require-hashes) installs what was
reviewed and nothing a resolver picked later.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements.lock"

#: package -> the lowest version without the advisories read (docs/security.md).
ADVISORY_FLOORS = {
    "pyjwt": "2.12",
    "python-multipart": "0.0.32",
    "starlette": "1.6",
    "jinja2": "3.1.6",
    "cryptography": "50.0",
}


def _declared() -> dict[str, Requirement]:
    lines = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"]["dev"]]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _locked() -> dict[str, tuple[Version, list[str]]]:
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if found:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
            pins[canonicalize_name(found.group(1))] = (Version(found.group(2)), hashes)
    return pins


def test_floors_exclude_the_versions_with_advisories() -> None:
    declared = _declared()
    for name, floor in ADVISORY_FLOORS.items():
        assert name in declared, f"{name} must be a declared dependency with a floor"
        specifier = declared[name].specifier
        lowest = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
        assert lowest and min(lowest) >= Version(floor), f"{name}: floor {specifier} admits versions below {floor}"


def test_the_lock_pins_every_declared_package_with_hashes_inside_its_range() -> None:
    locked = _locked()
    for name, requirement in _declared().items():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        assert name in locked, f"{name} is in pyproject.toml but not in requirements.lock: run 'make lock'"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} is outside {requirement}"
        assert hashes, f"{name} has no hash in requirements.lock"
    for name, floor in ADVISORY_FLOORS.items():
        assert locked[name][0] >= Version(floor)


def test_make_installs_from_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements.lock" in makefile
    assert "requirements.lock" in makefile.split("$(STAMP):", 1)[1].splitlines()[0]
