"""Program definitions, read from the packs' ``program.yaml`` files.

A program belongs to one pack (its drug). Loading goes through the same
entry-point registry as every pack; each pack is loaded on first use, so a
broken pack only affects its own programs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from rxguard.errors import NotFoundError, PackError
from rxguard.knowledge.loader import Pack, discover_pack_paths, load_pack
from rxguard.knowledge.program import (
    CheckRule,
    ConsentDocument,
    ProgramDefinition,
    ProgramFile,
    ProgramRecords,
    RecordKinds,
)
from rxguard.knowledge.schema import Citation
from rxguard.store.settings import get_settings

#: The per-dose checks rxguard runs (``product-enrolled`` when the infusion is recorded); each
#: program classifies every one that applies to it in ``program.yaml`` (``checks``).
GATE_CHECKS = (
    "site-certified", "prescriber-certified", "patient-enrolled", "consent-signed", "patient-authorized",
    "not-discontinued", "not-suspended", "dose-not-already-given", "visit-not-deferred", "product-enrolled",
    "checklist", "previous-visit-clearance", "clinical-assessment", "dose-interval",
)  # fmt: skip


def checks_applying(definition: ProgramDefinition) -> set[str]:
    """Every check the gate runs for this program."""
    checks = set(GATE_CHECKS)
    if definition.reauthorization_every:
        checks.add("authorization-not-lapsed")
    if definition.forms:
        checks.add("program-forms")
    if definition.course:
        checks.add("course-limit")
    return checks


@dataclass(frozen=True)
class Program:
    """A program definition together with its pack and consent documents."""

    definition: ProgramDefinition
    pack: Pack
    consent_documents: tuple[ConsentDocument, ...]

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def drug(self) -> str:
        return self.pack.identity.id

    def consent_document(self, on: date) -> ConsentDocument:
        """The version of the program's consent document in force on ``on``."""
        versions = [
            d for d in self.consent_documents if d.id == self.definition.consent_document and d.effective_on <= on
        ]
        if not versions:
            raise NotFoundError(
                f"program {self.id}: no version of consent document "
                f"{self.definition.consent_document!r} is in force on {on.isoformat()}"
            )
        return max(versions, key=lambda d: (d.effective_on, d.version))

    def find_consent_version(self, version: str) -> ConsentDocument:
        for document in self.consent_documents:
            if document.id == self.definition.consent_document and document.version == version:
                return document
        known = [d.version for d in self.consent_documents if d.id == self.definition.consent_document]
        raise NotFoundError(
            f"program {self.id}: consent document version {version!r} does not exist; "
            f"known versions: {', '.join(known)}"
        )

    def early_tolerance_days(self) -> int:
        override = get_settings().dose_interval_tolerance_days
        if override is not None:
            return override
        return self.definition.dose_interval.early_tolerance_days

    def citations(self) -> list[dict[str, str]]:
        return cite(self.definition.sources)

    @property
    def records(self) -> ProgramRecords:
        """Which of the program's own records the gate's clinical check reads, as which facts."""
        data = self.pack.extras.get("program.yaml")
        return data.program_records if isinstance(data, ProgramFile) else ProgramRecords()

    @property
    def kinds(self) -> RecordKinds:
        """The monitoring and adverse-event kinds and the measurements the pack declares."""
        data = self.pack.extras.get("program.yaml")
        return data.record_kinds if isinstance(data, ProgramFile) else RecordKinds()

    def check_rule(self, check_id: str) -> CheckRule:
        """How a failed check may be answered; a check the program does not classify is a hard stop."""
        rule = self.definition.check_rule(check_id)
        if rule is None:
            return CheckRule.model_validate(
                {"id": check_id, "class": "hard-stop", "lift": f"{check_id} is not classified in {self.id}"}
            )
        return rule


def cite(citations: list[Citation]) -> list[dict[str, str]]:
    return [{"source": c.source, "section": c.section} for c in citations]


@functools.lru_cache(maxsize=8)
def _pack(name: str) -> Pack:
    paths = discover_pack_paths()
    if name not in paths:
        raise PackError(f"no pack named {name!r}; installed packs: {', '.join(sorted(paths))}")
    return load_pack(paths[name])


def pack_for(drug: str) -> Pack:
    return _pack(drug)


def _programs_of(pack: Pack) -> list[Program]:
    data = pack.extras.get("program.yaml")
    if not isinstance(data, ProgramFile):
        return []
    _check_citations(pack, data)
    _check_classes(pack, data)
    _check_records(pack, data)
    documents = tuple(data.consent_documents)
    return [Program(definition, pack, documents) for definition in data.programs]


def _check_citations(pack: Pack, data: ProgramFile) -> None:
    """Every source a program cites must be in its pack's source register."""
    cited: list[str] = []
    for program in data.programs:
        cited += [c.source for c in program.sources]
        cited += [c.source for i in program.indications for c in i.sources]
        cited += [c.source for c in program.dose_interval.sources]
        cited += [c.source for f in program.forms for c in f.sources]
    for document in data.consent_documents:
        cited += [c.source for c in document.sources]
    cited += [c.source for m in data.record_kinds.measurements for c in m.sources]
    cited += [c.source for a in data.record_kinds.adverse_events if a.suspends for c in a.suspends.sources]
    unknown = sorted(set(cited) - set(pack.sources))
    if unknown:
        raise PackError(
            f"{pack.path / 'program.yaml'}: cites source(s) {', '.join(unknown)} that are not in "
            "sources.yaml; add them to the register or fix the id"
        )


def _check_records(pack: Pack, data: ProgramFile) -> None:
    """An adverse event is read as one of the pack's condition value sets."""
    conditions = {v.id for v in pack.valuesets.values() if v.kind == "condition"}
    unknown = sorted(set(data.program_records.adverse_events.values()) - conditions)
    if unknown:
        raise PackError(
            f"{pack.path / 'program.yaml'}: program_records names value set(s) {', '.join(unknown)} that are not "
            "condition value sets of the pack (valuesets.yaml)"
        )
    kinds = data.record_kinds
    declared = {
        "adverse event": {a.id for a in kinds.adverse_events},
        "monitoring": {m.id for m in kinds.monitoring},
    }
    named = {
        "adverse event": set(data.program_records.adverse_events)
        | {e for p in data.programs for e in p.reportable_events},
        "monitoring": set(data.program_records.monitoring),
    }
    for what, ids in named.items():
        unknown = sorted(ids - declared[what])
        if unknown:
            raise PackError(
                f"{pack.path / 'program.yaml'}: names {what} kind(s) {', '.join(unknown)} that record_kinds does "
                "not declare; declare them there"
            )


def _check_classes(pack: Pack, data: ProgramFile) -> None:
    """Each program classifies exactly the checks the gate runs for it: none left out, none unknown."""
    for program in data.programs:
        applying = checks_applying(program)
        classified = {c.id for c in program.checks}
        missing, unknown = sorted(applying - classified), sorted(classified - applying)
        if missing or unknown:
            raise PackError(
                f"{pack.path / 'program.yaml'}: program {program.id} must classify every per-dose check it runs "
                "(checks: hard-stop or overridable)"
                + (f"; not classified: {', '.join(missing)}" if missing else "")
                + (f"; not a check of this program: {', '.join(unknown)}" if unknown else "")
            )


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    """program id -> pack name, for every installed pack that has a program.yaml."""
    index: dict[str, str] = {}
    for name, path in sorted(discover_pack_paths().items()):
        if not (path / "program.yaml").is_file():
            continue
        for program in _programs_of(_pack(name)):
            index[program.id] = name
    return index


def get_program(program_id: str) -> Program:
    index = _index()
    if program_id not in index:
        raise NotFoundError(f"no program {program_id!r}; known programs: {', '.join(sorted(index)) or 'none'}")
    for program in _programs_of(_pack(index[program_id])):
        if program.id == program_id:
            return program
    raise AssertionError(program_id)


def all_programs() -> list[Program]:
    return [get_program(program_id) for program_id in sorted(_index())]
