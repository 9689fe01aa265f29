"""Monographs of the real packs: both drugs, both languages, every format, every statement cited,
every recorded conflict shown, Chinese wording complete, HTML escaped and self-contained."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from rxguard.druginfo.formats import render_monograph
from rxguard.druginfo.monograph import CONFLICTS_SECTION, MonographDoc, build_monograph
from rxguard.errors import InputError, PackError
from rxguard.knowledge.loader import Pack, load_all, load_pack
from rxguard.knowledge.monograph import Monograph, monograph_of

DRUGS = ("natalizumab", "mifamurtide", "alemtuzumab")
LANGS = ("en", "zh")
FORMATS = ("md", "html", "json")


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


def _mono(pack: Pack) -> Monograph:
    mono = monograph_of(pack)
    assert mono is not None, f"{pack.name} has no monograph.yaml"
    return mono


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("drug", DRUGS)
def test_it_renders_every_drug_in_every_language_and_format(
    packs: dict[str, Pack], drug: str, lang: str, fmt: str
) -> None:
    doc = build_monograph(packs[drug], lang)  # type: ignore[arg-type]
    text = render_monograph(doc, fmt)
    assert doc.title in text if fmt != "json" else orjson.loads(text)["title"] == doc.title
    disclaimer_word = "healthcare professionals" if lang == "en" else "医疗卫生专业人员"
    assert disclaimer_word in doc.disclaimer
    if fmt == "json":
        data = orjson.loads(text)
        assert data["drug"] == drug and data["lang"] == lang
        assert [s["id"] for s in data["sections"]] == [s.id for s in doc.sections]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("drug", DRUGS)
def test_every_statement_carries_a_registered_citation(packs: dict[str, Pack], drug: str, lang: str) -> None:
    doc = build_monograph(packs[drug], lang)  # type: ignore[arg-type]
    for statement in doc.statements():
        assert statement.citations, f"{drug} {statement.id} has no citation"
        for citation in statement.citations:
            assert citation.source in packs[drug].sources
            assert citation.section and citation.tier in "ABCD"
    assert {s.id for s in doc.sources} == {c.source for st in doc.statements() for c in st.citations}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("drug", DRUGS)
def test_every_recorded_conflict_appears_where_sources_disagree(packs: dict[str, Pack], drug: str, lang: str) -> None:
    pack = packs[drug]
    doc = build_monograph(pack, lang)  # type: ignore[arg-type]
    section = doc.section(CONFLICTS_SECTION)
    assert section is not None
    assert [st.id for st in section.statements] == [f"conflict-{c.id}" for c in pack.conflicts]
    for conflict, statement in zip(pack.conflicts, section.statements, strict=True):
        assert len(statement.points) == len(conflict.claims)
        # the same claims in parts, so a page can mark the cited document's English title as quoted
        for claim, part, point in zip(conflict.claims, statement.claims, statement.points, strict=True):
            assert (part.source, part.section) == (claim.source, claim.section)
            assert part.title == pack.sources[claim.source].title
            assert all(piece in point for piece in (part.title, part.source, part.section, part.tier, part.says))
        if lang == "en":
            assert conflict.resolution in statement.text
    rendered = render_monograph(doc, "md")
    assert rendered.count("(conflict") == 0
    assert all(st.heading and st.heading in rendered for st in section.statements)


@pytest.mark.parametrize("drug", DRUGS)
def test_the_chinese_wording_is_complete_and_current(packs: dict[str, Pack], drug: str) -> None:
    pack = packs[drug]
    assert _mono(pack).translation_problems(pack, pack.path / "monograph.yaml") == []
    assert build_monograph(pack, "zh").missing_translations == ()


@pytest.mark.parametrize(("drug", "name"), [("natalizumab", "那他珠单抗"), ("mifamurtide", "米伐木肽")])
def test_the_chinese_name_is_shown_as_not_verified(packs: dict[str, Pack], drug: str, name: str) -> None:
    for lang in LANGS:
        doc = build_monograph(packs[drug], lang)  # type: ignore[arg-type]
        names = doc.section("names")
        assert names is not None
        statement = next(st for st in names.statements if st.id == "chinese-name")
        assert name in statement.text and statement.unverified
        assert ("not been verified" in statement.text) if lang == "en" else ("未经核实" in statement.text)


@pytest.mark.parametrize("drug", DRUGS)
def test_every_monograph_rule_exists_and_generated_parts_name_their_file(packs: dict[str, Pack], drug: str) -> None:
    pack = packs[drug]
    doc = build_monograph(pack, "en")
    for statement in doc.statements():
        assert set(statement.rules) <= set(pack.rules_by_id)
    generated = {st.generated_from for st in doc.statements()}
    assert {"monograph.yaml", "conflicts.yaml", "schedule.yaml"} <= generated
    if pack.risk is not None:
        assert "risk.yaml" in generated


def test_natalizumab_access_names_both_us_programs_and_the_eu_alert_card(packs: dict[str, Pack]) -> None:
    doc = build_monograph(packs["natalizumab"], "en")
    access = doc.section("access")
    assert access is not None
    text = " ".join(st.text for st in access.statements)
    for phrase in ("TOUCH", "TYRUKO REMS", "every four weeks", "every 6 months", "patient alert card", "2 years"):
        assert phrase in text
    assert {"US", "EU"} <= {j for st in access.statements for j in st.jurisdictions}


def test_natalizumab_adverse_reactions_include_the_ms_table(packs: dict[str, Pack]) -> None:
    doc = build_monograph(packs["natalizumab"], "zh")
    section = doc.section("adverse-reactions")
    assert section is not None
    table = next(st.table for st in section.statements if st.table)
    assert ("头痛", "38%", "33%") in table.rows


def test_mifamurtide_is_eu_only_and_its_contraindications_follow_the_label(packs: dict[str, Pack]) -> None:
    doc = build_monograph(packs["mifamurtide"], "en")
    access, contra = doc.section("access"), doc.section("contraindications")
    assert access is not None and contra is not None
    assert any("not approved in the United States" in st.text for st in access.statements)
    contra_text = " ".join(st.text for st in contra.statements)
    assert "ciclosporin" in contra_text and "NSAIDs" in contra_text
    assert "Not contraindications" in contra_text


@pytest.mark.parametrize("lang", LANGS)
def test_html_is_escaped_and_self_contained(packs: dict[str, Pack], lang: str) -> None:
    html = render_monograph(build_monograph(packs["natalizumab"], lang), "html")  # type: ignore[arg-type]
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    assert not re.search(r"<link|@import|src=", html), "no external resources"
    assert 'lang="zh-Hans"' in html if lang == "zh" else 'lang="en"' in html
    # quoted pack text is escaped, never raw markup
    assert "&quot;" in html or "&#x27;" in html or "“" in html


def test_html_escapes_pack_text(packs: dict[str, Pack]) -> None:
    doc = build_monograph(packs["mifamurtide"], "en")
    first = doc.sections[0]
    evil = type(first.statements[0])(id="x", text="<script>alert(1)</script>", citations=first.statements[0].citations)
    doc2 = MonographDoc(**{**doc.__dict__, "sections": (type(first)(first.id, first.title, (evil,)),)})
    html = render_monograph(doc2, "html")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_bad_format_or_language_is_refused(packs: dict[str, Pack]) -> None:
    with pytest.raises(InputError, match="format"):
        render_monograph(build_monograph(packs["mifamurtide"], "en"), "pdf")
    with pytest.raises(InputError, match="language"):
        build_monograph(packs["mifamurtide"], "fr")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- schema checks on small packs


def _pack_with_monograph(tmp_path: Path, monograph: str) -> Path:
    from tests.druginfo.conftest import NATALIZUMAB_IDENTITY, write_pack

    folder = write_pack(tmp_path, NATALIZUMAB_IDENTITY)
    (folder / "monograph.yaml").write_text(monograph, encoding="utf-8")
    return folder


_MONOGRAPH = """
drug: natalizumab
last_reviewed_on: 2026-01-01
title: {{en: T, zh: 标题}}
summary: {{en: S, zh: 摘要}}
disclaimer: {{en: For healthcare professionals., zh: 仅供医疗卫生专业人员参考。}}
sections:
  - id: access
    title: {{en: How to obtain it, zh: 如何获得}}
    statements:
      - id: one
        text:
          en: Text.
          zh: >-
            第一行
            第二行
        cite: [{{source: {source}, section: "§1"}}]
        rules: {rules}
conflicts_zh:
  {conflict}: {{topic: 话题, says: [说], resolution: 处理}}
"""


def test_a_monograph_citing_an_unregistered_source_is_refused(tmp_path: Path) -> None:
    folder = _pack_with_monograph(tmp_path, _MONOGRAPH.format(source="S99", rules="[]", conflict="x"))
    with pytest.raises(PackError, match="S99"):
        load_pack(folder)


def test_a_monograph_naming_an_unknown_rule_is_refused(tmp_path: Path) -> None:
    folder = _pack_with_monograph(tmp_path, _MONOGRAPH.format(source="S1", rules="[natalizumab.nope]", conflict="x"))
    with pytest.raises(PackError, match=r"natalizumab\.nope"):
        load_pack(folder)


def test_stale_chinese_wording_is_reported_but_does_not_break_the_pack(tmp_path: Path) -> None:
    pack = load_pack(_pack_with_monograph(tmp_path, _MONOGRAPH.format(source="S1", rules="[]", conflict="gone")))
    problems = _mono(pack).translation_problems(pack, pack.path / "monograph.yaml")
    assert any("gone" in p for p in problems)


def test_folded_chinese_lines_are_joined_without_a_space(tmp_path: Path) -> None:
    pack = load_pack(_pack_with_monograph(tmp_path, _MONOGRAPH.format(source="S1", rules="[]", conflict="x")))
    assert _mono(pack).sections[0].statements[0].text.zh == "第一行第二行"


def test_unknown_fields_in_a_monograph_name_the_file_and_line(tmp_path: Path) -> None:
    text = _MONOGRAPH.format(source="S1", rules="[]", conflict="x").replace("id: one", "id: one\n        colour: red")
    with pytest.raises(PackError, match=r"monograph\.yaml:\d+: .*colour"):
        load_pack(_pack_with_monograph(tmp_path, text))


def test_chinese_written_from_older_english_is_reported_and_not_shown(tmp_path: Path) -> None:
    from tests.druginfo.conftest import NATALIZUMAB_IDENTITY, write_pack

    conflict = {
        "id": "x",
        "topic": "Topic",
        "kind": "us-vs-eu",
        "claims": [{"source": "S1", "section": "§1", "says": "New English."}],
        "resolution": "Apply the label.",
    }
    folder = write_pack(tmp_path, NATALIZUMAB_IDENTITY, {"conflicts.yaml": [conflict]})
    text = _MONOGRAPH.format(source="S1", rules="[]", conflict="x").replace(
        "resolution: 处理}", 'resolution: 处理, en_digest: "deadbeef0000"}'
    )
    (folder / "monograph.yaml").write_text(text, encoding="utf-8")
    pack = load_pack(folder)
    assert any("older English" in p for p in _mono(pack).translation_problems(pack, folder / "monograph.yaml"))
    doc = build_monograph(pack, "zh")
    assert doc.missing_translations == ("conflict:x",)
    section = doc.section(CONFLICTS_SECTION)
    assert section is not None and "New English." in section.statements[0].points[0]


def test_a_rules_chinese_written_from_older_english_is_reported_and_the_english_is_shown(tmp_path: Path) -> None:
    import shutil
    from zoneinfo import ZoneInfo

    from rxguard.knowledge.loader import discover_pack_paths
    from rxguard.web.i18n import translator
    from rxguard.web.wording import Wording

    folder = tmp_path / "natalizumab"
    shutil.copytree(discover_pack_paths()["natalizumab"], folder)
    words = Wording("zh", translator("zh"), ZoneInfo("UTC"))
    rule_id = "natalizumab.checklist-steroid-use"
    assert words.rule(load_pack(folder), rule_id, "title") == "输注前核查清单：类固醇药物"
    rules = folder / "rules.yaml"
    rules.write_text(rules.read_text().replace("steroid medicines in the past month", "steroids this month"))
    pack = load_pack(folder)
    problems = _mono(pack).translation_problems(pack, folder / "monograph.yaml")
    assert any(f"rules_zh.{rule_id} was translated from older English" in p for p in problems)
    assert words.rule(pack, rule_id, "message") == pack.rules_by_id[rule_id].message


# --------------------------------------------------------------------------- names the program pages show


def test_every_pack_names_its_programs_indications_roles_and_suspensions_in_chinese() -> None:
    packs = load_all()
    assert set(DRUGS) <= set(packs)
    for pack in packs.values():
        assert _mono(pack).name_problems(pack, pack.path / "monograph.yaml") == [], pack.name


@pytest.mark.parametrize(
    ("removed", "reported"),
    [
        ("    medical-director: 医疗主任\n", "program_zh.roles has no Chinese name for 'medical-director'"),
        ("      crohns-disease: 中度至重度活动性克罗恩病（CD TOUCH）\n", "'touch/crohns-disease'"),
        ("    pml-confirmed: 已确诊 PML；", "program_zh.suspensions has no Chinese name for 'pml-confirmed'"),
    ],
)
def test_a_name_without_its_chinese_is_reported_and_nothing_else(tmp_path: Path, removed: str, reported: str) -> None:
    import shutil

    from rxguard.knowledge.loader import discover_pack_paths

    folder = tmp_path / "natalizumab"
    shutil.copytree(discover_pack_paths()["natalizumab"], folder)
    monograph = folder / "monograph.yaml"
    text = monograph.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines(keepends=True) if line.startswith(removed))
    monograph.write_text(text.replace(line, "", 1), encoding="utf-8")
    pack = load_pack(folder)
    problems = _mono(pack).name_problems(pack, monograph)
    assert len(problems) == 1 and reported in problems[0], problems
    assert problems[0] in _mono(pack).translation_problems(pack, monograph)
