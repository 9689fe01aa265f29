"""A pack's own texts in other languages (``translations.yaml``): rule wording and risk advice.

The English stays where the rule is written (``rules.yaml``, ``risk.yaml``);
this file holds, per language, what a clinician reading that language sees
instead: a rule's title, message and "what to do", a risk stratum's title and
advice. A text is written by a person, never by a machine at run time. Where
the translator is unsure of a clinical term, the entry says so in
``review_note`` and carries ``needs_review: true``; the text is still shown,
and ``rxguard packs validate`` lists nothing as missing because of it.

A rule without a translation falls back to its English text; the
English-on-a-Chinese-page test finds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from rxguard.knowledge.schema import Strict

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack

Language = Literal["zh"]


class Reviewable(Strict):
    needs_review: bool = False
    review_note: str = ""


class RuleText(Reviewable):
    title: str
    message: str
    action: str


class StratumText(Reviewable):
    title: str
    action: str


class LanguageTexts(Strict):
    rules: dict[str, RuleText] = Field(default_factory=dict)
    strata: dict[str, StratumText] = Field(default_factory=dict)
    risk_title: str = ""
    programs: dict[str, str] = Field(default_factory=dict)  # program id -> title
    forms: dict[str, str] = Field(default_factory=dict)  # program form id -> title
    lifts: dict[str, str] = Field(default_factory=dict)  # program check id -> what lifts a hard stop


class Translations(Strict):
    zh: LanguageTexts

    def texts(self, lang: str) -> LanguageTexts | None:
        return self.zh if lang == "zh" else None

    def reference_problems(self, pack: Pack, where: Path) -> list[str]:
        """Every translated rule and stratum exists in the pack."""
        rules = {rule.id for rule in pack.rules}
        strata = {s.id for s in pack.risk.strata} if pack.risk is not None else set()
        problems = [
            f"{where}: zh.rules names rule {rule_id!r}, which rules.yaml does not define"
            for rule_id in self.zh.rules
            if rule_id not in rules
        ]
        problems += [
            f"{where}: zh.strata names stratum {stratum_id!r}, which risk.yaml does not define"
            for stratum_id in self.zh.strata
            if stratum_id not in strata
        ]
        program_file = pack.extras.get("program.yaml")
        programs = list(getattr(program_file, "programs", []))
        program_ids = {p.id for p in programs}
        form_ids = {f.id for p in programs for f in p.forms}
        problems += [
            f"{where}: zh.programs names program {pid!r}, which program.yaml does not define"
            for pid in self.zh.programs
            if pid not in program_ids
        ]
        problems += [
            f"{where}: zh.forms names form {fid!r}, which program.yaml does not define"
            for fid in self.zh.forms
            if fid not in form_ids
        ]
        check_ids = {c.id for p in programs for c in p.checks}
        problems += [
            f"{where}: zh.lifts names check {cid!r}, which no program in program.yaml classifies"
            for cid in self.zh.lifts
            if cid not in check_ids
        ]
        return problems


def pack_texts(pack: Pack, lang: str) -> LanguageTexts | None:
    """The pack's texts in ``lang``; None for English or a language the pack does not carry."""
    found = pack.extras.get("translations.yaml")
    return found.texts(lang) if isinstance(found, Translations) else None
