"""A pack's lab catalogue (``labs.yaml``) and the program events its calendar reads.

Each entry declares one test the pack's rules, schedule and risk model read: its
key, the codes and names a result is recognised by, its canonical UCUM unit, the
words its qualitative results are written in, and what makes a result invalid
(drawn too soon after a procedure or a medicine), each with the sources that
state it. The generic labs many drugs share (liver and kidney tests, blood
counts, thyroid tests, pregnancy) are in :data:`rxguard.facts.labs.CORE_LABS`
and need no entry; a pack that lists one of them adds codes or names to it.

:func:`catalogue_for` merges the core labs with the labs of the loaded packs into
the catalogue the FHIR reader recognises results by.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from rxguard.errors import PackError
from rxguard.facts import units
from rxguard.facts.labs import CORE_CATALOGUE, LabCatalogue, LabCatalogueError, LabDef
from rxguard.knowledge.schema import Citation, CodeEntry, Duration, LabConfounded, Strict

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack


class ResultWords(Strict):
    """Words or phrases a qualitative result of this lab is written in, read before the generic ones."""

    positive: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)
    indeterminate: list[str] = Field(default_factory=list)


class Confounder(Strict):
    """A result drawn within ``within`` after this procedure or medicine is not valid."""

    after_procedure: str | None = None
    after_medication: str | None = None
    within: Duration
    sources: list[Citation] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_cause(self) -> Confounder:
        if (self.after_procedure is None) == (self.after_medication is None):
            raise ValueError("give exactly one of after_procedure or after_medication (a value set id)")
        return self


class Lab(Strict):
    """One lab of ``labs.yaml``."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    display: str = Field(min_length=1)
    # The lab's name in Simplified Chinese, as a Chinese page names it (a pack test asks every lab for one).
    display_zh: str = ""
    kind: Literal["numeric", "qualitative", "presence"]
    unit: str = ""  # canonical UCUM unit; results are converted to it
    codes: list[CodeEntry] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    keywords: list[list[str]] = Field(default_factory=list)
    values: ResultWords = ResultWords()
    confounders: list[Confounder] = Field(default_factory=list)
    sources: list[Citation] = Field(min_length=1)
    needs_review: bool = False
    review_note: str = ""

    @model_validator(mode="after")
    def _unit_fits_kind(self) -> Lab:
        # Whether the unit is UCUM is asked by unit_problems (the UCUM registry costs seconds to build).
        if self.kind != "numeric" and self.unit:
            raise ValueError(f"a {self.kind} lab has no unit; remove unit {self.unit!r}")
        if self.kind != "qualitative" and any((self.values.positive, self.values.negative, self.values.indeterminate)):
            raise ValueError("values (positive/negative/indeterminate words) belong to a qualitative lab only")
        return self

    def as_def(self, origin: str) -> LabDef:
        return LabDef(
            self.id,
            self.display,
            tuple(code.code for code in self.codes),
            self.unit,
            self.kind,
            tuple(self.names),
            tuple(tuple(group) for group in self.keywords),
            tuple(self.values.positive),
            tuple(self.values.negative),
            tuple(self.values.indeterminate),
            origin,
        )

    def confounded(self) -> Iterator[LabConfounded]:
        """The confounders as the condition language's ``lab_confounded`` (what the engine evaluates)."""
        for conf in self.confounders:
            if conf.after_procedure is not None:
                yield LabConfounded(test=self.id, after_procedure=conf.after_procedure, procedure_within=conf.within)
            else:
                yield LabConfounded(test=self.id, after_medication=conf.after_medication, medication_within=conf.within)


class ProgramEvent(Strict):
    """A program record (an assessment, a reauthorization) that counts as evidence for a monitoring item."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1)


def pack_catalogue(pack: Pack) -> LabCatalogue:
    """The core labs and this pack's own (a PackError naming labs.yaml when they clash)."""
    try:
        return CORE_CATALOGUE.with_labs(lab.as_def(f"pack {pack.name}") for lab in pack.labs.values())
    except LabCatalogueError as exc:
        raise PackError(f"{pack.path / 'labs.yaml'}: {exc}") from None


def catalogue_for(packs: Mapping[str, Pack]) -> LabCatalogue:
    """The core labs and every pack's labs.yaml, as the FHIR reader uses them."""
    defs = [lab.as_def(f"pack {pack.name}") for pack in packs.values() for lab in pack.labs.values()]
    try:
        return CORE_CATALOGUE.with_labs(defs)
    except LabCatalogueError as exc:
        raise PackError(f"the packs' labs.yaml files disagree: {exc}") from None


@functools.lru_cache(maxsize=1)
def installed_catalogue() -> LabCatalogue:
    from rxguard.knowledge.loader import load_all

    return catalogue_for(load_all())


def lab_problems(pack: Pack) -> Iterator[str]:
    """labs.yaml's own references: value sets of confounders, cited sources, codes of other labs."""
    where = pack.path / "labs.yaml"
    try:
        pack_catalogue(pack)
    except PackError as exc:
        yield str(exc)
    for lab in pack.labs.values():
        for conf in lab.confounders:
            ref = conf.after_procedure or conf.after_medication
            kind = "procedure" if conf.after_procedure else "medication"
            vs = pack.valuesets.get(ref or "")
            if vs is None or vs.kind != kind:
                yield f"{where}: lab {lab.id}: confounder names {ref!r}, which is not a {kind} value set"
        for code in lab.codes:
            if code.source not in pack.sources:
                yield f"{where}: lab {lab.id}: code {code.code!r} cites source {code.source!r}, which is not registered"


def check_confounded_rule(pack: Pack, where: str, pred: LabConfounded) -> Iterator[str]:
    """A rule's ``lab_confounded`` must be a confounder labs.yaml declares, so the two never disagree."""
    lab = pack.labs.get(pred.test)
    declared = set(lab.confounded()) if lab is not None else set()
    if pred not in declared:
        yield (
            f"{where}: lab_confounded {pred.model_dump(exclude_none=True)} is not a confounder labs.yaml declares "
            f"for {pred.test!r}; declare it there with its sources"
        )


def unit_problems(labs: Mapping[str, Lab], where: Path) -> list[str]:
    """Each lab whose unit is not written in UCUM, with the UCUM form to write where one can be read.

    Asked by ``load_pack(..., check_units=True)``: ``rxguard packs validate``, the pack tests and
    the vignette plugin. A running service loads its packs without it (building the UCUM
    registry costs seconds at every start); a unit that slipped through makes every result of
    that lab "could not verify", never a silent pass.
    """
    problems = []
    for lab in labs.values():
        if not lab.unit:
            continue
        try:
            ucum = units.parse(lab.unit).ucum
        except units.UnitError as exc:
            problems.append(f"{where}: lab {lab.id}: unit {lab.unit!r} is not a UCUM unit ({exc}); write it in UCUM")
            continue
        if ucum != lab.unit:
            problems.append(f"{where}: lab {lab.id}: unit {lab.unit!r} is not a UCUM unit; write it in UCUM: {ucum!r}")
    return problems
