"""A question asking whether something is safe or allowed (pregnancy, breast-feeding, live
vaccines, another medicine, a missed dose, an overdose) is answered with the cited statement on
exactly that, or told that the monograph does not cover it and sent to the prescriber or
pharmacist: never answered from a neighbouring topic. Checked on every installed pack, in
English and Chinese, whatever each pack states."""

from __future__ import annotations

import json
import re

import pytest

from rxguard.druginfo.ask import Answer, answer_question
from rxguard.druginfo.intents import concepts, states_concept
from rxguard.druginfo.monograph import StatementView, build_monograph
from rxguard.druginfo.tokens import english_terms
from rxguard.knowledge.loader import Pack, load_all

#: What a statement answering each kind of question must speak of.
TOPICS: dict[str, re.Pattern[str]] = {
    "pregnancy": re.compile(r"pregnan|妊娠|孕", re.IGNORECASE),
    "breastfeeding": re.compile(r"breast|milk|lactat|哺乳|母乳|乳汁", re.IGNORECASE),
    "vaccines": re.compile(r"vaccin|疫苗", re.IGNORECASE),
    # kidney function as a population (not a kidney disease the drug may cause)
    "kidney": re.compile(r"renal (?:function|impairment)|kidney (?:function|impairment)|肾功能", re.IGNORECASE),
}
QUESTIONS: dict[str, tuple[str, str]] = {
    "pregnancy": ("Is it safe to use {drug} during pregnancy?", "怀孕期间可以用{drug}吗？"),
    "breastfeeding": ("Can I breastfeed while on {drug}?", "用{drug}期间可以哺乳吗？"),
    "vaccines": ("Can I have a live vaccine while on {drug}?", "用{drug}期间能接种活疫苗吗？"),
    "missed-dose": ("I forgot my {drug} dose, what now?", "{drug}忘记打了怎么办？"),
    "overdose": ("Is it dangerous if too much of it was given? ({drug} overdose)", "{drug}打多了怎么办？"),
    "kidney": ("Can a patient with kidney disease get {drug}?", "肾不好的病人能用{drug}吗？"),
}
#: Medicines and other things to combine with, checked to be absent from a pack before use.
OTHERS = [("sertraline", "舍曲林"), ("omeprazole", "奥美拉唑"), ("melatonin", "褪黑素")]
#: Conditions likewise.
CONDITIONS = [("gout", "痛风"), ("psoriasis", "银屑病"), ("glaucoma", "青光眼")]


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


def _statements(pack: Pack) -> dict[str, StatementView]:
    return {st.id: st for lang in ("en", "zh") for st in build_monograph(pack, lang).statements()}


def _text(st: StatementView) -> str:
    return " ".join([st.heading or "", st.text, *st.points])


def _value_set_words(pack: Pack) -> str:
    """Every name and code display of the pack's value sets (what it knows by name)."""
    words = [n for vs in pack.valuesets.values() for n in vs.names]
    words += [getattr(c, "display", "") or "" for vs in pack.valuesets.values() for c in getattr(vs, "codes", ())]
    return " " + " ".join(words).casefold()


def _declines_honestly(answer: Answer) -> bool:
    return (
        answer.status == "not-covered"
        and bool(answer.see)
        and ("prescriber or pharmacist" in answer.message or "处方医生或药师" in answer.message)
    )


def _states(topic: str, text: str) -> bool:
    if topic in TOPICS:
        return bool(TOPICS[topic].search(text))
    return states_concept(text, next(c for c in concepts() if c.id == topic))


def _check(answer: Answer, pack: Pack, topic: str) -> None:
    statements = _statements(pack)
    stated = any(_states(topic, _text(st)) for st in statements.values())
    if not stated:
        assert _declines_honestly(answer), (answer.question, answer.status, answer.message)
        return
    if _declines_honestly(answer):
        pytest.fail(f"{answer.question!r}: the pack states it, but the answer says it is not covered")
    assert answer.status == "answered", (answer.question, answer.status)
    direct = [statements[i] for d in answer.drugs for i in d.direct_from if i in statements]
    assert direct and all(st.citations for st in direct), answer.question
    assert any(_states(topic, _text(st)) for st in direct), (answer.question, [st.id for st in direct])


@pytest.mark.parametrize("topic", sorted(QUESTIONS))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_safety_question_gets_the_statement_on_it_or_an_honest_not_covered(
    packs: dict[str, Pack], topic: str, lang: str
) -> None:
    for pack in packs.values():
        name = pack.identity.display.get(lang) or pack.identity.inn
        template = QUESTIONS[topic][0 if lang == "en" else 1]
        _check(answer_question(template.format(drug=name), packs=packs), pack, topic)


def _questions_on_unknown_things(packs: dict[str, Pack], lang: str, kind: str) -> list[str]:
    """Questions on taking each pack's drug with a medicine it never names (``combining``), or by
    someone with a condition it never names (``condition``); names the pack knows are left out."""
    out = []
    for pack in packs.values():
        corpus = " ".join(_text(st) for st in _statements(pack).values()).casefold() + _value_set_words(pack)
        name = pack.identity.display.get(lang) or pack.identity.inn
        for en, zh in OTHERS if kind == "combining" else CONDITIONS:
            if en in corpus or zh in corpus:
                continue
            if kind == "condition":
                out.append(f"Can a patient with {en} get {name}?" if lang == "en" else f"有{zh}能用{name}吗？")
            elif lang == "en":
                out += [f"Is it safe to take {en} with {name}?", f"Can {name} be given together with {en}?"]
            else:
                out += [f"{name}能和{zh}一起吃吗？", f"用{name}期间可以和{zh}同时用吗？"]
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("kind", "least"), [("combining", 6), ("condition", 3)])
def test_a_medicine_or_condition_the_pack_never_names_is_not_covered(
    packs: dict[str, Pack], lang: str, kind: str, least: int
) -> None:
    questions = _questions_on_unknown_things(packs, lang, kind)
    assert len(questions) >= least
    for question in questions:
        answer = answer_question(question, packs=packs)
        assert _declines_honestly(answer), (question, answer.status, answer.topic)


def test_combining_with_a_medicine_a_value_set_names_is_answered_from_the_rules_on_it(
    packs: dict[str, Pack],
) -> None:
    checked = 0
    for pack in packs.values():
        statements = _statements(pack)
        for vs in pack.valuesets.values():
            plain = [n for n in vs.names if "*" not in n and len(n) >= 4 and n.isalpha()]
            if vs.kind != "medication" or not plain or pack.identity.inn in vs.names:
                continue
            question = f"Is it safe to take {plain[0]} with {pack.identity.inn}?"
            answer = answer_question(question, packs=packs)
            assert answer.status == "answered", (question, answer.status, answer.message)
            # the direct answer rests on a rule that reads the value set, or speaks of its class
            reading = {r.id for r in pack.rules if f'"{vs.id}"' in json.dumps(r.model_dump(mode="json"))}
            said = [i for d in answer.drugs for i in d.direct_from]
            rules = {r for i in said if i in statements for r in statements[i].rules}
            rules |= {i.removeprefix("rule-") for i in said if i.startswith("rule-")}
            title = set(english_terms(vs.title, expand=False))
            texts = [_text(statements[i]) for i in said if i in statements]
            assert rules & reading or any(title & set(english_terms(t, expand=False)) for t in texts), (
                question,
                said,
            )
            checked += 1
    assert checked >= 3
