"""An English page names things by their names: no rule's, role's or parameter's id shows as a word.

Ids stay where a page keeps them for whoever asks (a ``title`` tooltip, a link, a form's value) and in text
marked ``translate="no"``. The reader is the Chinese crawl's (``chinese_pages``); what it looks for on an
English page is an id: a token of the shape of an id of words with digits ("age-under-18"), or an id a pack
declares (a rule's, an override role's, a program check's).
"""

from __future__ import annotations

import itertools
from zoneinfo import ZoneInfo

from chinese_pages import crawl, english_words, id_of_words, ids_shown, visible_text
from fastapi.testclient import TestClient
from test_web_chinese import PERSONAS, UNITS, _names
from web_demo import sign_in

from rxguard.knowledge.loader import load_all
from rxguard.knowledge.monograph import program_names
from rxguard.program.registry import all_programs
from rxguard.web.i18n import translator
from rxguard.web.security import LANG_COOKIE
from rxguard.web.wording import Wording

WORDS = ("age", "under", "index", "history", "dose", "window", "weeks")
CODES = ("1742-6", "2160-0", "a3f9-bc12", "12af-9c0e", "LOT-77A", "COVID-19", "β-1a", "300mg", "HbA1c", "L04AG03")


def test_an_id_of_words_is_english_however_many_digits_it_carries() -> None:
    """Every kebab- and snake-case join of English words with a number in it is caught, wherever the number
    stands, and by the Chinese reader too; the same words without the digit are caught as English words."""
    for a, b in itertools.permutations(WORDS, 2):
        for n in ("18", "1", "2024", "1-5", "0.9"):
            for joined in (f"{a}-{b}-{n}", f"{a}-{n}-{b}", f"{n}-{a}-{b}", f"{a}_{b}_{n}", f"{a}-{b}{n}"):
                assert id_of_words(joined), joined
                assert english_words([f"规则（{joined}）"], set()), joined
        assert english_words([f"{a}-{b}"], set()) == [f"{a}-{b}"]


def test_codes_lot_numbers_hex_ids_and_units_are_not_ids_of_words() -> None:
    for code in CODES:
        assert not id_of_words(code), code
    assert english_words([" ".join(CODES) + " 干扰素 β-1a，300 mg"], {"mg"}) == []
    # a name's parts are allowed: a product with a strength is a name, not an id of words
    assert not id_of_words("tysabri-300", {"tysabri"}) and id_of_words("tysabri-300")


def test_the_reader_finds_ids_in_what_an_english_page_shows_and_not_in_its_tooltips() -> None:
    html = (
        '<html lang="en"><p>Age under 18 <span title="natalizumab.age-under-18">rule</span></p>'
        "<p>confirmed by medical-director; see age-under-18</p>"
        '<p translate="no">pharmacist-in-charge</p><p>A follow-up visit; LOINC 1742-6</p></html>'
    )
    texts, _ = visible_text(html)
    assert ids_shown(texts, {"medical-director", "pharmacist-in-charge"}) == ["medical-director", "age-under-18"]


def _declared_ids() -> set[str]:
    ids: set[str] = set()
    for pack in load_all().values():
        names = program_names(pack)
        ids |= names["roles"] | names["lifts"]
        for rule in pack.rules:
            ids |= {rule.id, rule.id.split(".", 1)[-1]}
    return {i for i in ids if "-" in i or "_" in i}  # a one-word id ("prescriber") is its own English name


def test_every_override_role_has_a_name_in_both_languages_and_an_unnamed_one_shows_as_words_in_english() -> None:
    en = Wording("en", translator("en"), ZoneInfo("UTC"))
    zh = Wording("zh", translator("zh"), ZoneInfo("UTC"))
    for program in all_programs():
        for role in program.definition.override_roles:
            assert en.role(program.id, role) != role or "-" not in role, (program.id, role)
            assert not english_words([zh.role(program.id, role)], set()), (program.id, role)
        # a role no pack or catalogue names is shown by its id's words, never as the id
        for unnamed in ("site-lead", "deputy_head", "on-call-physician"):
            shown = en.role(program.id, unnamed)
            assert shown[0].isupper() and "-" not in shown and "_" not in shown
            assert shown.lower().split() == unnamed.replace("_", "-").split("-")


def test_no_english_page_a_demo_user_reaches_shows_an_id(make_client: object) -> None:
    ids = _declared_ids()
    assert {"medical-director", "age-under-18"} <= ids
    found: dict[str, dict[str, list[str]]] = {}
    pages = 0
    allowed: set[str] | None = None
    for persona in PERSONAS:
        client: TestClient = make_client()  # type: ignore[operator]
        sign_in(client, persona)
        client.cookies.set(LANG_COOKIE, "en")
        if allowed is None:
            allowed = UNITS | _names(client)
        result = crawl(client, ["/"], allowed, find=lambda texts, names: ids_shown(texts, ids, names))
        pages += int(result.pop("(pages read)")[0])
        if result:
            found[persona] = result
    assert pages > 100, f"only {pages} pages were reached"
    assert not found, found
