"""Crawl every page a demo user can reach and find the English a Chinese-mode page still shows.

A page is read as a person reads it: the visible text (not tags, attribute
values, scripts or styles), plus the ``aria-label``, ``alt`` and
``placeholder`` texts a screen reader or an empty field shows. A ``title``
tooltip is where a page keeps an id (a rule's, a program's) for whoever asks,
so it is not read. A Latin word
counts as English unless it is on the allowlist: names of people, sites and
products, units, identifiers and abbreviations that Chinese clinical text
writes in Latin letters too (MRI, EDSS, ALT). Text the page marks
``translate="no"`` (a name, a code) or ``lang="en"`` (the title or section of
an English source document, quoted as cited) is read as such and not counted.

Text a person typed (an override or clearance reason, an adverse event's
description, a note) is not a message of the application: it is shown as
typed, in whatever language it was typed. The templates mark it with the
``as_typed`` macro: an element of class ``typed`` with ``translate="no"``, followed
by a label saying so in the page's language. The reader keeps such text apart
(:func:`typed_text`) and does not count it; the label is read like any text.
An element of class ``typed`` without ``translate="no"`` is not typed text to
this reader (it is counted), so the mark cannot be half applied.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from fastapi.testclient import TestClient

_SKIP_TAGS = {"script", "style", "svg", "code", "kbd", "samp", "pre"}
_SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "alt")  # not title: the tooltip is where an id is kept
_CJK = r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]"
# Word characters but Chinese ones (a Latin word glued to Chinese text ends there), apostrophes, hyphens.
_LETTERS = rf"(?:(?!{_CJK})[\w'’\-])"
# A word starts at a Latin letter that begins a token, or follows Chinese text: letters glued after digits
# ("β-1a", "300mg", a hex id "12af") are part of a code, not a word.
_WORD = re.compile(rf"(?:(?<!\w)|(?<={_CJK}))[A-Za-z]{_LETTERS}*(?:\.[A-Za-z]{_LETTERS}*)*")
_CAPITAL = re.compile(r"[A-Z]")
_LOWER_RUN = re.compile(r"[a-z]{3}")
# Links a crawl must not follow: they change state, sign out, or lead out of the application.
_NOT_FOLLOWED = re.compile(r"^/(sign-out|api/|docs|redoc|openapi|static/|cds-services|fhir/|language)")


class _Visible(HTMLParser):
    """The text a person sees on the page, each piece with the nearest enclosing element's class names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self.typed: list[str] = []
        self._skip = 0
        self._keep_latin = 0
        self._typed = 0
        self._stack: list[tuple[str, bool, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag in ("input", "br", "img", "meta", "link", "hr", "source"):
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.texts.append(str(values["value"]))
            self._attributes(values)
            return
        # translate="no": a name or a code, shown as written; lang="en": a quotation of an English source.
        # (The root element's lang is the page's language, not a quotation.)
        keep = values.get("translate") == "no" or (tag != "html" and (values.get("lang") or "").startswith("en"))
        # class "typed" with translate="no": what a person typed, shown as typed (the templates' as_typed macro).
        typed = values.get("translate") == "no" and "typed" in (values.get("class") or "").split()
        self._stack.append((tag, keep, typed))
        if tag in _SKIP_TAGS:
            self._skip += 1
        if keep:
            self._keep_latin += 1
        if typed:
            self._typed += 1
        self._attributes(values)

    def _attributes(self, values: dict[str, str | None]) -> None:
        if self._skip or self._keep_latin:
            return
        for name in _SHOWN_ATTRIBUTES:
            if values.get(name):
                self.texts.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            name, keep, typed = self._stack.pop()
            if name in _SKIP_TAGS:
                self._skip -= 1
            if keep:
                self._keep_latin -= 1
            if typed:
                self._typed -= 1
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._typed and not self._skip and data.strip():
            self.typed.append(data)
        elif not self._skip and not self._keep_latin and data.strip():
            self.texts.append(data)


def visible_text(html: str) -> tuple[list[str], list[str]]:
    parser = _Visible()
    parser.feed(html)
    return parser.texts, parser.links


def typed_text(html: str) -> list[str]:
    """The text a page shows as a person typed it (the ``as_typed`` macro's mark), which no reader counts as English."""
    parser = _Visible()
    parser.feed(html)
    return parser.typed


def name_words(names: list[str]) -> set[str]:
    """The words of names, as the allowlist holds them: a hyphenated name whole ("natalizumab-sztn") and in parts."""
    words = {word.lower() for name in names for word in name.replace(",", " ").split()}
    return words | {part for word in words for part in word.split("-") if part}


def english_words(texts: list[str], allowed: set[str]) -> list[str]:
    phrases = [
        re.compile(rf"(?<![A-Za-z0-9\-]){re.escape(a)}(?![A-Za-z0-9\-])", re.IGNORECASE) for a in allowed if " " in a
    ]
    found = []
    for text in texts:
        for phrase in phrases:
            text = phrase.sub(" ", text)
        for word in _WORD.findall(text):
            if word.lower() not in allowed and not _is_identifier(word, allowed):
                found.append(word)
    return found


def _is_identifier(word: str, allowed: set[str] | frozenset[str] = frozenset()) -> bool:
    """Codes and abbreviations: all capitals (MRI, ALT, REMS), letters with digits (LOT77, HbA1c), a hex id
    (12af-9c0e), or two capitals or more with no three lower-case letters in a row (IVIg, eGFR, CrCl, NSAIDs,
    TNF-α): an English word has a run of lower-case letters. A kebab- or snake-case id with digits is read by
    its parts (:func:`id_of_words`): one made of English words ("age-under-18") is English however many digits
    it carries."""
    if id_of_words(word, allowed):
        return False
    if word.isupper() or any(ch.isdigit() or ch == "_" for ch in word):
        return True
    return len(_CAPITAL.findall(word)) >= 2 and not _LOWER_RUN.search(word)


_HEX = re.compile(r"[0-9a-fA-F]+")
_JOINED = re.compile(r"[-_]")


def id_of_words(word: str, allowed: set[str] | frozenset[str] = frozenset()) -> bool:
    """A token joined by hyphens or underscores that carries a digit (the shape of a rule's or a parameter's id:
    "age-under-18", "jcv-index-1-5", "site_2_north") and has a part that is a lower-case English word (three
    lower-case letters or more and nothing else, not an allowed word). Not such an id: a hex id (a3f9-bc12),
    a code (LOINC 1742-6, LOT-77A, COVID-19, β-1a). A token with no digit is read as a word already: kebab-case
    ("medical-director") is English; snake-case ("site_north") is a record's key, which a person types."""
    parts = [part for part in _JOINED.split(word) if part]
    if len(parts) < 2 or not any(ch.isdigit() for ch in word):
        return False
    if all(_HEX.fullmatch(part) for part in parts) and any(ch.isdigit() for ch in word):
        return False
    return any(part.isalpha() and part.islower() and len(part) >= 3 and part not in allowed for part in parts)


def ids_shown(texts: list[str], ids: set[str], allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The ids an English page shows as words: a token of the shape of an id of words (:func:`id_of_words`), or
    one of ``ids`` (the ids a pack declares: its rules', roles', checks')."""
    found = []
    for text in texts:
        for word in _WORD.findall(text):
            if word.lower() in allowed:
                continue
            if id_of_words(word, allowed) or word in ids:
                found.append(word)
    return found


def crawl(
    client: TestClient,
    start: list[str],
    allowed: set[str],
    limit: int = 400,
    find: Callable[[list[str], set[str]], list[str]] = english_words,
) -> dict[str, list[str]]:
    """Every page reachable from ``start`` by following links: path -> the words ``find`` finds in what it shows
    (by default the English words)."""
    seen: set[str] = set()
    queue = list(start)
    found: dict[str, list[str]] = defaultdict(list)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        texts, links = visible_text(response.text)
        words = find(texts, allowed)
        if words:
            found[path] = words
        for link in links:
            target = urlsplit(urljoin("http://testserver" + path, link))
            if target.netloc != "testserver" or _NOT_FOLLOWED.match(target.path):
                continue
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    found["(pages read)"] = [str(len(seen))]
    return dict(found)
