"""The restricted-distribution program definition of a pack (``program.yaml``).

Programs are data: which participants must be certified, which indications a
patient may be enrolled for, how often treatment must be reauthorized, which
forms the jurisdiction requires, how a treatment course is bounded, and the
versioned consent documents (English and Chinese) that state the risks. The
program layer (:mod:`rxguard.program`) reads these models and nothing else
about a program, so adding a program is a YAML change, not a code change.

Every requirement cites the pack's source register (``S1`` … ``S36`` and the
seed pages) with a section, like every rule does.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from rxguard.knowledge.schema import Citation, Duration, Jurisdiction, Strict

ProgramKind = Literal["rems", "eu-risk-minimisation", "treatment-course"]
FormMoment = Literal["enrollment", "continuation", "discontinuation", "follow-up"]
Language = Literal["en", "zh"]


class Indication(Strict):
    """A condition a patient may be enrolled for in this program."""

    id: str
    title: str
    note: str = ""
    sources: list[Citation] = Field(min_length=1)


class CertificationRequirement(Strict):
    """What a prescriber or an infusion site needs before it is certified."""

    training_attestation: bool
    site_authorization_number: bool = False
    note: str = ""
    sources: list[Citation] = Field(min_length=1)


class Certification(Strict):
    prescriber: CertificationRequirement
    site: CertificationRequirement


class ProgramForm(Strict):
    """A document the program requires at a moment of treatment (EU forms, alert card)."""

    id: str
    title: str
    moment: FormMoment
    after: Duration | None = None  # for ``continuation``: due this long after the first infusion
    sources: list[Citation] = Field(min_length=1)


class Observation(Strict):
    """Post-infusion observation the label requires: after the first N infusions, or after every one.

    ``first_infusions`` left out means every infusion (a label that says "after each infusion").
    """

    first_infusions: int | None = Field(default=None, gt=0)
    minutes: int = Field(gt=0)
    sources: list[Citation] = Field(min_length=1)


class DoseInterval(Strict):
    """How early a dose may be given relative to the pack's minimum interval.

    ``early_tolerance_days`` is subtracted from the pack's ``min_interval`` for the
    dose phase. It is a program (institution) choice, not a label number, which is
    why it lives here and can be overridden by settings; ``note`` says why the
    default was chosen.
    """

    early_tolerance_days: int = Field(ge=0)
    note: str
    sources: list[Citation] = Field(min_length=1)


class Course(Strict):
    """A bounded treatment course (a number of doses within a period, e.g. 48 infusions in 36 weeks)."""

    total_infusions: int = Field(gt=0)
    duration: Duration
    sources: list[Citation] = Field(min_length=1)


CheckClass = Literal["hard-stop", "overridable"]
FailedOutcome = Literal["hold", "do-not-infuse"]


def _hold_only() -> list[FailedOutcome]:
    return ["hold"]


class CheckRule(Strict):
    """How one per-dose check may be answered when it fails.

    A ``hard-stop`` is never overridable: only the change named in ``lift`` (a
    resumption, a signed consent, a certification...) lets a later authorization
    pass. An ``overridable`` check may be bypassed for one visit by two people
    who each hold one of ``roles`` (the two-person rule), and only while its
    outcome is one of ``outcomes``: the same check failing with a worse outcome
    is a hard stop.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    kind: CheckClass = Field(alias="class")
    lift: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    outcomes: list[FailedOutcome] = Field(default_factory=_hold_only)
    note: str = ""

    @model_validator(mode="after")
    def _roles_for_overridable(self) -> CheckRule:
        if self.kind == "overridable" and not self.roles:
            raise ValueError(f"check {self.id}: an overridable check names the roles that may override it")
        if self.kind == "hard-stop" and self.roles:
            raise ValueError(f"check {self.id}: a hard stop is never overridable, so it names no roles")
        return self


class Overrides(Strict):
    """The two-person rule for overrides, and which roles act for the whole program.

    ``program_wide_roles`` may request an override for a visit at any site (e.g. a
    medical director), but the confirming second person always belongs to the
    visit's site or is the patient's prescriber.
    """

    program_wide_roles: list[str] = Field(default_factory=list)
    note: str = ""


class AuthorizationWindow(Strict):
    """How long a per-dose authorization (and an override of it) stays valid.

    ``hours`` unset: until the end of the visit's day; set: that many hours from the
    visit. The infusion must start after the authorization and within this window,
    never in the future.
    """

    hours: int | None = Field(default=None, gt=0, le=24)
    note: str = ""


class ProgramDefinition(Strict):
    id: str
    title: str
    kind: ProgramKind
    jurisdiction: Jurisdiction | None
    products: list[str] = Field(min_length=1)
    indications: list[Indication] = Field(min_length=1)
    certification: Certification
    consent_document: str
    reauthorization_every: Duration | None = None
    discontinuation_follow_up: Duration | None = None
    forms: list[ProgramForm] = Field(default_factory=list)
    observation: Observation | None = None
    dose_interval: DoseInterval
    course: Course | None = None
    reportable_events: list[str] = Field(default_factory=list)
    override_roles: list[str] = Field(min_length=1)
    checks: list[CheckRule] = Field(min_length=1)
    overrides: Overrides = Field(default_factory=Overrides)
    authorization_window: AuthorizationWindow = Field(default_factory=AuthorizationWindow)
    sources: list[Citation] = Field(min_length=1)
    note: str = ""

    @model_validator(mode="after")
    def _checks_consistent(self) -> ProgramDefinition:
        ids = [c.id for c in self.checks]
        if len(ids) != len(set(ids)):
            raise ValueError(f"program {self.id}: each check is classified once; got {ids}")
        for check in self.checks:
            unknown = sorted(set(check.roles) - set(self.override_roles))
            if unknown:
                raise ValueError(
                    f"program {self.id}: check {check.id} names role(s) {unknown} that are not among "
                    f"override_roles ({self.override_roles})"
                )
        unknown = sorted(set(self.overrides.program_wide_roles) - set(self.override_roles))
        if unknown:
            raise ValueError(f"program {self.id}: program_wide_roles {unknown} are not among override_roles")
        return self

    def check_rule(self, check_id: str) -> CheckRule | None:
        for check in self.checks:
            if check.id == check_id:
                return check
        return None


class ConsentDocument(Strict):
    """One version of a consent document, with the same text in every language."""

    id: str
    version: str
    effective_on: date
    title: dict[Language, str]
    text: dict[Language, str]
    risks: list[str] = Field(min_length=1)
    sources: list[Citation] = Field(min_length=1)

    @model_validator(mode="after")
    def _both_languages(self) -> ConsentDocument:
        for name, field in (("title", self.title), ("text", self.text)):
            missing = {"en", "zh"} - set(field)
            if missing:
                raise ValueError(f"consent document {self.id} {self.version}: {name} lacks {sorted(missing)}")
        return self


class ProgramRecords(Strict):
    """How the program's own records reach the clinical check at the gate, as facts the rules read.

    ``adverse_events``: adverse event kind -> the condition value set it stands for
    (a report of a suspected event is read as a sign of that condition). ``monitoring``: monitoring
    kind -> the lab test a result of ``positive`` or ``negative`` is read as; other
    results are not read (free text). Every infusion the program recorded is a
    MedicationAdministration of the drug.
    """

    adverse_events: dict[str, str] = Field(default_factory=dict)
    monitoring: dict[str, str] = Field(default_factory=dict)
    note: str = ""


_KIND_ID = r"^[a-z][a-z0-9_-]*$"


def _both(field: dict[Language, str], what: str) -> None:
    missing = {"en", "zh"} - set(field)
    if missing:
        raise ValueError(f"{what}: title lacks {sorted(missing)}")


class Measurement(Strict):
    """A typed value a monitoring record may carry (a score, a count, an index).

    ``unit`` is a UCUM expression (``{score}``, ``1``, ``mg/dL``); ``min`` and ``max``
    bound the value (inclusive). The program refuses a value of the wrong type or
    outside the range with a one-line error, so no per-value column or CHECK is needed.
    ``lab`` names the lab-catalogue entry the value is, when it is one.
    """

    id: str = Field(pattern=_KIND_ID, max_length=48)
    title: dict[Language, str]
    type: Literal["number", "integer"]
    unit: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    lab: str | None = None
    note: str = ""
    sources: list[Citation] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Measurement:
        _both(self.title, f"measurement {self.id}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"measurement {self.id}: min {self.min} is above max {self.max}")
        return self


class MonitoringKind(Strict):
    """A kind of monitoring record the program keeps.

    ``evidence``: the schedule evidence keys (lab keys or program events) one record of
    this kind satisfies (default: its own id). ``measurements``: the typed values it may
    carry. ``results``: qualitative results offered when recording it (free text otherwise).
    ``companion``: a record of this kind is recorded together with one of the companion
    kind, which carries the measurements (a prescriber assessment and the disease activity
    measured at it). ``lab``: the lab-catalogue entry a result of this kind is.
    """

    id: str = Field(pattern=_KIND_ID, max_length=32)
    title: dict[Language, str]
    evidence: list[str] = Field(default_factory=list)
    measurements: list[str] = Field(default_factory=list)
    results: list[str] = Field(default_factory=list)
    companion: str | None = None
    lab: str | None = None
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringKind:
        _both(self.title, f"monitoring kind {self.id}")
        return self

    def evidence_keys(self) -> tuple[str, ...]:
        return tuple(self.evidence) or (self.id,)


class Suspension(Strict):
    """An adverse event kind that suspends treatment at once when reported, and why (cited).

    ``severity`` is how a report weighs on the next dose, in the rules' scale: ``contraindicated``
    when no dose may be given until the prescriber resumes treatment, ``hold`` when a clinician
    decides. An EHR card about a suspended patient takes its indicator from it.
    """

    reason: str = Field(min_length=1)
    severity: Literal["contraindicated", "hold"] = "hold"
    sources: list[Citation] = Field(min_length=1)


class AdverseEventKind(Strict):
    """A kind of adverse event the program records; ``suspends`` when a report stops treatment."""

    id: str = Field(pattern=_KIND_ID, max_length=48)
    title: dict[Language, str]
    suspends: Suspension | None = None
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> AdverseEventKind:
        _both(self.title, f"adverse event kind {self.id}")
        return self


class RecordKinds(Strict):
    """The kinds of record the pack's programs keep: monitoring, adverse events, measurements.

    The database stores kinds as strings and measurements as typed values in one JSON
    column; the program validates both against these declarations.
    """

    measurements: list[Measurement] = Field(default_factory=list)
    monitoring: list[MonitoringKind] = Field(default_factory=list)
    adverse_events: list[AdverseEventKind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RecordKinds:
        for what, ids in (
            ("measurement", [m.id for m in self.measurements]),
            ("monitoring kind", [m.id for m in self.monitoring]),
            ("adverse event kind", [a.id for a in self.adverse_events]),
        ):
            if len(ids) != len(set(ids)):
                raise ValueError(f"each {what} is declared once; got {ids}")
        measured = {m.id for m in self.measurements}
        kinds = {m.id for m in self.monitoring}
        for kind in self.monitoring:
            unknown = sorted(set(kind.measurements) - measured)
            if unknown:
                raise ValueError(f"monitoring kind {kind.id}: measurement(s) {unknown} are not declared")
            if kind.companion is not None and kind.companion not in kinds:
                raise ValueError(f"monitoring kind {kind.id}: companion {kind.companion!r} is not declared")
        return self


class ProgramFile(Strict):
    """The whole ``program.yaml`` of a pack."""

    programs: list[ProgramDefinition] = Field(min_length=1)
    consent_documents: list[ConsentDocument] = Field(min_length=1)
    program_records: ProgramRecords = Field(default_factory=ProgramRecords)
    record_kinds: RecordKinds = Field(default_factory=RecordKinds)

    @model_validator(mode="after")
    def _consistent(self) -> ProgramFile:
        ids = [p.id for p in self.programs]
        if len(ids) != len(set(ids)):
            raise ValueError(f"program ids must be unique; got {ids}")
        versions = [(d.id, d.version) for d in self.consent_documents]
        if len(versions) != len(set(versions)):
            raise ValueError("each (consent document id, version) may appear only once")
        documents = {d.id for d in self.consent_documents}
        for program in self.programs:
            if program.consent_document not in documents:
                raise ValueError(
                    f"program {program.id}: consent_document {program.consent_document!r} "
                    f"is not among consent_documents ({sorted(documents)})"
                )
        return self


# --------------------------------------------------------------------------- demo data (demo.yaml)


class DemoDose(Strict):
    """What the demo infuses in a program (the pack's usual dose of its product)."""

    product: str
    amount: float = Field(gt=0)
    unit: str
    diluent: str
    volume_ml: float = Field(gt=0)


class DemoProgram(Strict):
    """How the demo runs one program: the dose it gives, the checklist answers of an ordinary visit."""

    program: str
    dose: DemoDose
    answers: dict[str, bool] = Field(default_factory=dict)
    enrolled_only_prescribers: list[str] = Field(default_factory=list)


class DemoCourse(Strict):
    """Doses from ``first_day`` after the start, every ``every_days``, while before the end given."""

    first_day: float = 1
    every_days: float = Field(gt=0)
    until_day: float | None = None
    until_days_ago: float | None = None

    @model_validator(mode="after")
    def _one_end(self) -> DemoCourse:
        if (self.until_day is None) == (self.until_days_ago is None):
            raise ValueError("a demo course ends either until_day (after the start) or until_days_ago")
        return self


class DemoMonitoring(Strict):
    kind: str
    result: str = ""
    measurements: dict[str, float] = Field(default_factory=dict)


class DemoAdverseEvent(Strict):
    kind: str
    serious: bool = False
    seriousness: list[str] = Field(default_factory=list)
    onset_days_ago: float
    outcome: str = "unknown"
    description: str


class DemoOverride(Strict):
    """An emergency override asked by one person and confirmed by a second (two people)."""

    requester: str
    requester_role: str
    reason: str
    confirmer: str
    confirmer_role: str
    confirmation_reason: str


class DemoVisit(Strict):
    site: str = "site_north"
    actor: str = "nurse_kim"
    answers: dict[str, bool] = Field(default_factory=dict)  # over the program's ordinary answers
    override: DemoOverride | None = None


class DemoStep(Strict):
    """One dated thing that happens to a demo patient after the course: exactly one of the actions."""

    day: float | None = None  # days after the start
    days_ago: float | None = None
    hours_ago: float | None = None  # earlier today (never before midnight)
    monitoring: DemoMonitoring | None = None
    adverse_event: DemoAdverseEvent | None = None
    visit: DemoVisit | None = None
    discontinue: str | None = None  # the reason

    @model_validator(mode="after")
    def _one_each(self) -> DemoStep:
        if sum(x is not None for x in (self.day, self.days_ago, self.hours_ago)) != 1:
            raise ValueError("a demo step has one date: day, days_ago or hours_ago")
        actions = (self.monitoring, self.adverse_event, self.visit, self.discontinue)
        if sum(x is not None for x in actions) != 1:
            raise ValueError("a demo step does one thing: monitoring, adverse_event, visit or discontinue")
        return self


class DemoLab(Strict):
    """A lab result the clinic's record sends with every visit of a demo patient, drawn the days before."""

    test: str
    value: float | None = None  # none: a presence result (the test was done)
    unit: str = ""
    high: float | None = None  # the reference range's upper limit, when the result has one
    drawn_days_before: float = Field(default=1, ge=0)


class DemoPatient(Strict):
    key: str
    name: str
    program: str
    birth_on: date
    sex: Literal["female", "male", "other", "unknown"]
    language: Language = "en"
    indication: str | None = None  # default: the program's first
    starts_days_ago: float
    consent: bool = True
    authorize: bool = True
    course: DemoCourse | None = None
    steps: list[DemoStep] = Field(default_factory=list)
    visit_labs: list[DemoLab] = Field(default_factory=list)  # sent as a FHIR Bundle with each visit
    state: str  # what the demo shows; "{given}" becomes the number of infusions given


class DemoFile(Strict):
    """The pack's demo data (``demo.yaml``): programs as the demo runs them, and patients with histories."""

    programs: list[DemoProgram] = Field(default_factory=list)
    patients: list[DemoPatient] = Field(default_factory=list)
