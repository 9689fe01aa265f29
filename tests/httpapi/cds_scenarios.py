"""Patients for the CDS Hooks tests, as compact descriptions turned into real FHIR (clinical-facts §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rxguard.cds_hooks.testing import prefetch_from_bundle
from rxguard.facts.builder import build_bundle

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BASE = "http://testserver"

#: M1: osteosarcoma patient on ciclosporin (mifamurtide contraindicated).
M1: dict[str, Any] = {
    "age": 16,
    "sex": "male",
    "conditions": [{"text": "High-grade osteosarcoma of the left femur", "onset": "2025-11-10"}],
    "medications": [{"text": "Ciclosporin 100 MG Oral Capsule", "status": "active", "start": "2025-12-01"}],
}
#: N3: natalizumab after 25 months with a high anti-JCV index; abbreviated MRI overdue (EU).
N3: dict[str, Any] = {
    "age": 38,
    "sex": "female",
    "conditions": [{"text": "Multiple sclerosis", "code": "sct|24700007", "onset": "2018-06-01"}],
    "infusions": {"count": 26, "last": "2026-02-05", "every": "P4W"},
    "labs": [
        {"test": "anti-jcv-antibody", "result": "positive", "on": "2026-01-10"},
        {"test": "anti-jcv-index", "value": 2.1, "on": "2026-01-10"},
        {"test": "brain-mri", "on": "2025-06-01"},
    ],
}


def prefetch_of(patient: dict[str, Any], drug: str) -> tuple[str, dict[str, Any]]:
    """(patient id, prefetch) for a compact patient description."""
    prefetch = prefetch_from_bundle(build_bundle(patient, at=NOW.date(), drug=drug))
    return prefetch["patient"]["id"], prefetch
