"""The Synthea census: which coded items of the shared Synthea bundles fall into which value set.

``python -m tests.synthea_census`` rewrites ``tests/fixtures/synthea_census.json``; review the
diff before committing it. ``tests/test_terminology.py`` fails when the census changes, so any
change of a value set that moves a real-shaped record in or out of a set shows up as a diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from rxguard.engine.facts import vocabulary_for
from rxguard.facts.vocabulary import Vocabulary, short_system
from rxguard.knowledge.loader import load_all

SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "synthea-r4"
CENSUS = Path(__file__).parent / "fixtures" / "synthea_census.json"
_CONCEPT = {
    "Condition": "code",
    "AllergyIntolerance": "code",
    "Procedure": "code",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationStatement": "medicationCodeableConcept",
    "MedicationAdministration": "medicationCodeableConcept",
    "MedicationDispense": "medicationCodeableConcept",
    "Medication": "code",
}


def _concept_key(concept: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    codes, texts = [], []
    for coding in concept.get("coding", []):
        system = coding.get("system")
        codes.append(f"{short_system(system) if isinstance(system, str) else ''}|{coding.get('code')}")
        if isinstance(coding.get("display"), str):
            texts.append(coding["display"])
    if isinstance(concept.get("text"), str) and concept["text"]:
        texts.insert(0, concept["text"])
    return tuple(codes), " / ".join(texts)


def build_census(vocab: Vocabulary | None = None) -> dict[str, Any]:
    """{resource type: {"system|code display": {"count": n, "sets": {set: "code"|"text"}}}}."""
    vocab = vocab or vocabulary_for(load_all())
    census: dict[str, dict[str, Any]] = {}
    for path in sorted(SYNTHEA.glob("*.json")):
        for entry in orjson.loads(path.read_bytes()).get("entry", []):
            resource = entry.get("resource", {})
            field = _CONCEPT.get(resource.get("resourceType"))
            if field is None or not isinstance(resource.get(field), dict):
                continue
            codes, text = _concept_key(resource[field])
            key = f"{' '.join(codes)} {text}".strip()
            row = census.setdefault(resource["resourceType"], {}).setdefault(key, {"count": 0, "sets": {}})
            row["count"] += 1
            row["sets"] = dict(sorted(vocab.explain(codes, text).items()))
    return {rtype: dict(sorted(rows.items())) for rtype, rows in sorted(census.items())}


def summary(census: dict[str, Any]) -> dict[str, int]:
    """Value set -> number of records in it (for the notes and the docs)."""
    counts: dict[str, int] = {}
    for rows in census.values():
        for row in rows.values():
            for tag in row["sets"]:
                counts[tag] = counts.get(tag, 0) + row["count"]
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    data = build_census()
    CENSUS.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(summary(data), indent=1))
