from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.engine.model import Assessment
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import Pack, load_pack

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SYNTHEA = SHARED / "data" / "synthea-r4"


@pytest.fixture(scope="session")
def minipack() -> Pack:
    return load_pack(FIXTURES / "minipack")


@pytest.fixture
def run_mini(minipack: Pack):  # type: ignore[no-untyped-def]
    """Assess a compact patient against the test pack."""

    def run(patient: dict[str, Any], *, at: date = date(2026, 1, 5), **kwargs: Any) -> Assessment:
        bundle = build_bundle(patient, at=at, drug="testdrug")
        facts = reader_for({"testdrug": minipack}).read(bundle)
        return assess(minipack, facts, at=at, **kwargs)

    return run
