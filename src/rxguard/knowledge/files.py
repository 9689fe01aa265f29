"""Every file a knowledge pack may hold, listed in one place.

The loader reads this table and nothing else, the way a plugin host lists its
default plugins: a new pack file type is one row here with the pydantic model
that validates it, never a module that registers itself when imported. Models
are named by import path (``module:Class``) and imported when a pack is
loaded, so this table depends on none of the layers it lists.

A file is either a list of entries or one mapping; ``pack.yaml`` and
``schedule.yaml`` are mappings with fixed sections, each validated by its own
model. Files without a :class:`~rxguard.knowledge.loader.Pack` attribute are
kept in ``Pack.extras`` under their file name for the layer that owns them
(the monograph, the program definition).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Section:
    """One top-level key of a sectioned file and the model of its value."""

    key: str
    model: str
    many: bool = False
    required: bool = True


@dataclass(frozen=True)
class PackFile:
    """One file type of a knowledge pack."""

    name: str
    purpose: str
    model: str = ""  # "module:Class"; empty for a sectioned file
    attribute: str | None = None  # Pack attribute; None keeps it in Pack.extras[name]
    many: bool = False  # a list of entries rather than one mapping
    required: bool = False
    sections: tuple[Section, ...] = ()


_SCHEMA = "rxguard.knowledge.schema"

#: The pack file types, in loading order. docs/packs.md describes each one.
PACK_FILES: tuple[PackFile, ...] = (
    PackFile(
        "pack.yaml",
        "name, version, review date and the drug's identity (INN, ATC, products)",
        required=True,
        sections=(Section("meta", f"{_SCHEMA}:PackMeta"), Section("identity", f"{_SCHEMA}:Identity")),
    ),
    PackFile(
        "sources.yaml", "the source register every citation points to", f"{_SCHEMA}:Source", "sources", True, True
    ),
    PackFile(
        "valuesets.yaml", "codes and names of medicines and conditions", f"{_SCHEMA}:ValueSet", "valuesets", True, True
    ),
    PackFile(
        "labs.yaml",
        "the pack's own labs: codes, names, UCUM unit, result words, confounders",
        "rxguard.knowledge.labs:Lab",
        "labs",
        True,
    ),
    PackFile("rules.yaml", "the checks, each with its condition and citations", f"{_SCHEMA}:Rule", "rules", True, True),
    PackFile("parameters.yaml", "numbers per jurisdiction and date", f"{_SCHEMA}:Parameter", "parameters", True),
    PackFile(
        "conflicts.yaml", "where sources disagree and what rxguard does", f"{_SCHEMA}:Conflict", "conflicts", True, True
    ),
    PackFile("questions.yaml", "checklist questions asked before a dose", f"{_SCHEMA}:Question", "questions", True),
    PackFile("risk.yaml", "a banded, stratified risk model", f"{_SCHEMA}:RiskModel", "risk"),
    PackFile("exposure.yaml", "how long a dose counts as current exposure", f"{_SCHEMA}:Exposure", "exposures", True),
    PackFile(
        "schedule.yaml",
        "the dosing schedule, the monitoring calendar and the program events it reads",
        required=True,
        sections=(
            Section("dosing", f"{_SCHEMA}:DosingSchedule"),
            Section("monitoring", f"{_SCHEMA}:MonitoringItem", many=True),
            Section("events", "rxguard.knowledge.labs:ProgramEvent", many=True, required=False),
        ),
    ),
    PackFile(
        "monograph.yaml", "cited drug information in English and Chinese", "rxguard.knowledge.monograph:Monograph"
    ),
    PackFile("program.yaml", "the restricted-distribution program", "rxguard.knowledge.program:ProgramFile"),
    PackFile(
        "demo.yaml", "demo patients and their histories (rxguard demo load)", "rxguard.knowledge.program:DemoFile"
    ),
    PackFile(
        "questionnaires.yaml",
        "the prescriber's program forms (reauthorization, discontinuation), for the web and FHIR",
        "rxguard.knowledge.questionnaire:QuestionnaireForm",
        many=True,
    ),
)

#: The folder of vignettes (``vignettes/*.yaml``), each file a list of Vignette entries.
VIGNETTE_DIR = "vignettes"
VIGNETTE_MODEL = f"{_SCHEMA}:Vignette"


@functools.cache
def model_of(path: str) -> Any:
    """The class named by ``module:Class``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def file_names() -> tuple[str, ...]:
    return tuple(spec.name for spec in PACK_FILES)
