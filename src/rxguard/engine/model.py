"""What an assessment returns: findings with evidence and citations, due items, a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from rxguard.messages import messages_of

Verdict = Literal["contraindicated", "hold", "caution", "ok"]
VERDICT_ORDER: tuple[Verdict, ...] = ("ok", "caution", "hold", "contraindicated")


@dataclass(frozen=True, slots=True)
class SourceRef:
    id: str
    title: str
    section: str
    tier: str
    verified: bool
    url: str
    jurisdiction: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "section": self.section,
            "tier": self.tier,
            "verified": self.verified,
            "url": self.url,
            "jurisdiction": self.jurisdiction,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that fired, with the evidence from the record that made it fire."""

    rule_id: str
    severity: str
    effective_severity: str
    title: str
    message: str
    action: str
    evidence: tuple[str, ...]
    basis: str
    needs_review: bool
    review_note: str
    category: str
    protocol: bool
    sources: tuple[SourceRef, ...]
    # The rule applies but its input could not be read: the evidence says what could not be verified.
    could_not_verify: bool = False
    # The engine's own review notes (a record not established, an exposure not verified), each a message,
    # in the order ``review_note`` joins them after the rule's own note.
    reviews: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "severity": self.severity,
            "counts_as": self.effective_severity,
            "title": self.title,
            "message": self.message,
            "action": self.action,
            "evidence": list(self.evidence),
            "evidence_messages": messages_of(self.evidence),
            "basis": self.basis,
            "needs_review": self.needs_review,
            "review_note": self.review_note,
            "review_messages": messages_of(self.reviews),
            "category": self.category,
            "protocol": self.protocol,
            "could_not_verify": self.could_not_verify,
            "sources": [s.to_dict() for s in self.sources],
        }


COVERAGE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Coverage:
    """What an assessment checked and what it could not: never a silent ``ok``.

    ``checked`` are the rules in force that were decided (whether or not they fired; a rule
    whose data the record does not hold is decided "does not apply"). ``could_not_verify``
    are the rules in force whose input was there but could not be read; each is also a
    finding. ``not_read`` lists what the reader recognised and could not read; ``notes`` what
    it left out or read on an assumption (resources of another patient, for example).
    """

    checked: tuple[str, ...]
    could_not_verify: tuple[Finding, ...]
    switched_off: tuple[str, ...]
    not_read: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.could_not_verify and not self.not_read

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": COVERAGE_VERSION,
            "complete": self.complete,
            "rules_checked": len(self.checked),
            "checked": list(self.checked),
            "could_not_verify": [
                {"rule": f.rule_id, "title": f.title, "counts_as": f.effective_severity, "reasons": list(f.evidence)}
                for f in self.could_not_verify
            ],
            "switched_off": list(self.switched_off),
            "not_read": list(self.not_read),
            "not_read_messages": messages_of(self.not_read),
            "notes": list(self.notes),
            "notes_messages": messages_of(self.notes),
        }


@dataclass(frozen=True, slots=True)
class DueItem:
    item: str
    title: str
    due_on: date
    status: Literal["overdue", "due", "upcoming"]
    last_done: date | None
    basis: str
    needs_review: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "title": self.title,
            "due_on": self.due_on.isoformat(),
            "status": self.status,
            "last_done": self.last_done.isoformat() if self.last_done else None,
            "basis": self.basis,
            "needs_review": self.needs_review,
        }


#: Version of the assessment JSON contract. 2: ``risk_stratum`` (with the risk model's id and
#: title) replaces contract 1's stratum key, which is still written for this version only.
CONTRACT_VERSION = 2
DEPRECATED_STRATUM_KEY = "pml_stratum"


@dataclass(frozen=True, slots=True)
class StratumResult:
    id: str
    title: str
    action: str
    evidence: tuple[str, ...]
    needs_review: bool
    review_note: str
    sources: tuple[SourceRef, ...]
    model: str = ""  # the risk model's id (risk.yaml)
    model_title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_title": self.model_title,
            "id": self.id,
            "title": self.title,
            "action": self.action,
            "evidence": list(self.evidence),
            "evidence_messages": messages_of(self.evidence),
            "needs_review": self.needs_review,
            "review_note": self.review_note,
            "sources": [s.to_dict() for s in self.sources],
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    drug: str
    jurisdiction: str | None
    at: date
    verdict: Verdict
    findings: tuple[Finding, ...]
    due: tuple[DueItem, ...]
    stratum: StratumResult | None
    notes: tuple[str, ...]
    pack_name: str
    pack_version: str
    infusions_before: int
    coverage: Coverage = Coverage((), (), (), (), ())

    def fired(self, rule_id: str) -> Finding | None:
        return next((f for f in self.findings if f.rule_id == rule_id), None)

    def to_dict(self, resolved_from: str | None = None) -> dict[str, Any]:
        """The JSON contract of ``rxguard check --format json`` and ``POST /api/v1/assess`` (docs/check-output.md)."""
        stratum = self.stratum.to_dict() if self.stratum else None
        return {
            "contract": CONTRACT_VERSION,
            "drug": self.drug,
            "resolved_from": resolved_from if resolved_from is not None else self.drug,
            "jurisdiction": self.jurisdiction,
            "at": self.at.isoformat(),
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "due": [d.to_dict() for d in self.due],
            "risk_stratum": stratum,
            DEPRECATED_STRATUM_KEY: stratum,  # contract 1's name; removed in contract 3
            "infusions_before": self.infusions_before,
            "notes": list(self.notes),
            "notes_messages": messages_of(self.notes),
            "coverage": self.coverage.to_dict(),
            "pack": {"name": self.pack_name, "version": self.pack_version},
        }


def stratum_of(assessment: dict[str, Any]) -> dict[str, Any] | None:
    """The risk stratum of a stored assessment of any contract version."""
    found = assessment.get("risk_stratum") or assessment.get(DEPRECATED_STRATUM_KEY)
    return found if isinstance(found, dict) else None
