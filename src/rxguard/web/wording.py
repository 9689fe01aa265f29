"""What a clinician reads, in the page's language: check reasons, rule texts, risk advice, dates.

The program and the engine keep their results as data and as an English
sentence for the API and the audit trail; here the web words them for a
person. A check carries a message code and its values (ids, ISO dates,
counts); the interface catalogue (``i18n/*.yaml``, key ``reason.<code>``)
holds the sentence in English and Chinese, and the values are shown as a
person reads them: a question by its text, a rule by its title, a program by
its name, a date in the reader's format in the site's time zone. The pack's
own texts in Chinese come from its ``monograph.yaml`` (``rules_zh``,
``strata_zh``, ``program_zh``); a Chinese text written from English that has
changed since is not shown (the English is).

An id never reaches the reader as the sentence; the templates keep it in a
``title`` tooltip. A check stored before it carried a code shows its English
reason as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, get_datetime_format
from markupsafe import Markup, escape

from rxguard.errors import RxguardError
from rxguard.facts.labs import CORE_CATALOGUE
from rxguard.knowledge.loader import Pack
from rxguard.knowledge.monograph import Monograph, is_stale, monograph_of
from rxguard.program.questionnaires import pack_forms
from rxguard.program.registry import Program, get_program

LOCALE = {"en": "en_GB", "zh": "zh_Hans_CN"}
_SPACES = re.compile(r" +(?=([（），；：。]))| {2,}")
#: Values of a message that a person typed (a reason, notes): shown as typed, never translated.
TYPED = frozenset({"reason", "notes", "note", "description", "asked_reason", "confirmed_reason"})
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


class Wording:
    """Words and dates for one page: its language, its catalogue and its time zone."""

    def __init__(
        self, lang: str, t: Callable[..., str], zone: ZoneInfo, typed: Callable[[str], str] | None = None
    ) -> None:
        self.lang = lang
        self.t = t
        self.zone = zone
        # text a person typed, marked as such (the ``as_typed`` macro of the templates; as it is without one)
        self.typed = typed or str
        self.locale = LOCALE.get(lang, "en_GB")

    # ------------------------------------------------------------------ dates

    def day(self, value: date | datetime | str | None) -> str:
        """A calendar date as the reader writes it (2 Mar 2026, 2026年3月2日)."""
        moment = _parse(value)
        if moment is None:
            return "—"
        if isinstance(moment, datetime):
            moment = moment.astimezone(self.zone).date() if moment.tzinfo else moment.date()
        return format_skeleton("yMMMd", moment, locale=self.locale)

    def when(self, value: datetime | str | None, with_zone: bool = False) -> str:
        """A moment in the site's time zone, as the reader writes date and time (zone named on request)."""
        moment = _parse(value)
        if moment is None:
            return "—"
        if not isinstance(moment, datetime):
            return self.day(moment)
        local = moment.astimezone(self.zone) if moment.tzinfo else moment.replace(tzinfo=self.zone)
        day = format_skeleton("yMMMd", local, locale=self.locale)
        clock = format_skeleton("Hm", local, locale=self.locale)
        text = str(get_datetime_format("medium", locale=self.locale)).format(clock, day)
        return f"{text} ({self.zone_name()})" if with_zone else text

    def time(self, value: datetime | str | None) -> str:
        moment = _parse(value)
        if not isinstance(moment, datetime):
            return "—"
        return format_skeleton("Hm", moment.astimezone(self.zone), locale=self.locale)

    def zone_name(self) -> str:
        return self.t(f"zone.{self.zone.key}", default=self.zone.key)

    def duration(self, iso: str) -> str:
        """``P28D`` -> "28 days" (28 天); a duration rxguard cannot read is shown as written."""
        found = _DURATION.match(iso or "")
        if not found or not any(found.groups()):
            return iso
        parts = []
        for count, unit in zip(found.groups(), ("years", "months", "weeks", "days"), strict=True):
            if count:
                parts.append(self.t(f"unit.{unit}", n=int(count)))
        return self.t("unit.join").join(parts)

    # ------------------------------------------------------------------ text

    @staticmethod
    def paragraphs(text: str) -> list[str]:
        """A pack's wrapped text as paragraphs: lines joined with a space in English, with none in Chinese.

        A line break inside a Chinese sentence is only where the author wrapped the YAML; a space
        there would show as a gap in the middle of a sentence.
        """
        out = []
        for block in re.split(r"\n\s*\n", text.strip()):
            lines = [line.strip() for line in block.splitlines() if line.strip()]
            joined = lines[0] if lines else ""
            for line in lines[1:]:
                joined += ("" if _is_cjk(joined[-1]) or _is_cjk(line[0]) else " ") + line
            if joined:
                out.append(joined)
        return out

    # ------------------------------------------------------------------ pack texts

    def chinese(self, pack: Pack | None) -> Monograph | None:
        """The pack's Chinese wording, when the page is in Chinese."""
        return monograph_of(pack) if pack is not None and self.lang == "zh" else None

    def rule(self, pack: Pack | None, rule_id: str, part: str, english: str = "") -> str:
        """A rule's ``title``, ``message`` or ``action`` in the page's language (English where untranslated)."""
        mono = self.chinese(pack)
        rule = pack.rules_by_id.get(rule_id) if pack is not None else None
        found = mono.rules_zh.get(rule_id) if mono else None
        if found is not None and rule is not None and not is_stale(found, rule):
            return str(getattr(found, part))
        if english:
            return english
        return str(getattr(rule, part)) if rule is not None else rule_id

    def finding(self, pack: Pack | None, finding: dict[str, Any]) -> dict[str, Any]:
        """A stored finding with its title, message and action in the page's language."""
        rule_id = str(finding.get("rule", ""))
        out = dict(finding)
        for part in ("title", "message", "action"):
            out[part] = self.rule(pack, rule_id, part, str(finding.get(part) or ""))
        return out

    def stratum(self, pack: Pack | None, stratum_id: str, part: str, english: str) -> str:
        mono = self.chinese(pack)
        found = mono.strata_zh.get(stratum_id) if mono else None
        stratum = next((s for s in pack.risk.strata if s.id == stratum_id), None) if pack and pack.risk else None
        if found is not None and stratum is not None and not is_stale(found, stratum):
            return str(getattr(found, part))
        if part == "title":
            return self.t(f"stratum.{stratum_id}", default=english)
        return english

    def program_title(self, program: Program | None, program_id: str = "") -> str:
        if program is None:
            return program_id
        mono = self.chinese(program.pack)
        return (mono.program_zh.programs.get(program.id) if mono else None) or program.definition.title

    def program_name(self, program_id: str) -> str:
        """A program by its name in the page's language; anything that is not a program id is shown as given."""
        return self.program_title(self._program(program_id), program_id)

    def check_names(self, check_ids: Iterable[str]) -> str:
        return self._join(self.t(f"check.{c}", default=c) for c in check_ids)

    def program_form(self, program_id: str, form_id: str, english: str) -> str:
        try:
            return self.form_title(get_program(program_id), form_id)
        except RxguardError:
            return english

    def lift(self, program: Program, check_id: str, english: str) -> str:
        """What lifts a hard stop on this check, in the page's language."""
        mono = self.chinese(program.pack)
        return (mono.program_zh.lifts.get(check_id) if mono else None) or english

    def form_title(self, program: Program, form_id: str) -> str:
        mono = self.chinese(program.pack)
        translated = mono.program_zh.forms.get(form_id) if mono else None
        if translated:
            return translated
        for form in program.definition.forms:
            if form.id == form_id:
                return form.title
        return form_id

    def question(self, pack: Pack, question_id: str) -> str:
        question = pack.questions.get(question_id)
        if question is None:
            return question_id
        return question.text.get(self.lang) or question.text.get("en") or question_id

    # ------------------------------------------------------------------ program names

    def _program(self, program_id: str) -> Program | None:
        try:
            return get_program(program_id)
        except RxguardError:
            return None

    def _of(self, program_id: str) -> tuple[Program | None, Monograph | None]:
        """The program and, on a Chinese page, its pack's Chinese wording (either None when there is none)."""
        program = self._program(program_id)
        return program, self.chinese(program.pack) if program is not None else None

    def indication(self, program_id: str, indication_id: str) -> str:
        """An indication by its short name in the catalogue (``indication.<id>``), else by the program's title
        for it in the page's language (the pack's ``program_zh.indications`` in Chinese)."""
        short = self.t(f"indication.{indication_id}", default="")
        program, mono = self._of(program_id)
        if short or program is None:
            return short or indication_id
        found = mono.program_zh.indications.get(program.id, {}).get(indication_id) if mono else None
        titles = {i.id: i.title for i in program.definition.indications}
        return found or titles.get(indication_id, indication_id)

    def role(self, program_id: str, role: str) -> str:
        """Who acted: a user role of rxguard's, or a role the program lets override, by its name in the page's
        language (the pack's ``program_zh.roles`` in Chinese, else the catalogue's ``role.<id>``). A role no
        one has named is shown on an English page as its id's words ("site-lead" as "Site lead"), never as
        the id."""
        _, mono = self._of(program_id)
        named = (mono.program_zh.roles.get(role) if mono else None) or self.t(f"role.{role}", default="")
        if named or self.lang != "en":
            return named or role
        return role.replace("-", " ").replace("_", " ").capitalize()

    def monitoring_kind(self, program_id: str, kind: str) -> str:
        return self._kind("monitoring", program_id, kind, f"monitoring.{kind}")

    def event_kind(self, program_id: str, kind: str) -> str:
        return self._kind("adverse_events", program_id, kind, f"ae.kind.{kind}")

    def _kind(self, group: str, program_id: str, kind: str, key: str) -> str:
        """A record kind the pack declares (``record_kinds.<group>``) by its title, else the catalogue's."""
        program = self._program(program_id)
        declared = {k.id: k for k in getattr(program.kinds, group)} if program is not None else {}
        if kind in declared:
            return _in(declared[kind].title, self.lang)
        return self.t(key, default=kind)

    def measurements(self, program_id: str, values: dict[str, Any] | None) -> str:
        """``Score 2.5; Relapses 0`` in the page's language, with its list separator."""
        program = self._program(program_id)
        if not values or program is None:
            return ""
        titles = {m.id: _in(m.title, self.lang) for m in program.kinds.measurements}
        return self._join(
            f"{titles.get(name, name)} {value:g}" if isinstance(value, int | float) else f"{name} {value}"
            for name, value in values.items()
        )

    def result(self, result: str) -> str:
        """A qualitative result (positive, negative) in the page's language; free text as written."""
        return self.t(f"records.value.{result}", default=result)

    def calendar_item(self, program_id: str, item_id: str, english: str) -> str:
        """A calendar item by its title (the pack's ``calendar_zh`` when current, else the catalogue's)."""
        program, mono = self._of(program_id)
        found = mono.calendar_zh.get(item_id) if mono else None
        item = next((m for m in program.pack.monitoring if m.id == item_id), None) if program is not None else None
        if found is not None and item is not None and not is_stale(found, item):
            return found.title
        return self.t(f"item.{item_id}", default=english)

    def document(self, program_id: str, document_id: str) -> str:
        """A consent document by its title in the page's language (its id when the program has none)."""
        program = self._program(program_id)
        return self._document(program, document_id) if program is not None else document_id

    @staticmethod
    def unit(ucum: str) -> str:
        """A unit as a person reads it: a UCUM annotation (``{score}``) or ``1`` counts and is shown as nothing."""
        return "" if ucum == "1" or re.fullmatch(r"\{[^}]*\}", ucum or "") else ucum

    # ------------------------------------------------------------------ history

    def history(self, program_id: str, code: str | None, values: dict[str, Any] | None, english: str) -> str:
        """A state change's reason in the page's language (``history.<code>``), or as stored where it has none."""
        if not code:
            return english
        return self._message("history", program_id, {"code": code, "values": values or {}, "reason": english})

    # ------------------------------------------------------------------ evidence

    def lab_name(self, pack: Pack | None, test: str) -> str:
        """A lab by its name in the page's language: the pack's ``labs.yaml`` (``display_zh``), else rxguard's own
        labs (``lab.<id>`` in the catalogue); English where there is no Chinese, the id where rxguard has no name."""
        lab = pack.labs.get(test) if pack is not None else None
        if lab is not None:
            return lab.display_zh if self.lang == "zh" and lab.display_zh else lab.display
        core = CORE_CATALOGUE.display(test)
        return self.t(f"lab.{test}", default=core) if self.lang == "zh" else core

    def evidence(self, pack: Pack | None, found: dict[str, Any]) -> list[str]:
        """The evidence lines of a stored finding or stratum in the page's language.

        A line stored with a message id (``evidence_messages``) is worded from ``evidence.<id>``;
        a line without one (an assessment stored before lines carried ids) is shown as the
        engine wrote it.
        """
        lines = [str(line) for line in found.get("evidence") or ()]
        messages = list(found.get("evidence_messages") or ())
        return [
            self.evidence_line(pack, line, messages[i] if i < len(messages) else None) for i, line in enumerate(lines)
        ]

    def said_lines(self, pack: Pack | None, found: dict[str, Any] | None, key: str) -> list[str]:
        """The lines ``found[key]`` of a stored assessment or its coverage (its ``notes``, ``not_read``) in the
        page's language, each worded from ``found[key + '_messages']`` as evidence lines are."""
        if not found:
            return []
        lines = [str(line) for line in found.get(key) or ()]
        messages = list(found.get(f"{key}_messages") or ())
        return [
            self.evidence_line(pack, line, messages[i] if i < len(messages) else None) for i, line in enumerate(lines)
        ]

    def review_notes(self, pack: Pack | None, finding: dict[str, Any]) -> list[str]:
        """Why a stored finding needs a clinician's review, in the page's language: the engine's own notes (a record
        not established, an exposure not verified), each worded from ``review_messages``; a note the catalogue
        cannot word shows the ``review_note`` as the engine wrote it."""
        english = str(finding.get("review_note") or "")
        messages = [m for m in finding.get("review_messages") or () if m]
        if self.lang == "en" or not messages:
            # English shows the whole note, the rule's own with the engine's; a page in another language shows
            # the engine's notes worded (the rule's own note is the pack's English, not yet translated).
            return [english] if english and self.lang == "en" else []
        worded = [self.evidence_line(pack, "", message) for message in messages]
        return worded if all(worded) else [english]

    def evidence_line(self, pack: Pack | None, english: str, message: Any) -> str:
        """One line worded from its message; what the record holds (a condition's text, a unit, an order) is shown
        as recorded and marked ``translate="no"``. A line without a message, or one the catalogue cannot word, is
        shown as the engine wrote it."""
        if not isinstance(message, dict) or not message.get("message_id"):
            return english
        try:
            return self._fill(f"evidence.{message['message_id']}", pack, dict(message.get("params") or {}))
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            return english

    def _fill(self, key: str, pack: Pack | None, raw: dict[str, Any]) -> Markup:
        template = self.t(key, default="")
        if not template:
            raise KeyError(key)
        line = Markup(escape(template)).format(**self._evidence_values(pack, raw))
        # A value that is empty (a score has no unit) leaves no double space, nor a space before Chinese punctuation.
        return Markup(_SPACES.sub(lambda m: "" if m.group(1) else " ", str(line)))

    def _part(self, name: str, **values: Any) -> Markup:
        return Markup(escape(self.t(f"evidence.part.{name}"))).format(**values)

    def _word(self, section: str, code: Any) -> str | Markup:
        """A code (a status, a storage, a band) by its word; a code the catalogue does not know, as recorded."""
        word = self.t(f"evidence.{section}.{code}", default="")
        return word or _as_recorded(str(code))

    def _evidence_values(self, pack: Pack | None, raw: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name.endswith("_on") or name == "on":
                out[name] = self._supplied_until(value) if name == "supplied_until_on" else self.day(value)
            elif name.endswith("_at"):
                out[name] = self.when(value)
            elif name in ("line", "lifelong"):
                out[name] = self.evidence_line(pack, "", value) if isinstance(value, dict) else str(value)
            elif name == "item":
                out[name] = self._item(value)
            elif name == "test":
                out[name] = self.lab_name(pack, str(value))
            elif name == "question":
                out[name] = self.question(pack, str(value)) if pack is not None else str(value)
            elif name == "answer":
                out[name] = self.t(f"evidence.answer-{value}", default=str(value))
            elif name == "interpretation":
                out[name] = self.t(f"result.{str(value).casefold()}", default="") or _as_recorded(str(value))
            elif name in ("max_age", "within", "duration"):
                out[name] = self.duration(str(value))
            elif name == "exposure":
                out[name] = self._part("exposure", duration=self.duration(str(value))) if value else ""
            elif name == "stratum":
                strata = pack.risk.strata if pack is not None and pack.risk is not None else []
                english = next((s.title for s in strata if s.id == value), str(value))
                out[name] = self.stratum(pack, str(value), "title", english)
            elif name == "sex":
                out[name] = self.t(f"sex.{value}", default=str(value))
            elif name in ("what", "tag", "storage", "band", "origin", "status"):
                out[name] = self._word(name, value) if value else self.t("evidence.part.not-active")
            elif name == "kind":
                out[name] = self._word("use", value)
            elif name == "cue":
                out[name] = _as_recorded(str(value)) if value else self.t("evidence.part.unverified-cue")
            elif name == "sources":
                # A source is cited by its own title, in the language it is written in.
                titles = [pack.sources[s].title if pack is not None and s in pack.sources else s for s in value]
                out[name] = self._joined(Markup('<span lang="en">{}</span>').format(title) for title in titles)
            elif name == "valueset":
                out[name] = pack.valuesets[value].title if pack is not None and value in pack.valuesets else value
            elif name == "bands":
                out[name] = self._joined((self._word("band", band) for band in value), "or")
            elif name == "comparator":
                out[name] = value  # <, <=, >=, > as the result was sent
            elif name in ("words", "records"):
                out[name] = self._joined(_as_recorded(str(w)) for w in value)
            elif name == "unit" and not value:
                out[name] = self.t("evidence.part.no-unit") if "dose" in raw else ""
            elif isinstance(value, str):
                out[name] = _as_recorded(value)  # what the record or the order says, as it says it
            else:
                out[name] = value
        return out

    def _supplied_until(self, value: Any) -> Markup | str:
        return self._part("supplied-until", on=self.day(value)) if value else ""

    def _item(self, item: dict[str, Any]) -> Markup:
        """A condition, medicine or allergy as recorded, with what the record says of it (onset, status...)."""
        record: Markup | str
        if item.get("record"):
            record = _as_recorded(str(item["record"]))
        elif item.get("codes"):
            record = self._part("coded", codes=_as_recorded(", ".join(item["codes"])))
        else:
            record = self._part("no-text")
        kind = item.get("kind")
        details: list[Markup | str] = []
        if kind == "allergy":
            details.append(
                self._word("allergy-word", item["type"]) if item.get("type") else self.t("evidence.part.no-type")
            )
            if item.get("criticality"):
                details.append(self._part("criticality", criticality=self._word("allergy-word", item["criticality"])))
            if item.get("severity"):
                details.append(self._part("severity", severity=self._word("allergy-word", item["severity"])))
            if item.get("manifestations"):
                details.append(_as_recorded(", ".join(item["manifestations"])))
            if item.get("verification"):
                details.append(self._word("allergy-word", item["verification"]))
            return self._part("with-details", record=record, details=self._joined(details, "join-allergy"))
        if kind == "medication":
            status = self._word("status", item["status"]) if item.get("status") else self.t("evidence.part.no-status")
            span = (("from", "start_on"), ("to", "end_on"))
            when = [self._part(part, on=self.day(item[key])) for part, key in span if item.get(key)]
            details = [self._word("use", item.get("use", "")), Markup(" ").join([status, *when])]
            return self._part("with-details", record=record, details=self._joined(details, "join"))
        # A partial date, an age or words ("2025", "childhood") are shown as the record writes them.
        if item.get("onset_text") or item.get("onset_on"):
            onset = _as_recorded(item["onset_text"]) if item.get("onset_text") else self.day(item["onset_on"])
            details.append(self._part("onset", on=onset))
        if item.get("abated_text") or item.get("abated_on"):
            abated = _as_recorded(item["abated_text"]) if item.get("abated_text") else self.day(item["abated_on"])
            if item.get("ended", True):
                details.append(self._part("resolved", on=abated))
            else:
                status = self._word("status", item["status"]) if item.get("status") else self.t("evidence.part.abated")
                details.append(self._part("ended-as", status=status, on=abated))
        elif item.get("status"):
            details.append(self._word("status", item["status"]))
        if not details:
            return Markup(escape(record))
        return self._part("with-details", record=record, details=self._joined(details, "join"))

    def _joined(self, parts: Iterable[Markup | str], separator: str = "") -> Markup:
        """Parts joined as the page's language lists them (the check reasons' separator unless named)."""
        key = f"evidence.part.{separator}" if separator else "reason.list-separator"
        return Markup(escape(self.t(key))).join(parts)

    # ------------------------------------------------------------------ checks

    def check_reason(self, program_id: str, check: dict[str, Any]) -> str:
        """A check's reason in the page's language, or its stored English where it has no message code."""
        return self._message("reason", program_id, check)

    def _message(self, section: str, program_id: str, message: dict[str, Any]) -> str:
        code = str(message.get("code") or "")
        key = f"{section}.{code}"
        english = str(message.get("reason", ""))
        if not code or self.t(key, default="") == "":
            return english
        values = self._values(self._program(program_id), dict(message.get("values") or {}))
        try:
            return self.t(key, **values)
        except (KeyError, IndexError, ValueError):
            return english

    def _values(self, program: Program | None, raw: dict[str, Any]) -> dict[str, Any]:
        pack = program.pack if program is not None else None
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name.endswith("_on"):
                out[name] = self.day(value)
            elif name == "at":
                out[name] = self.time(value)
            elif name == "program":
                out[name] = self.program_title(program, str(value))
            elif name == "status":
                out[name] = self.t(f"status.{value}", default=str(value))
            elif name == "indication":
                out[name] = self.indication(program.id if program is not None else "", str(value))
            elif name == "event" and program is not None:
                out[name] = self.event_kind(program.id, str(value))
                out["why"] = self._suspension(program, str(value))
            elif name == "questionnaire" and program is not None:
                out[name] = self._questionnaire(program, str(value))
            elif name in ("minimum", "duration"):
                out[name] = self.duration(str(value))
            elif name == "questions" and pack is not None:
                out[name] = self._join(self.question(pack, str(q)) for q in value)
            elif name == "rules":
                out[name] = self._join(self.rule(pack, str(r), "title") for r in value)
            elif name == "forms" and program is not None:
                out[name] = self._join(self._form(program, item) for item in value)
            elif name == "document" and program is not None:
                out[name] = self._document(program, str(value))
            elif name in TYPED:
                out[name] = self.typed(str(value))
            elif name.endswith("_role"):
                out[name] = self.role(program.id if program is not None else "", str(value))
            else:
                out[name] = value
        if "tolerance" in out:
            tolerance = int(out["tolerance"])
            out["tolerance_note"] = self.t("reason.tolerance", n=tolerance) if tolerance else ""
        return out

    def _questionnaire(self, program: Program, form: str) -> str:
        """A prescriber's form of the pack (``questionnaires.yaml``) by its title in the page's language."""
        for spec in pack_forms(program):
            if spec.form == form:
                return spec.title.zh if self.lang == "zh" else spec.title.en
        return form

    def _suspension(self, program: Program, kind: str) -> str:
        """Why a reported event of ``kind`` suspends treatment, as the pack says it."""
        mono = self.chinese(program.pack)
        found = mono.program_zh.suspensions.get(kind) if mono else None
        declared = next((k for k in program.kinds.adverse_events if k.id == kind), None)
        english = declared.suspends.reason if declared is not None and declared.suspends is not None else ""
        return found or english

    def _form(self, program: Program, item: dict[str, str]) -> str:
        title = self.form_title(program, item.get("id", ""))
        if item.get("due_on"):
            return self.t("reason.form-due", form=title, due_on=self.day(item["due_on"]))
        return title

    def _document(self, program: Program, document_id: str) -> str:
        for document in program.consent_documents:
            if document.id == document_id:
                return document.title.get("zh" if self.lang == "zh" else "en") or document_id
        return document_id

    def _join(self, items: Iterable[str]) -> str:
        return self.t("reason.list-separator").join(items)


def _as_recorded(text: str) -> Markup:
    """Text as a record, an order or a pack holds it: shown as written, never taken for the page's own words."""
    return Markup('<span translate="no">{}</span>').format(text) if text else Markup("")


def _in(titles: dict[Any, str], lang: str) -> str:
    """A pack title in ``lang``, else in English."""
    return titles.get(lang) or titles.get("en") or ""


def _is_cjk(char: str) -> bool:
    """A Chinese character or full-width punctuation, beside which a wrapped line takes no space."""
    code = ord(char)
    return 0x3000 <= code <= 0x303F or 0x4E00 <= code <= 0x9FFF or 0xFF00 <= code <= 0xFFEF


def _parse(value: date | datetime | str | None) -> date | datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value
    try:
        return datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    except ValueError:
        return None
