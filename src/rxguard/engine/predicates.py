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

from rxguard.facts.labs import LabDef
from rxguard.facts.model import ClinicalItem, LabResult, MedicationUse, PatientFacts
from rxguard.facts.vocabulary import normalize_text
from rxguard.knowledge.schema import Bands, Condition, LabConfounded, Parameter, parse_duration
from rxguard.messages import Said, said


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
    # value set -> why it is lifelong (its valuesets.yaml ``lifelong`` sources, as words)
    lifelong: Mapping[str, str] = field(default_factory=dict)
    invalid: dict[str, set[date]] = field(default_factory=dict)
    # Review notes of unverified inputs a rule used (an exposure duration applied to a whole class)
    review_notes: list[str] = field(default_factory=list)
    stratum: str | None = None
    # Review notes of what the stratum rests on (a preliminary result), added to every rule that reads it.
    stratum_reviews: list[str] = field(default_factory=list)
    risk_title: str = "Risk"
    notes: list[str] = field(default_factory=list)
    params_used: set[str] = field(default_factory=set)
    # The first record of treatment with the pack's drug in any form (a dispense, a statement of
    # taking it since a date, a procedure naming it), earlier than the first administration or not:
    # "treated for more than 2 years" must not wait for the administrations to be in the record.
    treatment_since: tuple[date, str] | None = None
    # The latest day a record says the patient was treated (ongoing statements: the day assessed).
    treatment_last: tuple[date, str] | None = None
    _order_text: str | None = None

    def order_text(self) -> str:
        """The order's text normalised once per assessment, padded with spaces for whole-word tests."""
        if self._order_text is None:
            text = str(self.order.get("text") or "") if self.order is not None else ""
            self._order_text = f" {normalize_text(text)} "
        return self._order_text

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
            self.note_preliminary(result)
            return result
        return None

    def note_preliminary(self, result: LabResult) -> None:
        """A preliminary result is used, and whatever it supports asks a clinician to confirm it."""
        if result.preliminary:
            text = (
                f"{result.describe()} is a preliminary result (FHIR Observation.status {result.status}: it may be "
                "incomplete or unverified); a clinician confirms it, or the final result, before relying on it."
            )
            self.review_notes.append(said("review-preliminary", text, line=lab_line(result)))

    def param(self, name: str) -> float | None:
        found = param_value(self.parameters[name], self.jurisdiction, self.at)
        if found is None:
            text = f"parameter {name} has no value in force for {self.jurisdiction or 'any jurisdiction'} on {self.at}"
            if self.jurisdiction:
                line = said("parameter-not-in-force", text, name=name, jurisdiction=self.jurisdiction,
                            at_on=self.at.isoformat())  # fmt: skip
            else:
                line = said("parameter-not-in-force-anywhere", text, name=name, at_on=self.at.isoformat())
            self.notes.append(line)
            return None
        self.params_used.add(name)
        return found[0]


Pred = Callable[[Ctx], Evidence]


def _on(day: date | None) -> str:
    return day.isoformat() if day else ""


def item_of(item: ClinicalItem | MedicationUse) -> dict[str, Any]:
    """A condition or medicine as a message value: what ``describe_item`` says, as data."""
    out: dict[str, Any] = {"record": item.text, "codes": list(item.codes), "status": item.status or ""}
    if isinstance(item, MedicationUse):
        return {**out, "kind": "medication", "use": item.kind, "start_on": _on(item.start), "end_on": _on(item.end)}
    return {**out, "kind": "condition", "onset_on": _on(item.onset), "onset_text": item.onset_text,
            "abated_on": _on(item.abated), "abated_text": item.abated_text, "ended": item.ended}  # fmt: skip


def allergy_of(item: ClinicalItem) -> dict[str, Any]:
    """An allergy as a message value: what ``describe_allergy`` says, as data."""
    return {
        "kind": "allergy",
        "record": item.text,
        "type": item.allergy_type,
        "criticality": item.criticality,
        "severity": item.reaction_severity,
        "manifestations": list(item.manifestations),
        "verification": item.verification,
    }


def condition_line(item: ClinicalItem) -> Said:
    return said("condition", f"Condition: {describe_item(item)}", item=item_of(item))


def describe_item(item: ClinicalItem | MedicationUse) -> str:
    # A record coded without text or display is named by its codes, so the reader sees what matched.
    text = item.text or (f"(no text; coded {', '.join(item.codes)})" if item.codes else "(no text)")
    if isinstance(item, MedicationUse):
        when = f" from {item.start}" if item.start else ""
        when += f" to {item.end}" if item.end else ""
        return f"{text} ({item.kind}, {item.status or 'no status'}{when})"
    bits = []
    if item.onset_text or item.onset:
        bits.append(f"onset {item.onset_text or item.onset}")
    if item.abated_text or item.abated:
        bits.append(f"{'resolved' if item.ended else item.status or 'abated'} {item.abated_text or item.abated}")
    elif item.status:
        bits.append(item.status)
    return f"{text} ({', '.join(bits)})" if bits else text


def onset_window(item: ClinicalItem, at: date, since: date | None) -> bool | None:
    """Whether a condition began by ``at`` and on or after ``since``: True, False, or None when its
    onset (a partial date, an age, words, none at all) leaves both possible.

    A condition recorded before ``since`` began before it, whatever its onset says.
    """
    if item.onset is not None and item.onset > at:
        return False
    if since is None:
        return True
    latest = item.onset_latest or item.onset
    if item.onset is not None and item.onset >= since:
        return True
    if latest is not None and latest < since:
        return False
    if item.recorded is not None and item.recorded < since:
        return False
    return None


def abated_by(item: ClinicalItem, at: date) -> bool | None:
    """Whether a Condition with an abatement date had abated by ``at`` (None: a partial date leaves both possible)."""
    if item.abated is None:
        return True
    if item.abated > at:
        return False
    latest = item.abated_latest or item.abated
    return True if latest <= at else None


def uncertain_line(item: ClinicalItem, line: str) -> str:
    """An evidence line for an item the record only suspects, saying why."""
    return said("not-established", f"{line}; not established ({item.cue or 'recorded as uncertain'})", line=line,
                cue=item.cue)  # fmt: skip


def uncertain_note(item: ClinicalItem, what: str) -> str:
    """The review note of a finding that rests on a record not established (suspected, provisional, unconfirmed)."""
    record = item.text or ", ".join(item.codes)
    text = (
        f"The {what} “{record}” is recorded as not established "
        f"({item.cue or 'uncertain'}); a clinician confirms or excludes it."
    )
    return said("review-not-established", text, what=what.casefold(), record=record, cue=item.cue)


def negated_reason(item: ClinicalItem, what: str, tag: str = "") -> str:
    """Why a rule whose only input is a negated record (or another person's condition) could not be verified."""
    if tag and tag in item.others:
        text = (
            f"{what} “{item.text}” is not about the patient ({item.cue}): the text is not read "
            "as proof either way; confirm whether the patient has it"
        )
        return said("other-experiencer", text, what=what.casefold(), record=item.text, cue=item.cue)
    text = (
        f"{what} “{item.text}” names it only to negate it ({item.cue or 'negated'}): the text is not read as "
        "proof either way; confirm that it is absent"
    )
    return said("negated", text, what=what.casefold(), record=item.text, cue=item.cue)


@dataclass
class Found:
    """What a rule found of one value set, by how the record asserts it: as a fact, or only suspected."""

    tag: str
    certain: list[str] = field(default_factory=list)
    unsure: list[tuple[ClinicalItem, str]] = field(default_factory=list)

    def add(self, item: ClinicalItem, line: str) -> None:
        if self.tag in item.uncertain:  # unconfirmed, provisional, or only suspected by its text
            self.unsure.append((item, line))
        else:
            self.certain.append(line)

    def __bool__(self) -> bool:
        return bool(self.certain or self.unsure)

    def evidence(self, ctx: Ctx, what: str) -> list[str] | None:
        """The certain lines; else the uncertain ones, each with a review note."""
        if self.certain:
            return self.certain
        if not self.unsure:
            return None
        for item, _ in self.unsure:
            ctx.review_notes.append(uncertain_note(item, what))
        return [uncertain_line(item, line) for item, line in self.unsure]


# Reaction words that make any recorded reaction a hypersensitivity reaction, whatever its type.
_HYPERSENSITIVITY_WORDS = ("anaphyla", "angioedema", "angio-oedema", "hypersensitivity", "bronchospasm", "urticaria")


def describe_allergy(item: ClinicalItem) -> str:
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
class EventState:
    """How an administration or dispense stands on the day assessed."""

    active: bool
    unknown: str | None = None
    note: str = ""
    review: str = ""
    exposure: str = ""  # how long the pack counts the event as current exposure (ISO duration), as the note says
    supplied_until: date | None = None


def event_state(ctx: Ctx, valueset: str, item: MedicationUse) -> EventState:
    if item.is_active(ctx.at):  # the record's own days (an infusion period, a supply) cover the day
        return EventState(True, None, f"; supplied until {item.supply_end}" if item.supply_end else "",
                          supplied_until=item.supply_end)  # fmt: skip
    row = _exposure_row(ctx, valueset, item)
    end = None
    note = ""
    review = ""
    if row is not None and row.duration is not None and item.start is not None:
        end = shift(item.end or item.start, row.duration)
        note = f"; counts as current exposure for {row.duration} ({row.title})"
        if row.needs_review:
            review = said("review-exposure", row.review_note, record=row.title, duration=row.duration,
                          note=row.review_note)  # fmt: skip
    if item.supply_end is not None:
        note += f"; supplied until {item.supply_end}"
    exposure = row.duration if row is not None and end is not None and row.duration else ""
    if item.is_active(ctx.at, end):
        return EventState(True, None, note, review, exposure, item.supply_end)
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
        line = said("medication-exposure-unknown", why, record=item.text, kind=item.kind, start_on=_on(item.start),
                    source=item.source)  # fmt: skip
        return EventState(False, line, note)
    return EventState(False, None, note)


def lab_line(result: LabResult) -> Said:
    """A result as evidence: ``result.describe()`` in English, with the lab, value, unit and date as data."""
    text = result.describe()
    on = result.effective.isoformat()
    if result.value is not None:
        if result.text:
            return said("lab-result-sent-as", text, test=result.test, comparator=result.comparator, value=result.value,
                        unit=result.unit, sent_as=result.text, on=on)  # fmt: skip
        return said("lab-result", text, test=result.test, comparator=result.comparator, value=result.value,
                    unit=result.unit, on=on)  # fmt: skip
    if result.interpretation:
        return said("lab-result-word", text, test=result.test, interpretation=result.interpretation, on=on)
    if result.text:
        return said("lab-result-word", text, test=result.test, interpretation=result.text, on=on)
    return said("lab-result-recorded", text, test=result.test, on=on)


def uln_of(ctx: Ctx, result: LabResult) -> tuple[float | None, str]:
    if result.uln is not None:
        return result.uln, "reference range"
    default = ctx.default_ulns.get(result.test)
    if default is not None:
        return default, "configured default; the result had no reference range"
    return None, ""


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "≥": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
    "≤": lambda v, t: v <= t,
}


def is_readable(result: LabResult, labs: Mapping[str, LabDef]) -> bool:
    """A result that says something: a number for a numeric test, positive/negative for a qualitative one."""
    lab = labs.get(result.test)
    kind = lab.kind if lab is not None else "presence"
    if kind == "numeric":
        return result.value is not None
    if kind == "qualitative":
        return bool(result.interpretation)
    return True


def not_read(result: LabResult, message_id: str = "lab-not-read", why: str = "not read") -> str:
    """Why a result could not be used: the record reader's own reason, else ``why`` after the result."""
    return result.problem or said(message_id, f"{result.describe()}: {why}", line=lab_line(result))


def unreadable_lab(ctx: Ctx, test: str) -> Unknown | None:
    found = ctx.facts.unreadable_for("lab", test)
    return Unknown(tuple(u.reason for u in found), gate=True) if found else None


def confounders(ctx: Ctx, p: LabConfounded, drawn: date) -> list[str]:
    found: list[str] = []
    if p.after_procedure and p.procedure_within:
        for item in ctx.facts.tagged("procedure", p.after_procedure):
            assert isinstance(item, ClinicalItem)
            done = item.abated or item.onset
            if item.onset and item.onset <= drawn and done and drawn <= shift(done, p.procedure_within):
                text = (
                    f"{item.text} on {done}, {(drawn - done).days} days before the test (within {p.procedure_within})"
                )
                found.append(said("lab-confounded-procedure", text, record=item.text, done_on=done.isoformat(),
                                  days=(drawn - done).days, within=p.procedure_within))  # fmt: skip
    if p.after_medication and p.medication_within:
        for med in ctx.facts.tagged("medication", p.after_medication):
            assert isinstance(med, MedicationUse)
            last = med.last_day()
            if med.start and med.start <= drawn and last and drawn <= shift(last, p.medication_within):
                text = f"{med.text} last given {last}, {(drawn - last).days} days before the test (within {p.medication_within})"
                found.append(said("lab-confounded-medication", text, record=med.text, last_on=last.isoformat(),
                                  days=(drawn - last).days, within=p.medication_within))  # fmt: skip
    return found


def status_flag(tag: str, lab: str, expected: bool) -> Pred:
    """A pregnancy- or breastfeeding-style status: an active condition tagged ``tag`` or a positive ``lab``.

    A record that only suspects the status ("possible pregnancy") counts, with a review note; one
    whose text negates it ("Not pregnant") counts as absent, as a negative result does, and is
    quoted where the rule asks for the status to be absent.
    """

    def pred(ctx: Ctx) -> Evidence:
        def current(item: ClinicalItem) -> bool:
            return item.active and (item.onset is None or item.onset <= ctx.at)

        found = Found(tag)
        for item in ctx.facts.tagged("condition", tag):
            if isinstance(item, ClinicalItem) and current(item):
                found.add(item, condition_line(item))
        result = ctx.latest(lab)
        if result is not None and result.interpretation == "positive":
            found.certain.append(lab_line(result))
        unread = unreadable_lab(ctx, lab)
        if result is not None and not result.interpretation:
            unread = Unknown((not_read(result),))
        if found:
            return found.evidence(ctx, "status") if expected else None
        if unread is not None:
            return Unknown(unread.reasons)
        denied = [
            said(
                "condition-other-person",
                f"Condition: {describe_item(item)} (not about the patient: {item.cue})",
                item=item_of(item),
                cue=item.cue,
            )
            if tag in item.others
            else said(
                "condition-says-absent",
                f"Condition: {describe_item(item)} (says it is absent: {item.cue or 'negated'})",
                item=item_of(item),
                cue=item.cue,
            )
            for item in ctx.facts.negated("condition", tag)
            if current(item)
        ]
        return None if expected else [said("status-absent", f"No active {tag} recorded", tag=tag), *denied]

    return pred


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def holds(result: LabResult, symbol: str, threshold: float) -> bool | None:
    """Whether ``result``'s value compares with ``threshold`` as ``symbol`` (≥ > < ≤) says.

    A value sent with a comparator ("<5", ">=1000") stands for every value beyond it that way: the
    comparison holds when it holds for all of them, fails when it fails for all, and is None (not
    known) when it holds for some only.
    """
    assert result.value is not None
    value, comparator = result.value, result.comparator
    low = None if comparator in ("<", "<=") else value  # the lowest value it can be (None: unbounded)
    high = None if comparator in (">", ">=") else value
    low_open, high_open = comparator == ">", comparator == "<"
    if symbol == "≥":
        always = low is not None and low >= threshold
        never = high is not None and (high < threshold or (high == threshold and high_open))
    elif symbol == ">":
        always = low is not None and (low > threshold or (low == threshold and low_open))
        never = high is not None and high <= threshold
    elif symbol == "<":
        always = high is not None and (high < threshold or (high == threshold and high_open))
        never = low is not None and low >= threshold
    else:  # ≤
        always = high is not None and high <= threshold
        never = low is not None and (low > threshold or (low == threshold and low_open))
    return True if always else False if never else None


def beyond_reach(result: LabResult, symbol: str, threshold: float) -> Unknown:
    """A result sent as "<x" or ">x" that may be either side of a rule's threshold."""
    why = (
        f"{result.describe()}: sent as {result.comparator}{result.value:g}, so whether it is {symbol} {threshold:g} "
        "is not known"
    )
    return Unknown(
        (said("lab-beyond-reach", why, line=lab_line(result), symbol=symbol, threshold=threshold),), gate=True
    )


def possible_bands(result: LabResult, bands: Bands) -> frozenset[str]:
    """The bands a result sent with a comparator ("<0.2", ">3") may be in."""
    low, high = bands.low_max, bands.high_above
    found = set()
    if holds(result, "<", low) is not False:
        found.add("low")
    if any(holds(result, "≥", b) is not False and holds(result, "≤", b) is not False for b in (low, high)):
        found.add("at-boundary")
    if holds(result, ">", low) is not False and holds(result, "<", high) is not False:
        found.add("intermediate")
    if holds(result, ">", high) is not False:
        found.add("high")
    return frozenset(found)


def risk_band(ctx: Ctx, test: str) -> tuple[str, LabResult | None]:
    """Band of the latest valid ``test`` result by the risk model's cut-offs ("unknown" without one)."""
    result = ctx.latest(test)
    bands = ctx.bands
    if result is None or result.value is None or bands is None or bands.test != test:
        return "unknown", result
    value = result.value
    if result.comparator:  # "<0.2", ">3": a band only when every value it stands for is in it
        possible = possible_bands(result, bands)
        return (next(iter(possible)) if len(possible) == 1 else "unknown"), result
    if abs(value - bands.low_max) < 1e-9 or abs(value - bands.high_above) < 1e-9:
        return "at-boundary", result
    if value < bands.low_max:
        return "low", result
    if value > bands.high_above:
        return "high", result
    return "intermediate", result


def all_of(children: list[Pred]) -> Pred:
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


def any_of(children: list[Pred]) -> Pred:
    """True as soon as one part holds. A review note (an unverified input, a record not established) is kept
    only when every part that holds needs one: a part that holds on verified input does not need the review."""

    def pred(ctx: Ctx) -> Evidence:
        evidence: list[str] | None = None
        unknown: Unknown | None = None
        notes: list[str] = []
        verified = False
        for child in children:
            mark = len(ctx.review_notes)
            found = child(ctx)
            added = ctx.review_notes[mark:]
            del ctx.review_notes[mark:]
            if isinstance(found, Unknown):
                unknown = found if unknown is None else unknown.merged(found)
            elif found is not None:
                evidence = (evidence or []) + found
                notes.extend(added)
                verified = verified or not added
        if evidence is not None and not verified:
            ctx.review_notes.extend(notes)
        return evidence if evidence is not None else unknown

    return pred


def not_of(child: Pred) -> Pred:
    def pred(ctx: Ctx) -> Evidence:
        found = child(ctx)
        if isinstance(found, Unknown):
            return found
        return [] if found is None else None

    return pred


def triggers(condition: Condition) -> frozenset[str] | None:
    """Data keys of which at least one must be present for the condition to hold.

    ``None`` when the condition can hold without any particular data (``not``,
    age, ``lab: missing``...). The engine skips a rule outright when none of its
    trigger keys is present, which is most rules for most patients. Each node
    class in ``rxguard.knowledge.schema`` says its own.
    """
    return condition.triggers()


def compile_condition(condition: Condition) -> Pred:
    """The closure of a condition tree (each node class compiles itself)."""
    return condition.compile()
