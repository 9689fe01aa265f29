"""PatientFacts: the small, typed, indexed view of a patient that rules read.

Built once per request from FHIR R4 (see :mod:`rxguard.facts.fhir`) and then
only read. Every item carries ``tags``: the ids of the knowledge-pack value
sets it belongs to, computed at parse time by a :class:`Vocabulary`, so rule
evaluation is set membership rather than string matching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from rxguard.facts.labs import CORE_CATALOGUE, LabDef

Sex = Literal["female", "male", "other", "unknown"]


@dataclass(frozen=True, slots=True)
class LabResult:
    """One result, its value and limits already in the lab's canonical unit (see LabDef.unit).

    ``name`` is the lab's display name in the catalogue the reader used.

    ``problem`` says why a number could not be used (a unit that cannot be read or converted,
    a reference range in another unit); rules then report "could not verify", never a silent no.
    """

    test: str
    effective: date
    value: float | None = None
    unit: str = ""
    interpretation: str = ""  # "positive" / "negative" for qualitative results
    uln: float | None = None
    lln: float | None = None
    text: str = ""
    problem: str = ""
    source: str = ""
    name: str = ""
    # (value, high, low, unit) as sent, kept only when the value could not be converted to the
    # canonical unit but its reference range is in the same unit: a comparison with the result's
    # own limits (above the ULN, a multiple of it, below the LLN) needs no conversion.
    as_sent: tuple[float, float | None, float | None, str] | None = None
    # FHIR Quantity.comparator ("<", "<=", ">=", ">"): the true value is beyond ``value`` that way
    # (a result reported as "<5" or ">1000"); rules compare the whole range it leaves.
    comparator: str = ""
    # FHIR R4 Observation.status when it is "preliminary" ("an initial or interim observation: data
    # may be incomplete or unverified") or "unknown" (the source system "does not know which of the
    # status values currently applies"): the result is used, and a finding it supports asks for review.
    status: str = ""

    @property
    def preliminary(self) -> bool:
        return self.status in ("preliminary", "unknown")

    def describe(self) -> str:
        name = self.name or self.test
        if self.value is not None:
            shown = f"{self.comparator}{self.value:g} {self.unit}".strip()
            if self.text:
                shown += f" (sent as {self.text})"
        else:
            shown = self.interpretation or self.text or "recorded"
        return f"{name} {shown} on {self.effective.isoformat()}"


@dataclass(frozen=True, slots=True)
class ClinicalItem:
    """A Condition, AllergyIntolerance or Procedure reduced to what rules read.

    For an AllergyIntolerance, ``allergy_type`` (allergy / intolerance), ``criticality``
    (low / high / unable-to-assess), ``verification`` (unconfirmed, confirmed...),
    ``reaction_severity`` (the worst of mild / moderate / severe) and the reactions'
    ``manifestations`` are kept as recorded; the engine decides what they mean.

    ``active`` is false for a Condition recorded inactive, in remission or resolved, or with an
    abatement. ``ended`` says which of these the record states as over: resolved, or an abatement
    without a status saying inactive or remission (FHIR R4 Condition.abatement is the date the
    condition "resolved or went into remission", so an abatement alone does not make a remission
    an end). An item that is not active and not ended may still be present.

    What the record says about its own certainty (see :meth:`rxguard.facts.vocabulary.Vocabulary.read`):
    ``negated`` holds the value sets its text names only to negate ("lymphoma ruled out"); they are
    not in ``tags``, so code that does not ask sees the item as not in those sets; a text that gives the
    condition to another person ("family history of lymphoma", "mother: lymphoma") is read the same way,
    and ``others`` holds those of ``negated`` it gives to another person. ``uncertain``
    holds the tags the record only suspects ("suspected lymphoma", verificationStatus provisional,
    differential or unconfirmed, or a code its own text negates). ``cue`` is the phrase or
    status that said so, quoted in evidence.
    """

    text: str
    codes: tuple[str, ...]
    tags: frozenset[str]
    active: bool
    onset: date | None = None
    abated: date | None = None
    status: str = ""
    allergy_type: str = ""
    criticality: str = ""
    verification: str = ""
    reaction_severity: str = ""
    manifestations: tuple[str, ...] = ()
    negated: frozenset[str] = frozenset()
    uncertain: frozenset[str] = frozenset()
    cue: str = ""
    others: frozenset[str] = frozenset()
    ended: bool = False
    # How precise the record's dates are: a partial date ("2025"), an age or words cover a span.
    # ``onset``/``abated`` are the earliest day, ``onset_latest``/``abated_latest`` the latest;
    # ``onset_text``/``abated_text`` are what was sent when it was not a full date. ``recorded`` is
    # the (latest) day the record was made, which the onset cannot be after.
    onset_latest: date | None = None
    onset_text: str = ""
    abated_latest: date | None = None
    abated_text: str = ""
    recorded: date | None = None


MedicationKind = Literal["request", "statement", "administration", "dispense", "immunization"]
# Statuses under which a record says the medicine is (or will be) taken now.
_CURRENT_STATUSES = frozenset({"active", "on-hold", "draft", "intended", "unknown", ""})
# Statuses under which an administration or dispense happened (stopped, not-done... never count).
_GIVEN_STATUSES = frozenset({"completed", "in-progress", "on-hold", "unknown", ""})


@dataclass(frozen=True, slots=True)
class MedicationUse:
    """One MedicationRequest, MedicationStatement, MedicationAdministration, MedicationDispense or
    Immunization (a vaccine given, an event like an administration).

    An administration or dispense is a point in time (``start``): how long it counts as
    current exposure is the drug's duration of effect, which the packs state (exposure.yaml),
    or, for a dispense, the days of supply the record gives (``supply_end``).
    """

    text: str
    codes: tuple[str, ...]
    tags: frozenset[str]
    kind: MedicationKind
    status: str
    start: date | None
    end: date | None
    dose_value: float | None = None
    dose_unit: str = ""
    instructions: str = ""
    intent: str = ""
    supply_end: date | None = None
    source: str = ""
    # The latest day ``start`` can be when it was sent as a year or a month ("2025-08"): the last
    # day the medicine may have been taken, for "within the last 6 months" windows.
    start_latest: date | None = None

    @property
    def is_event(self) -> bool:
        """An administration, dispense or immunization: a dated event rather than a course with a status."""
        return self.kind in ("administration", "dispense", "immunization")

    def is_active(self, at: date, exposure_end: date | None = None) -> bool:
        """Current on ``at``. For an event: on its days (an infusion period), then up to ``exposure_end`` or the supply end."""
        if self.is_event:
            if self.status not in _GIVEN_STATUSES or self.start is None or self.start > at:
                return False
            end = max(d for d in (self.start, self.end, self.supply_end, exposure_end) if d is not None)
            return at <= end
        if self.status not in _CURRENT_STATUSES:
            return False
        if self.start is not None and self.start > at:
            return self.kind == "request" and self.status == "draft"
        return self.end is None or self.end >= at

    @property
    def is_planned(self) -> bool:
        """A record of intent only: a draft order, or a statement that the medicine may be taken later.
        It counts as current use (the medicine is about to be given) but never as use that happened."""
        return (self.kind, self.status) in (("request", "draft"), ("statement", "intended"))

    def was_given(self) -> bool:
        """An event that happened (status completed, in progress...), not a stopped or not-done one."""
        return self.is_event and self.status in _GIVEN_STATUSES

    def last_day(self) -> date | None:
        return self.supply_end or self.end or self.start_latest or self.start


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record the reader recognised (an ALT result, a pregnancy status) but could not read, and why."""

    kind: Literal["lab", "medication", "condition", "allergy", "procedure", "patient"]
    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class PatientFacts:
    patient_id: str
    birth_date: date | None
    sex: Sex
    conditions: tuple[ClinicalItem, ...] = ()
    allergies: tuple[ClinicalItem, ...] = ()
    procedures: tuple[ClinicalItem, ...] = ()
    medications: tuple[MedicationUse, ...] = ()
    labs: Mapping[str, tuple[LabResult, ...]] = field(default_factory=dict)
    by_tag: Mapping[str, tuple[ClinicalItem | MedicationUse, ...]] = field(default_factory=dict)
    # "<kind>:<value set>" for every tag present or negated and "lab:<test>" for every lab with a result:
    # the engine skips rules whose data is absent with one set look-up. A negated tag is a key, so the
    # rule is still evaluated and says it could not verify, but not in ``by_tag``.
    keys: frozenset[str] = frozenset()
    # "<kind>:<value set>" -> the items whose text names the set only to negate it ("lymphoma ruled out").
    negated_by_tag: Mapping[str, tuple[ClinicalItem, ...]] = field(default_factory=dict)
    # What the reader recognised but could not read (rules whose input it is say "could not verify"),
    # and what it left out or read with an assumption (records of another patient, and so on).
    unreadable: tuple[Unreadable, ...] = ()
    reading_notes: tuple[str, ...] = ()
    deceased: bool = False
    deceased_on: date | None = None
    # The lab catalogue the facts were read with (core labs plus the packs' labs.yaml).
    lab_defs: Mapping[str, LabDef] = field(default_factory=lambda: CORE_CATALOGUE)

    def unreadable_for(self, kind: str, key: str) -> tuple[Unreadable, ...]:
        return tuple(u for u in self.unreadable if u.kind == kind and u.key == key)

    def present_keys(self) -> frozenset[str]:
        if self.keys or not (self.by_tag or self.labs):
            return self.keys
        return frozenset(self.by_tag).union(self.negated_by_tag, (f"lab:{test}" for test in self.labs))

    def latest(self, test: str) -> LabResult | None:
        results = self.labs.get(test)
        return results[0] if results else None

    def tagged(self, kind: str, tag: str) -> tuple[ClinicalItem | MedicationUse, ...]:
        """Items of one kind (condition, allergy, procedure, medication) in a value set."""
        return self.by_tag.get(f"{kind}:{tag}", ())

    def negated(self, kind: str, tag: str) -> tuple[ClinicalItem, ...]:
        """Items of one kind whose text names the value set only to negate it."""
        return self.negated_by_tag.get(f"{kind}:{tag}", ())

    def age_on(self, at: date) -> float | None:
        if self.birth_date is None:
            return None
        years = at.year - self.birth_date.year
        if (at.month, at.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return float(years)
