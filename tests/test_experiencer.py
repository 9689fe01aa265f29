"""Another person's condition in a record's text ("family history of X", "mother had X"): ConText's experiencer.

The scope tests name no drug: they read the packs' value sets through the words a pack names, so they
test the mechanism (the trigger file's experiencer phrases, their scopes), not a phrase list.
"""

from __future__ import annotations

import copy
from datetime import date
from importlib import resources
from typing import Any

import yaml
from tests.generated_cases import single_set_condition_names

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.engine.model import Finding
from rxguard.facts.assertion import TRIGGERS_FILE, default_reader, parse_triggers
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import load_all

PACKS = load_all()
FACTS = reader_for(PACKS)
VOCAB = FACTS.vocabulary
READER = default_reader()
TRIGGER_WORDS = {w for t in READER.triggers for w in t.words}
OTHER_FORWARD = sorted({t.phrase for t in READER.triggers if t.kind == "other" and t.direction == "forward"})
OTHER_BACKWARD = sorted({t.phrase for t in READER.triggers if t.kind == "other" and t.direction == "backward"})


NAMES = single_set_condition_names(PACKS, VOCAB, TRIGGER_WORDS)
FIRST, SECOND = NAMES[0], next(n for n in NAMES if n[0] != NAMES[0][0])


def _shadowed(phrase: str) -> bool:
    words = tuple(phrase.split())
    return any(
        len(t.words) > len(words) and t.words[: len(words)] == words and t.kind != "other" for t in READER.triggers
    )


# --------------------------------------------------------------------------- the trigger file


def test_the_experiencer_section_cites_declared_sources_and_additions_say_why() -> None:
    raw = yaml.safe_load(resources.files("rxguard.facts").joinpath(TRIGGERS_FILE).read_text(encoding="utf-8"))
    assert raw["experiencer"]["forward"] and raw["experiencer"]["backward"]
    for direction in ("forward", "backward"):
        for entry in raw["experiencer"][direction]:
            assert set(entry["sources"]) <= set(raw["sources"]), entry
            if entry["sources"] == ["rxguard"]:
                assert entry.get("note"), f"{entry['phrase']!r} is an rxguard addition and must say why"


def test_an_experiencer_phrase_naming_an_unknown_source_is_refused() -> None:
    bad = {
        "sources": {"a": {}},
        "negated": {},
        "possible": {},
        "experiencer": {"forward": [{"phrase": "mother", "sources": ["b"]}]},
    }
    try:
        parse_triggers(bad)
    except ValueError as exc:
        assert "'mother'" in str(exc)
    else:
        raise AssertionError("an unknown source id must be refused")


# --------------------------------------------------------------------------- scopes


def test_every_forward_experiencer_phrase_gives_the_name_after_it_to_another_person() -> None:
    (tag, name) = FIRST
    for phrase in OTHER_FORWARD:
        if _shadowed(phrase):
            continue
        for text in (f"{phrase} {name}", f"{phrase}: {name}", f"{phrase} with {name}", f"{phrase} had {name}"):
            reading = VOCAB.read((), text)
            assert tag in reading.negated and tag in reading.others and tag not in reading.tags, text


def test_every_backward_experiencer_phrase_gives_the_name_before_it_to_another_person() -> None:
    (tag, name) = FIRST
    for phrase in OTHER_BACKWARD:
        for text in (f"{name} {phrase}", f"{name} - {phrase}", f"{name} ({phrase})"):
            reading = VOCAB.read((), text)
            assert tag in reading.others and tag not in reading.tags, text


def test_a_semicolon_ends_the_other_persons_scope() -> None:
    (a_tag, a_name), (b_tag, b_name) = FIRST, SECOND
    for phrase in OTHER_FORWARD:
        if _shadowed(phrase):
            continue
        for mark in (";", ",", "."):
            reading = VOCAB.read((), f"{phrase} {a_name}{mark} {b_name}")
            assert a_tag in reading.others, (phrase, mark)
            assert b_tag in reading.tags and b_tag not in reading.uncertain and b_tag not in reading.negated, (
                phrase,
                mark,
            )


def test_a_termination_word_ends_the_other_persons_scope() -> None:
    (a_tag, a_name), (b_tag, b_name) = FIRST, SECOND
    reading = VOCAB.read((), f"mother had {a_name} but {b_name}")
    assert a_tag in reading.others and b_tag in reading.tags and b_tag not in reading.uncertain


def test_another_persons_condition_never_counts_even_when_negated_or_suspected_too() -> None:
    (tag, name) = FIRST
    for text in (f"no family history of {name}", f"mother: possible {name}", f"father, no {name}"):
        reading = VOCAB.read((), text)
        assert tag not in reading.tags or tag in reading.uncertain, text


def test_the_child_pugh_score_is_the_patients_own() -> None:
    assert READER.read("Liver cirrhosis Child-Pugh class C") is None


def test_a_code_whose_own_text_gives_it_to_another_person_is_uncertain() -> None:
    for pack in PACKS.values():
        for vs in pack.valuesets.values():
            if vs.kind != "condition":
                continue
            for c in vs.code_entries():
                if c.display and VOCAB.tags_for((c.code,), c.display) == {vs.id} and READER.read(c.display) is None:
                    reading = VOCAB.read((c.code,), f"family history of {c.display}")
                    assert vs.id in reading.uncertain and "another person" in reading.cue, (vs.id, c.code)
                    return
    raise AssertionError("no coded condition to test with")


# --------------------------------------------------------------------------- the probes

AT = date(2026, 1, 10)
PML = "natalizumab.pml-history"
IMMUNO = "natalizumab.immunocompromising-condition"


def _bundle(*conditions: dict[str, object]) -> dict[str, Any]:
    return build_bundle({"age": 40, "sex": "female", "conditions": list(conditions)}, at=AT, drug="natalizumab")


def _findings(bundle: dict[str, Any]) -> dict[str, Finding]:
    result = assess(PACKS["natalizumab"], FACTS.read(bundle), at=AT, jurisdiction="EU")
    return {f.rule_id: f for f in result.findings}


def test_family_history_of_pml_no_longer_contraindicates_and_says_who_had_it() -> None:
    assert not _findings(_bundle({"text": "PML"}))[PML].could_not_verify
    for text in ("Family history of PML", "Mother had PML", "father: PML", "sibling with PML", "PML (family history)"):
        finding = _findings(_bundle({"text": text}))[PML]
        assert finding.could_not_verify and finding.effective_severity == "caution", text
        assert any(text in line and "another person" in line for line in finding.evidence), finding.evidence


def test_the_patients_own_condition_beside_a_family_history_still_counts() -> None:
    finding = _findings(_bundle({"text": "family history of diabetes; PML"}))[PML]
    assert not finding.could_not_verify and finding.effective_severity == "contraindicated"


def test_hiv_in_a_relative_is_visible_instead_of_silent() -> None:
    for text in ("Family history of HIV", "father: HIV", "HIV infection - family history"):
        finding = _findings(_bundle({"text": text}))[IMMUNO]
        assert finding.could_not_verify and any(text in line for line in finding.evidence), text


def test_a_family_member_history_resource_is_never_the_patients_condition() -> None:
    """FHIR R4 FamilyMemberHistory is a relative's record, whatever condition it codes."""
    own = _bundle({"text": "PML"})
    condition = next(e["resource"] for e in own["entry"] if e["resource"]["resourceType"] == "Condition")
    relative = copy.deepcopy(own)
    relative["entry"] = [e for e in relative["entry"] if e["resource"]["resourceType"] != "Condition"]
    relative["entry"].append(
        {
            "resource": {
                "resourceType": "FamilyMemberHistory",
                "status": "completed",
                "patient": condition.get("subject", {"reference": "Patient/p"}),
                "relationship": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]
                },
                "condition": [{"code": copy.deepcopy(condition["code"])}],
            }
        }
    )
    facts = FACTS.read(relative)
    assert not facts.tagged("condition", "pml") and not facts.negated("condition", "pml")
    assert PML not in _findings(relative)


def test_a_relatives_pregnancy_is_shown_as_another_persons_where_a_rule_asks_for_it_to_be_absent() -> None:
    from rxguard.engine.predicates import Ctx, status_flag

    for text, message in (("Mother: pregnancy", "condition-other-person"), ("Not pregnant", "condition-says-absent")):
        facts = FACTS.read(_bundle({"text": text}))
        ctx = Ctx(facts, AT, None, {}, {}, (), None, None, {}, {}, None, {})
        lines = status_flag("pregnancy", "pregnancy-status", False)(ctx)
        assert lines is not None and any(getattr(line, "message_id", "") == message for line in lines), (text, lines)
        assert status_flag("pregnancy", "pregnancy-status", True)(ctx) is None, text


def test_a_coded_family_history_display_still_leaves_the_set_by_its_excludes() -> None:
    """Displays are names of the code, never read for experiencer: the value sets' "family history" excludes
    keep a coding displayed "Family history of HIV" out of the set (and the record's text is read as ever)."""
    assert VOCAB.read(("http://example.org/fh|1",), "", "HIV infection").tags
    for display in ("Family history of HIV", "Family history of HIV infection"):
        reading = VOCAB.read(("http://example.org/fh|1",), "", display)
        assert not any("hiv" in tag for tag in reading.tags), (display, reading)
