"""The monograph of a pack (``monograph.yaml``): cited drug information in English and Chinese.

Why it lives in the pack: the information a clinician reads must be the
information the engine enforces. Each statement cites the pack's own source
register (``sources.yaml``) with a section and may name the rules it
corresponds to; the loader's reference check refuses a citation or rule id
the pack does not define. Both languages are written by people and stored
side by side; nothing is translated at run time.

What is deliberately *not* here: the "where sources disagree" text. It is
rendered from ``conflicts.yaml`` (its claims and resolution) so it is never
written twice; only its Chinese wording is stored here, keyed by conflict id
(``conflicts_zh``). Source titles, tiers and verification come from
``sources.yaml`` at render time.

The pack's other Chinese wording is stored here too, so a pack has one place
for it: the monitoring calendar (``calendar_zh``), the risk strata
(``strata_zh``), the rules a decision page shows (``rules_zh``: title,
message, what to do) and the names program.yaml gives in English
(``program_zh``: programs, forms, what lifts a hard stop, indications, override
roles, why an event suspends treatment). Each translated
entry but the names carries ``en_digest``, so English edited later is found.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from rxguard.knowledge.schema import SLUG, Citation, Jurisdiction, Strict

if TYPE_CHECKING:
    from rxguard.knowledge.loader import Pack

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")

SectionId = Literal[
    "names",
    "access",
    "indications",
    "contraindications",
    "warnings",
    "special-populations",
    "administration",
    "monitoring",
    "risk",
    "adverse-reactions",
    "interactions",
]
#: The order a professional expects; a monograph lists its sections in this order.
SECTION_ORDER: tuple[SectionId, ...] = (
    "names",
    "access",
    "indications",
    "contraindications",
    "warnings",
    "special-populations",
    "administration",
    "monitoring",
    "risk",
    "adverse-reactions",
    "interactions",
)


_CJK_CHAR = r"[\u2018-\u201f\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
_FOLDED_CJK_SPACE = re.compile(rf"(?<={_CJK_CHAR})\s+(?={_CJK_CHAR})")


def join_cjk_lines(text: str) -> str:
    """Undo the space a folded YAML scalar puts between two Chinese characters.

    Authors wrap long Chinese lines with ``>-``; YAML joins them with a space,
    which Chinese does not use between characters.
    """
    return _FOLDED_CJK_SPACE.sub("", text)


class Text(Strict):
    """The same statement in English and Simplified Chinese, both written by people."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)

    @field_validator("zh")
    @classmethod
    def _join_lines(cls, value: str) -> str:
        return join_cjk_lines(value)

    def in_(self, lang: Language) -> str:
        return self.en if lang == "en" else self.zh


Cell = str | Text


class Table(Strict):
    """A small table (e.g. adverse reactions by frequency); plain strings need no translation."""

    columns: list[Text] = Field(min_length=1)
    rows: list[list[Cell]] = Field(min_length=1)

    @model_validator(mode="after")
    def _rectangular(self) -> Table:
        for number, row in enumerate(self.rows, start=1):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table row {number} has {len(row)} cells; expected {len(self.columns)} (one per column)"
                )
        return self


class Statement(Strict):
    """One cited statement. ``unverified`` marks what the sources did not confirm."""

    id: str
    heading: Text | None = None
    text: Text
    table: Table | None = None
    cite: list[Citation] = Field(min_length=1)
    jurisdictions: list[Jurisdiction] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    unverified: bool = False

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(f"statement id {value!r} must be a kebab-case slug")
        return value


class Keywords(Strict):
    """Words a question about this section uses, by weight (4 names the topic, 1 only tips a balance).

    English entries are regular expressions matched at a word start, case-insensitively
    (``leukoencephalopath`` matches "leukoencephalopathy"); Chinese entries are phrases
    matched as written. They add to rxguard's generic words for the section's intent, so a
    drug's own vocabulary (a disease, a lab, a program name) lives in its pack.
    """

    en: dict[int, list[str]] = Field(default_factory=dict)
    zh: dict[int, list[str]] = Field(default_factory=dict)

    @field_validator("en")
    @classmethod
    def _compiles(cls, value: dict[int, list[str]]) -> dict[int, list[str]]:
        for weight, patterns in value.items():
            if not 1 <= weight <= 5:
                raise ValueError(f"keyword weight {weight} must be 1 to 5")
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"keyword {pattern!r} is not a regular expression ({exc})") from None
        return value


class Section(Strict):
    id: SectionId
    title: Text
    statements: list[Statement] = Field(min_length=1)
    keywords: Keywords = Field(default_factory=Keywords)


class ConflictText(Strict):
    """Chinese wording of one conflicts.yaml entry: topic, each claim's "says", resolution."""

    topic: str = Field(min_length=1)
    says: list[str] = Field(min_length=1)
    resolution: str = Field(min_length=1)
    en_digest: str = ""

    @field_validator("topic", "resolution")
    @classmethod
    def _join_lines(cls, value: str) -> str:
        return join_cjk_lines(value)

    @field_validator("says")
    @classmethod
    def _join_each(cls, value: list[str]) -> list[str]:
        return [join_cjk_lines(v) for v in value]


class CalendarText(Strict):
    """Chinese wording of one schedule.yaml monitoring item."""

    title: str = Field(min_length=1)
    review_note: str = ""
    en_digest: str = ""

    @field_validator("title", "review_note")
    @classmethod
    def _join_lines(cls, value: str) -> str:
        return join_cjk_lines(value)


class StratumText(Strict):
    """Chinese wording of one risk.yaml stratum."""

    title: str = Field(min_length=1)
    action: str = Field(min_length=1)
    review_note: str = ""
    en_digest: str = ""

    @field_validator("title", "action", "review_note")
    @classmethod
    def _join_lines(cls, value: str) -> str:
        return join_cjk_lines(value)


class RuleText(Strict):
    """Chinese wording of one rules.yaml rule: what a clinician reads on a decision page."""

    title: str = Field(min_length=1)
    message: str = Field(min_length=1)
    action: str = Field(min_length=1)
    review_note: str = ""  # the term a clinical translator should confirm, when there is one
    en_digest: str = ""

    @field_validator("title", "message", "action", "review_note")
    @classmethod
    def _join_lines(cls, value: str) -> str:
        return join_cjk_lines(value)


class ProgramText(Strict):
    """Chinese names from program.yaml: each program's title, each form's title, what lifts each hard stop,
    each indication's title, each override role, and why a reported adverse event suspends treatment
    (keyed by the event kind)."""

    programs: dict[str, str] = Field(default_factory=dict)
    forms: dict[str, str] = Field(default_factory=dict)
    lifts: dict[str, str] = Field(default_factory=dict)
    indications: dict[str, dict[str, str]] = Field(default_factory=dict)  # program id -> indication id -> title
    roles: dict[str, str] = Field(default_factory=dict)
    suspensions: dict[str, str] = Field(default_factory=dict)


class RedFlag(Strict):
    """Symptoms that always get the pack's urgent action in ``rxguard ask``, whatever was asked.

    ``cues`` per language is a list of groups; the red flag is raised when every group has
    at least one cue in the question (English cues are regular expressions matched at a word
    start, case-insensitive; Chinese cues are substrings of the question in Simplified
    characters). ``urgent`` is the action, cited; ``statements`` are the monograph statements
    shown with it.
    """

    id: str
    title: Text
    cues: dict[Language, list[list[str]]]
    urgent: Text
    cite: list[Citation] = Field(min_length=1)
    statements: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(f"red flag id {value!r} must be a kebab-case slug")
        return value

    @field_validator("cues")
    @classmethod
    def _both_languages(cls, value: dict[Language, list[list[str]]]) -> dict[Language, list[list[str]]]:
        for lang in LANGUAGES:
            groups = value.get(lang)
            if not groups or any(not group or any(not cue.strip() for cue in group) for group in groups):
                raise ValueError(f"cues.{lang} must be a list of non-empty groups of non-empty cues")
            if lang == "en":
                for group in groups:
                    for cue in group:
                        try:
                            re.compile(cue)
                        except re.error as exc:
                            raise ValueError(f"cue {cue!r} is not a valid regular expression ({exc})") from None
        return value


class Monograph(Strict):
    """The whole ``monograph.yaml`` of a pack."""

    drug: str
    last_reviewed_on: date
    title: Text
    summary: Text
    disclaimer: Text
    sections: list[Section] = Field(min_length=1)
    conflicts_zh: dict[str, ConflictText] = Field(default_factory=dict)
    calendar_zh: dict[str, CalendarText] = Field(default_factory=dict)
    strata_zh: dict[str, StratumText] = Field(default_factory=dict)
    rules_zh: dict[str, RuleText] = Field(default_factory=dict)
    program_zh: ProgramText = Field(default_factory=ProgramText)
    red_flags: list[RedFlag] = Field(default_factory=list)
    #: Eponyms the Chinese text keeps in Latin letters, as Chinese clinical writing does ("Child-Pugh
    #: 分级"); the check of Chinese pages allows these words of the pack and no other English.
    latin_terms: list[str] = Field(default_factory=list)

    @field_validator("latin_terms")
    @classmethod
    def _latin_words(cls, value: list[str]) -> list[str]:
        for term in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z\-]*", term):
                raise ValueError(f"latin term {term!r} must be one word of Latin letters (hyphens allowed)")
        return value

    @model_validator(mode="after")
    def _ordered_and_unique(self) -> Monograph:
        ids = [s.id for s in self.sections]
        if ids != sorted(ids, key=SECTION_ORDER.index) or len(ids) != len(set(ids)):
            expected = ", ".join(SECTION_ORDER)
            raise ValueError(f"sections must be unique and in this order: {expected}; got {ids}")
        seen: set[str] = set()
        for section in self.sections:
            for statement in section.statements:
                if statement.id in seen:
                    raise ValueError(f"statement id {statement.id!r} is used twice")
                seen.add(statement.id)
        for flag in self.red_flags:
            unknown = [sid for sid in flag.statements if sid not in seen]
            if unknown:
                raise ValueError(f"red flag {flag.id!r} names statement(s) {unknown} that no section defines")
        return self

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def statements(self) -> list[Statement]:
        return [st for section in self.sections for st in section.statements]

    def reference_problems(self, pack: Pack, path: Path) -> list[str]:
        """Rule ids this file names that the pack does not define (sources are checked
        generically by the loader). Translations are checked by :meth:`translation_problems`."""
        problems: list[str] = []
        if self.drug != pack.identity.id:
            problems.append(f"{path}: drug {self.drug!r} differs from identity.id {pack.identity.id!r}")
        for statement in self.statements():
            for rule_id in statement.rules:
                if rule_id not in pack.rules_by_id:
                    problems.append(
                        f"{path}: statement {statement.id} names rule {rule_id!r}, which rules.yaml does not define"
                    )
        for flag in self.red_flags:
            for rule_id in flag.rules:
                if rule_id not in pack.rules_by_id:
                    problems.append(
                        f"{path}: red flag {flag.id} names rule {rule_id!r}, which rules.yaml does not define"
                    )
        for rule_id in self.rules_zh:
            if rule_id not in pack.rules_by_id:
                problems.append(f"{path}: rules_zh names rule {rule_id!r}, which rules.yaml does not define")
        return problems + self._program_text_problems(pack, path)

    def _program_text_problems(self, pack: Pack, path: Path) -> list[str]:
        return [
            f"{path}: program_zh.{group} names {name!r}, which no program in program.yaml defines"
            for group, ids in program_names(pack).items()
            for name in self._named(group)
            if name not in ids
        ]

    def _named(self, group: str) -> set[str]:
        """The ids ``program_zh.<group>`` gives a name (an indication as ``program/indication``)."""
        if group == "indications":
            return {f"{program}/{i}" for program, names in self.program_zh.indications.items() for i in names}
        return set(getattr(self.program_zh, group))

    def name_problems(self, pack: Pack, path: Path) -> list[str]:
        """Names the program pages show that have no Chinese here: a Chinese page would show them in English.
        (A lab's Chinese name is its ``display_zh`` in labs.yaml.)"""
        return [
            f"{path}: program_zh.{group} has no Chinese name for {name!r}"
            for group, ids in program_names(pack).items()
            if group != "lifts"
            for name in sorted(ids)
            if name not in self._named(group)
        ]

    def translation_problems(self, pack: Pack, path: Path) -> list[str]:
        """Chinese wording that is missing, or stale against conflicts, calendar or strata.

        Not a load error on purpose: a pack author who edits conflicts.yaml must not break
        the pack; the renderer falls back to English (marked) and the test suite reports it.
        """
        problems: list[str] = self.name_problems(pack, path)
        groups: list[tuple[str, dict[str, ConflictText] | dict[str, CalendarText] | dict[str, StratumText], list[Any]]]
        groups = [
            ("conflicts_zh", self.conflicts_zh, list(pack.conflicts)),
            ("calendar_zh", self.calendar_zh, list(pack.monitoring)),
            ("strata_zh", self.strata_zh, list(pack.risk.strata) if pack.risk else []),
        ]
        for rule_id, rule_text in self.rules_zh.items():  # a rule not yet translated shows its English
            rule = pack.rules_by_id.get(rule_id)
            if rule is not None and is_stale(rule_text, rule):
                problems.append(
                    f"{path}: rules_zh.{rule_id} was translated from older English; re-translate it "
                    f'and set en_digest: "{english_digest(rule)}"'
                )
        for key, wording, entries in groups:
            for item in entries:
                text = wording.get(item.id)
                if text is None:
                    problems.append(f"{path}: {key} has no Chinese wording for {item.id!r}")
                elif is_stale(text, item):
                    problems.append(
                        f"{path}: {key}.{item.id} was translated from older English; re-translate it "
                        f'and set en_digest: "{english_digest(item)}"'
                    )
        items = {m.id for m in pack.monitoring}
        for item_id in self.calendar_zh:
            if item_id not in items:
                problems.append(
                    f"{path}: calendar_zh names monitoring item {item_id!r}, which schedule.yaml does not define"
                )
        strata = {s.id for s in pack.risk.strata} if pack.risk else set()
        for stratum_id in self.strata_zh:
            if stratum_id not in strata:
                problems.append(f"{path}: strata_zh names stratum {stratum_id!r}, which risk.yaml does not define")
        conflicts = {c.id: c for c in pack.conflicts}
        for conflict_id, text in self.conflicts_zh.items():
            known = conflicts.get(conflict_id)
            if known is None:
                problems.append(
                    f"{path}: conflicts_zh names conflict {conflict_id!r}, "
                    "which conflicts.yaml does not define; remove or rename it"
                )
            elif len(text.says) != len(known.claims):
                problems.append(
                    f"{path}: conflicts_zh.{conflict_id} has {len(text.says)} 'says' entries; "
                    f"conflicts.yaml has {len(known.claims)} claims; translate each claim once"
                )
        return problems


def program_names(pack: Pack) -> dict[str, set[str]]:
    """The ids of the names a pack's programs declare, by ``program_zh`` group (roles: who may override)."""
    declared = pack.extras.get("program.yaml")
    programs = list(getattr(declared, "programs", []))
    kinds = getattr(getattr(declared, "record_kinds", None), "adverse_events", [])
    return {
        "programs": {p.id for p in programs},
        "forms": {f.id for p in programs for f in p.forms},
        "lifts": {c.id for p in programs for c in p.checks},
        "indications": {f"{p.id}/{i.id}" for p in programs for i in p.indications},
        "roles": {r for p in programs for r in p.override_roles},
        "suspensions": {k.id for k in kinds if k.suspends is not None},
    }


def english_digest(item: BaseModel) -> str:
    """A short fingerprint of the English a Chinese wording was written from.

    Stored, quoted, as ``en_digest`` next to the Chinese text; when the English in
    conflicts.yaml, schedule.yaml, risk.yaml or rules.yaml changes, the digest no longer
    matches and :meth:`Monograph.translation_problems` says which entry to re-translate.
    """
    fields = ("topic", "claims", "resolution", "title", "message", "action", "review_note")
    data = {name: getattr(item, name) for name in fields if hasattr(item, name)}
    if "claims" in data:
        data["claims"] = [claim.says for claim in data["claims"]]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:12]


def is_stale(text: ConflictText | CalendarText | StratumText | RuleText, item: BaseModel) -> bool:
    """True when the Chinese wording was written from English that has changed since."""
    return bool(text.en_digest) and text.en_digest != english_digest(item)


def monograph_of(pack: Pack) -> Monograph | None:
    """The pack's monograph, if it has one."""
    found = pack.extras.get("monograph.yaml")
    return found if isinstance(found, Monograph) else None
