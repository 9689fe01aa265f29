"""The condition language compiled to closures.

Each pack condition becomes a function ``Ctx -> Evidence``: ``None`` when it
does not hold, a list of evidence lines when it holds, and :class:`Unknown`
when its input is there but could not be read (a unit that does not convert,
a result without a reference range, a record whose duration of effect no
source states). ``all``/``any``/``not`` combine the three values as Kleene
logic does: ``all`` is false as soon as one part is false, ``any`` true as
soon as one is true, and unknown otherwise when a part is unknown. Compiling
once per pack keeps evaluation to set look-ups and comparisons, which is what
lets one core assess tens of thousands of patients a second.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from rxguard.facts import units
from rxguard.facts.labs import LabDef
from rxguard.facts.model import ClinicalItem, LabResult, MedicationUse, PatientFacts
from rxguard.facts.vocabulary import normalize_text
from rxguard.knowledge.schema import (
    AgeCheck,
    AnswerCheck,
    Bands,
    Condition,
    HasAllergy,
    HasCondition,
    HasMedication,
    HasProcedure,
    InfusionCheck,
    LabConfounded,
    LabPersistent,
    LabTest,
    OrderCheck,
    Parameter,
    PreparationCheck,
    RiskBandCheck,
    StratumCheck,
    parse_duration,
)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A condition whose input could not be read: why, and whether it gates a dose (lab or dose input)."""

    reasons: tuple[str, ...]
    gate: bool = False

    def merged(self, other: Unknown) -> Unknown:
        return Unknown(tuple(dict.fromkeys(self.reasons + other.reasons)), self.gate or other.gate)


Evidence = list[str] | Unknown | None


@functools.lru_cache(maxsize=8192)
def shift(day: date, duration: str, sign: int = 1) -> date:
    """``day`` moved by an ISO 8601 duration (calendar months, clamped to month end)."""
    months, days = parse_duration(duration)
    if months:
        total = day.year * 12 + (day.month - 1) + sign * months
        year, month = divmod(total, 12)
        month += 1
        day = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return day + timedelta(days=sign * days)


def param_value(param: Parameter, jurisdiction: str | None, at: date) -> tuple[float, str] | None:
    """The value in force at ``at`` for the jurisdiction; with none, the stricter one."""
    candidates = [
        v
        for v in param.values
        if (jurisdiction is None or v.jurisdiction == jurisdiction)
        and (v.effective_from is None or v.effective_from <= at)
        and (v.effective_until is None or at < v.effective_until)
    ]
    if not candidates:
        return None
    pick = min if param.stricter == "lower" else max
    chosen = pick(candidates, key=lambda v: v.value)
    return chosen.value, chosen.jurisdiction


@dataclass(frozen=True, slots=True)
class ExposureRow:
    """One exposure.yaml entry as the engine uses it."""

    member_tag: str | None
    duration: str | None
    needs_review: bool
    review_note: str
    title: str


@dataclass(slots=True)
class Ctx:
    """Everything one evaluation reads. Built per assessment; never shared."""

    facts: PatientFacts
    at: date
    jurisdiction: str | None
    answers: Mapping[str, bool | float]
    question_text: Mapping[str, str]
    infusions: tuple[date, ...]
    order: Mapping[str, Any] | None
    preparation: Mapping[str, Any] | None
    parameters: Mapping[str, Parameter]
    default_ulns: Mapping[str, float]
    bands: Bands | None
    events: Mapping[str, tuple[date, ...]]
    # value set -> (member tag or None, duration or None, needs review, note) from exposure.yaml
    exposures: Mapping[str, tuple[ExposureRow, ...]] = field(default_factory=dict)
    invalid: dict[str, set[date]] = field(default_factory=dict)
    # Review notes of unverified inputs a rule used (an exposure duration applied to a whole class)
    review_notes: list[str] = field(default_factory=list)
    stratum: str | None = None
    risk_title: str = "Risk"
    notes: list[str] = field(default_factory=list)
    params_used: set[str] = field(default_factory=set)

    def latest(self, test: str, max_age: str | None = None, *, include_invalid: bool = False) -> LabResult | None:
        """Latest result on or before ``at`` (results marked invalid are skipped unless asked for)."""
        oldest = shift(self.at, max_age, -1) if max_age else None
        skip = None if include_invalid else self.invalid.get(test)
        for result in self.facts.labs.get(test, ()):
            if result.effective > self.at:
                continue
            if oldest is not None and result.effective < oldest:
                return None
            if skip and result.effective in skip:
                continue
            return result
        return None

    def param(self, name: str) -> float | None:
        found = param_value(self.parameters[name], self.jurisdiction, self.at)
        if found is None:
            self.notes.append(
                f"parameter {name} has no value in force for {self.jurisdiction or 'any jurisdiction'} on {self.at}"
            )
            return None
        self.params_used.add(name)
        return found[0]


Pred = Callable[[Ctx], Evidence]


def _describe_item(item: ClinicalItem | MedicationUse) -> str:
    # A record coded without text or display is named by its codes, so the reader sees what matched.
    text = item.text or (f"(no text; coded {', '.join(item.codes)})" if item.codes else "(no text)")
    if isinstance(item, MedicationUse):
        when = f" from {item.start}" if item.start else ""
        when += f" to {item.end}" if item.end else ""
        return f"{text} ({item.kind}, {item.status or 'no status'}{when})"
    bits = []
    if item.onset:
        bits.append(f"onset {item.onset}")
    if item.abated:
        bits.append(f"resolved {item.abated}")
    elif item.status:
        bits.append(item.status)
    return f"{text} ({', '.join(bits)})" if bits else text


def _has_condition(p: HasCondition) -> Pred:
    key = f"condition:{p.valueset}"

    def pred(ctx: Ctx) -> Evidence:
        items = ctx.facts.by_tag.get(key)
        if not items:
            return None
        found = []
        since: date | None = None
        if p.onset_since is not None:
            if not ctx.infusions:
                return None
            since = ctx.infusions[0] if p.onset_since == "first_infusion" else ctx.infusions[-1]
        if p.onset_within is not None:
            window = shift(ctx.at, p.onset_within, -1)
            since = max(since, window) if since else window
        for item in items:
            assert isinstance(item, ClinicalItem)
            if p.status == "active" and not item.active:
                continue
            if item.onset is not None and item.onset > ctx.at:
                continue
            if since is not None and (item.onset is None or item.onset < since):
                continue
            found.append(f"Condition: {_describe_item(item)}")
        return found or None

    return pred


# Reaction words that make any recorded reaction a hypersensitivity reaction, whatever its type.
_HYPERSENSITIVITY_WORDS = ("anaphyla", "angioedema", "angio-oedema", "hypersensitivity", "bronchospasm", "urticaria")


def _describe_allergy(item: ClinicalItem) -> str:
    bits = [
        item.allergy_type or "type not recorded",
        f"criticality {item.criticality}" if item.criticality else "",
        f"{item.reaction_severity} reaction" if item.reaction_severity else "",
        ", ".join(item.manifestations),
        item.verification,
    ]
    return f"{item.text or '(no text)'} ({'; '.join(b for b in bits if b)})"


def is_hypersensitivity(item: ClinicalItem) -> bool:
    """Whether a recorded allergy or intolerance is a hypersensitivity reaction.

    The labels contraindicate after a hypersensitivity (allergic) reaction. An entry typed
    ``allergy`` (or not typed) is one; an ``intolerance`` (a non-immune reaction such as a
    headache) is one only when it is recorded as high criticality, as a severe reaction, or
    with an anaphylactic or allergic manifestation.
    """
    if item.allergy_type != "intolerance":
        return True
    if item.criticality == "high" or item.reaction_severity == "severe":
        return True
    reactions = " ".join(item.manifestations).casefold()
    return any(word in reactions for word in _HYPERSENSITIVITY_WORDS)


def _has_allergy(p: HasAllergy) -> Pred:
    key = f"allergy:{p.valueset}"

    def pred(ctx: Ctx) -> Evidence:
        found: list[str] = []
        unsure: list[str] = []
        for item in ctx.facts.by_tag.get(key, ()):
            if not isinstance(item, ClinicalItem) or not item.active:
                continue
            if is_hypersensitivity(item):
                found.append(f"Allergy: {_describe_allergy(item)}")
            else:
                unsure.append(
                    f"Intolerance: {_describe_allergy(item)} is recorded as an intolerance, not as a "
                    "hypersensitivity reaction; the contraindication concerns hypersensitivity reactions"
                )
        if found:
            return found
        return Unknown(tuple(unsure)) if unsure else None

    return pred


def _exposure_row(ctx: Ctx, valueset: str, item: MedicationUse) -> ExposureRow | None:
    """The exposure.yaml entry for one administered or dispensed item: its member's, else its value set's."""
    rows = ctx.exposures.get(valueset, ())
    default = None
    for row in rows:
        if row.member_tag is None:
            default = row
        elif row.member_tag in item.tags:
            return row
    return default


@dataclass(frozen=True, slots=True)
class _EventState:
    """How an administration or dispense stands on the day assessed."""

    active: bool
    unknown: str | None = None
    note: str = ""
    review: str = ""


def _event_state(ctx: Ctx, valueset: str, item: MedicationUse) -> _EventState:
    if item.is_active(ctx.at):  # the record's own days (an infusion period, a supply) cover the day
        return _EventState(True, None, f"; supplied until {item.supply_end}" if item.supply_end else "")
    row = _exposure_row(ctx, valueset, item)
    end = None
    note = ""
    review = ""
    if row is not None and row.duration is not None and item.start is not None:
        end = shift(item.end or item.start, row.duration)
        note = f"; counts as current exposure for {row.duration} ({row.title})"
        review = row.review_note if row.needs_review else ""
    if item.supply_end is not None:
        note += f"; supplied until {item.supply_end}"
    if item.is_active(ctx.at, end):
        return _EventState(True, None, note, review)
    if (
        item.was_given()
        and item.start is not None
        and item.start <= ctx.at
        and end is None
        and item.supply_end is None
        and (item.end or item.start) < ctx.at
    ):
        why = (
            f"{item.text or 'medicine'} {item.kind} on {item.start} ({item.source or 'record'}): no source in the "
            f"pack states how long it counts as current exposure, so whether the patient is still exposed is not known"
        )
        return _EventState(False, why, note)
    return _EventState(False, None, note)


def _has_medication(p: HasMedication) -> Pred:
    key = f"medication:{p.valueset}"

    def pred(ctx: Ctx) -> Evidence:
        items = ctx.facts.by_tag.get(key)
        if not items:
            return None
        found = []
        unknown: list[str] = []
        window = shift(ctx.at, p.within, -1) if p.within else None
        for item in items:
            assert isinstance(item, MedicationUse)
            state = _EventState(item.is_active(ctx.at))
            if item.is_event:
                if item.start is None or item.start > ctx.at or not (item.was_given() or item.status == "stopped"):
                    continue
                state = _event_state(ctx, p.valueset, item)
                if state.unknown is not None and p.status == "active":
                    unknown.append(state.unknown)
                    continue
            elif item.start is not None and item.start > ctx.at and not state.active:
                continue
            active = state.active
            if p.status == "active" and not active:
                continue
            if p.status == "past":
                last = item.last_day()
                if active or (window is not None and (last is None or last < window)):
                    continue
            if p.min_duration is not None:
                if item.start is None:
                    continue
                end = min(item.end or ctx.at, ctx.at)
                if shift(item.start, p.min_duration) > end:
                    continue
            found.append(f"Medication: {_describe_item(item)}{state.note}")
            if state.review and active:
                ctx.review_notes.append(state.review)
        if found:
            return found
        return Unknown(tuple(unknown)) if unknown else None

    return pred


def _has_procedure(p: HasProcedure) -> Pred:
    key = f"procedure:{p.valueset}"

    def pred(ctx: Ctx) -> Evidence:
        window = shift(ctx.at, p.within, -1) if p.within else None
        found = []
        for item in ctx.facts.by_tag.get(key, ()):
            assert isinstance(item, ClinicalItem)
            day = item.onset
            if day is None or day > ctx.at or (window is not None and day < window):
                continue
            found.append(f"Procedure: {item.text} on {day}")
        return found or None

    return pred


def _uln_of(ctx: Ctx, result: LabResult) -> tuple[float | None, str]:
    if result.uln is not None:
        return result.uln, "reference range"
    default = ctx.default_ulns.get(result.test)
    if default is not None:
        return default, "configured default; the result had no reference range"
    return None, ""


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "≥": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
    "≤": lambda v, t: v <= t,
}


def _is_readable(result: LabResult, labs: Mapping[str, LabDef]) -> bool:
    """A result that says something: a number for a numeric test, positive/negative for a qualitative one."""
    lab = labs.get(result.test)
    kind = lab.kind if lab is not None else "presence"
    if kind == "numeric":
        return result.value is not None
    if kind == "qualitative":
        return bool(result.interpretation)
    return True


def _unreadable_lab(ctx: Ctx, test: str) -> Unknown | None:
    found = ctx.facts.unreadable_for("lab", test)
    return Unknown(tuple(u.reason for u in found), gate=True) if found else None


def _lab(p: LabTest) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        result = ctx.latest(p.test, p.max_age)
        if p.missing:
            if result is None or not _is_readable(result, ctx.facts.lab_defs):
                lab = ctx.facts.lab_defs.get(p.test)
                name = lab.display if lab is not None else p.test
                age = f" in the last {p.max_age}" if p.max_age else ""
                unread = [u.reason for u in ctx.facts.unreadable_for("lab", p.test)]
                if result is not None:
                    unread.append(result.problem or f"{result.describe()}: not read")
                return [f"No readable {name} result{age} before {ctx.at}", *unread]
            return None
        if result is None:
            return _unreadable_lab(ctx, p.test)
        shown = result.describe()
        if p.result is not None:
            if not result.interpretation:
                return Unknown((result.problem or f"{shown}: not read as positive or negative",), gate=True)
            return [shown] if result.interpretation == p.result else None
        if result.value is None:
            return Unknown((result.problem or f"{shown}: no numeric value to compare",), gate=True)
        if p.below_lln is not None:
            if result.lln is None:
                why = result.problem or f"{shown}: no lower limit of normal (reference range) to compare with"
                return Unknown((why,), gate=True)
            below = result.value < result.lln
            return [f"{shown}; lower limit {result.lln:g}"] if below == p.below_lln else None
        value = result.value
        if p.above_uln is not None:
            uln, origin = _uln_of(ctx, result)
            if uln is None:
                why = result.problem or (
                    f"{shown} has no reference range and no default upper limit of normal is configured"
                )
                return Unknown((why,), gate=True)
            above = value > uln
            return [f"{shown}; ULN {uln:g} {result.unit} ({origin})"] if above == p.above_uln else None
        if p.uln_ratio_gte is not None:
            uln, origin = _uln_of(ctx, result)
            if uln is None or uln <= 0:
                why = result.problem or (
                    f"{shown} has no reference range and no default upper limit of normal is configured"
                )
                return Unknown((why,), gate=True)
            ratio = value / uln
            if ratio + 1e-9 >= p.uln_ratio_gte:
                return [f"{shown}; ULN {uln:g} {result.unit} ({origin}); {ratio:.1f}× ULN"]
            return None
        for threshold, symbol in ((p.value_gte, "≥"), (p.value_gt, ">"), (p.value_lt, "<"), (p.value_lte, "≤")):
            if threshold is not None:
                return [f"{shown} ({symbol} {threshold:g})"] if _COMPARE[symbol](value, threshold) else None
        return [shown]

    return pred


def _lab_persistent(p: LabPersistent) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        results = [r for r in ctx.facts.labs.get(p.test, ()) if r.effective <= ctx.at]
        if not results:
            return _unreadable_lab(ctx, p.test)
        if not results[0].interpretation:
            return Unknown((results[0].problem or f"{results[0].describe()}: not read",), gate=True)
        if results[0].interpretation != p.result:
            return None
        latest = results[0]
        cutoff = shift(latest.effective, p.min_apart, -1)
        earlier = next((r for r in results[1:] if r.interpretation == p.result and r.effective <= cutoff), None)
        if earlier is None:
            unread = [r.problem or f"{r.describe()}: not read" for r in results[1:] if not r.interpretation]
            unread += [u.reason for u in ctx.facts.unreadable_for("lab", p.test)]
            return Unknown(tuple(unread), gate=True) if unread else None
        return [earlier.describe(), latest.describe(), f"{(latest.effective - earlier.effective).days} days apart"]

    return pred


def _confounders(ctx: Ctx, p: LabConfounded, drawn: date) -> list[str]:
    found = []
    if p.after_procedure and p.procedure_within:
        for item in ctx.facts.tagged("procedure", p.after_procedure):
            assert isinstance(item, ClinicalItem)
            done = item.abated or item.onset
            if item.onset and item.onset <= drawn and done and drawn <= shift(done, p.procedure_within):
                found.append(
                    f"{item.text} on {done}, {(drawn - done).days} days before the test (within {p.procedure_within})"
                )
    if p.after_medication and p.medication_within:
        for med in ctx.facts.tagged("medication", p.after_medication):
            assert isinstance(med, MedicationUse)
            last = med.last_day()
            if med.start and med.start <= drawn and last and drawn <= shift(last, p.medication_within):
                found.append(
                    f"{med.text} last given {last}, {(drawn - last).days} days before the test (within {p.medication_within})"
                )
    return found


def _lab_confounded(p: LabConfounded) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        result = ctx.latest(p.test, include_invalid=True)
        if result is None:
            return _unreadable_lab(ctx, p.test)
        found = _confounders(ctx, p, result.effective)
        return [result.describe(), *found] if found else None

    return pred


def _age(p: AgeCheck) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        age = ctx.facts.age_on(ctx.at)
        if age is None:
            return Unknown(("The record has no birth date, so the patient's age could not be checked",))
        ok = (p.lt is None or age < p.lt) and (p.gte is None or age >= p.gte) and (p.gt is None or age > p.gt)
        return [f"Age {age:g} years on {ctx.at} (born {ctx.facts.birth_date})"] if ok else None

    return pred


def _sex(value: str) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        if ctx.facts.sex == "unknown":
            return Unknown(("The record gives no administrative sex (Patient.gender)",))
        return [f"Sex: {ctx.facts.sex}"] if ctx.facts.sex == value else None

    return pred


def _answer(p: AnswerCheck) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        if p.id not in ctx.answers:
            return None
        value = ctx.answers[p.id]
        text = ctx.question_text.get(p.id, p.id)
        if p.equals is not None:
            if isinstance(value, bool) and value == p.equals:
                return [f"Answer to “{text}”: {'yes' if value else 'no'}"]
            return None
        if p.gt is not None and not isinstance(value, bool) and value > p.gt:
            return [f"Answer to “{text}”: {value:g} (> {p.gt:g})"]
        return None

    return pred


def _status_flag(tag: str, lab: str) -> Callable[[bool], Pred]:
    def build(expected: bool) -> Pred:
        def pred(ctx: Ctx) -> Evidence:
            found = [
                f"Condition: {_describe_item(item)}"
                for item in ctx.facts.tagged("condition", tag)
                if isinstance(item, ClinicalItem) and item.active and (item.onset is None or item.onset <= ctx.at)
            ]
            result = ctx.latest(lab)
            if result is not None and result.interpretation == "positive":
                found.append(result.describe())
            unread = _unreadable_lab(ctx, lab)
            if result is not None and not result.interpretation:
                unread = Unknown((result.problem or f"{result.describe()}: not read",))
            if found:
                return found if expected else None
            if unread is not None:
                return Unknown(unread.reasons)
            return None if expected else [f"No active {tag} recorded"]

        return pred

    return build


def _infusions(p: InfusionCheck) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        dates = ctx.infusions
        count = len(dates)
        evidence = [f"{count} previous infusion(s)" + (f", first {dates[0]}, last {dates[-1]}" if dates else "")]
        if p.count_gte is not None and count < p.count_gte:
            return None
        if p.count_lte is not None and count > p.count_lte:
            return None
        if p.count_lt is not None and count >= p.count_lt:
            return None
        if p.since_first_gte is not None and (not dates or shift(dates[0], p.since_first_gte) > ctx.at):
            return None
        if p.since_first_gt is not None and (not dates or shift(dates[0], p.since_first_gt) >= ctx.at):
            return None
        if p.since_last_lt is not None and (not dates or shift(dates[-1], p.since_last_lt) <= ctx.at):
            return None
        if p.gap_gte is not None:
            if not dates or shift(dates[-1], p.gap_gte) > ctx.at:
                return None
            evidence.append(f"{(ctx.at - dates[-1]).days} days since the last infusion")
        if p.since_last_lt_param is not None:
            days = ctx.param(p.since_last_lt_param)
            if days is None or not dates or (ctx.at - dates[-1]).days >= days:
                return None
            evidence.append(f"{(ctx.at - dates[-1]).days} days since the last infusion (minimum {days:g})")
        return evidence

    return pred


def _order(p: OrderCheck) -> Pred:
    words = [normalize_text(w) for w in p.text_any or ()]

    def pred(ctx: Ctx) -> Evidence:
        order = ctx.order
        if order is None:
            return None
        text = str(order.get("text") or "")
        if words:
            norm = f" {normalize_text(text)} "
            hits = [w for w in words if f" {w} " in norm]
            return [f"Order: “{text}” mentions {', '.join(hits)}"] if hits else None
        if p.dose_not is not None:
            dose, unit = order.get("dose"), str(order.get("unit") or "")
            if not isinstance(dose, int | float) or isinstance(dose, bool):
                return Unknown((f"Order “{text}” gives no dose quantity, so the dose could not be checked",), gate=True)
            value = float(dose)
            if p.dose_unit is not None:
                try:
                    value = units.convert(value, units.parse(None, unit), p.dose_unit)
                except units.UnitError as exc:
                    return Unknown((f"Order dose {float(dose):g} {unit or '(no unit)'}: {exc}",), gate=True)
            if abs(value - p.dose_not) > 1e-9:
                shown = f"{float(dose):g} {unit}" + (f" = {value:g} {p.dose_unit}" if value != float(dose) else "")
                return [f"Order dose {shown} (label: {p.dose_not:g} {p.dose_unit or unit})"]
        return None

    return pred


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def _preparation(p: PreparationCheck) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        prep = ctx.preparation
        if prep is None:
            return None
        evidence = []
        if p.storage is not None:
            if prep.get("storage") != p.storage:
                return None
            evidence.append(f"Diluted solution stored at {p.storage.replace('_', ' ')}")
        prepared, start, end = (_datetime(prep.get(k)) for k in ("prepared_at", "infusion_start_at", "infusion_end_at"))
        if p.hours_since_preparation_gt_param is not None:
            limit = ctx.param(p.hours_since_preparation_gt_param)
            if limit is None or prepared is None or start is None:
                return None
            hours = (start - prepared).total_seconds() / 3600
            if hours <= limit:
                return None
            evidence.append(
                f"Prepared {prepared:%Y-%m-%d %H:%M}, infusion starts {start:%Y-%m-%d %H:%M}: {hours:.1f} h (limit {limit:g} h)"
            )
        if p.duration_minutes_lt is not None:
            if start is None or end is None:
                return None
            minutes = (end - start).total_seconds() / 60
            if minutes >= p.duration_minutes_lt:
                return None
            evidence.append(f"Infusion ran {minutes:.0f} minutes (less than {p.duration_minutes_lt:g})")
        return evidence or None

    return pred


def _stratum(p: StratumCheck) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        return [f"{ctx.risk_title} stratum: {ctx.stratum}"] if ctx.stratum in p.any_of else None

    return pred


def risk_band(ctx: Ctx, test: str) -> tuple[str, LabResult | None]:
    """Band of the latest valid ``test`` result by the risk model's cut-offs ("unknown" without one)."""
    result = ctx.latest(test)
    bands = ctx.bands
    if result is None or result.value is None or bands is None or bands.test != test:
        return "unknown", result
    value = result.value
    if abs(value - bands.low_max) < 1e-9 or abs(value - bands.high_above) < 1e-9:
        return "at-boundary", result
    if value < bands.low_max:
        return "low", result
    if value > bands.high_above:
        return "high", result
    return "intermediate", result


def _risk_band(p: RiskBandCheck) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        band, result = risk_band(ctx, p.test)
        if band == "unknown" and "unknown" not in p.band:
            if result is not None and result.value is None:
                return Unknown((result.problem or f"{result.describe()}: no numeric value",), gate=True)
            return _unreadable_lab(ctx, p.test)
        if band not in p.band:
            return None
        shown = result.describe() if result else f"No {p.test} result"
        assert ctx.bands is not None or band == "unknown"
        cuts = (
            f" (cut-offs {ctx.bands.low_max:g} / {ctx.bands.high_above:g}, not verified)"
            if ctx.bands and ctx.bands.needs_review
            else ""
        )
        return [f"{shown}: band {band}{cuts}"]

    return pred


def _jurisdiction(value: str) -> Pred:
    """True only when the assessment's jurisdiction is stated and is ``value``.

    Safety rules scoped by ``jurisdictions`` all apply when none is given (the
    stricter reading); this predicate is for rules *about* a jurisdiction, such
    as a product's regulatory status there, which say nothing when it is unknown.
    """

    def pred(ctx: Ctx) -> Evidence:
        return [f"Jurisdiction: {ctx.jurisdiction}"] if ctx.jurisdiction == value else None

    return pred


def _all(children: list[Pred]) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        evidence: list[str] = []
        unknown: Unknown | None = None
        for child in children:
            found = child(ctx)
            if found is None:
                return None
            if isinstance(found, Unknown):
                unknown = found if unknown is None else unknown.merged(found)
            else:
                evidence.extend(found)
        return unknown if unknown is not None else evidence

    return pred


def _any(children: list[Pred]) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        evidence: list[str] | None = None
        unknown: Unknown | None = None
        for child in children:
            found = child(ctx)
            if isinstance(found, Unknown):
                unknown = found if unknown is None else unknown.merged(found)
            elif found is not None:
                evidence = (evidence or []) + found
        return evidence if evidence is not None else unknown

    return pred


def _not(child: Pred) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        found = child(ctx)
        if isinstance(found, Unknown):
            return found
        return [] if found is None else None

    return pred


_SIMPLE: dict[str, Callable[[Any], Pred]] = {
    "has_condition": _has_condition,
    "has_allergy": _has_allergy,
    "has_medication": _has_medication,
    "has_procedure": _has_procedure,
    "lab": _lab,
    "lab_persistent": _lab_persistent,
    "lab_confounded": _lab_confounded,
    "age": _age,
    "sex": _sex,
    "answer": _answer,
    "pregnant": _status_flag("pregnancy", "pregnancy-status"),
    "breastfeeding": _status_flag("breastfeeding", "breastfeeding-status"),
    "infusions": _infusions,
    "order": _order,
    "preparation": _preparation,
    "risk_stratum": _stratum,
    "risk_band": _risk_band,
    "jurisdiction": _jurisdiction,
}


_ITEM_KINDS = {
    "has_condition": "condition",
    "has_allergy": "allergy",
    "has_medication": "medication",
    "has_procedure": "procedure",
}


def _leaf_triggers(kind: str, pred: Any) -> frozenset[str] | None:
    """Data keys a leaf predicate cannot hold without (see :func:`triggers`)."""
    if kind in _ITEM_KINDS:
        return frozenset({f"{_ITEM_KINDS[kind]}:{pred.valueset}"})
    if kind in ("lab_persistent", "lab_confounded") or (kind == "lab" and not pred.missing):
        return frozenset({f"lab:{pred.test}"})
    if kind == "answer":
        return frozenset({f"answer:{pred.id}"})
    if kind in ("order", "preparation"):
        return frozenset({kind})
    if kind == "infusions":
        needs_one = (pred.count_gte or 0) > 0 or any(
            getattr(pred, a) is not None
            for a in ("since_first_gte", "since_first_gt", "since_last_lt", "gap_gte", "since_last_lt_param")
        )
        return frozenset({"infusions"}) if needs_one else None
    if kind in ("pregnant", "breastfeeding") and pred is True:
        tag, lab = (
            ("pregnancy", "pregnancy-status") if kind == "pregnant" else ("breastfeeding", "breastfeeding-status")
        )
        return frozenset({f"condition:{tag}", f"lab:{lab}"})
    if kind == "risk_band" and "unknown" not in pred.band:
        return frozenset({f"lab:{pred.test}"})
    return None


def triggers(condition: Condition) -> frozenset[str] | None:
    """Data keys of which at least one must be present for the condition to hold.

    ``None`` when the condition can hold without any particular data (``not``,
    age, ``lab: missing``...). The engine skips a rule outright when none of its
    trigger keys is present, which is most rules for most patients.
    """
    kind = condition.kind()
    if kind == "all":
        found = [t for t in (triggers(c) for c in condition.all or ()) if t is not None]
        return min(found, key=len) if found else None
    if kind == "any":
        children = [triggers(c) for c in condition.any or ()]
        if not children or any(t is None for t in children):
            return None
        return frozenset().union(*[t for t in children if t is not None])
    if kind == "not":
        return None
    return _leaf_triggers(kind, getattr(condition, kind))


def compile_condition(condition: Condition) -> Pred:
    kind = condition.kind()
    if kind == "all":
        return _all([compile_condition(c) for c in condition.all or ()])
    if kind == "any":
        return _any([compile_condition(c) for c in condition.any or ()])
    if kind == "not":
        assert condition.not_ is not None
        return _not(compile_condition(condition.not_))
    return _SIMPLE[kind](getattr(condition, kind))
