"""`rxguard ask`, `rxguard monograph` and `rxguard names` end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rxguard.cli import run


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_chinese_access_seed_question_is_answered_in_chinese_with_sources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "ask", "那他珠单抗(Natalizumab)怎么购买")
    assert code == 0, err
    assert "如何获得" in out
    for phrase in ("TOUCH", "TYRUKO REMS", "认证", "登记", "每 4 周", "输注机构", "重新授权", "患者警示卡"):
        assert phrase in out, phrase
    assert "参考资料" in out and "S9" in out and "S4" in out
    assert "未经核实" in out  # the Chinese name and the unread enrollment form
    assert "免责声明" in out


def test_the_mivamutide_seed_question_gets_the_label_contraindications(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "ask",
        "What are the contraindications when using mivamutide? Which patients are not suitable for this drug?",
    )
    assert code == 0, err
    assert "mifamurtide — Contraindications" in out
    assert "ciclosporin" in out and "NSAIDs" in out and "Hypersensitivity" in out
    # what the seed calls contraindications is shown as warnings, with the recorded disagreements
    assert "Not contraindications" in out and "severe renal or hepatic impairment" in out
    assert "Where sources disagree" in out and "Severe hepatic or renal impairment" in out
    assert "S12" in out and "tier B" in out
    # the misspelling is explained, never displayed as the drug's name
    assert "reads it as mifamurtide" in out
    assert "mivamutide — " not in out


def test_ask_answers_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ask", "Can Tysabri be used during pregnancy?", "--format", "json", "--lang", "zh")
    assert code == 0
    data = orjson.loads(out)
    assert data["status"] == "answered" and data["intent"] == "special-populations" and data["lang"] == "zh"
    assert data["drugs"][0]["drug"] == "natalizumab"
    assert all(st["citations"] for s in data["drugs"][0]["sections"] for st in s["statements"])


def test_the_answer_json_carries_contract_3(capsys: pytest.CaptureFixture[str]) -> None:
    """Contract 3: `see` on every answer, the status `not-covered` and the intent `names`."""
    _, out, _ = cli(capsys, "ask", "What was natalizumab called before?", "--format", "json")
    data = orjson.loads(out)
    assert data["contract_version"] == 3 and data["intent"] == "names" and data["see"] == []
    _, out, _ = cli(capsys, "ask", "Can I drink alcohol on natalizumab?", "--format", "json")
    data = orjson.loads(out)
    assert data["contract_version"] == 3 and data["status"] == "not-covered" and data["drugs"] == []
    assert data["see"] and all({"id", "title", "url", "tier", "verified"} <= set(s) for s in data["see"])
    _, out, _ = cli(capsys, "monograph", "natalizumab", "--format", "json")
    assert orjson.loads(out)["contract_version"] == 3


def test_ask_filters_by_jurisdiction(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "ask", "How do I obtain natalizumab?", "--jurisdiction", "EU", "--format", "json")
    statements = orjson.loads(out)["drugs"][0]["sections"][0]["statements"]
    assert all(not st["jurisdictions"] or "EU" in st["jurisdictions"] for st in statements)


def test_ask_is_honest_about_unknown_drugs_and_topics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ask", "What are the side effects of ocrelizumab?")
    assert code == 0 and "rxguard has no pack for" in out and "natalizumab" in out
    code, out, _ = cli(capsys, "ask", "How much does Tysabri cost?")
    assert code == 0 and "rxguard cannot answer that" in out and "contraindications" in out
    code, out, _ = cli(capsys, "ask", "米伐木肽多少钱？")
    assert code == 0 and "无法回答" in out


def test_ask_reports_a_missing_section(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ask", "What is the PML risk with mifamurtide?")
    assert code == 0 and "has no section on" in out


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("drug", ["Tysabri", "米伐木肽"])
def test_monograph_command_renders(capsys: pytest.CaptureFixture[str], drug: str, lang: str, fmt: str) -> None:
    code, out, err = cli(capsys, "monograph", drug, "--lang", lang, "--format", fmt)
    assert code == 0, err
    assert ("Where sources disagree" if lang == "en" else "资料分歧") in out


def test_monograph_writes_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "mepact.html"
    code, out, _ = cli(capsys, "monograph", "MEPACT", "--format", "html", "--output", str(target))
    assert code == 0 and "wrote" in out
    assert target.read_text("utf-8").startswith("<!DOCTYPE html>")


def test_names_resolve(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "names", "resolve", "TYRUKOREMS")
    assert code == 0 and "TYRUKO REMS" in out and "pack natalizumab" in out
    code, out, _ = cli(capsys, "names", "resolve", "Milvage peptide", "--format", "json")
    data = orjson.loads(out)
    assert data["drug"] == "mifamurtide" and data["display"] == "mifamurtide" and data["verified"] is False
    code, out, _ = cli(capsys, "names", "suggest", "natali")
    assert code == 0 and "natalizumab" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["monograph", "omalizumab"], "no pack"),
        (["monograph", "Tysabri", "--lang", "fr"], "--lang"),
        (["monograph", "Tysabri", "--format", "pdf"], "--format"),
        (["ask", "   "], "empty"),
        (["ask", "natalizumab dose?", "--format", "xml"], "--format"),
        (["ask", "natalizumab dose?", "--jurisdiction", "CN"], "--jurisdiction"),
        (["names", "resolve", "nata"], "no pack"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _out, err = cli(capsys, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
