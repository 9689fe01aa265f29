"""Seeded scenario injection into the shared Synthea bundles: the same inputs every run."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "synthea-r4"
AT = date(2026, 1, 5)
# Resource types a CDS Hooks prefetch for these rules would carry.
PREFETCH_TYPES = {
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationAdministration",
    "AllergyIntolerance",
    "Procedure",
}
PREFETCH_LOINC = {
    "1742-6",
    "1920-8",
    "1975-2",
    "2160-0",
    "33914-3",
    "62238-1",
    "98979-8",
    "777-3",
    "731-0",
    "751-8",
    "718-7",
}

CO_MEDICATIONS = [
    "Azathioprine 50 MG Oral Tablet",
    "Interferon beta-1a 30 MCG",
    "Ibuprofen 800 MG Oral Tablet",
    "Ciclosporin 100 MG",
    "Mesalazine 500 MG",
    "Prednisone 10 MG Oral Tablet",
]
CONDITIONS = [
    "Multiple sclerosis",
    "Crohn's disease",
    "Progressive multifocal leukoencephalopathy",
    "Osteosarcoma",
    "Asthma",
    "Jaundice",
]


def synthea_files() -> list[Path]:
    files = sorted(SYNTHEA.glob("*.json"))
    if not files:
        raise SystemExit(f"no Synthea bundles found in {SYNTHEA}")
    return files


def _obs(code: str, system: str, value: Any, day: date, high: float | None = None, unit: str = "U/L") -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "effectiveDateTime": day.isoformat(),
    }
    if isinstance(value, str):
        res["valueCodeableConcept"] = {"text": value}
    else:
        res["valueQuantity"] = {"value": value, "unit": unit}
    if high is not None:
        res["referenceRange"] = [{"high": {"value": high, "unit": unit}}]
    return res


def inject(bundle: dict[str, Any], rng: random.Random, drug: str = "natalizumab") -> dict[str, Any]:
    """Add a drug order, infusion history, liver tests, anti-JCV results and co-medications."""
    entries = bundle["entry"]
    patient = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": f"Patient/{patient.get('id', 'p')}"}
    extra: list[dict[str, Any]] = []
    extra.append(
        {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "subject": subject,
            "medicationCodeableConcept": {"text": f"{drug} 300 MG IV infusion"},
            "authoredOn": AT.isoformat(),
            "dosageInstruction": [
                {"text": "IV over 1 hour", "doseAndRate": [{"doseQuantity": {"value": 300, "unit": "mg"}}]}
            ],
        }
    )
    count = rng.randint(0, 40)
    last = AT - timedelta(days=rng.randint(14, 60))
    for i in range(count):
        extra.append(
            {
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "subject": subject,
                "medicationCodeableConcept": {"text": drug},
                "effectiveDateTime": (last - timedelta(days=28 * i)).isoformat(),
            }
        )
    for code in ("1742-6", "1920-8"):
        extra.append(
            _obs(
                code,
                "http://loinc.org",
                round(rng.uniform(10, 200), 1),
                AT - timedelta(days=rng.randint(1, 200)),
                high=40,
            )
        )
    jcv = rng.choice(["Positive", "Negative", None])
    if jcv:
        extra.append(_obs("anti-jcv-antibody", "urn:rxguard:lab", jcv, AT - timedelta(days=rng.randint(10, 400))))
        if jcv == "Positive":
            extra.append(
                _obs(
                    "anti-jcv-index",
                    "urn:rxguard:lab",
                    round(rng.uniform(0.2, 3.5), 2),
                    AT - timedelta(days=rng.randint(10, 400)),
                    unit="",
                )
            )
    for text in rng.sample(CO_MEDICATIONS, rng.randint(0, 2)):
        extra.append(
            {
                "resourceType": "MedicationStatement",
                "status": "active",
                "subject": subject,
                "medicationCodeableConcept": {"text": text},
                "effectivePeriod": {"start": (AT - timedelta(days=300)).isoformat()},
            }
        )
    for text in rng.sample(CONDITIONS, rng.randint(1, 2)):
        extra.append(
            {
                "resourceType": "Condition",
                "subject": subject,
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"text": text},
                "onsetDateTime": "2018-01-01",
            }
        )
    return {**bundle, "entry": entries + [{"resource": r} for r in extra]}


def to_prefetch_size(bundle: dict[str, Any]) -> dict[str, Any]:
    """Keep what a CDS Hooks prefetch would carry: the patient, problems, medications and recent relevant labs."""
    kept = []
    for entry in bundle["entry"]:
        res = entry["resource"]
        rtype = res["resourceType"]
        if rtype in PREFETCH_TYPES:
            kept.append(entry)
        elif rtype == "Observation":
            codes = {c.get("code") for c in res.get("code", {}).get("coding", [])}
            systems = {c.get("system") for c in res.get("code", {}).get("coding", [])}
            if codes & PREFETCH_LOINC or "urn:rxguard:lab" in systems:
                kept.append(entry)
    return {"resourceType": "Bundle", "type": "collection", "entry": kept}


def scenario_bundles(seed: int = 20260105, drug: str = "natalizumab") -> list[tuple[str, bytes, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for path in synthea_files():
        raw = path.read_bytes()
        bundle = inject(orjson.loads(raw), rng, drug)
        out.append((path.name, orjson.dumps(bundle), bundle))
    return out
