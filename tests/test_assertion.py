"""Negation and possibility in clinical texts: the trigger file, the scopes, and the tags they leave.

The scope tests name no drug: they read the packs' value sets through the words a pack names
(any condition set with a one-word name serves), so they test the mechanism, not a phrase list.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.generated_cases import single_set_condition_names

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.engine.model import Finding
from rxguard.facts.assertion import TRIGGERS_FILE, AssertionReader, default_reader, parse_triggers
from rxguard.facts.builder import build_bundle
from rxguard.facts.vocabulary import Vocabulary, core_vocabulary
from rxguard.knowledge.loader import load_all

PACKS = load_all()
VOCAB = reader_for(PACKS).vocabulary
READER = default_reader()
TRIGGER_WORDS = {w for t in READER.triggers for w in t.words}


NAMES = single_set_condition_names(PACKS, VOCAB, TRIGGER_WORDS)
FIRST, SECOND = NAMES[0], next(n for n in NAMES if n[0] != NAMES[0][0])
NEGATED_FORWARD = sorted({t.phrase for t in READER.triggers if t.kind == "negated" and t.direction == "forward"})
NEGATED_BACKWARD = sorted({t.phrase for t in READER.triggers if t.kind == "negated" and t.direction == "backward"})
POSSIBLE_FORWARD = sorted({t.phrase for t in READER.triggers if t.kind == "possible" and t.direction == "forward"})
POSSIBLE_BACKWARD = sorted({t.phrase for t in READER.triggers if t.kind == "possible" and t.direction == "backward"})


def _longer_phrase_containing(phrase: str, kinds: set[str]) -> bool:
    """Whether a longer trigger of another kind starts with this phrase's words (it would win)."""
    words = tuple(phrase.split())
    return any(
        t.words[: len(words)] == words and len(t.words) > len(words) and t.kind in kinds for t in READER.triggers
    )


# --------------------------------------------------------------------------- the trigger file


def test_every_trigger_cites_a_declared_source_and_additions_say_why() -> None:
    raw = yaml.safe_load(resources.files("rxguard.facts").joinpath(TRIGGERS_FILE).read_text(encoding="utf-8"))
    for section in ("negated", "possible"):
        for direction in ("forward", "backward"):
            for entry in raw[section][direction]:
                assert set(entry["sources"]) <= set(raw["sources"]), entry
                if entry["sources"] == ["rxguard"]:
                    assert entry.get("note"), f"{entry['phrase']!r} is an rxguard addition and must say why"
    assert not raw["sources"]["rxguard"]["verified"]


def test_a_trigger_file_naming_an_unknown_source_is_refused_with_the_phrase() -> None:
    bad = {"sources": {"a": {}}, "negated": {"forward": [{"phrase": "no", "sources": ["b"]}]}, "possible": {}}
    try:
        parse_triggers(bad)
    except ValueError as exc:
        assert "'no'" in str(exc) and "b" in str(exc)
    else:
        raise AssertionError("an unknown source id must be refused")


# --------------------------------------------------------------------------- scopes


def test_a_forward_negation_stops_at_a_comma() -> None:
    (tag, name) = FIRST
    reading = VOCAB.read((), f"no fever, has {name}")
    assert tag in reading.tags and tag not in reading.uncertain and not reading.negated


def test_a_backward_negation_stops_at_a_semicolon() -> None:
    (neg_tag, neg_name), (pos_tag, pos_name) = FIRST, SECOND
    reading = VOCAB.read((), f"{neg_name} ruled out; {pos_name} positive")
    assert pos_tag in reading.tags and pos_tag not in reading.uncertain
    assert neg_tag in reading.negated and neg_tag not in reading.tags


def test_a_backward_negation_reads_back_past_its_own_comma_only() -> None:
    (a_tag, a_name), (b_tag, b_name) = FIRST, SECOND
    assert a_tag in VOCAB.read((), f"{a_name}, ruled out").negated
    reading = VOCAB.read((), f"{a_name}, {b_name} ruled out")
    assert a_tag in reading.tags and b_tag in reading.negated


def test_a_termination_word_ends_a_forward_scope() -> None:
    (a_tag, a_name), (b_tag, b_name) = FIRST, SECOND
    reading = VOCAB.read((), f"no {a_name} but {b_name}")
    assert a_tag in reading.negated and b_tag in reading.tags and b_tag not in reading.uncertain


def test_brackets_and_spaced_dashes_end_a_scope_and_belong_to_a_phrase_beside_them() -> None:
    (a_tag, a_name), (b_tag, b_name) = FIRST, SECOND
    for text in (f"{a_name} (ruled out)", f"{a_name} - negative", f"negative for ({a_name})"):
        assert a_tag in VOCAB.read((), text).negated, text
    for text in (f"{a_name} - {b_name} not detected", f"{a_name} ({b_name} not detected)"):
        reading = VOCAB.read((), text)
        assert a_tag in reading.tags and a_tag not in reading.uncertain and b_tag in reading.negated, text


def test_a_no_after_a_colon_answers_what_precedes_it() -> None:
    (a_tag, a_name), (b_tag, b_name) = FIRST, SECOND
    assert a_tag in VOCAB.read((), f"{a_name}: no").negated
    reading = VOCAB.read((), f"{a_name}: no {b_name}")
    assert a_tag in reading.tags and b_tag in reading.negated


def test_the_dots_of_an_abbreviation_or_a_number_end_no_scope() -> None:
    (tag, name) = FIRST
    assert tag in VOCAB.read((), f"r.o. {name}").uncertain
    assert tag in VOCAB.read((), f"no 2.5 {name}").negated
    assert tag in VOCAB.read((), f"no fever. {name}").tags


def test_possible_wins_where_a_negation_and_a_possibility_reach_the_same_words() -> None:
    (tag, name) = FIRST
    reading = VOCAB.read((), f"no suspected {name}")
    assert tag in reading.uncertain and tag not in reading.negated


def test_a_question_mark_against_the_name_reads_as_possible() -> None:
    (tag, name) = FIRST
    for text in (f"?{name}", f"{name}?"):
        assert tag in VOCAB.read((), text).uncertain, text


def test_a_pseudo_trigger_negates_nothing() -> None:
    (tag, name) = FIRST
    reading = VOCAB.read((), f"{name} with no change")
    assert tag in reading.tags and not reading.uncertain


def test_a_code_whose_own_text_negates_it_is_uncertain() -> None:
    pack_code = next(
        (vs.id, c.code, c.display)
        for pack in PACKS.values()
        for vs in pack.valuesets.values()
        if vs.kind == "condition"
        for c in vs.code_entries()
        if VOCAB.tags_for((c.code,), "") == {vs.id}
    )
    tag, code, display = pack_code
    reading = VOCAB.read((code,), f"{display} ruled out")
    assert tag in reading.tags and tag in reading.uncertain and "ruled out" in reading.cue


def test_a_display_names_the_code_and_never_outweighs_the_record_text() -> None:
    tag, code, display = next(
        (vs.id, c.code, c.display)
        for pack in PACKS.values()
        for vs in pack.valuesets.values()
        if vs.kind == "condition"
        for c in vs.code_entries()
        if VOCAB.tags_for((c.code,), "") == {vs.id} and VOCAB.tags_for((), c.display) == {vs.id}
    )
    # The display alone (no own text) is read as written, whatever words it holds.
    assert VOCAB.read((code,), "", display) == VOCAB.read((code,), display)
    # Coded, with a display naming it, and a text ruling it out: the record contradicts itself.
    reading = VOCAB.read((code,), f"{display} ruled out", display)
    assert tag in reading.uncertain
    # A local code no set knows, with the display naming the condition: the display stands for the code.
    reading = VOCAB.read(("urn:local|1",), f"{display} ruled out", display)
    assert tag in reading.uncertain


def test_excluded_phrases_are_read_in_the_record_words_not_in_the_trigger() -> None:
    vocab = Vocabulary(assertions=READER)
    vocab.add("lymphoma-set", [], ["lymphoma"], ["history of"])
    assert vocab.read((), "History of lymphoma").tags == frozenset()
    assert vocab.read((), "History of lymphoma").negated == frozenset()
    assert vocab.read((), "No history of lymphoma").negated == {"lymphoma-set"}


def test_the_core_status_words_read_negation() -> None:
    core = core_vocabulary()
    assert core.read((), "Not pregnant").negated == {"pregnancy"}
    assert core.read((), "Not pregnant").tags == frozenset()
    assert core.read((), "possible pregnancy").uncertain == {"pregnancy"}
    assert core.read((), "Non-pregnant").tags == frozenset() and core.read((), "Pregnant").tags == {"pregnancy"}


# --------------------------------------------------------------------------- every phrase of the file


def test_every_forward_negation_negates_the_name_after_it() -> None:
    (tag, name) = FIRST
    for phrase in NEGATED_FORWARD:
        if _longer_phrase_containing(phrase, {"possible", "pseudo"}):
            continue
        reading = VOCAB.read((), f"{phrase} {name}")
        assert tag in reading.negated and tag not in reading.tags, phrase


def test_every_backward_negation_negates_the_name_before_it() -> None:
    (tag, name) = FIRST
    for phrase in NEGATED_BACKWARD:
        reading = VOCAB.read((), f"{name} {phrase}")
        assert tag in reading.negated and tag not in reading.tags, phrase


def test_every_possibility_phrase_leaves_the_tag_uncertain() -> None:
    (tag, name) = FIRST
    for text in [f"{p} {name}" for p in POSSIBLE_FORWARD] + [f"{name} {p}" for p in POSSIBLE_BACKWARD]:
        reading = VOCAB.read((), text)
        assert tag in reading.tags and tag in reading.uncertain, text


# --------------------------------------------------------------------------- properties

WORDS = sorted({w for _, n in NAMES for w in n.casefold().split()} | {"left", "chronic", "of", "and", "2019"})
plain = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
punct = st.sampled_from(["", ",", ";", ".", " -", " /", " (", ")"])


@settings(max_examples=300, deadline=None)
@given(plain, punct, plain)
def test_a_text_with_no_trigger_is_tagged_exactly_as_before(first: str, mark: str, second: str) -> None:
    text = f"{first}{mark} {second}"
    assert READER.read(text) is None
    assert VOCAB.read((), text).tags == VOCAB.tags_for((), text)
    assert not VOCAB.read((), text).negated and not VOCAB.read((), text).uncertain


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NAMES), plain)
def test_adding_a_text_with_no_trigger_never_changes_the_tags(named: tuple[str, str], extra: str) -> None:
    (_, name) = named
    before = VOCAB.read((), name).tags
    after = VOCAB.read((), f"{name}; {extra}").tags
    assert before <= after
    assert after == VOCAB.tags_for((), f"{name}; {extra}")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(NEGATED_FORWARD), st.sampled_from(NAMES))
def test_a_negation_never_reaches_past_a_semicolon(
    first: tuple[str, str], phrase: str, second: tuple[str, str]
) -> None:
    if _longer_phrase_containing(phrase, {"possible", "pseudo"}) or first[0] == second[0]:
        return
    reading = VOCAB.read((), f"{phrase} {first[1]}; {second[1]}")
    assert second[0] in reading.tags and second[0] not in reading.uncertain


def test_every_name_and_coded_display_of_every_set_reads_as_affirmed() -> None:
    """A value set's own words never negate or only suspect its own members (a display with "without")."""
    for pack in PACKS.values():
        for vs in pack.valuesets.values():
            if vs.kind == "medication":
                continue
            for c in vs.code_entries():
                if vs.id in VOCAB.tags_for((c.code,), c.display):
                    reading = VOCAB.read((c.code,), c.display)
                    assert vs.id in reading.tags and vs.id not in reading.uncertain, (vs.id, c.code, c.display)
            for name in vs.match_names():
                if vs.id in VOCAB.tags_for((), name):
                    reading = VOCAB.read((), name)
                    assert vs.id in reading.tags and vs.id not in reading.uncertain, (vs.id, name)


def test_a_vocabulary_without_an_assertion_reader_tags_as_written() -> None:
    vocab = Vocabulary()
    vocab.add("set", [], ["lymphoma"])
    assert vocab.read((), "no lymphoma").tags == {"set"}
    assert isinstance(READER, AssertionReader)


# --------------------------------------------------------------------------- the probes that started it

AT = date(2026, 1, 10)


def _natalizumab_bundle(*conditions: dict[str, object]) -> dict[str, Any]:
    return build_bundle({"age": 40, "sex": "female", "conditions": list(conditions)}, at=AT, drug="natalizumab")


def _findings(bundle: dict[str, Any]) -> dict[str, Finding]:
    result = assess(PACKS["natalizumab"], reader_for(PACKS).read(bundle), at=AT, jurisdiction="EU")
    return {f.rule_id: f for f in result.findings}


def test_pml_ruled_out_no_longer_contraindicates_and_says_it_could_not_verify() -> None:
    for text in ("PML ruled out", "No history of PML", "PML excluded", "negative for PML"):
        finding = _findings(_natalizumab_bundle({"text": text}))["natalizumab.pml-history"]
        assert finding.could_not_verify and finding.effective_severity == "caution", text
        assert any(text in line for line in finding.evidence), finding.evidence


def test_hiv_negative_is_visible_instead_of_silent() -> None:
    finding = _findings(_natalizumab_bundle({"text": "HIV negative"}))["natalizumab.immunocompromising-condition"]
    assert finding.could_not_verify and any("HIV negative" in line for line in finding.evidence)


def test_suspected_hiv_holds_for_review_instead_of_contraindicating() -> None:
    for text in ("possible HIV", "suspected HIV infection"):
        finding = _findings(_natalizumab_bundle({"text": text}))["natalizumab.immunocompromising-condition"]
        assert finding.needs_review and finding.effective_severity == "hold", text


def test_a_provisional_pml_diagnosis_holds_for_review() -> None:
    bundle = _natalizumab_bundle({"text": "PML"})
    condition = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    condition["verificationStatus"] = {"coding": [{"code": "provisional"}]}
    finding = _findings(bundle)["natalizumab.pml-history"]
    assert finding.needs_review and finding.effective_severity == "hold"
    assert any("provisional" in line for line in finding.evidence)


def _pred(evidence: list[str] | None, note: str = "") -> Any:
    def pred(ctx: Any) -> list[str] | None:
        if note:
            ctx.review_notes.append(note)
        return evidence

    return pred


def test_any_keeps_a_review_note_only_when_every_part_that_holds_needs_one() -> None:
    from types import SimpleNamespace

    from rxguard.engine.predicates import any_of

    ctx = SimpleNamespace(review_notes=[])
    assert any_of([_pred(["suspected"], "confirm"), _pred(["recorded"])])(ctx) == ["suspected", "recorded"]
    assert ctx.review_notes == []
    ctx = SimpleNamespace(review_notes=[])
    assert any_of([_pred(["suspected"], "confirm"), _pred(None, "not used")])(ctx) == ["suspected"]
    assert ctx.review_notes == ["confirm"]
    ctx = SimpleNamespace(review_notes=[])
    assert any_of([_pred(None, "not used")])(ctx) is None and ctx.review_notes == []


def test_the_gate_keeps_a_negated_record_visible_when_it_adds_the_program_records() -> None:
    from rxguard.knowledge.program import ProgramRecords
    from rxguard.program.gate_facts import with_program_records

    facts = reader_for(PACKS).read(_natalizumab_bundle({"text": "PML ruled out"}))
    gated = with_program_records(facts, ProgramRecords(), [], drug="natalizumab", infusions=[])
    assert "condition:pml" in gated.keys and gated.negated("condition", "pml")
    assert not gated.tagged("condition", "pml")
    finding = _findings_of(gated)["natalizumab.pml-history"]
    assert finding.could_not_verify


def _findings_of(facts: Any) -> dict[str, Finding]:
    result = assess(PACKS["natalizumab"], facts, at=AT, jurisdiction="EU")
    return {f.rule_id: f for f in result.findings}
