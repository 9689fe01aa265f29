"""The program's own records as facts for the clinical check at the gate.

A patient suspended for a suspected adverse event must not pass the gate's clinical check
just because the request's FHIR bundle says nothing about it. What the program
recorded (adverse events, antibody results, infusions) is added to the
``PatientFacts`` directly, each item saying where it comes from ("recorded in
the program on ..."). Which record stands for which value set or lab test is
pack data (``program_records`` in program.yaml); this module only knows the
shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from rxguard.facts.model import ClinicalItem, LabResult, MedicationUse, PatientFacts
from rxguard.knowledge.program import ProgramRecords
from rxguard.store.visits import ProgramRecord


def _interpretation(result: str) -> str | None:
    words = result.strip().lower().split()
    return words[0] if words and words[0] in ("positive", "negative") else None


def with_program_records(
    facts: PatientFacts,
    mapping: ProgramRecords,
    records: Iterable[ProgramRecord],
    *,
    drug: str,
    infusions: Iterable[datetime] = (),
) -> PatientFacts:
    """``facts`` plus the program's records, tagged as the pack's rules read them."""
    conditions = list(facts.conditions)
    medications = list(facts.medications)
    labs = {test: list(results) for test, results in facts.labs.items()}
    by_tag: dict[str, list[ClinicalItem | MedicationUse]] = {k: list(v) for k, v in facts.by_tag.items()}
    for record in records:
        recorded = f"recorded in the program on {record.recorded_at.date().isoformat()}"
        if record.source == "adverse-event" and record.kind in mapping.adverse_events:
            tag = mapping.adverse_events[record.kind]
            item = ClinicalItem(
                text=f"adverse event {record.kind} (onset {record.on.isoformat()}; {recorded})",
                codes=(),
                tags=frozenset({tag}),
                active=True,
                onset=record.on,
                status="active",
            )
            conditions.append(item)
            by_tag.setdefault(f"condition:{tag}", []).append(item)
        elif record.source == "monitoring" and record.kind in mapping.monitoring:
            interpretation = _interpretation(record.result)
            if interpretation is None:  # free text the rules cannot read: not a fact (the bundle may have it)
                continue
            test = mapping.monitoring[record.kind]
            labs.setdefault(test, []).append(
                LabResult(test, record.on, interpretation=interpretation, text=f"{record.result} ({recorded})")
            )
    for started in infusions:
        use = MedicationUse(
            text=f"{drug} infusion recorded in the program on {started.date().isoformat()}",
            codes=(),
            tags=frozenset({drug}),
            kind="administration",
            status="completed",
            start=started.date(),
            end=started.date(),
        )
        medications.append(use)
        by_tag.setdefault(f"medication:{drug}", []).append(use)
    ordered = {test: tuple(sorted(results, key=lambda r: r.effective, reverse=True)) for test, results in labs.items()}
    keys = set(facts.present_keys()) | set(by_tag) | {f"lab:{test}" for test in ordered}
    return dataclasses.replace(
        facts,
        conditions=tuple(conditions),
        medications=tuple(medications),
        labs=ordered,
        by_tag={k: tuple(v) for k, v in by_tag.items()},
        keys=frozenset(keys),
    )
