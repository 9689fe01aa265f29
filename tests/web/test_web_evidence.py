"""Evidence lines in the reader's language: every message the engine words has a sentence in English and Chinese.

The engine writes an evidence line as a message id and its values
(``rxguard.engine.messages.MESSAGES``); the web words it from ``evidence.<id>``
in its catalogue. These tests hold the two together: every id has both
sentences, each sentence takes exactly the values the id carries and renders
with any of them, the Chinese sentence has no English of its own, and every lab
a line can name has a Chinese name.
"""

from __future__ import annotations

import re
import string
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chinese_pages import english_words
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_web_chinese import UNITS

from rxguard.engine.messages import MESSAGES
from rxguard.facts.labs import CORE_LABS
from rxguard.knowledge.loader import Pack, load_all
from rxguard.web.i18n import LANGUAGES, has, strings, translator
from rxguard.web.wording import Wording

PACKS = load_all()
#: What the engine is not: an evidence line's sentence the wording would fall back to.
FALLBACK = "\x00the engine's English\x00"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _values(pack: Pack, name: str) -> st.SearchStrategy[Any]:
    """Values of one parameter as the engine writes them: codes from the pack, ISO dates, durations, numbers."""
    if name.endswith("_on"):
        return st.dates(date(1930, 1, 1), date(2040, 12, 31)).map(date.isoformat)
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
    if name == "max_age":
        return st.sampled_from(["P30D", "P6M", "P2W", "P1Y", "P1Y6M"])
    if name == "sex":
        return st.sampled_from(["female", "male"])
    if name == "jurisdiction":
        return st.sampled_from(["US", "EU"])
    if name in ("count", "days"):
        return st.integers(0, 4000)
    if name in ("value", "limit", "minimum", "age"):
        return st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 3))
    return st.text(alphabet=string.ascii_letters + " /.*{}%", min_size=1, max_size=30)


@st.composite
def _message(draw: st.DrawFn) -> tuple[Pack, dict[str, Any]]:
    pack = draw(st.sampled_from(list(PACKS.values())))
    message_id = draw(st.sampled_from(sorted(MESSAGES)))
    params = {name: draw(_values(pack, name)) for name in sorted(MESSAGES[message_id])}
    return pack, {"message_id": message_id, "params": params}


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
