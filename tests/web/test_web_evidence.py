"""Evidence lines in the reader's language: every message the engine words has a sentence in English and Chinese.

The engine and the record reader write an evidence line as a message id and
its values (``rxguard.messages.MESSAGES``); the web words it from
``evidence.<id>`` in its catalogue. These tests hold the two together: every id
has both sentences, each sentence takes only the values the id carries and
renders with any of them, the Chinese sentence has no English of its own, every
lab a line can name has a Chinese name, and every line of every pack vignette
has an id and reads in Chinese without English (what the record says is shown
as recorded, marked ``translate="no"``).
"""

from __future__ import annotations

import copy
import json
import re
import string
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chinese_pages import english_words, visible_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_web_chinese import UNITS

from rxguard.engine.facts import reader_for
from rxguard.engine.vignettes import VignetteResult, assess_vignette, run_all, vignette_bundle
from rxguard.facts.labs import CORE_LABS
from rxguard.knowledge.loader import Pack, load_all
from rxguard.messages import MESSAGES, message_of
from rxguard.web.i18n import LANGUAGES, has, strings, translator
from rxguard.web.wording import Wording

PACKS = load_all()
READER = reader_for(PACKS)
#: What the engine is not: an evidence line's sentence the wording would fall back to.
FALLBACK = "\x00the engine's English\x00"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _values(pack: Pack, name: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of one parameter as the engine writes them: codes from the pack, ISO dates, durations, numbers."""
    if name.endswith("_on") or name == "on":
        return st.dates(date(1930, 1, 1), date(2040, 12, 31)).map(date.isoformat)
    if name.endswith("_at"):
        return st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31)).map(datetime.isoformat)
    if name in ("line", "lifelong"):
        return _message_of(pack, depth + 1) if depth < 2 else st.none()
    if name == "item":
        return _item()
    if name == "sources":
        return st.lists(st.sampled_from(sorted(pack.sources)), min_size=1, max_size=3, unique=True)
    if name == "valueset":
        return st.sampled_from(sorted(pack.valuesets))
    if name in ("words", "records"):
        return st.lists(st.sampled_from(["push", "bolus", "iv push"]), min_size=1, max_size=2)
    if name == "comparator":
        return st.sampled_from(["", "<", "<=", ">=", ">"])
    if name == "bands":
        return st.lists(st.sampled_from(["low", "intermediate", "high", "at-boundary"]), min_size=1, unique=True)
    if name == "symbol":
        return st.sampled_from(["≥", ">", "<", "≤"])
    if name == "origin":
        return st.sampled_from(["range", "default"])
    if name == "band":
        return st.sampled_from(["low", "intermediate", "high", "at-boundary", "unknown"])
    if name == "storage":
        return st.sampled_from(["refrigerated", "room_temperature"])
    if name == "tag":
        return st.sampled_from(["pregnancy", "breastfeeding"])
    if name == "what":
        return st.sampled_from(["condition", "allergy", "procedure"])
    if name == "status":
        return st.sampled_from(["active", "inactive", "remission", "resolved", "", "some-status"])
    if name == "kind":
        return st.sampled_from(["administration", "dispense", "statement"])
    if name in ("exposure", "within"):
        return st.sampled_from(["", "P6M", "P2W", "P90D"]) if name == "exposure" else st.sampled_from(["P6M", "P2W"])
    if name == "test":
        return st.sampled_from(sorted({*pack.labs, *(lab.key for lab in CORE_LABS)}))
    if name == "question":
        return st.sampled_from(sorted(pack.questions) or ["not-a-question"])
    if name == "stratum":
        return st.sampled_from([s.id for s in pack.risk.strata] if pack.risk else ["not-a-stratum"])
    if name == "answer":
        return st.sampled_from(["yes", "no"])
    if name == "interpretation":
        return st.sampled_from(["positive", "negative", "indeterminate", "equivocal"])
    if name in ("max_age", "duration"):
        return st.sampled_from(["P30D", "P6M", "P2W", "P1Y", "P1Y6M"])
    if name == "sex":
        return st.sampled_from(["female", "male"])
    if name == "jurisdiction":
        return st.sampled_from(["US", "EU"])
    if name in ("count", "days", "minutes"):
        return st.integers(0, 4000)
    if name in ("value", "limit", "minimum", "age", "threshold", "lln", "uln", "ratio", "low", "high", "hours",
                "dose", "label"):  # fmt: skip
        return st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 3))
    return st.text(alphabet=string.ascii_letters + " /.*{}%", min_size=1, max_size=30)


_TEXT = st.text(alphabet=string.ascii_letters + " -'", max_size=20)


@st.composite
def _item(draw: st.DrawFn) -> dict[str, Any]:
    """A condition, medicine or allergy as the engine writes it into a message."""
    kind = draw(st.sampled_from(["condition", "medication", "allergy"]))
    day = st.one_of(st.just(""), st.dates(date(1990, 1, 1), date(2030, 1, 1)).map(date.isoformat))
    item: dict[str, Any] = {"kind": kind, "record": draw(_TEXT), "codes": draw(st.lists(_TEXT, max_size=2))}
    if kind == "allergy":
        words = ["", "allergy", "intolerance", "high", "severe", "unconfirmed", "something"]
        for part in ("type", "criticality", "severity", "verification"):
            item[part] = draw(st.sampled_from(words))
        item["manifestations"] = draw(st.lists(_TEXT, max_size=2))
        return item
    item["status"] = draw(st.sampled_from(["", "active", "inactive", "completed", "stopped", "odd"]))
    parts = ("use", "start_on", "end_on") if kind == "medication" else ("onset_on", "abated_on")
    for part in parts:
        item[part] = draw(st.sampled_from(["statement", "administration"]) if part == "use" else day)
    if kind == "condition":
        item["onset_text"], item["abated_text"] = draw(_TEXT), draw(_TEXT)
        item["ended"] = draw(st.booleans())
    return item


def _message_of(pack: Pack, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def message(draw: st.DrawFn) -> dict[str, Any]:
        message_id = draw(st.sampled_from(sorted(MESSAGES)))
        params = {name: draw(_values(pack, name, depth)) for name in sorted(MESSAGES[message_id])}
        return {"message_id": message_id, "params": params}

    return message()


@st.composite
def _message(draw: st.DrawFn) -> tuple[Pack, dict[str, Any]]:
    pack = draw(st.sampled_from(list(PACKS.values())))
    return pack, draw(_message_of(pack))


@pytest.mark.parametrize("message_id", sorted(MESSAGES))
def test_every_evidence_message_has_an_english_and_a_chinese_sentence_taking_its_values(message_id: str) -> None:
    for lang in LANGUAGES:
        key = f"evidence.{message_id}"
        assert has(lang, key), f"{lang}.yaml has no {key}"
        assert _fields(strings(lang)[key]) <= MESSAGES[message_id], f"{lang}.yaml {key} names a value it is not given"
    chinese = re.sub(r"\{[^}]*\}", "", strings("zh")[f"evidence.{message_id}"])
    assert english_words([chinese], UNITS) == [], f"zh.yaml evidence.{message_id} has English of its own"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_message())
def test_every_evidence_message_renders_with_any_of_its_values(case: tuple[Pack, dict[str, Any]]) -> None:
    pack, message = case
    for lang in LANGUAGES:
        words = Wording(lang, translator(lang), ZoneInfo("Asia/Shanghai"))
        line = words.evidence_line(pack, FALLBACK, message)
        assert line != FALLBACK, f"evidence.{message['message_id']} did not render in {lang} with {message['params']}"
        shown = _fields(strings(lang)[f"evidence.{message['message_id']}"])
        for name, value in message["params"].items():
            if name.endswith("_on") and name in shown:
                assert words.day(value) in line, f"{name} is not written as a {lang} reader writes a date: {line}"


def test_every_lab_a_pack_names_has_a_chinese_name() -> None:
    missing = [
        f"{name}/labs.yaml {lab.id}" for name, pack in PACKS.items() for lab in pack.labs.values() if not lab.display_zh
    ]
    assert missing == [], "labs without display_zh (their name on a Chinese page)"
    assert all(_CJK.search(lab.display_zh) for pack in PACKS.values() for lab in pack.labs.values())


def test_every_lab_rxguard_knows_itself_has_an_english_and_a_chinese_name() -> None:
    for lab in CORE_LABS:
        for lang in LANGUAGES:
            assert has(lang, f"lab.{lab.key}"), f"{lang}.yaml has no lab.{lab.key}"
        assert _CJK.search(strings("zh")[f"lab.{lab.key}"]), f"zh.yaml lab.{lab.key} is not Chinese"


def test_a_lab_is_named_in_the_page_language_and_an_unknown_one_by_its_id() -> None:
    zh = Wording("zh", translator("zh"), ZoneInfo("UTC"))
    en = Wording("en", translator("en"), ZoneInfo("UTC"))
    for pack in PACKS.values():
        for lab in pack.labs.values():
            assert zh.lab_name(pack, lab.id) == lab.display_zh
            assert en.lab_name(pack, lab.id) == lab.display
    for lab in CORE_LABS:
        assert zh.lab_name(None, lab.key) == strings("zh")[f"lab.{lab.key}"]
    assert zh.lab_name(None, "no-such-lab") == "no-such-lab"


def _lines(result: VignetteResult) -> list[str]:
    assessment = result.assessment
    lines = [line for finding in assessment.findings for line in finding.evidence]
    return lines + list(assessment.stratum.evidence if assessment.stratum else ())


@pytest.mark.parametrize("result", run_all(), ids=lambda r: f"{r.pack}:{r.path.name}:{r.line}")
def test_every_evidence_line_of_every_vignette_is_a_message_worded_in_english_and_chinese(
    result: VignetteResult,
) -> None:
    """A rule or reader that writes a line without a message id, or an id without a sentence, fails here."""
    pack = PACKS[result.pack]
    zh = Wording("zh", translator("zh"), ZoneInfo("Asia/Shanghai"))
    for line in _lines(result):
        message = message_of(line)
        assert message is not None, f"{result.name}: the line “{line}” has no message id (rxguard.messages.said)"
        assert message["message_id"] in MESSAGES
        for lang in LANGUAGES:
            assert has(lang, f"evidence.{message['message_id']}"), (
                f"{lang}.yaml has no evidence.{message['message_id']}"
            )
        worded = zh.evidence_line(pack, FALLBACK, message)
        assert worded != FALLBACK, f"{result.name}: “{line}” could not be worded in Chinese"
        texts, _ = visible_text(str(worded))
        assert english_words(texts, UNITS) == [], f"{result.name}: “{line}” shows English in Chinese: {worded}"


# Review notes, assessment notes and reading notes (coverage) are lines of the same kind: each a message.
KINDS = ("Condition", "AllergyIntolerance", "Procedure")


def _record_text(resource: dict[str, Any]) -> str:
    code = resource.get("code") or {}
    return str(code.get("text") or next((c["display"] for c in code.get("coding", []) if c.get("display")), ""))


def _variants(bundle: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The bundle with each record suspected, provisional, negated or a relative's, its results preliminary, and
    with records of others."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(bundle.get("entry", [])):
        res = entry["resource"]
        text = _record_text(res)
        if res.get("resourceType") not in KINDS or not text:
            continue
        for phrased in (f"suspected {text}", f"{text}, not ruled out", f"No history of {text}", f"Mother had {text}"):
            variant = copy.deepcopy(bundle)
            variant["entry"][i]["resource"]["code"] = {"text": phrased}
            out.append((phrased, variant))
        if res["resourceType"] == "Condition":
            variant = copy.deepcopy(bundle)
            variant["entry"][i]["resource"]["verificationStatus"] = {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "provisional"}
                ]
            }
            out.append(("provisional", variant))
    preliminary = copy.deepcopy(bundle)
    for entry in preliminary.get("entry", []):
        if entry["resource"].get("resourceType") == "Observation":
            entry["resource"]["status"] = "preliminary"
    out.append(("preliminary results", preliminary))
    stray = {"resourceType": "Condition", "code": {"text": "Hypertension"}}
    for label, subject in (("another patient's record", {"reference": "Patient/someone-else"}), ("no subject", None)):
        variant = copy.deepcopy(bundle)
        variant.setdefault("entry", []).append({"resource": {**stray, **({"subject": subject} if subject else {})}})
        out.append((label, variant))
    return out


def _notes(assessment: Any) -> list[tuple[str, str]]:
    lines = [("review note", line) for finding in assessment.findings for line in finding.reviews]
    lines += [("assessment note", line) for line in assessment.notes]
    lines += [("coverage note", line) for line in assessment.coverage.notes]
    return lines + [("not read", line) for line in assessment.coverage.not_read]


def _assert_worded(name: str, pack: Pack, lines: list[tuple[str, str]]) -> None:
    zh = Wording("zh", translator("zh"), ZoneInfo("Asia/Shanghai"))
    for kind, line in lines:
        message = message_of(line)
        assert message is not None, f"{name}: the {kind} “{line}” has no message id (rxguard.messages.said)"
        for lang in LANGUAGES:
            assert has(lang, f"evidence.{message['message_id']}"), (
                f"{lang}.yaml has no evidence.{message['message_id']}"
            )
        worded = zh.evidence_line(pack, FALLBACK, message)
        assert worded != FALLBACK, f"{name}: the {kind} “{line}” could not be worded in Chinese"
        texts, _ = visible_text(str(worded))
        assert english_words(texts, UNITS) == [], f"{name}: the {kind} “{line}” shows English in Chinese: {worded}"


VIGNETTES = [
    pytest.param(pack, vfile, vignette, id=f"{pack.name}:{vfile.path.name}:{index}")
    for pack in PACKS.values()
    for vfile, index, vignette in pack.vignettes()
]


@pytest.mark.parametrize(("pack", "vfile", "vignette"), VIGNETTES)
def test_every_review_note_and_assessment_note_of_every_vignette_and_its_variants_is_worded(
    pack: Pack, vfile: Any, vignette: Any
) -> None:
    """A review note (a record not established, an exposure not verified), an assessment note (a parameter with no
    value in force) or a reading note (another patient's resources not read) written without a message fails here,
    for the vignette as written and for it with each record suspected, negated, a relative's, or beside others'."""
    bundle = vignette_bundle(pack, vfile, vignette)
    found = {"review note": 0, "coverage note": 0}
    for label, variant in [("as written", bundle), *_variants(bundle)]:
        out = assess_vignette(pack, vignette, READER.read(variant))
        lines = _notes(out)
        for kind, _ in lines:
            found[kind] = found.get(kind, 0) + 1
        _assert_worded(f"{vignette.name} ({label})", pack, lines)
    # Another patient's record, or one naming no patient, is always said so: the variants reach the reading notes.
    assert found["coverage note"] >= 2, f"{vignette.name}: a record of another patient was left out silently"


def test_the_variants_reach_every_kind_of_review_note() -> None:
    """The suspected and provisional variants make the engine write review notes in every pack."""
    reached: set[str] = set()
    for pack in PACKS.values():
        for vfile, _, vignette in pack.vignettes():
            for _, variant in _variants(vignette_bundle(pack, vfile, vignette)):
                out = assess_vignette(pack, vignette, READER.read(variant))
                if any(f.reviews for f in out.findings):
                    reached.add(pack.name)
                    break
            if pack.name in reached:
                break
    assert reached == set(PACKS)


def _stored(pack: Pack, vignette: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    out = assess_vignette(pack, vignette, READER.read(bundle))
    stored: dict[str, Any] = json.loads(json.dumps(out.to_dict()))  # as the web reads it back from the store
    return stored


def test_a_stored_assessment_words_its_review_notes_and_reading_notes_in_the_page_language() -> None:
    """What the decision page shows: the JSON's ``review_messages`` and ``*_messages`` worded, record text as typed."""
    zh = Wording("zh", translator("zh"), ZoneInfo("Asia/Shanghai"))
    en = Wording("en", translator("en"), ZoneInfo("Asia/Shanghai"))
    reviewed: set[str] = set()
    left_out: set[str] = set()
    for pack in PACKS.values():
        for vfile, _, vignette in pack.vignettes():
            for label, variant in _variants(vignette_bundle(pack, vfile, vignette)):
                stored = _stored(pack, vignette, variant)
                for finding in stored["findings"]:
                    if not any(finding["review_messages"]):
                        continue
                    reviewed.add(pack.name)
                    assert en.review_notes(pack, finding) == [finding["review_note"]]
                    for line in zh.review_notes(pack, finding):
                        texts, _ = visible_text(str(line))
                        assert _CJK.search(str(line)) and english_words(texts, UNITS) == [], (label, line)
                coverage = stored["coverage"]
                assert len(coverage["notes_messages"]) == len(coverage["notes"])
                assert len(stored["notes_messages"]) == len(stored["notes"])
                if label == "another patient's record":
                    notes = zh.said_lines(pack, coverage, "notes")
                    assert notes and all(_CJK.search(str(n)) for n in notes), notes
                    assert en.said_lines(pack, coverage, "notes") != notes
                    left_out.add(pack.name)
            if pack.name in reviewed:
                break  # enough for this pack; the test above covers every vignette
    assert reviewed == left_out == set(PACKS)
