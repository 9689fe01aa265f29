"""What an assessment returns: findings with evidence and citations, due items, a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "severity": self.severity,
            "counts_as": self.effective_severity,
            "title": self.title,
            "message": self.message,
            "action": self.action,
            "evidence": list(self.evidence),
            "basis": self.basis,
            "needs_review": self.needs_review,
            "review_note": self.review_note,
            "category": self.category,
            "protocol": self.protocol,
            "sources": [s.to_dict() for s in self.sources],
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


@dataclass(frozen=True, slots=True)
class StratumResult:
    id: str
    title: str
    action: str
    evidence: tuple[str, ...]
    needs_review: bool
    review_note: str
    sources: tuple[SourceRef, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "action": self.action,
            "evidence": list(self.evidence),
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

    def fired(self, rule_id: str) -> Finding | None:
        return next((f for f in self.findings if f.rule_id == rule_id), None)

    def to_dict(self, resolved_from: str | None = None) -> dict[str, Any]:
        """The JSON contract of ``rxguard check --format json`` and ``POST /api/v1/assess``."""
        return {
            "drug": self.drug,
            "resolved_from": resolved_from if resolved_from is not None else self.drug,
            "jurisdiction": self.jurisdiction,
            "at": self.at.isoformat(),
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "due": [d.to_dict() for d in self.due],
            "pml_stratum": self.stratum.to_dict() if self.stratum else None,
            "infusions_before": self.infusions_before,
            "notes": list(self.notes),
            "pack": {"name": self.pack_name, "version": self.pack_version},
        }
