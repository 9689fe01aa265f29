"""`rxguard ask` answers: red flags, the question's numbers, names, plain language, batch mode, imports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.druginfo.evaluation import load_items

from rxguard.cli import run
from rxguard.druginfo.ask import answer_question
from rxguard.druginfo.formats import render_answer
from rxguard.druginfo.specifics import read_specifics
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.monograph import monograph_of
from rxguard.knowledge.names import find_drugs_in_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


# --------------------------------------------------------------------------- red flags

PML_SYMPTOMS = [
    "new weakness in her left arm and trouble speaking",
    "sudden clumsiness and blurred vision",
    "has been confused lately and her memory is getting worse",
    "new problems with balance when walking",
    "new clumsiness of the right hand and trouble finding words",
    "recently disoriented, and weakness on one side",
]
FEVER = [
    "fever still there 10 hours after the infusion",
    "chills that won't settle, it has been 12 hours",
    "a temperature that persists overnight",
]
WRAPPERS = [
    "{s} — is this related to {d}?",
    "My son on {d} has {s}. Can he have the next dose on Friday?",
    "Question about the {d} schedule: the patient reports {s}; also, how is it stored?",
    "{d}: {s}",
]


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize(("drug", "symptom", "flag"), [
    *(("Tysabri", s, "pml-suggestive-symptoms") for s in PML_SYMPTOMS),
    *(("MEPACT", s, "persistent-fever-or-chills") for s in FEVER),
])  # fmt: skip
def test_a_red_flag_always_gets_the_urgent_action_whatever_else_is_asked(
    packs: dict[str, Pack], wrapper: str, drug: str, symptom: str, flag: str
) -> None:
    answer = answer_question(wrapper.format(s=symptom, d=drug), packs=packs)
    assert answer.status == "answered"
    urgent = [u for d in answer.drugs for u in d.urgent]
    assert [u.id for u in urgent][:1] == [flag]
    assert all(u.citations for u in urgent)
    text = render_answer(answer, "text")
    assert text.index("URGENT") < text.index("Answer:")


@pytest.mark.parametrize(
    ("question", "flag"),
    [
        ("用那他珠单抗的病人最近说话不清楚、手没力气", "pml-suggestive-symptoms"),
        ("那他珠單抗治療後突然看不清東西，走路不穩", "pml-suggestive-symptoms"),
        ("米伐木肽输注后发烧一直不退，已经十个小时了", "persistent-fever-or-chills"),
        ("输那他珠单抗的时候突然呼吸困难、起荨麻疹", "hypersensitivity-reaction"),
        ("他用那他珠单抗，最近右手越来越笨拙", "pml-suggestive-symptoms"),
    ],
)
def test_chinese_red_flags_get_the_chinese_urgent_action(packs: dict[str, Pack], question: str, flag: str) -> None:
    answer = answer_question(question, packs=packs)
    urgent = [u for d in answer.drugs for u in d.urgent]
    assert urgent and urgent[0].id == flag
    assert re.search(r"[\u4e00-\u9fff]", urgent[0].text) and "紧急" in render_answer(answer, "text")


def test_questions_without_symptoms_raise_no_red_flag(packs: dict[str, Pack]) -> None:
    calm = [q["q"] for q in load_items("questions.yaml") if q["intent"] in ("access", "indications", "interactions")]
    raised = [q for q in calm if any(d.urgent for d in answer_question(q, packs=packs).drugs)]
    assert not raised


def test_red_flags_and_urgent_actions_are_pack_data(packs: dict[str, Pack]) -> None:
    for pack in packs.values():
        mono = monograph_of(pack)
        assert mono is not None and mono.red_flags
        for flag in mono.red_flags:
            assert flag.urgent.en and flag.urgent.zh and flag.cite
    source = (ROOT / "src" / "rxguard" / "druginfo" / "redflags.py").read_text("utf-8").lower()
    assert not re.search(r"\b(?:pml|sepsis|anaphyla\w*|natalizumab|mifamurtide)\b", source)


# --------------------------------------------------------------------------- the question's numbers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=1, max_value=60))
def test_the_observation_rule_follows_the_infusion_number(packs: dict[str, Pack], n: int) -> None:
    answer = answer_question(f"Is one hour of observation needed after the {n}th Tysabri infusion?", packs=packs)
    direct = answer.drugs[0].direct
    assert f"Infusion {n}:" in direct
    assert ("does not apply" in direct) == (n > 12), direct


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(age=st.integers(min_value=0, max_value=99))
def test_an_age_is_checked_against_the_label_age_limits(packs: dict[str, Pack], age: int) -> None:
    answer = answer_question(f"Can a {age}-year-old receive mifamurtide?", packs=packs)
    direct = answer.drugs[0].direct
    assert f"At {age} years" in direct
    if age < 2:
        assert "under 2" in direct
    elif age > 30:
        assert "over 30" in direct
    else:
        assert "none of the label's age limits applies" in direct


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bsa=st.decimals(min_value="0.5", max_value="2.5", places=2))
def test_a_dose_per_m2_is_computed_from_the_body_surface(packs: dict[str, Pack], bsa: object) -> None:
    answer = answer_question(f"MEPACT dose for a body surface area of {bsa} m2?", packs=packs)
    assert f"is {round(2 * float(str(bsa)), 2):g} mg per infusion" in answer.drugs[0].direct


def test_a_fixed_dose_is_not_computed_from_body_surface(packs: dict[str, Pack]) -> None:
    answer = answer_question("Natalizumab dose for a body surface area of 1.8 m2?", packs=packs)
    assert "mg per infusion" not in answer.drugs[0].direct and "300 mg" in render_answer(answer, "text")


@pytest.mark.parametrize(
    ("question", "age", "infusion", "bsa"),
    [
        ("第13次输注那他珠单抗后还要观察吗", None, 13, None),
        ("第十二次输注", None, 12, None),
        ("一名8岁患儿，体表面积0.9平方米", 8, None, 0.9),
        ("72 years old, BSA 1.7", 72, None, 1.7),
        ("after 2 years of treatment", None, None, None),
        ("her twentieth infusion", None, 20, None),
    ],
)
def test_numbers_are_read_from_the_question(
    question: str, age: float | None, infusion: int | None, bsa: float | None
) -> None:
    found = read_specifics(question)
    assert (found.age, found.infusion, found.bsa) == (age, infusion, bsa)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("那他珠單抗的副作用", "natalizumab"),
        ("那他珠有什么副作用", "natalizumab"),
        ("米法木肽怎么用", "mifamurtide"),
        ("米伐木肽注射液可以和布洛芬一起吃吗", "mifamurtide"),
        ("Tysab的副作用大吗", "natalizumab"),
        ("how long is a mepac infusion", "mifamurtide"),
    ],
)
def test_traditional_truncated_and_misspelt_names_inside_sentences_resolve(
    packs: dict[str, Pack], text: str, drug: str
) -> None:
    assert [r.drug for r in find_drugs_in_text(text, packs)] == [drug]


@pytest.mark.parametrize(
    "text",
    ["奥马珠单抗的副作用", "珠单抗类药物", "木肽", "omalizumab side effects", "natal care", "Tysa", "mepolizumab dose"],
)
def test_near_miss_drugs_do_not_resolve(packs: dict[str, Pack], text: str) -> None:
    assert find_drugs_in_text(text, packs) == []


def test_a_look_alike_drug_is_never_offered_as_the_same_drug(packs: dict[str, Pack]) -> None:
    answer = answer_question("What are the side effects of omalizumab?", packs=packs)
    assert answer.status == "no-drug"
    assert "Did you mean" not in answer.message
    if answer.suggestions:
        assert "different medicine" in answer.message


# --------------------------------------------------------------------------- plain language

_INTERNAL = re.compile(
    r"\b(?:natalizumab|mifamurtide)\.[a-z0-9-]+|\b[\w-]+\.(?:yaml|py)\b|value[- ]?sets?|vignette|schema|"
    r"clinical[- ]facts|fact base|\brules? [a-z0-9]+(?:-[a-z0-9]+)+",
    re.IGNORECASE,
)


@pytest.mark.parametrize("name", ["questions.yaml", "tuned.yaml", "heldout.yaml"])
def test_answers_speak_plain_language_and_keep_ids_in_the_json(packs: dict[str, Pack], name: str) -> None:
    if not (Path(__file__).parent / name).exists():
        pytest.fail(f"{name} is missing")
    leaks = []
    for item in load_items(name):
        answer = answer_question(item["q"], packs=packs)
        text = re.sub(r"https?://\S+", "", render_answer(answer, "text"))
        leaks += [(item["q"], m.group(0)) for m in _INTERNAL.finditer(text)]
    assert not leaks
    data = orjson.loads(render_answer(answer_question("Who should not receive natalizumab?", packs=packs), "json"))
    assert any(st["rules"] for s in data["drugs"][0]["sections"] for st in s["statements"])


def test_every_answer_starts_with_a_direct_sentence_in_its_language(packs: dict[str, Pack]) -> None:
    for item in load_items("tuned.yaml"):
        answer = answer_question(item["q"], packs=packs)
        if answer.status != "answered":
            continue
        direct = answer.drugs[0].direct
        assert direct, item["q"]
        assert bool(re.search(r"[\u4e00-\u9fff]", direct)) == (answer.lang == "zh"), item["q"]


# --------------------------------------------------------------------------- batch mode and imports


def test_ask_file_answers_every_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(
        "# a comment\nWhat is the dose of natalizumab?\n\n那他珠單抗的副作用\nHow much does Tysabri cost?\n", "utf-8"
    )
    assert run(["ask", "--file", str(questions), "--format", "json"]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["status"] for a in lines] == ["answered", "answered", "no-intent"]
    assert [a["lang"] for a in lines] == ["en", "zh", "en"]
    assert run(["ask", "--file", str(questions)]) == 0
    out = capsys.readouterr().out
    assert out.count("## ") == 3 and "Answer:" in out and "回答：" in out


@pytest.mark.parametrize("args", [["ask"], ["ask", "x", "--file", "y"], ["ask", "--file", "/no/such/file.txt"]])
def test_ask_file_refuses_bad_input_with_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("rxguard: error:") and "Traceback" not in err


def test_the_druginfo_path_imports_nothing_heavy_until_it_needs_it() -> None:
    """An English answer never needs jieba, numpy or bm25s (rxguard scores BM25 itself)."""
    code = (
        "import sys; import rxguard.druginfo.ask, rxguard.cli.druginfo; "
        "heavy = [m for m in ('jieba', 'numpy', 'bm25s', 'opencc', 'Stemmer', 'sqlalchemy', 'alembic') if m in sys.modules]; "
        "print(heavy); "
        "from rxguard.druginfo.ask import answer_question; answer_question('What is the dose of natalizumab?'); "
        "print([m for m in ('jieba', 'pkg_resources', 'sqlalchemy', 'alembic', 'numpy', 'bm25s') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]"]
