"""The strict pack loader: every problem names the file, the line and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import FIXTURES

from rxguard.errors import PackError
from rxguard.knowledge.loader import load_pack


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    target = tmp_path / "testdrug"
    shutil.copytree(FIXTURES / "minipack", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def test_the_fixture_pack_loads(pack_dir: Path) -> None:
    assert len(load_pack(pack_dir).rules) == 9


def test_duplicate_keys_are_refused_with_the_line(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", "  title: PML now or ever\n", "  title: PML now or ever\n  title: again\n")
    with pytest.raises(PackError, match=r"rules\.yaml:3: .*duplicate key.*only once"):
        load_pack(pack_dir)


def test_an_unknown_field_names_file_line_and_field(pack_dir: Path) -> None:
    edit(
        pack_dir / "rules.yaml",
        "  severity: hold\n  message: Liver",
        "  severity: hold\n  sevrity: hold\n  message: Liver",
    )
    with pytest.raises(PackError) as info:
        load_pack(pack_dir)
    assert "rules.yaml:" in str(info.value) and "3.sevrity: unknown field" in str(info.value)


def test_a_missing_required_field(pack_dir: Path) -> None:
    edit(
        pack_dir / "rules.yaml",
        "  action: Do not give.\n",
        "",
    )
    with pytest.raises(PackError, match=r"rules\.yaml:1: 0\.action: required field is missing"):
        load_pack(pack_dir)


def test_a_condition_must_have_exactly_one_key(pack_dir: Path) -> None:
    edit(
        pack_dir / "rules.yaml",
        "when: {has_condition: {valueset: pml, status: ever}}",
        "when: {has_condition: {valueset: pml}, age: {lt: 3}}",
    )
    with pytest.raises(PackError, match="exactly one key"):
        load_pack(pack_dir)


def test_citing_an_unregistered_source_is_refused(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", 'sources: [{source: T1, section: "§4"}]', 'sources: [{source: T9, section: "§4"}]')
    with pytest.raises(PackError, match=r"rule testdrug\.pml-history: cites source 'T9'"):
        load_pack(pack_dir)


def test_a_citation_needs_a_section(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", 'sources: [{source: T1, section: "§4"}]', "sources: [{source: T1}]")
    with pytest.raises(PackError, match="section: required field is missing"):
        load_pack(pack_dir)


def test_an_unknown_value_set_is_refused(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", "valueset: pml, status: ever", "valueset: pmll, status: ever")
    with pytest.raises(PackError, match="value set 'pmll'"):
        load_pack(pack_dir)


def test_rule_ids_must_be_unique_and_well_formed(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", "id: testdrug.symptoms", "id: testdrug.pml-history")
    with pytest.raises(PackError, match="defined twice"):
        load_pack(pack_dir)


def test_a_bad_rule_id(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", "id: testdrug.symptoms", "id: Symptoms")
    with pytest.raises(PackError, match=r"<drug>\.<kebab-slug>"):
        load_pack(pack_dir)


def test_needs_review_requires_a_reason(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", "  review_note: cut-offs come from a seed\n", "")
    with pytest.raises(PackError, match="review_note"):
        load_pack(pack_dir)


def test_an_unknown_lab_key(pack_dir: Path) -> None:
    edit(pack_dir / "rules.yaml", "lab: {test: alt, uln_ratio_gte: 3}", "lab: {test: alt-u, uln_ratio_gte: 3}")
    with pytest.raises(PackError, match="'alt-u' is not a known lab key"):
        load_pack(pack_dir)


def test_conflicts_must_name_registered_sources_and_rules(pack_dir: Path) -> None:
    edit(pack_dir / "conflicts.yaml", "rules: [testdrug.alt-3x]", "rules: [testdrug.nope]")
    edit(pack_dir / "conflicts.yaml", "{source: T2,", "{source: S99,")
    with pytest.raises(PackError) as info:
        load_pack(pack_dir)
    assert "unregistered source 'S99'" in str(info.value) and "'testdrug.nope'" in str(info.value)


def test_an_unknown_pack_file_is_refused(pack_dir: Path) -> None:
    (pack_dir / "rulez.yaml").write_text("[]\n")
    with pytest.raises(PackError, match="unknown pack file"):
        load_pack(pack_dir)


def test_invalid_yaml_names_the_line(pack_dir: Path) -> None:
    (pack_dir / "sources.yaml").write_text("- {id: T1\n- x: [\n")
    with pytest.raises(PackError, match=r"sources\.yaml:\d+"):
        load_pack(pack_dir)


def test_a_folder_without_pack_yaml(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not a knowledge pack"):
        load_pack(tmp_path)


def test_yaml_1_2_booleans_so_on_and_no_stay_strings(pack_dir: Path) -> None:
    from rxguard.knowledge.loader import read_yaml

    path = pack_dir / "probe.yaml"
    path.write_text("labs: [{test: alt, on: 2026-01-02}]\nanswer: no\nflag: true\n")
    data = read_yaml(path)
    assert data == {
        "labs": [{"test": "alt", "on": __import__("datetime").date(2026, 1, 2)}],
        "answer": "no",
        "flag": True,
    }
