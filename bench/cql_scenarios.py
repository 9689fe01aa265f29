"""Seeded patient data for the rxguard vs cql-execution comparison.

The Synthea bundles carry no natalizumab or mifamurtide, few liver tests and
no anti-JCV results, so each one gets a seeded scenario: an order for one of
the two drugs, an infusion history, liver tests with and without reference
ranges (some in µkat/L), anti-JCV and anti-drug antibody results, brain MRIs
and co-medications in every status the rules distinguish. The variety is
deliberate: the differential gate is only as strong as the cases it sees.
:func:`edge_cases` adds small hand-made patients for the boundaries (exactly
3× ULN, ties, month ends, coded-only orders...).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import orjson

from bench.scenarios import AT, synthea_files

ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
LAB = "urn:rxguard:lab"
PROCEDURE = "urn:rxguard:procedure"
DRUGS = {
    "natalizumab": (
        ["Tysabri 300 MG in 100 ML IV infusion", "natalizumab 300 mg/15 mL concentrate"],
        ["L04AG03", "L04AA23"],
    ),
    "mifamurtide": (["MEPACT 4 MG powder for infusion", "mifamurtide 2 mg/m2 IV"], ["L03AX15"]),
}
# Co-medications: each rule's value sets, neighbours that must not match, and bystanders.
CO_MEDICATIONS = [
    "Azathioprine 50 MG Oral Tablet",
    "Methotrexate 2.5 MG Oral Tablet",
    "Tacrolimus 1 MG Oral Capsule",
    "Ciclosporin 100 MG",
    "cycloSPORINE 25 MG Oral Capsule",
    "Pimecrolimus 10 MG/ML Topical Cream",
    "Mycophenolate mofetil 500 MG Oral Tablet",
    "Adalimumab 40 MG/0.4ML Prefilled Syringe",
    "Cyclophosphamide 50 MG Oral Tablet",
    "Mitoxantrone 2 MG/ML Injectable Solution",
    "Interferon beta-1a 30 MCG/0.5ML Prefilled Syringe",
    "Glatiramer acetate 20 MG/ML",
    "Ibuprofen 800 MG Oral Tablet",
    "Prednisone 10 MG Oral Tablet",
    "Mesalazine 500 MG",
    "Tacrolimusine 1 MG (not a calcineurin inhibitor name)",
    "Interferon gamma-1b",
]


def _day(d: date, rng: random.Random) -> str:
    """A date or a dateTime on that day, as FHIR allows both."""
    if rng.random() < 0.5:
        return d.isoformat()
    return (
        f"{d.isoformat()}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00{rng.choice(['Z', '+01:00', '-05:00'])}"
    )


def _concept(rng: random.Random, text: str, atc: list[str] | None = None) -> dict[str, Any]:
    """Text only, text with a code, a code with a display only, or (for ATC) a bare code."""
    shape = rng.random()
    if atc and shape < 0.25:
        return {"coding": [{"system": ATC, "code": rng.choice(atc)}]}
    if atc and shape < 0.5:
        return {"coding": [{"system": ATC, "code": rng.choice(atc)}], "text": text}
    if shape < 0.7:
        return {"coding": [{"system": RXNORM, "code": str(rng.randint(1000, 99999)), "display": text}]}
    return {"text": text}


def _lab_code(rng: random.Random, key: str, text: str) -> dict[str, Any]:
    if rng.random() < 0.85:
        return {"coding": [{"system": LAB, "code": key}]}
    return {"text": text}


def _effective(res: dict[str, Any], when: date, rng: random.Random) -> dict[str, Any]:
    shape = rng.random()
    if shape < 0.85:
        res["effectiveDateTime"] = _day(when, rng)
    elif shape < 0.95:
        res["effectivePeriod"] = {"start": _day(when, rng)}
    else:
        res["issued"] = f"{when.isoformat()}T12:00:00Z"
    return res


def _enzyme(rng: random.Random, loinc: str, when: date) -> dict[str, Any]:
    uln = rng.choice([40, 40, 40, 35, 50, None])
    value = round(rng.uniform(8, 220), 1)
    if uln and rng.random() < 0.08:
        value = 3 * uln  # exactly 3x ULN
    unit = "U/L"
    if rng.random() < 0.15:
        value, unit = round(value / 60, 3), rng.choice(["ukat/L", "µkat/L"])
        uln = round(uln / 60, 3) if uln else None
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": rng.choice(["final"] * 12 + ["amended", "corrected", "preliminary", "entered-in-error", "cancelled"]),
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "valueQuantity": {"value": value, "unit": unit},
    }
    if uln:
        res["referenceRange"] = [{"high": {"value": uln, "unit": unit}}]
    return _effective(res, when, rng)


def _qualitative(rng: random.Random, key: str, text: str, when: date, positive: bool | None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": _lab_code(rng, key, text)}
    word = {True: "Positive", False: "Negative", None: "Equivocal"}[positive]
    shape = rng.random()
    if shape < 0.5:
        res["valueCodeableConcept"] = {"text": word}
    elif shape < 0.7:
        res["valueCodeableConcept"] = {"coding": [{"system": "http://snomed.info/sct", "code": "x", "display": word}]}
    elif shape < 0.85:
        res["valueString"] = f"{word.lower()} (screening ELISA)"
    elif positive is not None:
        res["valueBoolean"] = positive
    else:
        res["valueString"] = word
    if rng.random() < 0.1:  # a coded interpretation beside a numeric value
        res.pop("valueCodeableConcept", None), res.pop("valueString", None), res.pop("valueBoolean", None)
        res["valueQuantity"] = {"value": round(rng.uniform(0.1, 4), 2)}
        code = {True: "POS", False: "NEG", None: "IND"}[positive]
        res["interpretation"] = [{"coding": [{"code": code}]}]
    return _effective(res, when, rng)


def _index(rng: random.Random, when: date) -> dict[str, Any]:
    value = rng.choice([0.9, 1.5]) if rng.random() < 0.15 else round(rng.uniform(0.2, 3.5), 2)
    res = {
        "resourceType": "Observation",
        "status": "final",
        "code": _lab_code(rng, "anti-jcv-index", "Anti-JCV antibody index"),
        "valueQuantity": {"value": value},
    }
    return _effective(res, when, rng)


def _mri(rng: random.Random, when: date) -> dict[str, Any]:
    shape = rng.random()
    if shape < 0.4:
        code = (
            {"coding": [{"system": PROCEDURE, "code": "brain-mri"}]}
            if rng.random() < 0.5
            else {"text": "MRI of brain with and without contrast"}
        )
        return {"resourceType": "Procedure", "status": "completed", "code": code, "performedDateTime": _day(when, rng)}
    if shape < 0.7:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LAB, "code": "brain-mri"}]},
            "effectiveDateTime": _day(when, rng),
        }
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "Brain MRI"},
        "effectiveDateTime": _day(when, rng),
    }


def _co_medication(rng: random.Random, text: str) -> dict[str, Any]:
    """A statement or request whose status and dates make it active, past, future or void."""
    concept = _concept(rng, text)
    past = AT - timedelta(days=rng.randint(30, 900))
    shape = rng.randrange(8)
    if shape == 0:
        return {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": concept,
            "effectiveDateTime": _day(past, rng),
        }
    if shape == 1:
        end = past + timedelta(days=rng.randint(10, 1200))
        return {
            "resourceType": "MedicationStatement",
            "status": rng.choice(["active", "completed", "stopped"]),
            "medicationCodeableConcept": concept,
            "effectivePeriod": {"start": past.isoformat(), "end": end.isoformat()},
        }
    if shape == 2:
        return {
            "resourceType": "MedicationStatement",
            "status": "entered-in-error",
            "medicationCodeableConcept": concept,
            "effectiveDateTime": past.isoformat(),
        }
    if shape == 3:
        end = AT + timedelta(days=rng.randint(-60, 120))
        return {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": concept,
            "authoredOn": _day(past, rng),
            "dispenseRequest": {"validityPeriod": {"start": past.isoformat(), "end": end.isoformat()}},
        }
    if shape == 4:
        future = AT + timedelta(days=rng.randint(1, 30))
        return {
            "resourceType": "MedicationRequest",
            "status": rng.choice(["draft", "active"]),
            "intent": "order",
            "medicationCodeableConcept": concept,
            "authoredOn": future.isoformat(),
        }
    if shape == 5:
        return {
            "resourceType": "MedicationRequest",
            "status": rng.choice(["stopped", "completed", "cancelled"]),
            "intent": "order",
            "medicationCodeableConcept": concept,
            "authoredOn": _day(past, rng),
        }
    if shape == 6:
        return {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "medicationCodeableConcept": concept,
            "effectiveDateTime": _day(past, rng),
        }
    start = past.isoformat()
    end = (AT + timedelta(days=rng.randint(-30, 90))).isoformat()
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "authoredOn": _day(past, rng),
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}],
    }


def _infusions(rng: random.Random, drug: str) -> list[dict[str, Any]]:
    names, atc = DRUGS[drug]
    count = 0 if rng.random() < 0.15 else rng.randint(1, 40)
    last = AT - timedelta(days=rng.randint(7, 120))
    out = []
    for i in range(count):
        when = last - timedelta(days=28 * i)
        res: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "status": rng.choice(["completed"] * 15 + ["not-done", "entered-in-error", "in-progress"]),
            "medicationCodeableConcept": _concept(rng, drug if rng.random() < 0.5 else names[0], atc),
        }
        if rng.random() < 0.9:
            res["effectiveDateTime"] = _day(when, rng)
        else:
            res["effectivePeriod"] = {"start": f"{when.isoformat()}T10:00:00Z", "end": f"{when.isoformat()}T11:05:00Z"}
        out.append(res)
    if count and rng.random() < 0.1:
        out.append({**out[0], "status": "completed"})  # the same day recorded twice
    if rng.random() < 0.05:
        out.append(
            {
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "medicationCodeableConcept": {"text": drug},
                "effectiveDateTime": (AT + timedelta(days=3)).isoformat(),
            }
        )
    return out


def _labs(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for loinc in ("1742-6", "1920-8"):
        days = [rng.randint(1, 400) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
        if days and rng.random() < 0.1:
            days.append(days[0])  # two results on the same day
        out += [_enzyme(rng, loinc, AT - timedelta(days=d)) for d in days]
        if rng.random() < 0.05:
            out.append(_enzyme(rng, loinc, AT + timedelta(days=2)))  # after the assessment date
    jcv = rng.choice([True, False, None, "none", "none"])
    if jcv != "none":
        for _ in range(rng.randint(1, 2)):
            when = AT - timedelta(days=rng.randint(10, 500))
            out.append(_qualitative(rng, "anti-jcv-antibody", "Anti-JCV antibody", when, jcv))  # type: ignore[arg-type]
        if jcv is True or rng.random() < 0.2:
            out += [_index(rng, AT - timedelta(days=rng.randint(10, 500))) for _ in range(rng.randint(1, 2))]
    for _ in range(rng.choice([0, 0, 1, 2])):
        out.append(
            _qualitative(
                rng,
                "anti-natalizumab-antibody",
                "Anti-natalizumab antibody",
                AT - timedelta(days=rng.randint(1, 200)),
                rng.random() < 0.2,
            )
        )
    out += [_mri(rng, AT - timedelta(days=rng.randint(1, 700))) for _ in range(rng.choice([0, 1, 1, 2]))]
    return out


def scenario(rng: random.Random, patient_id: str) -> list[dict[str, Any]]:
    """Resources to add to one patient's record."""
    drug = "natalizumab" if rng.random() < 0.75 else "mifamurtide"
    names, atc = DRUGS[drug]
    order = {
        "resourceType": "MedicationRequest",
        "status": rng.choice(["draft"] * 8 + ["active", "on-hold"]),
        "intent": "order",
        "medicationCodeableConcept": _concept(rng, rng.choice(names), atc),
        "authoredOn": AT.isoformat(),
        "dosageInstruction": [
            {"text": "IV over 1 hour", "doseAndRate": [{"doseQuantity": {"value": 300, "unit": "mg"}}]}
        ],
    }
    extra = [order, *_infusions(rng, drug), *_labs(rng)]
    extra += [_co_medication(rng, text) for text in rng.sample(CO_MEDICATIONS, rng.choice([0, 1, 1, 2, 3]))]
    condition = "Multiple sclerosis" if drug == "natalizumab" else "Osteosarcoma of femur"
    extra.append(
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {"text": condition},
            "onsetDateTime": "2018-01-01",
        }
    )
    subject = {"reference": f"Patient/{patient_id}"}
    for res in extra:
        res["subject"] = subject
    return extra


def scenario_bundles(seed: int = 20260105) -> list[dict[str, Any]]:
    """Every Synthea bundle with its seeded scenario, full size."""
    rng = random.Random(seed)
    out = []
    for path in synthea_files():
        bundle = orjson.loads(path.read_bytes())
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        extra = scenario(rng, patient["id"])
        out.append({**bundle, "entry": bundle["entry"] + [{"resource": r} for r in extra]})
    return out


# ----------------------------------------------------------------------------- edge cases


def _bundle(pid: str, *resources: dict[str, Any], birth: str = "1985-04-02") -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": "female"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (patient, *resources)]}


def _order(text: str = "natalizumab 300 mg IV", **concept: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "authoredOn": AT.isoformat(),
        "medicationCodeableConcept": concept or {"text": text},
    }


def _given(day: str, text: str = "natalizumab", status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "status": status,
        "medicationCodeableConcept": {"text": text},
        "effectiveDateTime": day,
    }


def _alt(
    value: Any, day: str, high: float | None = 40, unit: str = "U/L", status: str = "final", code: str = "1742-6"
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": day,
    }
    if isinstance(value, str):
        res["valueString"] = value
    else:
        res["valueQuantity"] = {"value": value, "unit": unit}
    if high is not None:
        res["referenceRange"] = [{"high": {"value": high, "unit": unit}}]
    return res


def _obs(key: str, day: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LAB, "code": key}]},
        "effectiveDateTime": day,
        **value,
    }


def _statement(text: str, status: str = "active", start: str = "2025-01-01", end: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "status": status,
        "medicationCodeableConcept": {"text": text},
    }
    res["effectivePeriod" if end else "effectiveDateTime"] = {"start": start, "end": end} if end else start
    return res


POS = {"valueCodeableConcept": {"text": "Positive"}}
NEG = {"valueCodeableConcept": {"text": "Negative"}}
_EDGE: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "alt-exactly-3x": lambda: [_order(), _alt(120, "2025-12-20")],
    "alt-just-below-3x": lambda: [_order(), _alt(119.9, "2025-12-20")],
    "alt-float-3x": lambda: [_order(), _alt(36.3, "2025-12-20", high=12.1)],
    "alt-no-range-default-uln": lambda: [_order(), _alt(120, "2025-12-20", high=None)],
    "alt-katal-no-range": lambda: [_order(), _alt(2.0, "2025-12-20", high=None, unit="µkat/L")],
    "alt-katal-with-range": lambda: [_order(), _alt(2.0, "2025-12-20", high=0.67, unit="ukat/L")],
    "alt-entered-in-error-latest": lambda: [
        _order(),
        _alt(30, "2025-11-01"),
        _alt(300, "2025-12-20", status="entered-in-error"),
    ],
    "alt-preliminary-latest": lambda: [_order(), _alt(30, "2025-11-01"), _alt(300, "2025-12-20", status="preliminary")],
    "alt-tie-first-normal": lambda: [_order(), _alt(30, "2025-12-20"), _alt(300, "2025-12-20")],
    "alt-tie-first-high": lambda: [_order(), _alt(300, "2025-12-20"), _alt(30, "2025-12-20")],
    "alt-latest-has-no-value": lambda: [_order(), _alt(300, "2025-11-01"), _alt("see report", "2025-12-20")],
    "alt-after-at-ignored": lambda: [_order(), _alt(30, "2025-11-01"), _alt(300, "2026-01-06")],
    "ast-high-alt-normal": lambda: [_order(), _alt(30, "2025-12-01"), _alt(130, "2025-12-01", code="1920-8")],
    "alt-zero-range": lambda: [_order(), _alt(130, "2025-12-01", high=0)],
    "no-labs-with-infusions": lambda: [_order(), _given("2025-06-01"), _given("2025-12-01")],
    "no-infusions-no-mri": lambda: [_order(), _alt(30, "2025-12-01")],
    "no-infusions-recent-mri": lambda: [_order(), _obs("brain-mri", "2025-10-05")],
    "no-infusions-old-mri": lambda: [_order(), _obs("brain-mri", "2025-10-04")],
    "month-end-liver-upcoming": lambda: [_order(), _given("2024-01-01"), _alt(30, "2025-10-31")],
    "month-end-liver-overdue": lambda: [_order(), _given("2024-01-01"), _alt(30, "2025-08-31")],
    "leap-day-mri": lambda: [_order(), _given("2023-01-01"), _obs("brain-mri", "2024-02-29")],
    "mri-due-soon": lambda: [_order(), _given("2023-01-01"), _obs("brain-mri", "2025-01-15")],
    "ada-due-soon": lambda: [_order(), _given("2023-01-01"), _obs("anti-natalizumab-antibody", "2025-10-20", **NEG)],
    "infusion-not-done-and-future": lambda: [
        _order(),
        _given("2025-12-01", status="not-done"),
        _given("2026-01-10"),
        _given("2025-11-01"),
    ],
    "jcv-index-at-boundary": lambda: [
        _order(),
        _given("2025-01-01"),
        _obs("anti-jcv-antibody", "2025-11-01", **POS),
        _obs("anti-jcv-index", "2025-11-01", valueQuantity={"value": 1.5}),
    ],
    "jcv-higher-risk-prior-is": lambda: [
        _order(),
        _given("2023-01-02"),
        _given("2025-12-01"),
        _obs("anti-jcv-antibody", "2025-11-01", **POS),
        _statement("Azathioprine 50 MG", status="stopped", start="2020-01-01", end="2021-01-01"),
    ],
    "jcv-exactly-24-months": lambda: [
        _order(),
        _given("2024-01-05"),
        _obs("anti-jcv-antibody", "2025-11-01", **POS),
        _obs("anti-jcv-index", "2025-11-01", valueQuantity={"value": 2.0}),
    ],
    "jcv-high-index-over-24-months": lambda: [
        _order(),
        _given("2024-01-04"),
        _obs("anti-jcv-antibody", "2025-11-01", **POS),
        _obs("anti-jcv-index", "2025-11-01", valueQuantity={"value": 2.0}),
    ],
    "jcv-negative-after-positive": lambda: [
        _order(),
        _obs("anti-jcv-antibody", "2024-11-01", **POS),
        _obs("anti-jcv-antibody", "2025-11-01", **NEG),
    ],
    "jcv-equivocal": lambda: [_order(), _obs("anti-jcv-antibody", "2025-11-01", valueString="equivocal")],
    "jcv-boolean-and-interpretation": lambda: [
        _order(),
        _obs("anti-jcv-antibody", "2025-10-01", valueBoolean=False),
        _obs(
            "anti-jcv-antibody",
            "2025-11-01",
            valueQuantity={"value": 3.1},
            interpretation=[{"coding": [{"code": "POS"}]}],
        ),
    ],
    "comed-word-boundary": lambda: [
        _order(),
        _statement("Tacrolimusine 1 MG"),
        _statement("Interferon beta-1b 0.25 MG"),
    ],
    "comed-display-only": lambda: [
        _order(),
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "authoredOn": "2025-06-01",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1", "display": "cycloSPORINE 25 MG"}]},
        },
    ],
    "comed-entered-in-error": lambda: [_order(), _statement("Azathioprine 50 MG", status="entered-in-error")],
    "comed-ended-yesterday": lambda: [
        _order(),
        _statement("Methotrexate 2.5 MG", start="2025-01-01", end="2026-01-04"),
    ],
    "comed-ends-today": lambda: [_order(), _statement("Methotrexate 2.5 MG", start="2025-01-01", end="2026-01-05")],
    "comed-future-draft": lambda: [
        _order(),
        {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "authoredOn": "2026-02-01",
            "medicationCodeableConcept": {"text": "Adalimumab 40 MG"},
        },
    ],
    "coded-only-order": lambda: [
        _order(coding=[{"system": ATC, "code": "L04AG03"}]),
        {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "L04AA23"}]},
            "effectiveDateTime": "2025-12-01",
        },
    ],
    "mifamurtide-ciclosporin-active": lambda: [_order("MEPACT 4 mg"), _statement("Ciclosporin 100 MG")],
    "mifamurtide-ciclosporin-stopped": lambda: [
        _order("MEPACT 4 mg"),
        _statement("Ciclosporin 100 MG", status="stopped", start="2024-01-01", end="2024-06-01"),
    ],
    "mifamurtide-coded-pimecrolimus": lambda: [
        _order(coding=[{"system": ATC, "code": "L03AX15"}]),
        _statement("Pimecrolimus 1% cream"),
    ],
    "no-order": lambda: [_alt(300, "2025-12-20"), _given("2025-12-01")],
}


def edge_cases() -> list[dict[str, Any]]:
    """Small hand-made patients, one per boundary the rules draw."""
    return [_bundle(f"edge-{name}", *build()) for name, build in _EDGE.items()]
