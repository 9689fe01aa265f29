"""Vendored static files are exactly the pinned versions: every file listed, every checksum right."""

from __future__ import annotations

import hashlib
import json
import re

from rxguard.web.templating import STATIC, TEMPLATES

VENDOR = STATIC / "vendor"
MANIFEST = json.loads((VENDOR / "vendored.json").read_text(encoding="utf-8"))["files"]


def test_every_vendored_file_is_pinned_with_its_checksum() -> None:
    present = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "vendored.json"}
    assert present == set(MANIFEST), "list every file of static/vendor in vendored.json, and nothing else"
    for name, pin in MANIFEST.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == pin["sha256"], f"{name} differs from the pinned {pin['package']} {pin['version']}"
        assert pin["version"] in pin["source"]


def test_the_pages_load_the_pinned_htmx_and_the_file_is_that_version() -> None:
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    loaded = re.findall(r'src="/static/vendor/([^"?]+)', base)
    assert loaded and all(name in MANIFEST for name in loaded)
    for name in loaded:
        version = MANIFEST[name]["version"]
        assert f'version:"{version}"' in (VENDOR / name).read_text(encoding="utf-8")
