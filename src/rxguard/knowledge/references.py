"""Cross-file integrity of a pack: every id it mentions is defined in it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from rxguard.facts.labs import CORE_CATALOGUE
from rxguard.knowledge.labs import lab_problems
from rxguard.knowledge.schema import Citation, Condition

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack


def iter_predicates(condition: Condition) -> Iterator[tuple[str, Any]]:
    """Every (kind, predicate) leaf of a condition tree."""
    children = condition.children()
    if not children:
        yield condition.key, condition
    for child in children:
        yield from iter_predicates(child)


def iter_citations(model: Any) -> Iterator[Citation]:
    """Every Citation nested anywhere in a pydantic model."""
    if isinstance(model, Citation):
        yield model
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from iter_citations(getattr(model, name))
    elif isinstance(model, list | tuple):
        for item in model:
            yield from iter_citations(item)
    elif isinstance(model, dict):
        for item in model.values():
            yield from iter_citations(item)


def known_labs(pack: Pack) -> set[str]:
    """Lab keys a pack may read: the core labs and its own labs.yaml."""
    return set(CORE_CATALOGUE) | set(pack.labs)


def unknown_lab(pack: Pack, test: object) -> str:
    own = f"; this pack's labs.yaml declares {', '.join(sorted(pack.labs))}" if pack.labs else ""
    return (
        f"{test!r} is not a known lab key (core labs: {', '.join(sorted(CORE_CATALOGUE))}{own}); "
        "declare it in labs.yaml"
    )


def _condition_problems(pack: Pack, where: str, condition: Condition) -> Iterator[str]:
    # Each node class of the condition language checks its own references.
    return condition.problems(pack, where)


def find_reference_problems(pack: Pack) -> list[str]:
    problems: list[str] = []
    base = pack.path
    drug = pack.identity.id
    if pack.meta.name != drug:
        problems.append(f"{base / 'pack.yaml'}: meta.name {pack.meta.name!r} differs from identity.id {drug!r}")
    if drug not in pack.valuesets:
        problems.append(f"{base / 'valuesets.yaml'}: no value set with id {drug!r} identifying the drug itself")

    def cite(where: str, model: Any) -> None:
        for citation in iter_citations(model):
            if citation.source not in pack.sources:
                problems.append(f"{where}: cites source {citation.source!r}, which sources.yaml does not register")

    for source_id in pack.identity.sources + [s for p in pack.identity.products for s in p.sources]:
        if source_id not in pack.sources:
            problems.append(f"{base / 'pack.yaml'}: identity cites unregistered source {source_id!r}")
    for name in pack.identity.chinese_names:
        if name.source not in pack.sources:
            problems.append(f"{base / 'pack.yaml'}: Chinese name cites unregistered source {name.source!r}")

    seen: set[str] = set()
    for rule in pack.rules:
        where = f"{base / 'rules.yaml'}: rule {rule.id}"
        if rule.id in seen:
            problems.append(f"{where}: id defined twice; rule ids must be unique")
        seen.add(rule.id)
        if not rule.id.startswith(f"{drug}."):
            problems.append(f"{where}: id must start with '{drug}.'")
        cite(where, rule)
        problems.extend(_condition_problems(pack, where, rule.when))

    for param in pack.parameters.values():
        cite(f"{base / 'parameters.yaml'}: parameter {param.id}", param)
    problems.extend(_exposure_problems(pack))
    for exposure in pack.exposures:
        cite(f"{base / 'exposure.yaml'}: exposure {exposure.id}", exposure)
    for vs in pack.valuesets.values():
        cite(f"{base / 'valuesets.yaml'}: value set {vs.id}", vs)
        cited = [(e.code, e.source) for e in [*vs.code_entries(), *vs.exclude_codes]]
        cited += [(b.name, b.source) for b in vs.brands]
        for label, source in cited:
            if source not in pack.sources:
                problems.append(
                    f"{base / 'valuesets.yaml'}: value set {vs.id}: {label!r} cites source {source!r}, "
                    "which sources.yaml does not register"
                )
    cite(f"{base / 'schedule.yaml'}: dosing", pack.dosing)
    labs = known_labs(pack)
    for lab in pack.labs.values():
        cite(f"{base / 'labs.yaml'}: lab {lab.id}", lab)
    problems.extend(lab_problems(pack))
    for event in pack.events:
        if event in labs:
            problems.append(f"{base / 'schedule.yaml'}: event {event!r} is also a lab key; give the event another id")
    for item in pack.monitoring:
        where = f"{base / 'schedule.yaml'}: monitoring {item.id}"
        cite(where, item)
        for key in item.evidence:
            if key not in labs and key not in pack.events:
                problems.append(
                    f"{where}: evidence {key!r} is neither a lab key (core or labs.yaml) nor a program event "
                    "(schedule.yaml events)"
                )
        if item.applies_when is not None:
            problems.extend(_condition_problems(pack, where, item.applies_when))
    if pack.risk is not None:
        cite(f"{base / 'risk.yaml'}", pack.risk)
        bands = pack.risk.bands
        if bands is not None:
            for lab_key in (bands.test, bands.same_sample_as):
                if lab_key is not None and lab_key not in labs:
                    problems.append(f"{base / 'risk.yaml'}: bands names lab {lab_key!r}, which is not a known lab key")
            if bands.low_max > bands.high_above:
                problems.append(f"{base / 'risk.yaml'}: bands.low_max is above bands.high_above")
        ids = {s.id for s in pack.risk.strata}
        if pack.risk.default not in ids:
            problems.append(f"{base / 'risk.yaml'}: default stratum {pack.risk.default!r} is not among the strata")
        for stratum in pack.risk.strata:
            problems.extend(_condition_problems(pack, f"{base / 'risk.yaml'}: stratum {stratum.id}", stratum.when))
    for question in pack.questions.values():
        cite(f"{base / 'questions.yaml'}: question {question.id}", question)
    program_file = pack.extras.get("program.yaml")
    program_ids = {p.id for p in getattr(program_file, "programs", [])}
    for form in pack.extras.get("questionnaires.yaml") or []:
        where = f"{base / 'questionnaires.yaml'}: {form.form} form of {', '.join(form.programs)}"
        cite(where, form)
        for program_id in form.programs:
            if program_id not in program_ids:
                problems.append(f"{where}: names program {program_id!r}, which program.yaml does not define")

    conflict_ids: set[str] = set()
    for conflict in pack.conflicts:
        where = f"{base / 'conflicts.yaml'}: conflict {conflict.id}"
        if conflict.id in conflict_ids:
            problems.append(f"{where}: id defined twice")
        conflict_ids.add(conflict.id)
        for claim in conflict.claims:
            if claim.source not in pack.sources:
                problems.append(f"{where}: claim cites unregistered source {claim.source!r}")
        for rule_id in conflict.rules:
            if rule_id not in seen:
                problems.append(f"{where}: names rule {rule_id!r}, which rules.yaml does not define")

    for vfile, index, vignette in pack.vignettes():
        where = f"{vfile.path}:{vfile.lines[index]}: vignette {vignette.name!r}"
        for rule_id in [
            *vignette.expect.fires,
            *vignette.expect.does_not_fire,
            *vignette.expect.needs_review,
            *vignette.protocol_rules,
        ]:
            if rule_id not in seen:
                problems.append(f"{where}: names rule {rule_id!r}, which rules.yaml does not define")
        for qid in vignette.answers:
            if qid not in pack.questions:
                problems.append(f"{where}: answers question {qid!r}, which questions.yaml does not define")
        monitoring_ids = {m.id for m in pack.monitoring}
        for item_id in vignette.expect.due:
            if item_id not in monitoring_ids:
                problems.append(f"{where}: expects due item {item_id!r}, which schedule.yaml does not define")
        for lab_item in vignette.patient.get("labs") or ():
            test = lab_item.get("test") if isinstance(lab_item, dict) else None
            if test not in labs:
                problems.append(f"{where}: patient lab {unknown_lab(pack, test)}")
    problems.extend(_extra_file_problems(pack, cite))
    return problems


def _exposure_problems(pack: Pack) -> Iterator[str]:
    """Each exposure serves a medication value set, and each value set has at most one default."""
    where = pack.path / "exposure.yaml"
    defaults: set[str] = set()
    for exposure in pack.exposures:
        vs = pack.valuesets.get(exposure.valueset)
        if vs is None or vs.kind != "medication":
            yield f"{where}: exposure {exposure.id} names {exposure.valueset!r}, which is not a medication value set"
        if exposure.member_tag(pack.identity.id) is None:
            if exposure.valueset in defaults:
                yield f"{where}: value set {exposure.valueset!r} has two default exposures; keep one"
            defaults.add(exposure.valueset)


def _extra_file_problems(pack: Pack, cite: Callable[[str, Any], None]) -> list[str]:
    """Registered extra files (monograph.yaml, ...): their citations, then their own id checks."""
    problems: list[str] = []
    for filename, extra in pack.extras.items():
        cite(str(pack.path / filename), extra)
        check = getattr(extra, "reference_problems", None)
        if callable(check):
            problems.extend(check(pack, pack.path / filename))
    return problems
