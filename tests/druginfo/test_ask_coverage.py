"""What `rxguard ask` does with a question the monographs may not answer, with names, and with
the medicines and conditions a pack's value sets know by name: checked on every installed pack."""

from __future__ import annotations

import pytest
import yaml

from rxguard.druginfo.ask import answer_question, label_sources
from rxguard.druginfo.intents import _VOCABULARY, concepts, question_concepts, states_concept
from rxguard.druginfo.monograph import build_monograph
from rxguard.druginfo.retrieval import PackIndex
from rxguard.knowledge.loader import Pack, load_all

EXAMPLES = {cid: c["examples"] for cid, c in yaml.safe_load(_VOCABULARY.read_text("utf-8"))["concepts"].items()}


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


def _states(pack: Pack, concept_id: str) -> bool:
    concept = next(c for c in concepts() if c.id == concept_id)
    docs = [build_monograph(pack, "en"), build_monograph(pack, "zh")]
    return any(
        states_concept(" ".join([st.heading or "", st.text, *st.points]), concept)
        for doc in docs
        for section in doc.sections
        for st in section.statements
    )


def test_every_concept_has_examples_that_name_it() -> None:
    assert {c.id for c in concepts()} == set(EXAMPLES)
    for cid, examples in EXAMPLES.items():
        for lang in ("en", "zh"):
            question = examples[lang].format(drug="X药" if lang == "zh" else "X")
            assert cid in {c.id for c in question_concepts(question)}, (cid, lang, question)


@pytest.mark.parametrize("concept_id", sorted(EXAMPLES))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_concept_no_statement_states_is_not_covered_and_points_to_the_label(
    packs: dict[str, Pack], concept_id: str, lang: str
) -> None:
    for drug, pack in packs.items():
        name = pack.identity.display.get(lang) or pack.identity.inn
        question = EXAMPLES[concept_id][lang].format(drug=name)
        answer = answer_question(question, packs=packs)
        if _states(pack, concept_id):
            assert answer.status != "not-covered", (drug, question)
            continue
        assert answer.status == "not-covered", (drug, question, answer.status)
        assert answer.see, (drug, question)
        assert all(source.title in answer.message for source in answer.see), (drug, question)
        assert ("does not cover" in answer.message) if lang == "en" else ("未涉及" in answer.message)


def test_the_label_pointed_to_is_a_verified_regulator_level_source_where_a_product_is_marketed(
    packs: dict[str, Pack],
) -> None:
    for drug, pack in packs.items():
        marketed = {j for product in pack.identity.products for j in product.jurisdictions}
        found = label_sources(pack)
        assert found, drug
        assert all(s.verified and s.tier in ("A", "B") and s.jurisdiction in marketed for s in found), drug
        assert len({s.jurisdiction for s in found}) == len(found), drug


@pytest.mark.parametrize("template", ["What are the other names of {drug}?", "{drug}的别名是什么？"])
def test_a_question_about_names_answers_from_the_names_section(packs: dict[str, Pack], template: str) -> None:
    for drug, pack in packs.items():
        lang = "zh" if "别名" in template else "en"
        names = build_monograph(pack, lang).section("names")
        if names is None:
            continue
        answer = answer_question(template.format(drug=pack.identity.inn), packs=packs)
        assert answer.status == "answered" and answer.topic == "names", (drug, answer.status, answer.topic)
        ids = {st.id for st in names.statements}
        assert set(answer.drugs[0].direct_from) & ids, drug


def test_a_value_set_name_in_a_question_adds_the_words_of_its_title(packs: dict[str, Pack]) -> None:
    checked = 0
    for pack in packs.values():
        index = PackIndex(pack, "en", None)
        for vs in pack.valuesets.values():
            plain = [n for n in vs.names if "*" not in n and len(n) >= 3]
            if vs.kind not in ("medication", "condition") or not plain or pack.identity.inn in vs.names:
                continue
            added = index.expansion(f"Is it safe with {plain[0]} today?")
            assert added, (pack.identity.id, vs.id)
            # a name inside a longer word is not the name
            assert not index.expansion(f"Is it safe with x{plain[0]}x today?"), (pack.identity.id, vs.id)
            checked += 1
    assert checked >= 10
