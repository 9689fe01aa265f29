"""Response and request shapes of the REST API, for the OpenAPI document and its tests.

Routes build their JSON with the same ``to_dict`` functions the CLI uses, so
``POST /api/v1/assess`` and ``rxguard check --format json`` cannot drift; the
models here describe that JSON (and a contract test checks that real
responses fit them). ``extra="allow"`` where the engine may add a field
without breaking clients.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SourceOut(Open):
    id: str
    title: str
    section: str
    tier: str
    verified: bool
    url: str
    jurisdiction: str


class EvidenceMessageOut(Open):
    """An evidence line as a message id and its values (codes, ISO dates, numbers), to word in any language."""

    message_id: str
    params: dict[str, Any]


EVIDENCE_MESSAGES: Any = Field(
    default_factory=list,
    description="One entry per evidence line, in order: its message id and values, or null for a line without one",
)


class FindingOut(Open):
    rule: str = Field(description="Rule id, '<drug>.<slug>'")
    severity: str
    counts_as: str = Field(
        description=(
            "Severity it counts as: a needs_review finding never contraindicates by itself and counts as hold "
            "at hold or above; a could_not_verify finding counts as caution, or hold for a lab or dose gate"
        )
    )
    title: str
    message: str
    action: str
    evidence: list[str]
    evidence_messages: list[EvidenceMessageOut | None] = EVIDENCE_MESSAGES
    basis: str
    needs_review: bool
    review_note: str
    review_messages: list[EvidenceMessageOut | None] = Field(
        default_factory=list,
        description="The engine's own review notes within review_note (a record not established, an exposure "
        "not verified), each as a message id and its values",
    )
    category: str
    protocol: bool
    could_not_verify: bool = Field(
        default=False, description="The rule applies but its input could not be read; evidence says what"
    )
    sources: list[SourceOut]


class CoverageGapOut(Open):
    rule: str
    title: str
    counts_as: str
    reasons: list[str]


class CoverageOut(Open):
    """What the assessment checked and what it could not (docs/check-output.md, version 1)."""

    version: int
    complete: bool
    rules_checked: int
    checked: list[str]
    could_not_verify: list[CoverageGapOut]
    switched_off: list[str]
    not_read: list[str]
    not_read_messages: list[EvidenceMessageOut | None] = Field(
        default_factory=list, description="One entry per not_read line, in order: its message id and values, or null"
    )
    notes: list[str]
    notes_messages: list[EvidenceMessageOut | None] = Field(
        default_factory=list, description="One entry per note, in order: its message id and values, or null"
    )


class DueOut(Open):
    item: str
    title: str
    due_on: str
    status: Literal["overdue", "due", "upcoming"]
    last_done: str | None
    basis: str
    needs_review: bool


class StratumOut(Open):
    model: str
    model_title: str
    id: str
    title: str
    action: str
    evidence: list[str]
    evidence_messages: list[EvidenceMessageOut | None] = EVIDENCE_MESSAGES
    needs_review: bool
    review_note: str
    sources: list[SourceOut]


class ResolutionOut(Open):
    display: str
    via: str
    product: str | None
    program: str | None
    confidence: float


class PackRef(Open):
    name: str
    version: str


class AssessmentOut(Open):
    """The JSON of ``rxguard check --format json``."""

    drug: str
    resolved_from: str
    jurisdiction: str | None
    at: str
    verdict: Literal["contraindicated", "hold", "caution", "ok"]
    findings: list[FindingOut]
    due: list[DueOut]
    contract: int
    risk_stratum: StratumOut | None
    pml_stratum: StratumOut | None = Field(
        None, deprecated=True, description="Contract 1's name of risk_stratum; removed in contract 3."
    )
    infusions_before: int
    notes: list[str]
    notes_messages: list[EvidenceMessageOut | None] = Field(
        default_factory=list, description="One entry per note, in order: its message id and values, or null"
    )
    coverage: CoverageOut
    pack: PackRef
    resolution: ResolutionOut


class AssessRequest(BaseModel):
    """Body of ``POST /api/v1/assess`` when checklist answers come with the Bundle."""

    model_config = ConfigDict(extra="forbid")

    bundle: dict[str, Any] = Field(description="FHIR R4 Bundle of the patient (or a CDS Hooks prefetch object)")
    answers: dict[str, bool | float] | None = Field(
        default=None, description="Pre-infusion checklist answers: question id -> true (yes) / false (no) or a number"
    )


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` plus what is needed to ask for the next page."""

    items: list[T]
    total: int = Field(description="Number of items across all pages")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page, or null on the last page")


class PackSummary(Open):
    name: str
    version: str
    last_reviewed_on: str
    inn: str
    rules: int


class NameOut(Open):
    drug: str
    display: str
    matched: str
    via: str
    product: str | None
    program: str | None
    confidence: float
    verified: bool


class SuggestionOut(Open):
    drug: str
    display: str
    score: float


class Status(BaseModel):
    status: Literal["ok"]
