"""A Chinese page shows no English: every page a demo user reaches, read as a person reads it.

Each persona signs in with the language set to Chinese and follows every link
from the dashboard (GET only: nothing is changed); each page's visible text is
checked for Latin words (see ``chinese_pages``). The allowed words are names
the demo holds (patients, people, sites, products, the application's name) and
units; nothing else is excused, so a new English sentence on any page fails
this test with the page and the words.
"""

from __future__ import annotations

import re
from pathlib import Path

from chinese_pages import crawl, english_words, name_words, typed_text, visible_text
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_demo import sign_in

from rxguard.access.demo import DEMO_USERS
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.monograph import monograph_of
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Patient, Prescriber, Site
from rxguard.web.security import LANG_COOKIE

#: Units and the few words Chinese clinical text writes in Latin letters.
UNITS = {"mg", "ml", "kg", "g", "h", "min", "mmol", "umol", "iu", "rx", "rxguard"}
PERSONAS = ("ada", "nina", "paul", "admin", "audrey")
#: English the Chinese pages still show, "page word" a line: what is left to translate. The test fails on a word
#: a page shows that is not listed for it (new English) and on a listed pair no page shows any more (remove it).
LEFT = Path(__file__).with_name("chinese_left_to_translate.txt")


def _left() -> set[tuple[str, str]]:
    """(page, word) pairs, the page with its ids as placeholders (``/patients/{key}``)."""
    lines = LEFT.read_text(encoding="utf-8").splitlines()
    pairs = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {(page, word) for page, word in pairs}


def page_of(path: str) -> str:
    """A path with its record ids replaced, so every patient's page is one page (``/patients/{key}``)."""
    path = path.split("?")[0]
    path = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}", "/{id}", path)
    return re.sub(r"^/patients/[^/]+", "/patients/{key}", path)


def shown_pairs(found: dict[str, dict[str, list[str]]]) -> set[tuple[str, str]]:
    return {(page_of(path), word) for by_page in found.values() for path, words in by_page.items() for word in words}


def _names(client: TestClient) -> set[str]:
    """Every word of a name the demo holds (patients, prescribers, sites, users) and of the names the packs
    give (products, brands, nonproprietary and former names, the drug's input aliases a monograph quotes, the
    eponyms its Chinese text keeps in Latin letters). A hyphenated name is kept whole as well as in parts, so
    "natalizumab-sztn" is a name and "natalizumab-treated" is not; a pack name of several words is a phrase."""
    factory = session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]
    names: list[str] = [display for _, display, _, _ in DEMO_USERS.values()]
    phrases: set[str] = set()
    with transaction(factory) as session:
        for model in (Patient, Prescriber, Site):
            names += [str(n) for n in session.execute(select(model.name)).scalars()]
    for pack in load_all().values():
        identity = pack.identity
        names += [identity.inn, *identity.display.values(), *identity.former_names]
        names += [f"{p.name} {p.proper_name} {p.manufacturer} {p.id}" for p in identity.products]
        mono = monograph_of(pack)
        names += mono.latin_terms if mono else []
        # the drug's own aliases (misspellings, codes); a program's name is English words and is translated
        phrases |= {alias.text.lower() for alias in identity.aliases if alias.kind != "program"}
    return name_words(names) | phrases


def _chinese_client(make_client: object, persona: str) -> TestClient:
    client: TestClient = make_client()  # type: ignore[operator]
    sign_in(client, persona)
    client.cookies.set(LANG_COOKIE, "zh")
    return client


def test_the_reader_counts_visible_english_and_nothing_else() -> None:
    html = (
        '<p>已授权 <span title="natalizumab.pml-history">PML</span> 300 mg</p>'
        '<script>var english = "words";</script><p>Not yet</p>'
        '<cite lang="en">Tysabri SmPC section 4.4</cite><span translate="no">site_north Amy</span>'
        '<input placeholder="Search here"><a href="/x" aria-label="Open it">打开</a>'
    )
    texts, links = visible_text(html)
    assert english_words(texts, {"mg"}) == ["Not", "yet", "Search", "here", "Open", "it"]
    assert links == ["/x"]


def test_a_hyphenated_name_is_one_word_and_an_english_word_glued_to_it_is_still_english() -> None:
    allowed = {"natalizumab-sztn", "natalizumab", "sztn", "milvage peptide"}
    texts = [
        "TYRUKO（natalizumab-sztn）通过 TYRUKO REMS",
        "natalizumab-treated 患者；natalizumab治疗treated",
        "“Milvage peptide” 不是药名；peptide 是英文",
        "干扰素 β-1a，IVIg、eGFR、CrCl、TNF-α 抑制剂；DailyMed、Child-Pugh、anti-drug-antibodies",
    ]
    found = english_words(texts, allowed)
    assert found == ["natalizumab-treated", "treated", "peptide", "DailyMed", "Child-Pugh", "anti-drug-antibodies"]


def test_no_english_word_has_the_shape_of_an_abbreviation() -> None:
    """Capitalised, title-case and camel-case English words are still English: only a word with two capitals
    and no three lower-case letters in a row passes as an abbreviation."""
    words = "Relapsing Thyroid Pharmacy Complete Boxed Warning DailyMed McDonald Follow-Up Anti-JCV Child-Pugh"
    variants = [w for word in words.split() for w in (word, word.lower(), word.title())]
    assert english_words(variants, set()) == variants
    assert english_words(["IVIg eGFR CrCl SmPC NSAIDs TNF-α MRI PhD"], set()) == []


def _typed(lang: str, text: str) -> str:
    from rxguard.web.i18n import translator
    from rxguard.web.templating import environment

    macros = environment().get_template("_macros.html").make_module({"t": translator(lang), "lang": lang})  # type: ignore[arg-type]
    return str(macros.as_typed(text))  # type: ignore[attr-defined]


def test_typed_text_is_read_as_typed_and_its_label_in_the_page_language_is_read_as_text() -> None:
    typed = "planning pregnancy <b>soon</b>"
    html = f"<p>停药原因：{_typed('zh', typed)}</p><p>Not typed</p>"
    texts, _ = visible_text(html)
    assert typed_text(html) == [typed]  # escaped in the page, read back as it was typed
    assert english_words(texts, set()) == ["Not", "typed"]
    assert "（原文）" in "".join(texts)
    assert "<b>" not in html
    # on an English page the text is marked the same way, without a label
    assert typed_text(_typed("en", typed)) == [typed] and visible_text(_typed("en", typed))[0] == []
    # half a mark is no mark: a "typed" class without translate="no", or translate="no" alone, is not typed text
    assert typed_text('<span class="typed">planning pregnancy</span><span translate="no">site_north</span>') == []
    assert english_words(visible_text('<span class="typed">planning pregnancy</span>')[0], set()) == [
        "planning",
        "pregnancy",
    ]


def test_the_chinese_patient_page_shows_what_people_typed_as_typed(make_client: object) -> None:
    client = _chinese_client(make_client, "ada")
    cases = {
        "pat_amy": "prescriber unreachable overnight; prednisone stopped 3 weeks ago",  # an override's reason
        "pat_eli": "Progressive right-sided weakness and word-finding difficulty over 10 days",  # an adverse event
        "pat_fay": "planning pregnancy",  # why treatment was stopped
    }
    for key, typed in cases.items():
        page = client.get(f"/patients/{key}").text
        assert typed in typed_text(page), key
        shown = english_words(visible_text(page)[0], set())
        assert not set(english_words([typed], set())) & set(shown), (key, shown)


def test_the_dashboard_charts_in_chinese_name_every_overdue_calendar_item_in_chinese(make_client: object) -> None:
    """The charts are SVG, which the crawl does not read: their labels, titles and descriptions are read here."""
    client = _chinese_client(make_client, "admin")
    page = client.get("/").text
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) >= 4
    texts = [re.sub(r"<[^>]+>", " ", chart) for chart in charts]
    assert english_words(texts, UNITS | _names(client)) == []
    items = set(re.findall(r'<li title="([a-z0-9-]+)">', page))  # the overdue panel keeps each item's id
    assert len(items) > 3 and not [i for i in items if any(i in text for text in texts)]


def test_no_page_a_demo_user_reaches_in_chinese_shows_english(make_client: object) -> None:
    pages = 0
    found: dict[str, dict[str, list[str]]] = {}
    allowed: set[str] | None = None
    for persona in PERSONAS:
        client = _chinese_client(make_client, persona)
        if allowed is None:
            allowed = UNITS | _names(client)
        result = crawl(client, ["/"], allowed)
        pages += int(result.pop("(pages read)")[0])
        if result:
            found[persona] = result
    assert pages > 100, f"only {pages} pages were reached"
    left = _left()
    new = {
        persona: {path: [w for w in words if (page_of(path), w) not in left] for path, words in by_page.items()}
        for persona, by_page in found.items()
    }
    new = {persona: {path: words for path, words in by.items() if words} for persona, by in new.items()}
    assert not any(new.values()), _report(new)
    gone = sorted(left - shown_pairs(found))
    assert not gone, f"these pages no longer show these words; remove them from {LEFT.name}: {gone[:40]}"


def _report(found: dict[str, dict[str, list[str]]]) -> str:
    """Each English word with the number of pages that show it and one of them, most frequent first."""
    pages: dict[str, set[str]] = {}
    for persona, by_page in found.items():
        for path, words in by_page.items():
            for word in words:
                pages.setdefault(word, set()).add(f"{persona} {path}")
    total = len({page for where in pages.values() for page in where})
    lines = [f"{word!r} on {len(where)} page(s), e.g. {min(where)}" for word, where in pages.items()]
    lines.sort(key=lambda line: -int(line.split(" on ")[1].split(" ")[0]))
    return f"{total} Chinese page(s) show English ({len(pages)} words):\n" + "\n".join(lines[:150])


def test_the_audit_check_reports_in_chinese(make_client: object) -> None:
    client: TestClient = make_client()  # type: ignore[operator]
    token = sign_in(client, "admin")
    client.cookies.set(LANG_COOKIE, "zh")
    html = client.post("/admin/audit-verification", data={"csrf_token": token}).text
    start = html.index(">", html.index('id="audit-result"')) + 1
    result = html[start : html.index("</div>", start)]
    texts, _ = visible_text(result)
    assert "审计日志完整" in result
    assert english_words(texts, UNITS) == [], result
