"""The program's forms, defined once from the pack: what each asks, which answers it needs.

:func:`form_definitions` is the one definition of each form. The FHIR
endpoint renders it as a ``Questionnaire`` (:mod:`rxguard.fhir.questionnaires`)
and reads a ``QuestionnaireResponse`` back through it; a web page can render
the same definition. Four forms per program:

* ``enrollment`` — enrollment and consent: the indication (the program's
  list), the consent document version in force, its language, and one
  acknowledgement per risk the consent document states;
* ``pre-infusion-checklist`` — the pack's checklist questions, every one
  required (a missing answer holds the dose, as on the web form);
* ``reauthorization`` — the prescriber's periodic reauthorization (programs
  with ``reauthorization_every``): the assessment the program requires was done, and the
  decision to continue;
* ``discontinuation`` — the reason treatment stops.

The wording of the reauthorization and discontinuation questions is
rxguard's: the REMS-approved form text was not available to verify
(docs/interop.md). Questions from the pack carry the pack's citations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from rxguard.errors import NotFoundError
from rxguard.program.registry import Program, cite

ItemType = Literal["boolean", "decimal", "string", "text", "choice", "display"]
FORMS = ("enrollment", "pre-infusion-checklist", "reauthorization", "discontinuation")


@dataclass(frozen=True)
class FormItem:
    link_id: str
    text: str
    type: ItemType
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()  # (code, display) for choice
    must_be: bool | None = None  # a boolean that must be answered this way for the form to take effect
    sources: tuple[tuple[str, str], ...] = ()  # (source id, section)


@dataclass(frozen=True)
class FormDefinition:
    id: str  # e.g. "touch-pre-infusion-checklist"
    form: str  # one of FORMS
    program: str
    title: str
    purpose: str
    items: tuple[FormItem, ...] = field(default_factory=tuple)

    def item(self, link_id: str) -> FormItem | None:
        return next((i for i in self.items if i.link_id == link_id), None)


def _sources(citations: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((c["source"], c["section"]) for c in citations)


def _enrollment(program: Program, on: date, language: str) -> FormDefinition:
    definition = program.definition
    document = program.consent_document(on)
    items = [
        FormItem("indication", "Indication the patient is enrolled for", "choice", True,
                 tuple((i.id, i.title) for i in definition.indications),
                 sources=_sources([s for i in definition.indications for s in cite(i.sources)])),
        FormItem("consent-version", f"{next((t for lang, t in document.title.items() if lang == language), document.title['en'])} (version "
                 f"{document.version})", "display"),
        FormItem("language", "Language the patient read the consent in", "choice", True,
                 (("en", "English"), ("zh", "Chinese"))),
    ]  # fmt: skip
    items += [
        FormItem(f"risk-{index}", f"The patient was told: {risk}", "boolean", True, must_be=True,
                 sources=_sources(cite(document.sources)))
        for index, risk in enumerate(document.risks, start=1)
    ]  # fmt: skip
    return FormDefinition(f"{program.id}-enrollment", "enrollment", program.id,
                          f"{definition.title}: patient enrollment and consent",
                          "A certified prescriber enrolls the patient and both sign the consent in force.",
                          tuple(items))  # fmt: skip


def _checklist(program: Program, language: str) -> FormDefinition:
    items = tuple(
        FormItem(q.id, q.text.get(language) or q.text.get("en") or next(iter(q.text.values())),
                 "boolean" if q.answer_type == "boolean" else "decimal", True, sources=_sources(cite(q.sources)))
        for q in program.pack.questions.values()
        if q.kind == "checklist"
    )  # fmt: skip
    return FormDefinition(f"{program.id}-pre-infusion-checklist", "pre-infusion-checklist", program.id,
                          f"{program.definition.title}: pre-infusion patient checklist",
                          "Completed by the infusion site before every dose; any yes holds the dose until the "
                          "prescriber clears it.", items)  # fmt: skip


def _reauthorization(program: Program) -> FormDefinition:
    sources = _sources(program.citations())
    items = (
        FormItem("pml-assessment-done", "I assessed the patient for signs and symptoms suggestive of PML and for "
                 "its risk factors", "boolean", True, must_be=True, sources=sources),
        FormItem("continue-treatment", "Continue treatment: reauthorize for the next period", "boolean", True,
                 must_be=True, sources=sources),
        FormItem("status-note", "Patient status (free text)", "text"),
    )  # fmt: skip
    return FormDefinition(f"{program.id}-reauthorization", "reauthorization", program.id,
                          f"{program.definition.title}: patient status report and reauthorization",
                          f"The prescriber reauthorizes treatment every {program.definition.reauthorization_every}.",
                          items)  # fmt: skip


def _discontinuation(program: Program) -> FormDefinition:
    items = (FormItem("reason", "Reason treatment is discontinued", "text", True),)
    return FormDefinition(f"{program.id}-discontinuation", "discontinuation", program.id,
                          f"{program.definition.title}: discontinuation",
                          "Stops treatment in the program and schedules the follow-up it requires.", items)  # fmt: skip


def form_definitions(program: Program, *, on: date, language: str = "en") -> list[FormDefinition]:
    """Every form of the program, as in force on ``on``."""
    forms = [_enrollment(program, on, language), _checklist(program, language)]
    if program.definition.reauthorization_every:
        forms.append(_reauthorization(program))
    forms.append(_discontinuation(program))
    return [f for f in forms if f.items]


def form_definition(programs: list[Program], form_id: str, *, on: date, language: str = "en") -> FormDefinition:
    for program in programs:
        for form in form_definitions(program, on=on, language=language):
            if form.id == form_id:
                return form
    raise NotFoundError(f"no form {form_id!r}; GET /fhir/Questionnaire lists them")
