"""Vendored static files are exactly the pinned versions: every file listed, every checksum right."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from rxguard.api.docs import REDOC, SWAGGER_UI
from rxguard.web.templating import STATIC, TEMPLATES

VENDOR = STATIC / "vendor"
MANIFEST = json.loads((VENDOR / "vendored.json").read_text(encoding="utf-8"))["files"]
TEST_VENDOR = Path(__file__).parent / "vendor"  # axe-core, for the browser tests only


@pytest.mark.parametrize("folder", [VENDOR, TEST_VENDOR], ids=["static", "tests"])
def test_every_vendored_file_is_pinned_with_its_checksum_and_licence(folder: Path) -> None:
    manifest = json.loads((folder / "vendored.json").read_text(encoding="utf-8"))["files"]
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name != "vendored.json"}
    assert present == set(manifest), f"list every file of {folder.name} in vendored.json, and nothing else"
    for name, pin in manifest.items():
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert digest == pin["sha256"], f"{name} differs from the pinned {pin['package']} {pin['version']}"
        assert pin["source"] == f"npm:{pin['package']}@{pin['version']}/" + pin["source"].split("/", 1)[1]
        assert pin["licence"], f"{name}: record the licence"
        if not name.endswith(".txt"):
            assert any(m["package"] == pin["package"] and "LICENSE" in n for n, m in manifest.items()), (
                f"{name}: ship the licence text of {pin['package']} beside it"
            )


def test_the_documentation_pages_load_the_pinned_versions() -> None:
    for prefix, version in ((SWAGGER_UI, "5.35.0"), (REDOC, "2.5.4")):
        files = [name for name in MANIFEST if name.startswith(prefix)]
        assert files and all(MANIFEST[name]["version"] == version for name in files)
    assert f'PACKAGE_VERSION:"{MANIFEST[SWAGGER_UI + "-bundle.js"]["version"]}"' in (
        VENDOR / f"{SWAGGER_UI}-bundle.js"
    ).read_text(encoding="utf-8")
    assert '"2.5.4"' in (VENDOR / f"{REDOC}.standalone.js").read_text(encoding="utf-8")


def test_the_pages_load_the_pinned_htmx_and_the_file_is_that_version() -> None:
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    loaded = re.findall(r'src="/static/vendor/([^"?]+)', base)
    assert loaded and all(name in MANIFEST for name in loaded)
    for name in loaded:
        version = MANIFEST[name]["version"]
        assert f'version:"{version}"' in (VENDOR / name).read_text(encoding="utf-8")
