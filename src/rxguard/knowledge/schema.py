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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

    from rxguard.engine.predicates import Evidence as _Evidence
    from rxguard.engine.predicates import Pred
    from rxguard.knowledge.loader import Pack

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
    # Schemas are built on first use: a process that never validates a pack file (a cached
    # compiled pack, a command that reads none) does not pay for building them, and a
    # condition node registered before the first use is part of the ``Condition`` union.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)


Duration = Annotated[str, Field(pattern=_DURATION.pattern, min_length=2)]


# --------------------------------------------------------------------------- identity


class ChineseName(Strict):
    name: str
    verified: bool
    source: str
    note: str = ""


class Citation(Strict):
    source: str
    section: str = Field(min_length=1)


class ProductDose(Strict):
    """What one recorded dose of a product may be, from its label (read by ``program/validation.py``).

    ``unit`` is the UCUM unit the label doses in (``mg``, ``mg/m2``); a recorded dose is converted
    to it. ``most`` is the largest amount one dose can be (e.g. the contents of the single-dose
    vial a dose is made from): above it a record is implausible and refused. A dose other than
    ``labelled``, or a diluent volume other than ``volume_ml``, is unusual: a warning to confirm.
    Leave ``most`` or ``volume_ml`` out when no source states them.
    """

    unit: str = Field(min_length=1)
    labelled: float = Field(gt=0)
    most: float | None = Field(default=None, gt=0)
    volume_ml: float | None = Field(default=None, gt=0)
    note: str = ""
    sources: list[Citation] = Field(min_length=1)


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
    dose: ProductDose | None = None
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


# --------------------------------------------------------------------------- conditions
# The condition language: a tree of single-key mappings. Leaves are predicates
# over PatientFacts; ``all``/``any``/``not`` combine them. See docs/packs.md.
#
# ``Condition`` is a discriminated union keyed by the mapping's one key. Each
# predicate type is one class here and owns everything about it: its fields,
# its compiled form (``compile``: a closure ``Ctx -> Evidence`` run by the
# engine), the data keys it cannot hold without (``triggers``), the pack ids it
# names (``problems``) and the parameters it reads (``parameters``). Adding a
# predicate is adding one class decorated with ``@predicate("key")``; the
# union, the list of keys and every check are built from the registry.
# The evaluation helpers (``Ctx``, ``Unknown``...) live in
# ``rxguard.engine.predicates`` and are imported when a pack is compiled.

MedStatus = Literal["active", "ever", "past"]

PREDICATES: dict[str, type[Node]] = {}


def predicate(key: str) -> Callable[[type[_N]], type[_N]]:
    """Register a condition node class under its key (the one key of its YAML mapping)."""

    def register(cls: type[_N]) -> type[_N]:
        if key in PREDICATES and PREDICATES[key] is not cls:
            raise ValueError(f"condition key {key!r} is already taken by {PREDICATES[key].__name__}")
        cls.key = key
        PREDICATES[key] = cls
        return cls

    return register


class Node(ABC):
    """What every condition node provides (see the section comment)."""

    key: ClassVar[str]

    def kind(self) -> str:
        return self.key

    @abstractmethod
    def compile(self) -> Pred:
        """The node as a predicate over the assessment context (every registered class defines it)."""

    def triggers(self) -> frozenset[str] | None:
        """Data keys of which at least one must be present for the node to hold (``None``: no such key)."""
        return None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        """References to ids the pack does not define, as one-line messages."""
        return iter(())

    def parameters(self) -> Iterator[str]:
        """Names of the parameters.yaml entries this node reads."""
        return iter(())

    def children(self) -> tuple[Node, ...]:
        return ()


_N = TypeVar("_N", bound=Node)


def _unwrap(key: str, data: Any) -> Any:
    if isinstance(data, dict) and len(data) == 1 and key in data:
        return data[key]
    return data


class Predicate(Strict, Node):
    """A leaf whose value is a mapping of fields: ``lab: {test: alt, uln_ratio_gte: 3}``."""

    @model_validator(mode="before")
    @classmethod
    def _unwrap_key(cls, data: Any) -> Any:
        return _unwrap(cls.key, data)

    # Reference checks shared by several predicates.
    def _valueset_problems(self, pack: Pack, where: str, *attrs: str) -> Iterator[str]:
        for attr in attrs:
            ref = getattr(self, attr, None)
            if ref is not None and ref not in pack.valuesets:
                yield f"{where}: {self.key}.{attr} names value set {ref!r}, which valuesets.yaml does not define"

    def _lab_problems(self, pack: Pack, where: str, test: str) -> Iterator[str]:
        from rxguard.knowledge.references import known_labs, unknown_lab

        if test not in known_labs(pack):
            yield f"{where}: {self.key}.test {unknown_lab(pack, test)}"

    def _parameter_problems(self, pack: Pack, where: str, attr: str) -> Iterator[str]:
        ref = getattr(self, attr)
        if ref is not None and ref not in pack.parameters:
            yield f"{where}: {self.key}.{attr} names parameter {ref!r}, which parameters.yaml does not define"


class ValuePredicate(RootModel[Any], Node):
    """A leaf or combinator whose value is not a mapping of fields: ``sex: female``, ``all: [...]``."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _unwrap_key(cls, data: Any) -> Any:
        return _unwrap(cls.key, data)


@predicate("all")
class AllOf(ValuePredicate):
    root: list[Condition]

    def children(self) -> tuple[Node, ...]:
        return tuple(self.root)

    def compile(self) -> Pred:
        from rxguard.engine.predicates import all_of

        return all_of([c.compile() for c in self.root])

    def triggers(self) -> frozenset[str] | None:
        found = [t for t in (c.triggers() for c in self.root) if t is not None]
        return min(found, key=len) if found else None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        for child in self.root:
            yield from child.problems(pack, where)


@predicate("any")
class AnyOf(ValuePredicate):
    root: list[Condition]

    def children(self) -> tuple[Node, ...]:
        return tuple(self.root)

    def compile(self) -> Pred:
        from rxguard.engine.predicates import any_of

        return any_of([c.compile() for c in self.root])

    def triggers(self) -> frozenset[str] | None:
        children = [c.triggers() for c in self.root]
        if not children or any(t is None for t in children):
            return None
        return frozenset().union(*[t for t in children if t is not None])

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        for child in self.root:
            yield from child.problems(pack, where)


@predicate("not")
class NotOf(ValuePredicate):
    root: Condition

    def children(self) -> tuple[Node, ...]:
        return (self.root,)

    def compile(self) -> Pred:
        from rxguard.engine.predicates import not_of

        return not_of(self.root.compile())

    def triggers(self) -> frozenset[str] | None:
        return None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self.root.problems(pack, where)


@predicate("has_condition")
class HasCondition(Predicate):
    valueset: str
    status: Literal["active", "ever"] = "active"
    onset_since: Literal["first_infusion", "last_infusion"] | None = None
    onset_within: Duration | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import (
            Ctx,
            Evidence,
            Found,
            Unknown,
            abated_by,
            condition_line,
            describe_item,
            item_of,
            negated_reason,
            onset_window,
            shift,
        )  # fmt: skip
        from rxguard.facts.model import ClinicalItem
        from rxguard.messages import said

        p = self
        key = f"condition:{p.valueset}"

        def pred(ctx: Ctx) -> Evidence:
            items = ctx.facts.by_tag.get(key, ())
            negated = ctx.facts.negated_by_tag.get(key, ())
            if not items and not negated:
                return None
            since: date | None = None
            if p.onset_since is not None:
                if not ctx.infusions:
                    return None
                since = ctx.infusions[0] if p.onset_since == "first_infusion" else ctx.infusions[-1]
            if p.onset_within is not None:
                window = shift(ctx.at, p.onset_within, -1)
                since = max(since, window) if since else window
            lifelong = ctx.lifelong.get(p.valueset) if p.status == "active" else None

            def in_window(item: ClinicalItem) -> bool:
                return onset_window(item, ctx.at, since) is not False

            found = Found(p.valueset)
            status_unknown: list[str] = []
            for item in items:
                assert isinstance(item, ClinicalItem)
                began_in = onset_window(item, ctx.at, since)
                if began_in is False:
                    continue
                if began_in is None:
                    began = f"its onset is recorded as {item.onset_text}" if item.onset_text else "no onset date"
                    text = (
                        f"Condition: {describe_item(item)}: {began}, so whether it began on or after {since} "
                        "is not known"
                    )
                    status_unknown.append(said("condition-onset-unknown", text, item=item_of(item),
                                               onset=item.onset_text, since_on=since.isoformat() if since else ""))  # fmt: skip
                    continue
                line: str = condition_line(item)
                ended_by = abated_by(item, ctx.at) if item.ended else True
                at_on = ctx.at.isoformat()
                if p.status == "active" and not item.active and ended_by is False:
                    text = f"Condition: {describe_item(item)}; still present on {ctx.at}, before its abatement"
                    line = said("condition-still-present", text, item=item_of(item), at_on=at_on)
                elif p.status == "active" and not item.active and ended_by is None:
                    text = (
                        f"Condition: {describe_item(item)}: its abatement is recorded as {item.abated_text}, "
                        f"so whether it had ended by {ctx.at} is not known"
                    )
                    status_unknown.append(said("condition-abatement-unknown", text, item=item_of(item),
                                               abated=item.abated_text, at_on=at_on))  # fmt: skip
                    continue
                elif p.status == "active" and not item.active:
                    recorded = describe_item(item)
                    if lifelong is not None and not item.ended:
                        text = f"Condition: {recorded}; counts as present: {lifelong}"
                        line = said("condition-lifelong", text, item=item_of(item), lifelong=lifelong)
                    else:
                        if lifelong is not None:
                            text = f"Condition: {recorded} is recorded as over, but {lifelong}; confirm the record"
                            status_unknown.append(
                                said("condition-over-but-lifelong", text, item=item_of(item), lifelong=lifelong)
                            )
                        elif not item.ended:
                            text = (
                                f"Condition: {recorded} is recorded as {item.status or 'not active'}, not resolved; "
                                "whether it is still present is not known"
                            )
                            status_unknown.append(
                                said("condition-not-resolved", text, item=item_of(item), status=item.status)
                            )
                        continue
                found.add(item, line)
            evidence = found.evidence(ctx, "condition")
            if evidence:
                return evidence
            # A record that names the condition only to negate it ("lymphoma ruled out") is not proof of
            # absence: the rule says it could not verify, quoting the record.
            denied = [
                negated_reason(item, "Condition", p.valueset)
                for item in negated
                if in_window(item) and (p.status != "active" or item.active)
            ]
            reasons = (*status_unknown, *denied)
            return Unknown(reasons) if reasons else None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"condition:{self.valueset}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._valueset_problems(pack, where, "valueset")


@predicate("has_allergy")
class HasAllergy(Predicate):
    valueset: str

    def compile(self) -> Pred:
        from rxguard.engine.predicates import (
            Ctx,
            Evidence,
            Found,
            Unknown,
            allergy_of,
            describe_allergy,
            is_hypersensitivity,
            negated_reason,
        )
        from rxguard.facts.model import ClinicalItem
        from rxguard.messages import said

        p = self
        key = f"allergy:{p.valueset}"

        def pred(ctx: Ctx) -> Evidence:
            found = Found(p.valueset)
            intolerances: list[str] = []
            for item in ctx.facts.by_tag.get(key, ()):
                if not isinstance(item, ClinicalItem) or not item.active:
                    continue
                if is_hypersensitivity(item):
                    found.add(item, said("allergy", f"Allergy: {describe_allergy(item)}", item=allergy_of(item)))
                else:
                    text = (
                        f"Intolerance: {describe_allergy(item)} is recorded as an intolerance, not as a "
                        "hypersensitivity reaction; the contraindication concerns hypersensitivity reactions"
                    )
                    intolerances.append(said("intolerance", text, item=allergy_of(item)))
            evidence = found.evidence(ctx, "allergy")
            if evidence:
                return evidence
            denied = [
                negated_reason(item, "Allergy", p.valueset)
                for item in ctx.facts.negated_by_tag.get(key, ())
                if item.active
            ]
            reasons = (*intolerances, *denied)
            return Unknown(reasons) if reasons else None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"allergy:{self.valueset}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._valueset_problems(pack, where, "valueset")


@predicate("has_medication")
class HasMedication(Predicate):
    valueset: str
    status: MedStatus = "active"
    within: Duration | None = None
    min_duration: Duration | None = None
    # Only records dated on or after the first treatment with the pack's drug (its first infusion, or
    # an earlier record of treatment): "following a course". A record whose date cannot say so is unknown.
    after_first_treatment: bool = False

    def compile(self) -> Pred:
        from rxguard.engine.predicates import (
            Ctx,
            EventState,
            Evidence,
            Unknown,
            describe_item,
            event_state,
            item_of,
            shift,
        )  # fmt: skip
        from rxguard.facts.model import MedicationUse
        from rxguard.messages import said

        p = self
        key = f"medication:{p.valueset}"

        def first_treatment(ctx: Ctx) -> date | None:
            first = ctx.infusions[0] if ctx.infusions else None
            if ctx.treatment_since is not None and (first is None or ctx.treatment_since[0] < first):
                first = ctx.treatment_since[0]
            return first

        def pred(ctx: Ctx) -> Evidence:
            items = ctx.facts.by_tag.get(key)
            if not items:
                return None
            found: list[str] = []
            unknown: list[str] = []
            window = shift(ctx.at, p.within, -1) if p.within else None
            first = first_treatment(ctx) if p.after_first_treatment else None
            if p.after_first_treatment and first is None:
                return None
            for item in items:
                assert isinstance(item, MedicationUse)
                if p.status != "active" and item.is_planned:
                    continue  # a draft order or an intention is not past use
                if first is not None:
                    latest = item.start_latest or item.start
                    if item.is_event and not item.was_given():
                        continue
                    if item.start is None or latest is None:
                        text = (
                            f"{describe_item(item)}: no date, so whether it was after the first treatment on "
                            f"{first} is not known"
                        )
                        unknown.append(said("medication-undated-after-treatment", text, item=item_of(item),
                                            first_on=first.isoformat()))  # fmt: skip
                        continue
                    if latest < first:
                        continue
                    if item.start < first:
                        text = (
                            f"{describe_item(item)}: dated only as {item.start} to {latest}, so whether it was "
                            f"after the first treatment on {first} is not known"
                        )
                        unknown.append(said("medication-dated-across-treatment", text, item=item_of(item),
                                            start_on=item.start.isoformat(), latest_on=latest.isoformat(),
                                            first_on=first.isoformat()))  # fmt: skip
                        continue
                state = EventState(item.is_active(ctx.at))
                if item.is_event:
                    if item.start is None or item.start > ctx.at or not (item.was_given() or item.status == "stopped"):
                        continue
                    state = event_state(ctx, p.valueset, item)
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
                text = f"Medication: {describe_item(item)}{state.note}"
                until = state.supplied_until.isoformat() if state.supplied_until else ""
                found.append(said("medication", text, item=item_of(item), exposure=state.exposure,
                                  supplied_until_on=until))  # fmt: skip
                if state.review and active:
                    ctx.review_notes.append(state.review)
            if found:
                if first is not None:
                    text = f"on or after the first treatment on {first}"
                    found.append(said("after-first-treatment", text, first_on=first.isoformat()))
                return found
            return Unknown(tuple(unknown)) if unknown else None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"medication:{self.valueset}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._valueset_problems(pack, where, "valueset")


@predicate("has_procedure")
class HasProcedure(Predicate):
    valueset: str
    within: Duration | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, Found, Unknown, negated_reason, shift
        from rxguard.facts.model import ClinicalItem
        from rxguard.messages import said

        p = self
        key = f"procedure:{p.valueset}"

        def pred(ctx: Ctx) -> Evidence:
            window = shift(ctx.at, p.within, -1) if p.within else None

            def counts(item: ClinicalItem) -> bool:
                day = item.onset
                return day is not None and day <= ctx.at and (window is None or day >= window)

            found = Found(p.valueset)
            for item in ctx.facts.by_tag.get(key, ()):
                assert isinstance(item, ClinicalItem)
                if counts(item):
                    line = said("procedure", f"Procedure: {item.text} on {item.onset}", record=item.text,
                                on=item.onset.isoformat() if item.onset else "")  # fmt: skip
                    found.add(item, line)
            evidence = found.evidence(ctx, "procedure")
            if evidence:
                return evidence
            denied = tuple(
                negated_reason(item, "Procedure", p.valueset)
                for item in ctx.facts.negated_by_tag.get(key, ())
                if counts(item)
            )
            return Unknown(denied) if denied else None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"procedure:{self.valueset}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._valueset_problems(pack, where, "valueset")


@predicate("lab")
class LabTest(Predicate):
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

    def compile(self) -> Pred:
        from rxguard.engine.predicates import (
            Ctx,
            Evidence,
            Unknown,
            beyond_reach,
            holds,
            is_readable,
            lab_line,
            not_read,
            uln_of,
            unreadable_lab,
        )  # fmt: skip
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            result = ctx.latest(p.test, p.max_age)
            if p.missing:
                if result is None or not is_readable(result, ctx.facts.lab_defs):
                    lab = ctx.facts.lab_defs.get(p.test)
                    name = lab.display if lab is not None else p.test
                    age = f" in the last {p.max_age}" if p.max_age else ""
                    unread = [u.reason for u in ctx.facts.unreadable_for("lab", p.test)]
                    if result is not None:
                        unread.append(not_read(result))
                    text = f"No readable {name} result{age} before {ctx.at}"
                    on = ctx.at.isoformat()
                    if p.max_age:
                        line = said("lab-missing-within", text, test=p.test, max_age=p.max_age, before_on=on)
                    else:
                        line = said("lab-missing", text, test=p.test, before_on=on)
                    return [line, *unread]
                return None
            if result is None:
                return unreadable_lab(ctx, p.test)
            shown = lab_line(result)
            if p.result is not None:
                if not result.interpretation:
                    return Unknown((not_read(result, "lab-not-positive-negative", "not read as positive or negative"),),
                                   gate=True)  # fmt: skip
                return [shown] if result.interpretation == p.result else None
            if result.value is None:
                if result.as_sent is not None and (
                    p.below_lln is not None or p.above_uln is not None or p.uln_ratio_gte is not None
                ):
                    return p._against_own_range(shown, result.as_sent, result.problem)
                return Unknown((not_read(result, "lab-no-number", "no numeric value to compare"),), gate=True)
            if p.below_lln is not None:
                if result.lln is None:
                    why = not_read(result, "lab-no-lln", "no lower limit of normal (reference range) to compare with")
                    return Unknown((why,), gate=True)
                below = holds(result, "<", result.lln)
                if below is None:
                    return beyond_reach(result, "<", result.lln)
                text = f"{shown}; lower limit {result.lln:g}"
                return [said("lab-lower-limit", text, line=shown, lln=result.lln)] if below == p.below_lln else None
            value = result.value
            if p.above_uln is not None or p.uln_ratio_gte is not None:
                uln, origin = uln_of(ctx, result)
                if uln is None or (p.above_uln is None and uln <= 0):
                    why = result.problem or said(
                        "lab-no-uln",
                        f"{shown} has no reference range and no default upper limit of normal is configured",
                        line=shown,
                    )
                    return Unknown((why,), gate=True)
                source = "range" if origin == "reference range" else "default"
                text = f"{shown}; ULN {uln:g} {result.unit} ({origin})"
                if p.above_uln is not None:
                    above = holds(result, ">", uln)
                    if above is None:
                        return beyond_reach(result, ">", uln)
                    line = said("lab-uln", text, line=shown, uln=uln, unit=result.unit, origin=source)
                    return [line] if above == p.above_uln else None
                ratio = value / uln
                goal = p.uln_ratio_gte or 0
                reaches = holds(result, "≥", goal * uln * (1 - 1e-9))
                if reaches is None:
                    return beyond_reach(result, "≥", goal * uln)
                if reaches:
                    return [said("lab-uln-ratio", f"{text}; {ratio:.1f}× ULN", line=shown, uln=uln, unit=result.unit,
                                 origin=source, ratio=round(ratio, 1))]  # fmt: skip
                return None
            for threshold, symbol in ((p.value_gte, "≥"), (p.value_gt, ">"), (p.value_lt, "<"), (p.value_lte, "≤")):
                if threshold is not None:
                    met = holds(result, symbol, threshold)
                    if met is None:
                        return beyond_reach(result, symbol, threshold)
                    if not met:
                        return None
                    text = f"{shown} ({symbol} {threshold:g})"
                    return [said("lab-threshold", text, line=shown, symbol=symbol, threshold=threshold)]
            return [shown]

        return pred

    def _against_own_range(
        self, shown: str, sent: tuple[float, float | None, float | None, str], problem: str
    ) -> _Evidence:
        """Compare a value rxguard could not convert with its own reference range, in the unit both were sent in."""
        from rxguard.engine.predicates import Unknown
        from rxguard.messages import said

        value, high, low, unit = sent
        own = f"its own reference range, compared in {unit} as sent"
        if self.below_lln is not None:
            if low is None:
                why = problem or said(
                    "lab-own-no-lln", f"{shown}: no lower limit of normal in the unit sent", line=shown
                )
                return Unknown((why,), gate=True)
            text = f"{shown}; lower limit {low:g} {unit} ({own})"
            line = said("lab-own-lower-limit", text, line=shown, lln=low, unit=unit)
            return [line] if (value < low) == self.below_lln else None
        if high is None or high <= 0:
            why = problem or said("lab-own-no-uln", f"{shown}: no upper limit of normal in the unit sent", line=shown)
            return Unknown((why,), gate=True)
        text = f"{shown}; ULN {high:g} {unit} ({own})"
        if self.above_uln is not None:
            line = said("lab-own-uln", text, line=shown, uln=high, unit=unit)
            return [line] if (value > high) == self.above_uln else None
        ratio = value / high
        if self.uln_ratio_gte is not None and ratio + 1e-9 >= self.uln_ratio_gte:
            return [said("lab-own-uln-ratio", f"{text}; {ratio:.1f}× ULN", line=shown, uln=high, unit=unit,
                         ratio=round(ratio, 1))]  # fmt: skip
        return None

    def triggers(self) -> frozenset[str] | None:
        return None if self.missing else frozenset({f"lab:{self.test}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._lab_problems(pack, where, self.test)


@predicate("lab_persistent")
class LabPersistent(Predicate):
    test: str
    result: Literal["positive", "negative"]
    min_apart: Duration

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, Unknown, lab_line, not_read, shift, unreadable_lab
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            results = [r for r in ctx.facts.labs.get(p.test, ()) if r.effective <= ctx.at]
            if not results:
                return unreadable_lab(ctx, p.test)
            if not results[0].interpretation:
                return Unknown((not_read(results[0]),), gate=True)
            if results[0].interpretation != p.result:
                return None
            latest = results[0]
            cutoff = shift(latest.effective, p.min_apart, -1)
            earlier = next((r for r in results[1:] if r.interpretation == p.result and r.effective <= cutoff), None)
            if earlier is None:
                unread = [not_read(r) for r in results[1:] if not r.interpretation]
                unread += [u.reason for u in ctx.facts.unreadable_for("lab", p.test)]
                return Unknown(tuple(unread), gate=True) if unread else None
            days = (latest.effective - earlier.effective).days
            ctx.note_preliminary(earlier)
            ctx.note_preliminary(latest)
            return [lab_line(earlier), lab_line(latest), said("lab-days-apart", f"{days} days apart", days=days)]

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"lab:{self.test}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._lab_problems(pack, where, self.test)


@predicate("lab_confounded")
class LabConfounded(Predicate):
    """The latest result of ``test`` was drawn too soon after something that invalidates it."""

    test: str
    after_procedure: str | None = None
    procedure_within: Duration | None = None
    after_medication: str | None = None
    medication_within: Duration | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, confounders, lab_line, unreadable_lab

        p = self

        def pred(ctx: Ctx) -> Evidence:
            result = ctx.latest(p.test, include_invalid=True)
            if result is None:
                return unreadable_lab(ctx, p.test)
            found = confounders(ctx, p, result.effective)
            return [lab_line(result), *found] if found else None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"lab:{self.test}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        from rxguard.knowledge.labs import check_confounded_rule
        from rxguard.knowledge.references import known_labs

        yield from self._valueset_problems(pack, where, "after_procedure", "after_medication")
        yield from self._lab_problems(pack, where, self.test)
        if self.test in known_labs(pack):
            yield from check_confounded_rule(pack, where, self)


@predicate("age")
class AgeCheck(Predicate):
    lt: float | None = None
    gte: float | None = None
    gt: float | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, Unknown
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            age = ctx.facts.age_on(ctx.at)
            if age is None:
                return Unknown(
                    (said("no-birth-date", "The record has no birth date, so the patient's age could not be checked"),)
                )
            ok = (p.lt is None or age < p.lt) and (p.gte is None or age >= p.gte) and (p.gt is None or age > p.gt)
            if not ok:
                return None
            born = ctx.facts.birth_date
            text = f"Age {age:g} years on {ctx.at} (born {born})"
            return [said("age", text, age=age, on=ctx.at.isoformat(), born_on=born.isoformat() if born else "")]

        return pred

    def triggers(self) -> frozenset[str] | None:
        return None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        return iter(())


@predicate("sex")
class SexCheck(ValuePredicate):
    root: Literal["female", "male"]

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, Unknown
        from rxguard.messages import said

        value = self.root

        def pred(ctx: Ctx) -> Evidence:
            if ctx.facts.sex == "unknown":
                return Unknown((said("no-sex", "The record gives no administrative sex (Patient.gender)"),))
            return [said("sex", f"Sex: {ctx.facts.sex}", sex=value)] if ctx.facts.sex == value else None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        return iter(())


@predicate("answer")
class AnswerCheck(Predicate):
    id: str
    equals: bool | None = None
    gt: float | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            if p.id not in ctx.answers:
                return None
            value = ctx.answers[p.id]
            text = ctx.question_text.get(p.id, p.id)
            if p.equals is not None:
                if isinstance(value, bool) and value == p.equals:
                    answer = "yes" if value else "no"
                    return [said("answer-yes-no", f"Answer to “{text}”: {answer}", question=p.id, answer=answer)]
                return None
            if p.gt is not None and not isinstance(value, bool) and value > p.gt:
                line = f"Answer to “{text}”: {value:g} (> {p.gt:g})"
                return [said("answer-above", line, question=p.id, value=value, limit=p.gt)]
            return None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"answer:{self.id}"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        if self.id not in pack.questions:
            yield f"{where}: answer.id {self.id!r} is not defined in questions.yaml"


@predicate("pregnant")
class PregnantCheck(ValuePredicate):
    root: bool

    def compile(self) -> Pred:
        from rxguard.engine.predicates import status_flag

        return status_flag("pregnancy", "pregnancy-status", self.root)

    def triggers(self) -> frozenset[str] | None:
        return frozenset({"condition:pregnancy", "lab:pregnancy-status"}) if self.root is True else None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        return iter(())


@predicate("breastfeeding")
class BreastfeedingCheck(ValuePredicate):
    root: bool

    def compile(self) -> Pred:
        from rxguard.engine.predicates import status_flag

        return status_flag("breastfeeding", "breastfeeding-status", self.root)

    def triggers(self) -> frozenset[str] | None:
        return frozenset({"condition:breastfeeding", "lab:breastfeeding-status"}) if self.root is True else None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        return iter(())


@predicate("infusions")
class InfusionCheck(Predicate):
    count_gte: int | None = None
    count_lte: int | None = None
    count_lt: int | None = None
    since_first_gte: Duration | None = None
    since_first_gt: Duration | None = None
    since_last_lt: Duration | None = None
    gap_gte: Duration | None = None
    since_last_lt_param: str | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, shift
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            dates = ctx.infusions
            count = len(dates)
            # A record of treatment in another form (a statement, a dispense) shows at least one
            # treatment even when no administration is in the record.
            if p.count_gte is not None and max(count, 1 if ctx.treatment_last else 0) < p.count_gte:
                return None
            if p.count_lte is not None and count > p.count_lte:
                return None
            if p.count_lt is not None and count >= p.count_lt:
                return None
            first = dates[0] if dates else None
            earlier = (
                ctx.treatment_since
                if ctx.treatment_since and (first is None or ctx.treatment_since[0] < first)
                else None
            )
            if earlier is not None:
                first = earlier[0]
            if p.since_first_gte is not None and (first is None or shift(first, p.since_first_gte) > ctx.at):
                return None
            if p.since_first_gt is not None and (first is None or shift(first, p.since_first_gt) >= ctx.at):
                return None
            last = dates[-1] if dates else None
            later = (
                ctx.treatment_last if ctx.treatment_last and (last is None or ctx.treatment_last[0] > last) else None
            )
            if p.since_last_lt is not None:
                if later is not None:
                    last = later[0]
                if last is None or shift(last, p.since_last_lt) <= ctx.at:
                    return None
            # The evidence is written only once the checks that need no text have passed.
            evidence: list[str] = [
                said("infusions-before", f"{count} previous infusion(s), first {dates[0]}, last {dates[-1]}",
                     count=count, first_on=dates[0].isoformat(), last_on=dates[-1].isoformat())
                if dates
                else said("infusions-none", f"{count} previous infusion(s)")
            ]  # fmt: skip
            if earlier is not None and (p.since_first_gte is not None or p.since_first_gt is not None):
                text = f"treated since {earlier[0]} ({earlier[1]})"
                evidence.append(said("treated-since", text, since_on=earlier[0].isoformat(), record=earlier[1]))
            if later is not None and (p.since_last_lt is not None or (p.count_gte is not None and not dates)):
                text = f"last treated {later[0]} ({later[1]})"
                evidence.append(said("treated-last", text, last_on=later[0].isoformat(), record=later[1]))
            if p.gap_gte is not None:
                if not dates or shift(dates[-1], p.gap_gte) > ctx.at:
                    return None
                gap = (ctx.at - dates[-1]).days
                evidence.append(said("days-since-infusion", f"{gap} days since the last infusion", days=gap))
            if p.since_last_lt_param is not None:
                days = ctx.param(p.since_last_lt_param)
                if days is None or not dates or (ctx.at - dates[-1]).days >= days:
                    return None
                gap = (ctx.at - dates[-1]).days
                text = f"{gap} days since the last infusion (minimum {days:g})"
                evidence.append(said("days-since-infusion-minimum", text, days=gap, minimum=days))
            return evidence

        return pred

    def triggers(self) -> frozenset[str] | None:
        needs_one = (self.count_gte or 0) > 0 or any(
            getattr(self, a) is not None
            for a in ("since_first_gte", "since_first_gt", "since_last_lt", "gap_gte", "since_last_lt_param")
        )
        return frozenset({"infusions"}) if needs_one else None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._parameter_problems(pack, where, "since_last_lt_param")

    def parameters(self) -> Iterator[str]:
        if self.since_last_lt_param:
            yield self.since_last_lt_param


@predicate("order")
class OrderCheck(Predicate):
    text_any: list[str] | None = None
    dose_not: float | None = None
    dose_unit: str | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, Unknown
        from rxguard.facts import units
        from rxguard.facts.vocabulary import normalize_text
        from rxguard.messages import said

        p = self
        words = [normalize_text(w) for w in p.text_any or ()]

        def pred(ctx: Ctx) -> Evidence:
            order = ctx.order
            if order is None:
                return None
            text = str(order.get("text") or "")
            if words:
                norm = ctx.order_text()
                hits = [w for w in words if f" {w} " in norm]
                line = f"Order: “{text}” mentions {', '.join(hits)}"
                return [said("order-mentions", line, order=text, words=hits)] if hits else None
            if p.dose_not is not None:
                dose, unit = order.get("dose"), str(order.get("unit") or "")
                if not isinstance(dose, int | float) or isinstance(dose, bool):
                    why = f"Order “{text}” gives no dose quantity, so the dose could not be checked"
                    return Unknown((said("order-no-dose", why, order=text),), gate=True)
                value = float(dose)
                if p.dose_unit is not None:
                    try:
                        value = units.convert(value, units.parse(None, unit), p.dose_unit)
                    except units.UnitError as exc:
                        why = f"Order dose {float(dose):g} {unit or '(no unit)'}: {exc}"
                        line = said("order-dose-unit", why, dose=float(dose), unit=unit, detail=str(exc))
                        return Unknown((line,), gate=True)
                if abs(value - p.dose_not) > 1e-9:
                    shown = f"{float(dose):g} {unit}" + (f" = {value:g} {p.dose_unit}" if value != float(dose) else "")
                    text = f"Order dose {shown} (label: {p.dose_not:g} {p.dose_unit or unit})"
                    label = {"label": p.dose_not, "label_unit": p.dose_unit or unit}
                    if value != float(dose):
                        return [said("order-dose-converted", text, dose=float(dose), unit=unit, value=value, **label)]
                    return [said("order-dose", text, dose=float(dose), unit=unit, **label)]
            return None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({"order"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        return iter(())


@predicate("preparation")
class PreparationCheck(Predicate):
    hours_since_preparation_gt_param: str | None = None
    storage: Literal["refrigerated", "room_temperature"] | None = None
    duration_minutes_lt: float | None = None

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence, as_datetime
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            prep = ctx.preparation
            if prep is None:
                return None
            evidence: list[str] = []
            if p.storage is not None:
                if prep.get("storage") != p.storage:
                    return None
                text = f"Diluted solution stored at {p.storage.replace('_', ' ')}"
                evidence.append(said("diluted-storage", text, storage=p.storage))
            prepared, start, end = (
                as_datetime(prep.get(k)) for k in ("prepared_at", "infusion_start_at", "infusion_end_at")
            )
            if p.hours_since_preparation_gt_param is not None:
                limit = ctx.param(p.hours_since_preparation_gt_param)
                if limit is None or prepared is None or start is None:
                    return None
                hours = (start - prepared).total_seconds() / 3600
                if hours <= limit:
                    return None
                text = (
                    f"Prepared {prepared:%Y-%m-%d %H:%M}, infusion starts {start:%Y-%m-%d %H:%M}: "
                    f"{hours:.1f} h (limit {limit:g} h)"
                )
                evidence.append(said("preparation-hours", text, prepared_at=prepared.isoformat(),
                                     start_at=start.isoformat(), hours=round(hours, 1), limit=limit))  # fmt: skip
            if p.duration_minutes_lt is not None:
                if start is None or end is None:
                    return None
                minutes = (end - start).total_seconds() / 60
                if minutes >= p.duration_minutes_lt:
                    return None
                text = f"Infusion ran {minutes:.0f} minutes (less than {p.duration_minutes_lt:g})"
                evidence.append(said("infusion-minutes", text, minutes=round(minutes), limit=p.duration_minutes_lt))
            return evidence or None

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({"preparation"})

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        yield from self._parameter_problems(pack, where, "hours_since_preparation_gt_param")

    def parameters(self) -> Iterator[str]:
        if self.hours_since_preparation_gt_param:
            yield self.hours_since_preparation_gt_param


@predicate("risk_stratum")
class StratumCheck(Predicate):
    """The patient's stratum in the pack's risk model (risk.yaml) is one of these."""

    any_of: list[str]

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            if ctx.stratum not in p.any_of:
                return None
            ctx.review_notes.extend(ctx.stratum_reviews)
            text = f"{ctx.risk_title} stratum: {ctx.stratum}"
            return [said("risk-stratum", text, model=ctx.risk_title, stratum=ctx.stratum)]

        return pred

    def triggers(self) -> frozenset[str] | None:
        return None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        strata = {s.id for s in pack.risk.strata} if pack.risk else set()
        for stratum in self.any_of:
            if stratum not in strata:
                yield f"{where}: risk_stratum names {stratum!r}, which risk.yaml does not define"


BandName = Literal["low", "intermediate", "high", "at-boundary", "unknown"]


@predicate("risk_band")
class RiskBandCheck(Predicate):
    """Band of the latest valid result of ``test``, by the cut-offs of the risk model's ``bands``."""

    test: str
    band: list[BandName]

    def compile(self) -> Pred:
        from rxguard.engine.predicates import (
            Ctx,
            Evidence,
            Unknown,
            lab_line,
            not_read,
            possible_bands,
            risk_band,
            unreadable_lab,
        )  # fmt: skip
        from rxguard.messages import said

        p = self

        def pred(ctx: Ctx) -> Evidence:
            band, result = risk_band(ctx, p.test)
            if band == "unknown" and result is not None and result.comparator and ctx.bands is not None:
                possible = possible_bands(result, ctx.bands)
                if not possible & set(p.band):
                    return None
                why = (
                    f"{result.describe()}: sent as {result.comparator}{result.value:g}, so it may be in band "
                    f"{' or '.join(sorted(possible))}"
                )
                return Unknown(
                    (said("risk-band-possible", why, line=lab_line(result), bands=sorted(possible)),), gate=True
                )
            if band == "unknown" and "unknown" not in p.band:
                if result is not None and result.value is None:
                    return Unknown((not_read(result, "lab-no-number", "no numeric value"),), gate=True)
                return unreadable_lab(ctx, p.test)
            if band not in p.band:
                return None
            shown = result.describe() if result else f"No {p.test} result"
            assert ctx.bands is not None or band == "unknown"
            cuts = (
                f" (cut-offs {ctx.bands.low_max:g} / {ctx.bands.high_above:g}, not verified)"
                if ctx.bands and ctx.bands.needs_review
                else ""
            )
            text = f"{shown}: band {band}{cuts}"
            if result is None:
                return [said("risk-band-no-result", text, test=p.test, band=band)]
            if cuts and ctx.bands is not None:
                return [said("risk-band-unverified", text, line=lab_line(result), band=band, low=ctx.bands.low_max,
                             high=ctx.bands.high_above)]  # fmt: skip
            return [said("risk-band", text, line=lab_line(result), band=band)]

        return pred

    def triggers(self) -> frozenset[str] | None:
        return frozenset({f"lab:{self.test}"}) if "unknown" not in self.band else None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        from rxguard.knowledge.references import known_labs, unknown_lab

        bands = pack.risk.bands if pack.risk else None
        if bands is None:
            yield f"{where}: risk_band needs bands in risk.yaml"
        elif self.test != bands.test:
            yield f"{where}: risk_band.test {self.test!r} is not the test risk.yaml bands ({bands.test!r})"
        if self.test not in known_labs(pack):
            yield f"{where}: risk_band.test {unknown_lab(pack, self.test)}"


@predicate("jurisdiction")
class JurisdictionCheck(ValuePredicate):
    """True only when the assessment's jurisdiction is stated and is this one.

    Safety rules scoped by ``jurisdictions`` all apply when none is given (the
    stricter reading); this predicate is for rules *about* a jurisdiction, such
    as a product's regulatory status there, which say nothing when it is unknown.
    """

    root: Jurisdiction

    def compile(self) -> Pred:
        from rxguard.engine.predicates import Ctx, Evidence
        from rxguard.messages import said

        value = self.root

        def pred(ctx: Ctx) -> Evidence:
            if ctx.jurisdiction != value:
                return None
            return [said("jurisdiction", f"Jurisdiction: {ctx.jurisdiction}", jurisdiction=value)]

        return pred

    def triggers(self) -> frozenset[str] | None:
        return None

    def problems(self, pack: Pack, where: str) -> Iterator[str]:
        return iter(())


def _condition_key(data: Any) -> str | None:
    if isinstance(data, Node):
        return data.key
    if isinstance(data, dict) and len(data) == 1:
        return str(next(iter(data)))
    return None


def _exactly_one_key(data: Any) -> Any:
    if isinstance(data, Node):
        return data
    keys = ", ".join(sorted(PREDICATES))
    if not isinstance(data, dict) or len(data) != 1:
        got = list(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"a condition is a mapping with exactly one key, one of: {keys}; got {got}")
    ((key, value),) = data.items()
    if key not in PREDICATES:
        raise ValueError(f"unknown condition {key!r}; check its spelling against docs/packs.md (one of: {keys})")
    if value is None:  # `has_condition:` with nothing after it would validate as a condition of no kind
        raise ValueError(f"condition {key!r} has no value; give what it tests")
    return data


def condition_union() -> Any:
    """The ``Condition`` type: a union of every registered node class, discriminated by its key."""
    members = tuple(Annotated[cls, Tag(key)] for key, cls in PREDICATES.items())
    return Annotated[Union[members], Discriminator(_condition_key), BeforeValidator(_exactly_one_key)]  # noqa: UP007


class _ConditionUnion:
    """Stands for :func:`condition_union` in annotations, built when a model's schema is."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(condition_union())


if TYPE_CHECKING:
    Condition = Node
else:
    Condition = Annotated[Node, _ConditionUnion]

KINDS = tuple(PREDICATES)


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
    # Sources stating the condition is lifelong (it does not go away once a patient has it): a
    # Condition of this set recorded inactive or in remission still counts as present, and one
    # recorded resolved cannot be taken as over ("could not verify").
    lifelong: list[Citation] = []
    verified: bool = False
    note: str = ""

    @field_validator("codes")
    @classmethod
    def _system_prefixed(cls, codes: list[str | CodeEntry]) -> list[str | CodeEntry]:
        for code in codes:
            if isinstance(code, str):
                _check_code(code)
        return codes

    @model_validator(mode="after")
    def _lifelong_conditions_only(self) -> ValueSet:
        if self.lifelong and self.kind != "condition":
            raise ValueError(f"value set {self.id}: lifelong applies to condition value sets only")
        return self

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


class ScheduleEnd(Strict):
    """When a recurring monitoring item stops: ``period`` after the first or the last infusion.

    The last infusion is the latest one before the day assessed, so a further course moves the
    end later. No infusion yet: no end.
    """

    after: Literal["first_infusion", "last_infusion"] = "last_infusion"
    period: Duration


class MonitoringItem(Strict):
    """One item of the monitoring calendar.

    ``anchor``: what ``at_offsets`` count from (and the first due date of an ``every`` item
    without evidence): the first infusion, the last infusion, or the start of treatment.
    ``until``: the item ends that long after the first or last infusion; a due date after the
    end, or a day assessed after it, lists nothing.
    """

    id: str
    title: str
    kind: Literal["assessment", "lab", "imaging", "program", "dose"]
    evidence: list[str] = []
    anchor: Literal["first_infusion", "last_infusion", "start"] = "first_infusion"
    at_offsets: list[Duration] = []
    every: Duration | None = None
    until: ScheduleEnd | None = None
    before_start_within: Duration | None = None
    applies_when: Condition | None = None
    jurisdictions: list[Jurisdiction]
    basis: Basis
    sources: list[Citation] = Field(min_length=1)
    needs_review: bool = False
    review_note: str = ""
    due_soon: Duration = "P14D"

    @model_validator(mode="after")
    def _until_ends_a_recurring_item(self) -> MonitoringItem:
        if self.until is not None and not self.every and not self.at_offsets:
            raise ValueError(f"monitoring item {self.id}: until ends a recurring item; give every or at_offsets")
        return self


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
