"""The committed OpenAPI 3.1 document (``docs/openapi.json``), generated from the app.

``python -m rxguard.api.openapi`` rewrites the file; a test fails when the
running app's document differs from the committed one, so a change to the API
is always a visible change to the document (and to clients generated from it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def current_document() -> dict[str, Any]:
    """The document of an app built with default settings (nothing environment-specific in it)."""
    from rxguard.api.app import create_app
    from rxguard.api.settings import ServerSettings

    return create_app(ServerSettings(database_url="sqlite://", log_level="WARNING")).openapi()


def render(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCUMENT
    target.write_bytes(render(current_document()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
