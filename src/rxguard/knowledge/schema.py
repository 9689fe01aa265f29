"""The knowledge-pack schema.

A pack is one folder per drug. Every file in it is validated against the
models below; unknown keys are errors (``extra="forbid"``), so a misspelt
field is reported instead of silently ignored. ``docs/packs.md`` is the
author's guide to these models; keep the two in step.

Durations are ISO 8601 (``P14D``, ``P6W``, ``P3M``, ``P1Y``); dates are
``YYYY-MM-DD``.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Jurisdiction = Literal["US", "EU"]
JURISDICTIONS: tuple[Jurisdiction, ...] = ("US", "EU")
Severity = Literal["contraindicated", "hold", "caution", "info"]
Basis = Literal["label", "program", "literature", "protocol", "seed"]
Tier = Literal["A", "B", "C", "D"]

SEVERITY_RANK: dict[str, int] = {"ok": 0, "info": 0, "caution": 1, "hold": 2, "contraindicated": 3}

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
RULE_ID = re.compile(r"^[a-z0-9]+\.[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@functools.lru_cache(maxsize=256)
def parse_duration(text: str) -> tuple[int, int]:
    """Return (months, days) for an ISO 8601 duration such as ``P3M`` or ``P2W``.

    Years count as 12 months and weeks as 7 days, so calendar arithmetic on
    months stays exact ("3 months after 31 January" is the end of April).
    """
    match = _DURATION.match(text)
    if not match or text == "P":
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P14D, P6W, P3M or P1Y")
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return years * 12 + months, weeks * 7 + days


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Duration = Annotated[str, Field(pattern=_DURATION.pattern, min_length=2)]


# --------------------------------------------------------------------------- identity


class ChineseName(Strict):
    name: str
    verified: bool
    source: str
    note: str = ""


class Product(Strict):
    """A marketed product of the substance (brand or biosimilar)."""

    id: str
    name: str
    proper_name: str = ""
    kind: Literal["reference", "biosimilar"]
    manufacturer: str = ""
    jurisdictions: list[Jurisdiction]
    identifiers: dict[str, str] = {}
    program: str = ""
    sources: list[str]


class Alias(Strict):
    """An input-only name: accepted when resolving, never displayed as a drug name."""

    text: str
    kind: Literal["misspelling", "program", "development-code", "former-name", "other"]
    refers_to: Literal["drug", "program"] = "drug"
    note: str = ""


class Identity(Strict):
    id: str
    inn: str
    display: dict[str, str]
    atc: str
    atc_history: list[dict[str, str]] = []
    unii: dict[str, Any] = {}
    rxnorm: dict[str, Any] = {}
    other_codes: dict[str, str] = {}
    former_names: list[str] = []
    chinese_names: list[ChineseName] = []
    aliases: list[Alias] = []
    products: list[Product]
    sources: list[str]


class Source(Strict):
    id: str
    title: str
    jurisdiction: Literal["US", "EU", "GB", "CH", "SG", "TH", "INT", "CN", "none"]
    version: str
    url: str = ""
    tier: Tier
    verified: bool
    read: str = ""
    note: str = ""


class Citation(Strict):
    source: str
    section: str = Field(min_length=1)


# --------------------------------------------------------------------------- conditions
# The condition language: a tree of single-key mappings. Leaves are predicates
# over PatientFacts; ``all``/``any``/``not`` combine them. See docs/packs.md.

MedStatus = Literal["active", "ever", "past"]


class HasCondition(Strict):
    valueset: str
    status: Literal["active", "ever"] = "active"
    onset_since: Literal["first_infusion", "last_infusion"] | None = None
    onset_within: Duration | None = None


class HasAllergy(Strict):
    valueset: str


class HasMedication(Strict):
    valueset: str
    status: MedStatus = "active"
    within: Duration | None = None
    min_duration: Duration | None = None


class HasProcedure(Strict):
    valueset: str
    within: Duration | None = None


class LabTest(Strict):
    test: str
    uln_ratio_gte: float | None = None
    value_gte: float | None = None
    value_gt: float | None = None
    value_lt: float | None = None
    value_lte: float | None = None
    below_lln: bool | None = None
    above_uln: bool | None = None
    result: Literal["positive", "negative"] | None = None
    max_age: Duration | None = None
    missing: bool | None = None


class LabPersistent(Strict):
    test: str
    result: Literal["positive", "negative"]
    min_apart: Duration


class LabConfounded(Strict):
    """The latest result of ``test`` was drawn too soon after something that invalidates it."""

    test: str
    after_procedure: str | None = None
    procedure_within: Duration | None = None
    after_medication: str | None = None
    medication_within: Duration | None = None


class AgeCheck(Strict):
    lt: float | None = None
    gte: float | None = None
    gt: float | None = None


class AnswerCheck(Strict):
    id: str
    equals: bool | None = None
    gt: float | None = None


class InfusionCheck(Strict):
    count_gte: int | None = None
    count_lte: int | None = None
    count_lt: int | None = None
    since_first_gte: Duration | None = None
    since_first_gt: Duration | None = None
    since_last_lt: Duration | None = None
    gap_gte: Duration | None = None
    since_last_lt_param: str | None = None


class OrderCheck(Strict):
    text_any: list[str] | None = None
    dose_not: float | None = None
    dose_unit: str | None = None


class PreparationCheck(Strict):
    hours_since_preparation_gt_param: str | None = None
    storage: Literal["refrigerated", "room_temperature"] | None = None
    duration_minutes_lt: float | None = None


class StratumCheck(Strict):
    """The patient's stratum in the pack's risk model (risk.yaml) is one of these."""

    any_of: list[str]


BandName = Literal["low", "intermediate", "high", "at-boundary", "unknown"]


class RiskBandCheck(Strict):
    """Band of the latest valid result of ``test``, by the cut-offs of the risk model's ``bands``."""

    test: str
    band: list[BandName]


class Condition(Strict):
    """Exactly one key: a combinator or a predicate."""

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    has_condition: HasCondition | None = None
    has_allergy: HasAllergy | None = None
    has_medication: HasMedication | None = None
    has_procedure: HasProcedure | None = None
    lab: LabTest | None = None
    lab_persistent: LabPersistent | None = None
    lab_confounded: LabConfounded | None = None
    age: AgeCheck | None = None
    sex: Literal["female", "male"] | None = None
    answer: AnswerCheck | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    infusions: InfusionCheck | None = None
    order: OrderCheck | None = None
    preparation: PreparationCheck | None = None
    risk_stratum: StratumCheck | None = None
    risk_band: RiskBandCheck | None = None
    jurisdiction: Jurisdiction | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_key(cls, data: Any) -> Any:
        if not isinstance(data, dict) or len(data) != 1:
            keys = ", ".join(sorted(KINDS))
            got = list(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"a condition is a mapping with exactly one key, one of: {keys}; got {got}")
        ((key, value),) = data.items()
        if value is None:  # `has_condition:` with nothing after it would validate as a condition of no kind
            raise ValueError(f"condition {key!r} has no value; give what it tests")
        return data

    def kind(self) -> str:
        for name in KINDS:
            if getattr(self, "not_" if name == "not" else name) is not None:
                return name
        raise AssertionError("validated condition has no key")


KINDS = (
    "all", "any", "not", "has_condition", "has_allergy", "has_medication", "has_procedure",
    "lab", "lab_persistent", "lab_confounded", "age", "sex", "answer", "pregnant",
    "breastfeeding", "infusions", "order", "preparation", "risk_stratum", "risk_band",
    "jurisdiction",
)  # fmt: skip


# --------------------------------------------------------------------------- rules

PerJurisdiction = dict[Jurisdiction, str]


class Rule(Strict):
    id: str
    title: str
    when: Condition
    severity: Severity | dict[Jurisdiction, Severity]
    message: str
    action: str
    basis: Basis
    jurisdictions: list[Jurisdiction]
    sources: list[Citation] = Field(min_length=1)
    needs_review: bool = False
    review_note: str = ""
    protocol: bool = False
    enabled_by_default: bool = True
    category: Literal[
        "contraindication", "interaction", "warning", "special-population", "administration",
        "preparation", "schedule", "monitoring", "risk", "program", "lab",
    ]  # fmt: skip

    @field_validator("id")
    @classmethod
    def _rule_id(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError(f"rule id {value!r} must look like '<drug>.<kebab-slug>'")
        return value

    @model_validator(mode="after")
    def _review_has_note(self) -> Rule:
        if self.needs_review and not self.review_note:
            raise ValueError("a rule with needs_review: true must say why in review_note")
        if isinstance(self.severity, dict):
            missing = set(self.jurisdictions) - set(self.severity)
            if missing:
                raise ValueError(f"severity has no value for jurisdiction(s) {sorted(missing)}")
        return self

    def severity_in(self, jurisdiction: Jurisdiction | None) -> Severity:
        """Severity in force; with no jurisdiction the stricter one applies."""
        if isinstance(self.severity, str):
            return self.severity
        if jurisdiction is not None and jurisdiction in self.severity:
            return self.severity[jurisdiction]
        return max(self.severity.values(), key=lambda s: SEVERITY_RANK[s])


# --------------------------------------------------------------------------- parameters


class ParameterValue(Strict):
    jurisdiction: Jurisdiction
    value: float
    effective_from: date | None = None
    effective_until: date | None = None
    sources: list[Citation] = Field(min_length=1)
    note: str = ""


class Parameter(Strict):
    """A dated, per-jurisdiction number (OpenFisca-style), e.g. diluted-bag hours."""

    id: str
    description: str
    unit: str
    stricter: Literal["lower", "higher"]
    values: list[ParameterValue] = Field(min_length=1)
    needs_review: bool = False
    review_note: str = ""


# --------------------------------------------------------------------------- exposure


class Exposure(Strict):
    """How long one administration or dispense of a medicine counts as current exposure.

    An infusion of a biologic acts for its dosing interval; a cell-depleting antibody much
    longer. ``valueset`` is the rule value set the entry serves. With ``names``/``codes`` the
    entry covers only those members of it (for example one antibody in a class); without,
    it is the value set's default. ``after_administration`` is an ISO 8601 duration that a
    cited source states; when no source states one it stays empty and ``needs_review`` says
    why: the engine then reports "could not verify" for such a record given before the day
    assessed, instead of guessing. A dispense with ``daysSupply`` counts for that supply.
    """

    id: str
    valueset: str
    title: str
    names: list[str] = []
    codes: list[str] = []
    after_administration: Duration | None = None
    basis: Basis
    sources: list[Citation] = []
    needs_review: bool = False
    review_note: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _cited_or_reviewed(self) -> Exposure:
        if self.after_administration is not None and not self.sources:
            raise ValueError("a duration of exposure must cite the source that states it (sources)")
        if (self.needs_review or self.after_administration is None) and not self.review_note:
            raise ValueError("an exposure with no verified duration must say why in review_note")
        if self.after_administration is None and not self.needs_review:
            raise ValueError("an exposure with no duration must set needs_review: true")
        for code in self.codes:
            if "|" not in code:
                raise ValueError(f"code {code!r} must be 'system|code'")
        return self

    def member_tag(self, drug: str) -> str | None:
        """The vocabulary tag of this entry's members (None for a value-set default)."""
        return f"{drug}.exposure.{self.id}" if self.names or self.codes else None


# --------------------------------------------------------------------------- conflicts


class ConflictClaim(Strict):
    source: str
    section: str
    says: str


class Conflict(Strict):
    id: str
    topic: str
    kind: Literal["seed-vs-label", "us-vs-eu", "label-versions", "unsupported-claim", "classification"]
    claims: list[ConflictClaim] = Field(min_length=1)
    resolution: str
    rules: list[str] = []


# --------------------------------------------------------------------------- value sets


class CodeEntry(Strict):
    """One code of a value set, with the display its source gives and that source.

    ``code`` is ``system|value`` with a short system name (``rxnorm``, ``atc``,
    ``sct``, ``icd10``...). ATC and ICD-10 codes match hierarchically (a code
    covers its descendants); an ICD-10 block such as ``icd10|C00-C97`` covers
    every category in the range. ``verified`` is true only when the source read
    lists this code with this display (a regulator or a curated terminology
    list); a code seen only in secondary material is kept with ``verified:
    false`` and its note says why it is still used.
    """

    code: str
    display: str = Field(min_length=1)
    source: str
    verified: bool = False
    note: str = ""

    @field_validator("code")
    @classmethod
    def _system_prefixed(cls, code: str) -> str:
        return _check_code(code)


class Brand(Strict):
    """A brand (proprietary) name and the ingredient it contains, as its source names them."""

    name: str = Field(min_length=1)
    ingredient: str = Field(min_length=1)
    source: str
    verified: bool = False
    note: str = ""


def _check_code(code: str) -> str:
    if "|" not in code:
        raise ValueError(f"code {code!r} must be 'system|code', e.g. 'http://snomed.info/sct|24700007'")
    system, _, value = code.partition("|")
    if system == "icd10" and "-" in value and not ICD10_BLOCK.match(value):
        raise ValueError(f"ICD-10 block {value!r} must look like C00-C97 (first and last category)")
    return code


ICD10_BLOCK = re.compile(r"^([A-Z])(\d{2})-([A-Z])(\d{2})$")


class ValueSet(Strict):
    """A named set of codes and names; items that match carry its id as a tag.

    Matching order (see :mod:`rxguard.facts.vocabulary`): codes first, then the
    excluded codes, then names and brand names as the last resort. A name with
    ``*`` at the start or end of a word is a stem: ``*carcinoma`` matches
    "adenocarcinoma", ``azathioprin*`` matches "Azathioprin".
    """

    id: str
    title: str
    kind: Literal["medication", "condition", "allergy", "procedure"]
    codes: list[str | CodeEntry] = []
    exclude_codes: list[CodeEntry] = []
    names: list[str] = []
    brands: list[Brand] = []
    excludes: list[str] = []
    sources: list[Citation] = []
    verified: bool = False
    note: str = ""

    @field_validator("codes")
    @classmethod
    def _system_prefixed(cls, codes: list[str | CodeEntry]) -> list[str | CodeEntry]:
        for code in codes:
            if isinstance(code, str):
                _check_code(code)
        return codes

    def code_values(self) -> list[str]:
        """Every code as ``system|value``."""
        return [c if isinstance(c, str) else c.code for c in self.codes]

    def code_entries(self) -> list[CodeEntry]:
        """The codes that carry a display and a source (all of them in a released pack)."""
        return [c for c in self.codes if isinstance(c, CodeEntry)]

    def match_names(self) -> list[str]:
        """Names and brand names: the text this set matches by."""
        return [*self.names, *(b.name for b in self.brands)]


# --------------------------------------------------------------------------- schedule


class MonitoringItem(Strict):
    id: str
    title: str
    kind: Literal["assessment", "lab", "imaging", "program", "dose"]
    evidence: list[str] = []
    anchor: Literal["first_infusion", "start"] = "first_infusion"
    at_offsets: list[Duration] = []
    every: Duration | None = None
    before_start_within: Duration | None = None
    applies_when: Condition | None = None
    jurisdictions: list[Jurisdiction]
    basis: Basis
    sources: list[Citation] = Field(min_length=1)
    needs_review: bool = False
    review_note: str = ""
    due_soon: Duration = "P14D"


class DosePhase(Strict):
    from_infusion: int
    to_infusion: int | None = None
    min_interval: Duration
    nominal_interval: Duration


class DosingSchedule(Strict):
    dose: str
    route: str
    phases: list[DosePhase] = Field(min_length=1)
    total_infusions: int | None = None
    total_duration: Duration | None = None
    sources: list[Citation] = Field(min_length=1)


# --------------------------------------------------------------------------- risk model


class Stratum(Strict):
    id: str
    title: str
    when: Condition
    action: str
    basis: Basis
    sources: list[Citation] = Field(min_length=1)
    needs_review: bool = False
    review_note: str = ""


class Bands(Strict):
    """Cut-offs of one numeric lab result: ``low`` below low_max, ``high`` above high_above.

    A value equal to a cut-off is ``at-boundary``; no usable value is ``unknown``
    (see docs/packs.md). ``same_sample_as`` names a lab reported from the same
    sample: a confounder of that lab (lab_confounders in schedule.yaml) makes this
    value unusable too.
    """

    test: str
    same_sample_as: str | None = None
    low_max: float
    high_above: float
    sources: list[Citation] = Field(min_length=1)
    needs_review: bool
    review_note: str = ""


class RiskModel(Strict):
    id: str
    title: str
    bands: Bands | None = None
    strata: list[Stratum] = Field(min_length=1)
    default: str
    numeric_estimates: str = ""
    sources: list[Citation] = Field(min_length=1)


# --------------------------------------------------------------------------- questions


class Question(Strict):
    id: str
    kind: Literal["checklist", "assessment"]
    text: dict[str, str]
    answer_type: Literal["boolean", "number"] = "boolean"
    sources: list[Citation] = []


# --------------------------------------------------------------------------- vignettes


class VignetteExpect(Strict):
    verdict: Literal["contraindicated", "hold", "caution", "ok"] | None = None
    fires: list[str] = []
    does_not_fire: list[str] = []
    needs_review: list[str] = []
    stratum: str | None = None
    due: dict[str, Literal["overdue", "due", "upcoming", "not-due"]] = {}


class Vignette(Strict):
    name: str
    ref: str = ""
    at: date
    jurisdiction: Jurisdiction | None = None
    patient: dict[str, Any] = {}
    bundle: str | None = None
    answers: dict[str, bool | float] = {}
    context: dict[str, Any] = {}
    protocol_rules: dict[str, bool] = {}
    expect: VignetteExpect

    @field_validator("name")
    @classmethod
    def _sentence(cls, value: str) -> str:
        if not value.endswith((".", "?")) or " " not in value:
            raise ValueError("a vignette name is a full sentence ending with a full stop")
        return value


class PackMeta(Strict):
    name: str
    version: str
    last_reviewed_on: date
    label_versions: dict[str, str] = {}
    summary: str = ""
