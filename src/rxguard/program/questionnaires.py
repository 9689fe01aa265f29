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
  with ``reauthorization_every``): the patient status report, as the pack's
  ``questionnaires.yaml`` defines it (e.g. the assessment the program
  requires was done, and the decision to continue);
* ``discontinuation`` — the reason treatment stops, and what the pack asks
  with it.

The prescriber's two forms are pack data (:mod:`rxguard.knowledge.questionnaire`),
in English and Chinese; the web pages render the same definitions
(:func:`prescriber_form`) and check them with :func:`check_complete`, as the
FHIR endpoint does. Questions from the pack carry the pack's citations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from rxguard.errors import InputError, NotFoundError, TransitionError
from rxguard.knowledge.monograph import monograph_of
from rxguard.knowledge.questionnaire import LocalText, QuestionnaireForm
from rxguard.program.registry import Program, cite
from rxguard.store.transitions import Reason

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


def pack_forms(program: Program) -> list[QuestionnaireForm]:
    """The prescriber's forms the program's pack declares for it (``questionnaires.yaml``)."""
    declared = program.pack.extras.get("questionnaires.yaml") or []
    return [f for f in declared if isinstance(f, QuestionnaireForm) and program.id in f.programs]


def _from_pack(program: Program, spec: QuestionnaireForm, language: str) -> FormDefinition:
    def say(text: LocalText) -> str:
        return text.zh if language == "zh" else text.en

    items = tuple(
        FormItem(i.id, say(i.text), i.type, i.required, must_be=i.must_be, sources=_sources(cite(i.sources)))
        for i in spec.items
    )
    return FormDefinition(f"{program.id}-{spec.form}", spec.form, program.id,
                          f"{_program_title(program, language)}: {say(spec.title)}", say(spec.purpose), items)  # fmt: skip


def _program_title(program: Program, language: str) -> str:
    """The program's name in ``language`` (the pack's ``program_zh`` in Chinese; its title otherwise)."""
    mono = monograph_of(program.pack) if language == "zh" else None
    return (mono.program_zh.programs.get(program.id) if mono else None) or program.definition.title


def prescriber_form(program: Program, form: str, *, language: str = "en") -> FormDefinition:
    """The program's reauthorization or discontinuation form, from its pack; refused when the pack has none."""
    for spec in pack_forms(program):
        if spec.form == form:
            return _from_pack(program, spec, language)
    raise NotFoundError(
        f"the {program.pack.identity.id} pack declares no {form} form for program {program.id} "
        "(questionnaires.yaml); add it to the pack before recording this decision"
    )


def form_problems(program: Program) -> list[str]:
    """What is missing or wrong in the pack's forms for this program (a test runs this over every pack)."""
    problems: list[str] = []
    forms = [f.form for f in pack_forms(program)]
    for form in set(forms):
        if forms.count(form) > 1:
            problems.append(f"{program.id}: {form} is declared {forms.count(form)} times in questionnaires.yaml")
    if program.definition.reauthorization_every and "reauthorization" not in forms:
        problems.append(f"{program.id}: reauthorizes every {program.definition.reauthorization_every} but "
                        "questionnaires.yaml declares no reauthorization form")  # fmt: skip
    if not program.definition.reauthorization_every and "reauthorization" in forms:
        problems.append(f"{program.id}: has no periodic reauthorization but declares a reauthorization form")
    if "discontinuation" not in forms:
        problems.append(f"{program.id}: questionnaires.yaml declares no discontinuation form")
    return problems


def answers_from_fields(form: FormDefinition, fields: Mapping[str, str]) -> dict[str, Any]:
    """Web form fields (``yes``/``no`` for booleans, text otherwise) -> answers by link id; blanks left out."""
    answers: dict[str, Any] = {}
    for item in form.items:
        given = (fields.get(f"item.{item.link_id}") or "").strip()
        if not given:
            continue
        if item.type == "boolean":
            if given not in ("yes", "no"):
                raise InputError(f"{item.link_id}: answer yes or no")
            answers[item.link_id] = given == "yes"
        else:
            answers[item.link_id] = given
    return answers


def check_complete(form: FormDefinition, answers: Mapping[str, Any]) -> None:
    """Every required item answered and every attestation answered as it must be, or refused with which not."""
    missing = [i.link_id for i in form.items if i.required and i.link_id not in answers]
    if missing:
        raise TransitionError(f"the {form.form} form is incomplete: no answer to {', '.join(missing)}")
    refused = [i.link_id for i in form.items if i.must_be is not None and answers.get(i.link_id) is not i.must_be]
    if refused:
        raise TransitionError(f"the {form.form} cannot take effect: {', '.join(refused)} must be yes")


def record_reason(form: FormDefinition, answers: Mapping[str, Any]) -> Reason:
    """The reason a completed form records on the patient's timeline: what was completed, and the notes given
    (as typed), as an English sentence and as a message code with values."""
    notes = "; ".join(_notes(form, answers))[:1000]
    title = form.title.split(": ", 1)[-1]
    text = (f"{title} form completed" + (": " + notes if notes else ""))[:1000]
    if not notes:
        return Reason(text, "form-completed", {"questionnaire": form.form})
    return Reason(text, "form-completed-notes", {"questionnaire": form.form, "notes": notes})


def _notes(form: FormDefinition, answers: Mapping[str, Any]) -> list[str]:
    return [str(answers[i.link_id]) for i in form.items if i.type in ("text", "string") and answers.get(i.link_id)]


def form_definitions(program: Program, *, on: date, language: str = "en") -> list[FormDefinition]:
    """Every form of the program, as in force on ``on``."""
    forms = [_enrollment(program, on, language), _checklist(program, language)]
    declared = {spec.form for spec in pack_forms(program)}
    if program.definition.reauthorization_every and "reauthorization" in declared:
        forms.append(prescriber_form(program, "reauthorization", language=language))
    if "discontinuation" in declared:
        forms.append(prescriber_form(program, "discontinuation", language=language))
    return [f for f in forms if f.items]


def form_definition(programs: list[Program], form_id: str, *, on: date, language: str = "en") -> FormDefinition:
    for program in programs:
        for form in form_definitions(program, on=on, language=language):
            if form.id == form_id:
                return form
    raise NotFoundError(f"no form {form_id!r}; GET /fhir/Questionnaire lists them")
