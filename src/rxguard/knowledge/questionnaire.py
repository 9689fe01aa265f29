"""The prescriber's program forms of a pack (``questionnaires.yaml``): what each asks, in English and Chinese.

One entry per form of one or more programs of the pack: the periodic
reauthorization (the patient status report the prescriber completes before
treatment continues) and the discontinuation. What these forms ask is drug-
and program-specific (e.g. an assessment for the risk the program exists
for), so it is pack data, cited like every rule. The program layer
(:mod:`rxguard.program.questionnaires`) builds from it the one definition the
web pages show and the FHIR ``Questionnaire`` endpoint serves.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rxguard.knowledge.schema import Citation, Strict

PrescriberForm = Literal["reauthorization", "discontinuation"]
ItemType = Literal["boolean", "text", "string"]


class LocalText(Strict):
    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class FormItemSpec(Strict):
    """One question. ``must_be``: a yes/no that must be answered so for the form to take effect."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    type: ItemType
    text: LocalText
    required: bool = False
    must_be: bool | None = None
    sources: list[Citation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _must_be_is_a_required_boolean(self) -> FormItemSpec:
        if self.must_be is not None and (self.type != "boolean" or not self.required):
            raise ValueError(f"item {self.id}: must_be needs a required boolean item")
        return self


class QuestionnaireForm(Strict):
    """A prescriber's form of the programs listed (ids from program.yaml)."""

    form: PrescriberForm
    programs: list[str] = Field(min_length=1)
    title: LocalText
    purpose: LocalText
    items: list[FormItemSpec] = Field(min_length=1)
    note: str = ""

    @model_validator(mode="after")
    def _unique_items(self) -> QuestionnaireForm:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.form}: item ids must be unique, got {ids}")
        if self.form == "discontinuation" and not any(i.id == "reason" and i.required for i in self.items):
            raise ValueError("discontinuation: needs a required item 'reason' (the reason recorded)")
        return self
