"""Fixtures for drug-information tests: small packs built in tmp_path, and the real packs.

The small packs carry only what name resolution and rendering need, with the
identities of clinical-facts §4, so the name tests do not depend on how far
the real packs have been written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from rxguard.knowledge.loader import Pack, load_pack

NATALIZUMAB_IDENTITY: dict[str, Any] = {
    "id": "natalizumab",
    "inn": "natalizumab",
    "display": {"en": "natalizumab", "zh": "那他珠单抗"},
    "atc": "L04AG03",
    "atc_history": [{"code": "L04AA23", "until": "2024"}],
    "former_names": ["Antegren", "AN100226M"],
    "chinese_names": [{"name": "那他珠单抗", "verified": False, "source": "S34", "note": "commercial page"}],
    "aliases": [
        {"text": "TYRUKOREMS", "kind": "program", "refers_to": "program", "note": "typo"},
    ],
    "products": [
        {
            "id": "tysabri",
            "name": "TYSABRI",
            "kind": "reference",
            "jurisdictions": ["US", "EU"],
            "program": "TOUCH Prescribing Program",
            "sources": ["S1"],
        },
        {
            "id": "tyruko",
            "name": "TYRUKO",
            "proper_name": "natalizumab-sztn",
            "kind": "biosimilar",
            "jurisdictions": ["US", "EU"],
            "program": "TYRUKO REMS",
            "sources": ["S9"],
        },
    ],
    "sources": ["S1"],
}

MIFAMURTIDE_IDENTITY: dict[str, Any] = {
    "id": "mifamurtide",
    "inn": "mifamurtide",
    "display": {"en": "mifamurtide", "zh": "米伐木肽"},
    "atc": "L03AX15",
    "former_names": [],
    "chinese_names": [{"name": "米伐木肽", "verified": False, "source": "S34", "note": "commercial page"}],
    "aliases": [
        {"text": "L-MTP-PE", "kind": "other"},
        {"text": "mivamutide", "kind": "misspelling"},
        {"text": "miavamuttide", "kind": "misspelling"},
        {"text": "Mivarintide", "kind": "misspelling"},
        {"text": "Milvage peptide", "kind": "other"},
    ],
    "products": [
        {
            "id": "mepact",
            "name": "MEPACT",
            "kind": "reference",
            "jurisdictions": ["EU"],
            "sources": ["S12"],
        }
    ],
    "sources": ["S12"],
}

SOURCES = ["S1", "S9", "S12", "S34"]


def dump_yaml(data: Any, path: Path) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def write_pack(root: Path, identity: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write the smallest valid pack folder around an identity and return its path."""
    drug = identity["id"]
    folder = root / drug
    folder.mkdir(parents=True)
    files: dict[str, Any] = {
        "pack.yaml": {
            "meta": {"name": drug, "version": "0.0.1", "last_reviewed_on": "2026-01-01"},
            "identity": identity,
        },
        "sources.yaml": [
            {
                "id": s,
                "title": f"Source {s}",
                "jurisdiction": "US",
                "version": "1",
                "tier": "A",
                "verified": True,
            }
            for s in SOURCES
        ],
        "valuesets.yaml": [{"id": drug, "title": drug, "kind": "medication", "names": [drug]}],
        "rules.yaml": [],
        "conflicts.yaml": [],
        "schedule.yaml": {
            "dosing": {
                "dose": "x",
                "route": "iv",
                "phases": [{"from_infusion": 1, "min_interval": "P28D", "nominal_interval": "P4W"}],
                "sources": [{"source": SOURCES[0], "section": "§2"}],
            },
            "monitoring": [],
        },
    }
    files.update(extra or {})
    for name, data in files.items():
        dump_yaml(data, folder / name)
    return folder


@pytest.fixture(scope="session")
def mini_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pack]:
    root = tmp_path_factory.mktemp("packs")
    return {
        "natalizumab": load_pack(write_pack(root, NATALIZUMAB_IDENTITY)),
        "mifamurtide": load_pack(write_pack(root, MIFAMURTIDE_IDENTITY)),
    }
