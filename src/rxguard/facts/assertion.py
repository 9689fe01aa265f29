"""Whether a recorded text asserts what it names, negates it or only suspects it.

A problem list says "lymphoma ruled out", "No history of lymphoma", "negative for hepatitis B",
"suspected hepatitis B infection"; an allergy list says "no known allergy to ...". Matched
word by word, each of these names the condition itself. This module reads them
the way NegEx (Chapman 2001) and ConText (Harkema 2009) do, with the trigger
phrases of ``assertion_triggers.yaml`` (data, each phrase with the lists it was
read in):

- a trigger phrase opens a scope **forward** ("no", "negative for", "rule out":
  the concept follows) or **backward** ("ruled out", "negative", "suspected": it
  precedes);
- a forward scope runs to a comma, a semicolon, a full stop, a question mark, a
  bracket, a dash between spaces, a termination phrase ("but", "however") or the next
  trigger, whichever comes first;
- a backward scope runs back to the same marks (ConText's sentence scope rather than
  NegEx's five words: "Deep vein thrombosis of the left leg ruled out" rules out the
  thrombosis, not only its last five words); a comma, bracket or dash right before the
  phrase is stepped over, so "hepatitis B, ruled out" is ruled out while "hepatitis B infection, lymphoma ruled out" rules out
  only the lymphoma;
- an experiencer phrase ("family history", "mother", "sibling": ConText's experiencer,
  medspaCy's FAMILY rule) opens a scope like a negation's, whose words are *another
  person's* ("Family history of lymphoma", "father: HIV"); another person wins over a
  negation or a possibility that reaches the same word;
- pseudo-triggers ("gram negative", "no change") contain a trigger's words and
  negate nothing;
- a question mark written against a word ("?lymphoma", "lymphoma?") reads as possible,
  and "lymphoma: no" (a "no" after a colon that ends its clause) negates backward.

The words in a negated scope are *negated*, those in a possible scope *possible*
(possible wins where both reach a word), those in an experiencer's scope *other*; the others, and the trigger phrases
themselves, are read as written. A text with no trigger gives ``None``: the
caller tags it exactly as it always did.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import yaml

State = Literal["negated", "possible", "other"]
Kind = Literal["negated", "possible", "other", "terminate", "pseudo"]
# Kinds that open a scope, and which wins where two reach a word: another person's condition is not the
# patient's whatever else is said of it; a possible condition is not a negated one.
_SCOPED: dict[str, int] = {"negated": 1, "possible": 2, "other": 3}
Direction = Literal["forward", "backward", ""]

TRIGGERS_FILE = "assertion_triggers.yaml"
# Words, and the marks that end a scope: , ; ? ! ( ), a dash between spaces ("HIV infection - viral load not
# detected"), and a full stop that ends a word of two letters or more (not the dots of "r.o." or "3.5").
_TOKEN = re.compile(r"\w+|[,;?!()]|(?<=\w\w)\.(?=\s|$)|(?<=\s)[-\u2013\u2014](?=\s)", re.UNICODE)
_STOPS_FORWARD = frozenset({",", ";", ".", "?", "!", "(", ")", "-", "\u2013", "\u2014"})
_STOPS_BACKWARD = _STOPS_FORWARD
# A mark right before a backward phrase (or right after a forward one) belongs to it: "HIV, ruled out",
# "lymphoma (ruled out)", "HIV - negative", "negative for (HIV)".
_STEP_BACKWARD = frozenset({",", "(", "-", "\u2013", "\u2014"})
_STEP_FORWARD = frozenset({"("})


class TriggerFileError(ValueError):
    """The trigger file is malformed (a phrase without sources, an unknown source id, a bad section)."""


@dataclass(frozen=True, slots=True)
class Trigger:
    phrase: str
    words: tuple[str, ...]
    kind: Kind
    direction: Direction
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive words of a text read in one state (None: as written), with the cue that set it."""

    text: str
    state: State | None
    cue: str = ""


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def is_word(self) -> bool:
        return self.text not in _STOPS_FORWARD


def _words_of(phrase: str) -> tuple[str, ...]:
    return tuple(m.group(0) for m in _TOKEN.finditer(phrase.casefold()) if m.group(0) not in _STOPS_FORWARD)


def parse_triggers(data: Any, where: str = TRIGGERS_FILE) -> tuple[Trigger, ...]:
    """The triggers a trigger file declares, each checked to name known sources."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        raise TriggerFileError(f"{where}: expected a mapping with 'sources' and the trigger sections")
    known = set(data["sources"])
    out: list[Trigger] = []

    def entries(section: str, items: Any, kind: Kind, direction: Direction) -> None:
        if not isinstance(items, list):
            raise TriggerFileError(f"{where}: {section} must be a list of {{phrase, sources}} entries")
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("phrase"), str):
                raise TriggerFileError(f"{where}: {section}: {item!r} is not a {{phrase, sources}} entry")
            sources = item.get("sources")
            if not isinstance(sources, list) or not sources or not set(sources) <= known:
                raise TriggerFileError(
                    f"{where}: {section}: {item['phrase']!r} must cite sources among {sorted(known)}, not {sources!r}"
                )
            words = _words_of(item["phrase"])
            if not words:
                raise TriggerFileError(f"{where}: {section}: {item['phrase']!r} has no words")
            out.append(Trigger(item["phrase"], words, kind, direction, tuple(sources)))

    sections: tuple[tuple[str, Kind], ...] = (
        ("negated", "negated"),
        ("possible", "possible"),
        ("experiencer", "other"),
    )
    for name, kind in sections:
        section = data.get(name, {} if name == "experiencer" else None)
        if not isinstance(section, dict) or set(section) - {"forward", "backward"}:
            raise TriggerFileError(f"{where}: {name} must be a mapping with forward and backward lists")
        for direction in ("forward", "backward"):
            entries(f"{name}.{direction}", section.get(direction, []), kind, direction)
    entries("terminate", data.get("terminate", []), "terminate", "")
    entries("pseudo", data.get("pseudo", []), "pseudo", "")
    return tuple(out)


class AssertionReader:
    """Reads texts with one set of triggers; built once, then only read."""

    def __init__(self, triggers: tuple[Trigger, ...]) -> None:
        self.triggers = triggers
        by_first: dict[str, list[Trigger]] = {}
        for trigger in triggers:
            by_first.setdefault(trigger.words[0], []).append(trigger)
        # Longest first, so "not ruled out" wins over "not" and "ruled out".
        self._by_first = {w: sorted(ts, key=lambda t: -len(t.words)) for w, ts in by_first.items()}

    def _match(self, words: list[str], at: int) -> list[Trigger]:
        """The triggers (one phrase, every kind and direction it has) that start at ``words[at]``."""
        for trigger in self._by_first.get(words[at], ()):
            size = len(trigger.words)
            if tuple(words[at : at + size]) == trigger.words:
                return [t for t in self._by_first[words[at]] if t.words == trigger.words]
        return []

    @functools.lru_cache(maxsize=16384)  # noqa: B019 - one reader per process, texts repeat
    def read(self, text: str) -> tuple[Run, ...] | None:
        """The text as runs of words in one state, or None when no negation, possibility or experiencer trigger is in it."""
        tokens = [_Token(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text.casefold())]
        if not tokens:
            return None
        # Trigger matches over consecutive words (never across punctuation): token index span -> triggers.
        spans: list[tuple[int, int, list[Trigger]]] = []
        i = 0
        while i < len(tokens):
            if not tokens[i].is_word:
                i += 1
                continue
            j = i
            while j < len(tokens) and tokens[j].is_word:
                j += 1
            words = [t.text for t in tokens[i:j]]
            k = 0
            while k < len(words):
                found = self._match(words, k)
                if found:
                    size = len(found[0].words)
                    spans.append((i + k, i + k + size, found))
                    k += size
                else:
                    k += 1
            i = j
        spans = [self._answer(text, tokens, span) for span in spans]
        spans.extend(self._question_marks(text, tokens))
        spans.sort(key=lambda s: s[0])
        if not any(t.kind in _SCOPED for _, _, ts in spans for t in ts):
            return None
        state: list[State | None] = [None] * len(tokens)
        cue: list[str] = [""] * len(tokens)
        in_trigger = [False] * len(tokens)
        starts: set[int] = set()
        ends: set[int] = set()
        for start, end, found in spans:
            starts.add(start)
            ends.add(end - 1)
            if any(t.kind in _SCOPED for t in found):
                for n in range(start, end):
                    in_trigger[n] = True
        for start, end, found in spans:
            for trigger in found:
                if trigger.kind not in _SCOPED:
                    continue
                kind: State = trigger.kind  # type: ignore[assignment]
                for n in self._scope(tokens, start, end, trigger.direction, starts, ends):
                    held = state[n]
                    if held is None or _SCOPED[kind] > _SCOPED[held]:
                        state[n] = kind
                        cue[n] = trigger.phrase
        return _runs(tokens, state, cue, in_trigger)

    @staticmethod
    def _answer(
        text: str, tokens: list[_Token], span: tuple[int, int, list[Trigger]]
    ) -> tuple[int, int, list[Trigger]]:
        """ "HIV: no" answers a question about what precedes it: "no" after a colon, ending its clause, reads backward."""
        start, end, found = span
        if found[0].words != ("no",) or start == 0:
            return span
        before = text.casefold()[tokens[start - 1].end : tokens[start].start].strip()
        last = end == len(tokens) or not tokens[end].is_word
        return (start, end, [_COLON_NO]) if before == ":" and last else span

    @staticmethod
    def _question_marks(text: str, tokens: list[_Token]) -> list[tuple[int, int, list[Trigger]]]:
        """'?lymphoma' and 'lymphoma?' read as possible: a question mark written against a word."""
        out = []
        for n, token in enumerate(tokens):
            if token.text != "?":
                continue
            after = n + 1 < len(tokens) and tokens[n + 1].is_word and tokens[n + 1].start == token.end
            before = n > 0 and tokens[n - 1].is_word and tokens[n - 1].end == token.start
            if after and not before:
                out.append((n, n + 1, [_QUERY_FORWARD]))
            elif before:
                out.append((n, n + 1, [_QUERY_BACKWARD]))
        return out

    @staticmethod
    def _scope(
        tokens: list[_Token], start: int, end: int, direction: Direction, starts: set[int], ends: set[int]
    ) -> list[int]:
        out: list[int] = []
        if direction == "forward":
            n = end
            if n < len(tokens) and tokens[n].text in _STEP_FORWARD:
                n += 1
            while n < len(tokens) and tokens[n].text not in _STOPS_FORWARD and n not in starts:
                out.append(n)
                n += 1
        elif direction == "backward":
            n = start - 1
            if n >= 0 and tokens[n].text in _STEP_BACKWARD:
                n -= 1
            while n >= 0 and tokens[n].text not in _STOPS_BACKWARD and n not in ends:
                out.append(n)
                n -= 1
        return out


# medspaCy's ": no" (NEGATED_EXISTENCE, backward); the colon is not a word, so it is read here.
_COLON_NO = Trigger(": no", ("no",), "negated", "backward", ("medspacy",))
_QUERY_FORWARD = Trigger("?", ("?",), "possible", "forward", ("rxguard",))
_QUERY_BACKWARD = Trigger("?", ("?",), "possible", "backward", ("rxguard",))


def _runs(tokens: list[_Token], state: list[State | None], cue: list[str], in_trigger: list[bool]) -> tuple[Run, ...]:
    """Consecutive words in one state joined into runs (punctuation read as a space, as names are matched);
    trigger phrases are cues, not words of the record, and split runs."""
    runs: list[Run] = []
    words: list[str] = []
    current: State | None = None
    cues: list[str] = []

    def flush() -> None:
        if words:
            runs.append(Run(" ".join(words), current, ", ".join(dict.fromkeys(cues))))
        words.clear()
        cues.clear()

    for n, token in enumerate(tokens):
        if in_trigger[n]:
            flush()
            continue
        if not token.is_word:
            continue
        if state[n] != current:
            flush()
            current = state[n]
        words.append(token.text)
        if cue[n]:
            cues.append(cue[n])
    flush()
    return tuple(runs)


@functools.lru_cache(maxsize=1)
def default_reader() -> AssertionReader:
    """The reader with rxguard's own trigger file."""
    raw = resources.files("rxguard.facts").joinpath(TRIGGERS_FILE).read_text(encoding="utf-8")
    return AssertionReader(parse_triggers(yaml.safe_load(raw)))
