"""One call from "drug name + FHIR input" to an assessment, shared by every interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rxguard.engine.assess import assess
from rxguard.engine.facts import read_facts
from rxguard.engine.model import Assessment
from rxguard.errors import FactsError, InputError
from rxguard.facts.model import PatientFacts
from rxguard.knowledge.loader import Pack, get_pack
from rxguard.knowledge.names import Resolution, resolve_drug


@dataclass(frozen=True)
class CheckResult:
    resolution: Resolution
    assessment: Assessment

    def to_dict(self) -> dict[str, Any]:
        out = self.assessment.to_dict(resolved_from=self.resolution.matched)
        out["resolution"] = {
            "display": self.resolution.display,
            "via": self.resolution.via,
            "product": self.resolution.product,
            "program": self.resolution.program,
            "confidence": self.resolution.confidence,
        }
        return out


def validate_answers(pack: Pack, answers: Any) -> dict[str, bool | float]:
    """Checklist answers: a JSON object of question id -> true/false (or a number where asked)."""
    if answers is None:
        return {}
    if not isinstance(answers, Mapping):
        raise InputError('answers must be a JSON object such as {"new-or-worsening-symptoms": false}')
    out: dict[str, bool | float] = {}
    for key, value in answers.items():
        question = pack.questions.get(key)
        if question is None:
            known = ", ".join(sorted(pack.questions)) or "none"
            raise InputError(f"answers: {key!r} is not a {pack.name} question; known ids: {known}")
        if question.answer_type == "boolean" and not isinstance(value, bool):
            raise InputError(f"answers: {key!r} must be true (yes) or false (no), not {value!r}")
        if question.answer_type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InputError(f"answers: {key!r} must be a number, not {value!r}")
        out[key] = value
    return out


def refuse_deceased(facts: PatientFacts, at: date) -> None:
    """A patient recorded as deceased on or before ``at`` is not assessed: the record is probably the wrong one."""
    if facts.deceased and (facts.deceased_on is None or facts.deceased_on <= at):
        when = f" on {facts.deceased_on}" if facts.deceased_on else ""
        raise FactsError(
            f"Patient/{facts.patient_id or '(no id)'} is recorded as deceased{when}; rxguard does not assess a "
            "deceased patient. Check that the right patient's record was sent"
        )


def check_patient(
    drug: str,
    data: Any,
    *,
    at: date,
    jurisdiction: str | None = None,
    answers: Any = None,
    context: Mapping[str, Any] | None = None,
    patient: str | None = None,
) -> CheckResult:
    """Assess one patient of the input for a drug; ``patient`` chooses among several Patients."""
    resolution = resolve_drug(drug)
    pack = get_pack(resolution.drug)
    facts = read_facts(data, patient=patient)
    refuse_deceased(facts, at)
    assessment = assess(
        pack,
        facts,
        at=at,
        jurisdiction=jurisdiction,
        answers=validate_answers(pack, answers),
        context=context,
    )
    return CheckResult(resolution, assessment)
