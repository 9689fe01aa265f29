"""docs/api.md keeps up with the code: every endpoint, operation id, setting and command is there."""

from __future__ import annotations

from pathlib import Path

import orjson

from rxguard.api.openapi import DOCUMENT
from rxguard.api.settings import ServerSettings
from rxguard.store.settings import Settings as StoreSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_endpoint_and_operation_id_is_documented() -> None:
    document = orjson.loads(DOCUMENT.read_bytes())
    missing = []
    for path, operations in document["paths"].items():
        if path not in DOC:
            missing.append(path)
        missing += [op["operationId"] for op in operations.values() if f"`{op['operationId']}`" not in DOC]
    assert missing == [], f"document these in docs/api.md: {missing}"


def test_every_server_setting_is_documented() -> None:
    own = set(ServerSettings.model_fields) - set(StoreSettings.model_fields)
    missing = [f"RXGUARD_{name.upper()}" for name in sorted(own) if f"RXGUARD_{name.upper()}" not in DOC]
    assert missing == [], f"document these settings in docs/api.md: {missing}"


def test_the_http_commands_are_documented() -> None:
    for command in ("rxguard serve", "rxguard user create", "rxguard user list", "rxguard user demo",
                    "rxguard token create", "rxguard token revoke"):  # fmt: skip
        assert command in DOC, command
