"""``assess``: a pure function from a pack and patient facts to a verdict.

No clock, no I/O, no globals that change results: the same inputs give the
same output, which is what makes every vignette deterministic. Packs are
compiled to closures once (cached by pack identity) — a cache, not state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rxguard.engine.model import Assessment, Coverage, Finding, SourceRef, StratumResult, Verdict
from rxguard.engine.predicates import Ctx, ExposureRow, Pred, Unknown, compile_condition, triggers
from rxguard.engine.schedule import CompiledItem, compute_due
from rxguard.facts.model import ClinicalItem, MedicationUse, PatientFacts
from rxguard.knowledge.loader import Pack
from rxguard.knowledge.references import iter_predicates
from rxguard.knowledge.schema import JURISDICTIONS, SEVERITY_RANK, Citation, LabConfounded, Rule, Stratum
from rxguard.messages import said

_RANK_TO_VERDICT: dict[int, Verdict] = {0: "ok", 1: "caution", 2: "hold", 3: "contraindicated"}
_ORDER_STATUSES = frozenset({"draft", "active", "on-hold"})


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    pred: Pred
    params: frozenset[str]
    sources: tuple[SourceRef, ...]
    triggers: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class CompiledStratum:
    stratum: Stratum
    pred: Pred
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True, slots=True)
class RulePlan:
    """The rules of one jurisdiction, indexed by the data keys that can make them hold.

    A rule with trigger keys is evaluated only when the facts have one of them, so
    an assessment looks its candidates up by key (a set intersection) instead of
    testing every rule's keys; rules without trigger keys are always evaluated.
    """

    rules: tuple[CompiledRule, ...]
    ids: tuple[str, ...]
    always: frozenset[int]
    by_key: Mapping[str, tuple[int, ...]]
    keys: frozenset[str]
    protocol: tuple[CompiledRule, ...]

    @classmethod
    def of(cls, rules: tuple[CompiledRule, ...]) -> RulePlan:
        by_key: dict[str, list[int]] = {}
        always = []
        for index, cr in enumerate(rules):
            if cr.triggers is None:
                always.append(index)
            else:
                for key in cr.triggers:
                    by_key.setdefault(key, []).append(index)
        return cls(
            rules, tuple(cr.rule.id for cr in rules), frozenset(always),
            {key: tuple(found) for key, found in by_key.items()}, frozenset(by_key),
            tuple(cr for cr in rules if cr.rule.protocol),
        )  # fmt: skip

    def candidates(self, present: frozenset[str]) -> list[int]:
        """Indices, in pack order, of the rules that can hold given the data keys present."""
        found = set(self.always)
        for key in self.keys & present:
            found.update(self.by_key[key])
        return sorted(found)


@dataclass(frozen=True, slots=True)
class CompiledPack:
    pack: Pack
    rules: tuple[CompiledRule, ...]
    by_jurisdiction: dict[str | None, RulePlan]
    strata: tuple[CompiledStratum, ...]
    confounders: tuple[LabConfounded, ...]
    items: tuple[CompiledItem, ...]
    question_text: Mapping[str, str]
    exposures: Mapping[str, tuple[ExposureRow, ...]]
    lifelong: Mapping[str, str]


_COMPILED: dict[int, CompiledPack] = {}


def source_refs(pack: Pack, citations: list[Citation]) -> tuple[SourceRef, ...]:
    refs = []
    for cite in citations:
        src = pack.sources[cite.source]
        refs.append(SourceRef(src.id, src.title, cite.section, src.tier, src.verified, src.url, src.jurisdiction))
    return tuple(refs)


def compile_pack(pack: Pack) -> CompiledPack:
    """Closures for every rule, stratum and schedule item of a pack (cached)."""
    cached = _COMPILED.get(id(pack))
    if cached is not None and cached.pack is pack:
        return cached
    rules = []
    confounders: list[LabConfounded] = []
    for rule in pack.rules:
        params = set()
        for _, pred in iter_predicates(rule.when):
            params.update(pred.parameters())
            if isinstance(pred, LabConfounded):
                confounders.append(pred)
        rules.append(
            CompiledRule(
                rule,
                compile_condition(rule.when),
                frozenset(params),
                source_refs(pack, rule.sources),
                triggers(rule.when),
            )
        )
    strata = tuple(
        CompiledStratum(s, compile_condition(s.when), source_refs(pack, s.sources))
        for s in (pack.risk.strata if pack.risk else ())
    )
    items = tuple(
        CompiledItem(
            item,
            compile_condition(item.applies_when) if item.applies_when else None,
            set(item.evidence) <= set(pack.events),
        )
        for item in pack.monitoring
    )
    # What makes a lab result invalid is declared with the lab (labs.yaml confounders).
    for lab in pack.labs.values():
        confounders.extend(conf for conf in lab.confounded() if conf not in confounders)
    questions = {q.id: q.text.get("en", q.id) for q in pack.questions.values()}
    exposures: dict[str, list[ExposureRow]] = {}
    for exp in pack.exposures:
        row = ExposureRow(exp.member_tag(pack.identity.id), exp.after_administration, exp.needs_review,
                          exp.review_note, exp.title)  # fmt: skip
        exposures.setdefault(exp.valueset, []).append(row)
    by_jurisdiction: dict[str | None, RulePlan] = {None: RulePlan.of(tuple(rules))}
    for where in JURISDICTIONS:
        by_jurisdiction[where] = RulePlan.of(tuple(cr for cr in rules if where in cr.rule.jurisdictions))
    compiled = CompiledPack(
        pack, tuple(rules), by_jurisdiction, strata, tuple(confounders), items, questions,
        {vs: tuple(rows) for vs, rows in exposures.items()}, _lifelong(pack),
    )  # fmt: skip
    _COMPILED[id(pack)] = compiled
    return compiled


def _lifelong(pack: Pack) -> dict[str, str]:
    """Value set -> why its conditions are lifelong, in words naming the sources."""
    out: dict[str, str] = {}
    for vs in pack.valuesets.values():
        if vs.lifelong:
            cited = "; ".join(dict.fromkeys(pack.sources[c.source].title for c in vs.lifelong))
            text = f"{vs.title} is lifelong (sources: {cited})"
            out[vs.id] = said(
                "lifelong", text, valueset=vs.id, sources=list(dict.fromkeys(c.source for c in vs.lifelong))
            )
    return out


def _infusion_history(pack: Pack, facts: PatientFacts, at: date, extra: Any) -> tuple[date, ...]:
    days = {
        med.start
        for med in facts.tagged("medication", pack.identity.id)
        if isinstance(med, MedicationUse)
        and med.kind == "administration"
        and med.was_given()
        and med.start is not None
        and med.start < at
    }
    for value in extra or ():
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if day < at:
            days.add(day)
    return tuple(sorted(days))


_TAKEN_STATEMENT = frozenset({"active", "completed", "stopped", "on-hold"})


def _treatment(pack: Pack, facts: PatientFacts, at: date) -> tuple[tuple[date, str], tuple[date, str]] | None:
    """The first and the last day before ``at`` any record says the patient was treated with the pack's drug, each
    with the record that says so.

    Administrations and dispenses that happened, statements that the patient took it (active,
    completed, stopped, on hold) from a start date (until its end, or until today while it is
    ongoing), and procedures that name it. Orders are not treatment and are left out.
    """
    found: list[tuple[date, date, str]] = []
    for item in facts.tagged("medication", pack.identity.id):
        if not isinstance(item, MedicationUse) or item.start is None or item.start >= at:
            continue
        source = item.source or item.kind
        if item.was_given():
            found.append((item.start, item.start, source))
        elif item.kind == "statement" and item.status in _TAKEN_STATEMENT:
            ongoing = item.end is None and item.status in ("active", "on-hold")
            last = at if ongoing else min(item.end or item.start, at)
            found.append((item.start, last, source))
    for proc in facts.tagged("procedure", pack.identity.id):
        if isinstance(proc, ClinicalItem) and proc.onset is not None and proc.onset < at:
            found.append((proc.onset, proc.onset, f"procedure {proc.text}".strip()))
    if not found:
        return None
    earliest = min(found)
    latest = max(found, key=lambda f: f[1])
    return (earliest[0], earliest[2]), (latest[1], latest[2])


def _current_order(pack: Pack, facts: PatientFacts, context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if context.get("order") is not None:
        order: Mapping[str, Any] = context["order"]
        return order
    orders = [
        med
        for med in facts.tagged("medication", pack.identity.id)
        if isinstance(med, MedicationUse) and med.kind == "request" and med.status in _ORDER_STATUSES
    ]
    if not orders:
        return None
    latest = max(orders, key=lambda m: m.start or date.min)
    text = " ; ".join(t for t in (latest.text, latest.instructions) if t)
    return {"text": text, "dose": latest.dose_value, "unit": latest.dose_unit}


def _events(context: Mapping[str, Any]) -> dict[str, tuple[date, ...]]:
    raw = context.get("events") or {}
    return {
        key: tuple(sorted(d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in values))
        for key, values in raw.items()
    }


def _mark_invalid_results(ctx: Ctx, confounders: tuple[LabConfounded, ...]) -> None:
    """Results drawn too soon after a confounder (e.g. plasma exchange) are not used for strata."""
    from rxguard.engine.predicates import confounders as confounders_of

    bands = ctx.bands
    for conf in confounders:
        result = ctx.latest(conf.test)
        if result is not None and confounders_of(ctx, conf, result.effective):
            # A banded value reported from the same sample (risk.yaml bands.same_sample_as) goes with it.
            same_sample = bands is not None and bands.same_sample_as == conf.test
            for test in (conf.test, bands.test) if same_sample and bands is not None else (conf.test,):
                ctx.invalid.setdefault(test, set()).add(result.effective)


def _stratum(compiled: CompiledPack, ctx: Ctx) -> StratumResult | None:
    risk = compiled.pack.risk
    if risk is None:
        return None
    for cs in compiled.strata:
        mark = len(ctx.review_notes)
        evidence = cs.pred(ctx)
        # What the stratum rests on that needs review (a preliminary result): the stratum and every rule
        # that reads it ask for review.
        reviews = ctx.review_notes[mark:]
        del ctx.review_notes[mark:]
        if evidence is not None and not isinstance(evidence, Unknown):
            s = cs.stratum
            ctx.stratum_reviews = list(dict.fromkeys(reviews))
            note = " ".join(dict.fromkeys([s.review_note, *reviews] if s.review_note else reviews))
            return StratumResult(
                s.id,
                s.title,
                s.action,
                tuple(evidence),
                s.needs_review or bool(reviews),
                note,
                cs.sources,
                risk.id,
                risk.title,
            )
    default = next(cs for cs in compiled.strata if cs.stratum.id == risk.default)
    s = default.stratum
    return StratumResult(
        s.id, s.title, s.action, (), s.needs_review, s.review_note, default.sources, risk.id, risk.title
    )


def _present_keys(ctx: Ctx) -> frozenset[str]:
    """The data keys this assessment has: tags and labs from the facts, plus answers, order, preparation, infusions."""
    keys = ctx.facts.present_keys()
    extra = [f"answer:{qid}" for qid in ctx.answers]
    if ctx.order is not None:
        extra.append("order")
    if ctx.preparation is not None:
        extra.append("preparation")
    if ctx.infusions or ctx.treatment_last is not None:
        extra.append("infusions")
    return keys.union(extra) if extra else keys


def _counts_as(severity: str, needs_review: bool) -> str:
    """A finding that needs review never contraindicates by itself, and never counts below hold at hold or above."""
    if needs_review and SEVERITY_RANK[severity] >= SEVERITY_RANK["hold"]:
        return "hold"
    return severity


def _unverified_counts_as(severity: str, gate: bool) -> str:
    """What a rule whose input could not be read counts as: at least caution; hold for a lab or dose gate.

    Never more than the rule itself would say, and an ``info`` rule stays ``info``.
    """
    if severity == "info":
        return "info"
    if gate and SEVERITY_RANK[severity] >= SEVERITY_RANK["hold"]:
        return "hold"
    return "caution"


def _finding(cr: CompiledRule, ctx: Ctx, evidence: list[str] | Unknown, reviews: list[str]) -> Finding:
    rule = cr.rule
    severity = rule.severity_in(ctx.jurisdiction)  # type: ignore[arg-type]
    needs_review = rule.needs_review
    note = rule.review_note
    for name in cr.params:
        param = ctx.parameters[name]
        if param.needs_review:
            needs_review = True
            note = note or param.review_note
    reviews = list(dict.fromkeys(reviews))
    if reviews:
        needs_review = True
        note = " ".join(dict.fromkeys([note, *reviews] if note else reviews))
    if isinstance(evidence, Unknown):
        return Finding(
            rule.id, severity, _unverified_counts_as(severity, evidence.gate), f"Could not verify: {rule.title}",
            rule.message, rule.action, evidence.reasons, rule.basis, needs_review, note, rule.category,
            rule.protocol, cr.sources, could_not_verify=True, reviews=tuple(reviews),
        )  # fmt: skip
    return Finding(
        rule.id, severity, _counts_as(severity, needs_review), rule.title, rule.message, rule.action,
        tuple(evidence), rule.basis, needs_review, note, rule.category, rule.protocol, cr.sources,
        reviews=tuple(reviews),
    )  # fmt: skip


def build_context(
    compiled: CompiledPack,
    facts: PatientFacts,
    at: date,
    jurisdiction: str | None,
    answers: Mapping[str, bool | float] | None,
    context: Mapping[str, Any],
    default_ulns: Mapping[str, float] | None,
) -> tuple[Ctx, StratumResult | None]:
    """Everything rules read for one assessment, with the risk stratum already decided."""
    pack = compiled.pack
    ctx = Ctx(
        facts=facts,
        at=at,
        jurisdiction=jurisdiction,
        answers=answers or {},
        question_text=compiled.question_text,
        infusions=_infusion_history(pack, facts, at, context.get("infusions")),
        order=_current_order(pack, facts, context),
        preparation=context.get("preparation"),
        parameters=pack.parameters,
        default_ulns=default_ulns or {},
        bands=pack.risk.bands if pack.risk else None,
        events=_events(context),
        exposures=compiled.exposures,
        lifelong=compiled.lifelong,
        risk_title=pack.risk.title if pack.risk else "Risk",
    )
    treatment = _treatment(pack, facts, at)
    if treatment is not None:
        ctx.treatment_since, ctx.treatment_last = treatment
    if compiled.confounders:
        _mark_invalid_results(ctx, compiled.confounders)
    stratum = _stratum(compiled, ctx)
    ctx.stratum = stratum.id if stratum else None
    return ctx, stratum


def assess(
    pack: Pack,
    facts: PatientFacts,
    *,
    at: date,
    jurisdiction: str | None = None,
    answers: Mapping[str, bool | float] | None = None,
    context: Mapping[str, Any] | None = None,
    protocol_rules: Mapping[str, bool] | None = None,
    default_ulns: Mapping[str, float] | None = None,
) -> Assessment:
    """Assess one patient against one pack on the date ``at``.

    ``jurisdiction`` None means "not known": every jurisdiction's rules apply
    and the stricter value wins. ``protocol_rules`` switches institution
    protocol rules on or off by id. ``context`` carries what the program
    holds: ``infusions`` (dates), ``events``, ``preparation``, ``order``.
    """
    context = context or {}
    protocol_rules = protocol_rules or {}
    compiled = compile_pack(pack)
    ctx, stratum = build_context(compiled, facts, at, jurisdiction, answers, context, default_ulns)
    findings = []
    worst = 0
    plan = compiled.by_jurisdiction.get(jurisdiction) or compiled.by_jurisdiction[None]
    switched_off = [
        cr.rule.id for cr in plan.protocol if not protocol_rules.get(cr.rule.id, cr.rule.enabled_by_default)
    ]
    # Rules not evaluated (no trigger key present) and rules that did not hold were checked;
    # only rules switched off or that could not be verified are not.
    not_checked = set(switched_off)
    rules = plan.rules
    for index in plan.candidates(_present_keys(ctx)):
        cr = rules[index]
        if switched_off and cr.rule.id in not_checked:
            continue
        reviewed = len(ctx.review_notes)
        evidence = cr.pred(ctx)
        if evidence is None:
            continue
        finding = _finding(cr, ctx, evidence, ctx.review_notes[reviewed:])
        if finding.could_not_verify:
            not_checked.add(cr.rule.id)
        findings.append(finding)
        worst = max(worst, SEVERITY_RANK[finding.effective_severity])
    checked = [rule_id for rule_id in plan.ids if rule_id not in not_checked] if not_checked else plan.ids
    findings.sort(key=lambda f: (-SEVERITY_RANK[f.effective_severity], -SEVERITY_RANK[f.severity], f.rule_id))
    due = compute_due(compiled.items, ctx)
    return Assessment(
        drug=pack.identity.id,
        jurisdiction=jurisdiction,
        at=at,
        verdict=_RANK_TO_VERDICT[worst],
        findings=tuple(findings),
        due=due,
        stratum=stratum,
        notes=tuple(dict.fromkeys(ctx.notes)),
        pack_name=pack.meta.name,
        pack_version=pack.meta.version,
        infusions_before=len(ctx.infusions),
        coverage=Coverage(
            checked=tuple(checked),
            could_not_verify=tuple(f for f in findings if f.could_not_verify),
            switched_off=tuple(switched_off),
            not_read=tuple(u.reason for u in facts.unreadable),
            notes=facts.reading_notes,
        ),
    )
